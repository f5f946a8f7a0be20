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


def warm() -> None:
    """Load the word list now, so the first question does not pay for it."""
    is_common("the")
