"""Do the retrieved sections actually cover the question? (pure, given term statistics)

A cosine threshold alone cannot separate "not in the docs, but in their
vocabulary" ("can katib store trial results in redis") from answerable Slack
questions phrased in other words: both land around 0.4-0.7. The second signal
here is lexical: the question's *salient* terms, weighted by how rare they are
in the corpus (IDF), and the share of that weight the retrieved sections
contain (`coverage`). A question about Redis retrieves Katib's database
sections, which never say "redis": the rarest, most specific word of the
question is missing from the evidence.

Which words count, and how much:

- stop words never; a typo or shortening of a corpus word counts as that word
  (the keyword index corrects it);
- a corpus word weighs its IDF, times `ORDINARY_KNOWN_SHARE` when the
  embedding model's tokenizer knows it whole (ordinary language such as
  "stuck" or "give", which Slack questions use freely and the dense similarity
  already judges) - jargon and names ("katib", "mysql", "redis") keep it all;
- a word the corpus has never seen and the tokenizer knows whole is ordinary
  language the docs happen not to use ("wiki", "mobile"): a small weight
  (`ORDINARY_UNKNOWN_SHARE` of the highest IDF);
- a word the corpus has never seen and the tokenizer splits into pieces is a
  specific name ("terraform", "slurm", "pareto"): the highest IDF, because the
  docs cannot be about it.

The decision combines both signals in one score with one weight and one
threshold (`relevance`, thresholded by `rag.retrieve.Retriever.is_relevant`),
calibrated on tests/data/dev_questions.jsonl and checked on
tests/data/dev2_questions.jsonl. Honest limits: with MiniLM, questions about
an uncovered feature of a covered component ("a mobile app for pipelines",
"jenkins instead of argo") still pass often, their words being all ordinary
or all in the docs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rag.tokenize import STOPWORDS, tokenize

# relevance = best cosine - COVERAGE_WEIGHT * (1 - coverage)
COVERAGE_WEIGHT = 0.25
# Weight of a never-seen ordinary word, as a share of the highest IDF.
ORDINARY_UNKNOWN_SHARE = 0.15
# Weight of a corpus word the tokenizer knows whole (ordinary language), as a share of its IDF.
ORDINARY_KNOWN_SHARE = 0.25

_WORD = re.compile(r"[^\W_]+(?:[.\-_/][^\W_]+)*", re.UNICODE)


@dataclass(frozen=True)
class Term:
    token: str  # as the keyword index knows it (stemmed, typo-corrected), or the unknown word
    weight: float
    known: bool  # in the corpus vocabulary


def salient_terms(
    question: str,
    correct: Callable[[str], str | None],
    idf: Callable[[str], float],
    is_single_piece: Callable[[str], bool],
    max_idf: float,
) -> tuple[Term, ...]:
    """The question's content terms with their weights, each once."""
    terms: dict[str, Term] = {}
    for match in _WORD.finditer(question.lower()):
        word = match.group(0)
        if word in STOPWORDS:
            continue
        for token in tokenize(word):
            if token in terms or token in STOPWORDS:  # "whats" stems to "what"
                continue
            fixed = correct(token)
            if fixed is not None:
                share = ORDINARY_KNOWN_SHARE if is_single_piece(word) else 1.0
                terms.setdefault(fixed, Term(fixed, idf(fixed) * share, True))
            elif token.isdigit():
                continue  # version numbers and counts say little about the topic
            elif is_single_piece(word):
                terms[token] = Term(token, max_idf * ORDINARY_UNKNOWN_SHARE, False)
            else:
                terms[token] = Term(token, max_idf, False)
    return tuple(terms.values())


def coverage(terms: Iterable[Term], covered: set[str]) -> float:
    """IDF-weighted share of the terms found in the evidence (1.0 when there are none)."""
    total = 0.0
    found = 0.0
    for term in terms:
        total += term.weight
        if term.token in covered:
            found += term.weight
    return found / total if total > 0 else 1.0


def relevance(best_cosine: float, cover: float) -> float:
    """One number to threshold: dense similarity, lowered by uncovered salient terms."""
    return best_cosine - COVERAGE_WEIGHT * (1.0 - cover)
