"""How common a word is in general English: tells ordinary language from product names.

The answerability check (rag.answerability) must decide whether a question word the
docs never use is everyday language ("wiki", "teammate") or a name the docs cannot be
about ("slurm", "kyverno"). The embedding model's tokenizer knowing a word whole is
one sign; many everyday words are not whole WordPiece tokens, though ("wiki" is
"wi" + "##ki"), and counted as unknown names they wrongly declined questions such as
"add a link to our team wiki in the dashboard sidebar".

Frequencies come from the `wordfreq` package (its English list, shipped inside the
wheel: nothing is downloaded). Loading it takes about 0.3 s, once per process; `warm`
does that at index load, outside a question's timing.

Parts of speech come from `lemminflect`'s English lemma dictionary (inside its wheel
too; about 0.3 s to load): a word English uses as a verb, an adjective or an adverb
("tweak", "hogging", "flaky", "encrypt") is ordinary language however rare it is,
because products, services and formats are named with nouns or made-up words
("iceberg", "terraform", "datadog").
"""

from __future__ import annotations

import logging
from functools import lru_cache

log = logging.getLogger(__name__)

# A word at least this frequent in general English (Zipf scale: log10 of occurrences
# per billion words; 3.5 is about three per million, e.g. "wiki", "pointer", "teammate")
# is ordinary language. Calibrated on the six seen question sets: 3.0-3.5 decline the
# same share of unanswerable questions, 4.0 no longer reaches "wiki" (docs/benchmarks.md).
COMMON_ZIPF = 3.5
# The parts of speech that mark a word as ordinary language rather than a name.
DESCRIBING = frozenset({"VERB", "ADJ", "ADV"})


@lru_cache(maxsize=1)
def _zipf():
    try:
        from wordfreq import zipf_frequency
    except ImportError:  # a trimmed install: the tokenizer alone judges (as before 2026-12)
        log.warning("wordfreq is not installed: unknown words are judged by the tokenizer alone")
        return None
    return zipf_frequency


def zipf(word: str) -> float:
    """The word's frequency in English on the Zipf scale (0.0 when unknown or no lexicon)."""
    lookup = _zipf()
    return float(lookup(word, "en")) if lookup is not None and word else 0.0


@lru_cache(maxsize=65536)
def is_common(word: str) -> bool:
    """Whether a (lower-case) word is common in general English."""
    return zipf(word) >= COMMON_ZIPF


@lru_cache(maxsize=1)
def _lemmas():
    try:
        from lemminflect import getAllLemmas
    except ImportError:  # a trimmed install: no word is judged by its part of speech
        log.warning("lemminflect is not installed: words are not judged by part of speech")
        return None
    return getAllLemmas


@lru_cache(maxsize=65536)
def describes(word: str) -> bool:
    """Whether English uses a (lower-case) word as a verb, adjective or adverb, in any
    inflection ("hogging", "fancier"), i.e. whether it can be anything but a name."""
    lookup = _lemmas()
    return lookup is not None and bool(word) and not DESCRIBING.isdisjoint(lookup(word))


def warm() -> None:
    """Load the word lists now, so the first question does not pay for them."""
    is_common("the")
    describes("run")
