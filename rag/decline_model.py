"""A second opinion for the offline answerer's decline: a logistic model over three signals.

One combined score (`Retriever.relevance`: the best cosine lowered by uncovered salient
terms) and one threshold left a quarter of the unanswerable questions answered, and
declined answerable questions phrased in other words than the docs' far more often than
those in the docs' words (19 % vs 2 % of the seen sets' answerable questions, lowest and
highest quarter of keyword match, on the first 22 seen sets). Two more signals the retriever already has tell more
when read with it:

- `top_coverage`: the share of the question's salient weight the *first* section holds.
  An answerable question is usually answered in one place; an unanswerable one in the
  docs' vocabulary ("can katib store trials in redis") finds its words spread over
  several sections, none holding the question;
- `keyword_share`: the best section's keyword (BM25) score as a share of the query's
  summed IDF. For a given cosine, a *high* keyword match means the docs' words are there
  but their meaning is not: the typical unanswerable question in the docs' vocabulary.
  A paraphrase that shares few words with the answer but means it is the opposite case.

Not among them, on purpose: how long the question is or how many salient terms it has.
The fitting sets' unanswerable questions are shorter than their answerable ones (134 of
390 have at most five salient terms, 28 of 931 answerable ones do), and a fit that used
the count declined a quarter of the short answerable questions: a style of writing
questions, not a sign of the docs' coverage, and Slack questions are often short. Two
more signals (a name the docs never mention, a word rare in English) added nothing the
combined score does not already hold, and were left out.

`unanswerable_logit` weighs the three; above `DECLINE_LOGIT` the offline answerer declines
(`rag.retrieve.Retriever.judge`). It judges single questions only: a follow-up's few words
are condensed with its thread, whose signals it was not fitted on.

Fitted with `bench/gate_fit.py` on the signals `bench/gate_features.py` writes for the
seen single-question sets in tests/data/ (24 sets by as many authors, 1,015 answerable
and 426 unanswerable questions, with the packaged MiniLM): L2-regularised logistic regression
on standardised signals, folded back into the raw-scale weights below; the threshold
declines 5 % of those sets' answerable questions. Leave-one-set-out (fitted on 23 sets,
applied to the 24th), declined: answerable 5.2 %, unanswerable 78.4 %, where the combined
score alone, its threshold chosen the same way, declines 5.1 % and 70.7 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from rag.answerability import coverage

if TYPE_CHECKING:
    from rag.retrieve import Hit


@dataclass(frozen=True)
class Signals:
    """What the decline weighs, for one question's judged hits."""

    relevance: float
    keyword_share: float
    top_coverage: float

    def as_row(self) -> dict[str, float]:
        """The signals as numbers, by name."""
        return {k: float(v) for k, v in asdict(self).items()}


def signals(hits: Sequence[Hit], relevance: float) -> Signals:
    """The decline signals of the hits a caller keeps, `relevance` being their combined
    score (`Retriever.relevance`)."""
    if not hits:
        return Signals(relevance, 0.0, 0.0)
    terms = hits[0].terms
    return Signals(
        relevance=relevance,
        keyword_share=max(h.keyword_share for h in hits),
        top_coverage=coverage(terms, set(hits[0].covered)),
    )


# Raw-scale weights of `Signals.as_row` and the intercept (bench/gate_fit.py).
WEIGHTS: dict[str, float] = {
    "relevance": -9.9568,
    "keyword_share": 8.0250,
    "top_coverage": -5.5907,
}
INTERCEPT = 2.4055
# Above this logit the offline answerer declines (5 % of the fitting sets' answerable ones).
DECLINE_LOGIT = 0.1070


def unanswerable_logit(s: Signals) -> float:
    """Log-odds that the docs do not answer the question (higher: decline)."""
    row = s.as_row()
    return INTERCEPT + sum(w * row[name] for name, w in WEIGHTS.items())
