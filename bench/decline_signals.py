"""Would another signal decline more unanswerable questions at the same cost? (research)

    DOCBOT_DATA_DIR=/tmp/q_site python bench/decline_signals.py tests/data/dev_questions.jsonl \
        tests/data/heldout_questions.jsonl ... [--apply tests/data/heldout27_questions.jsonl]

Retrieves each question as the bot would and compares decline scores at the same operating
points: thresholds fitted (`rag.calibrate.fit_threshold`) to decline 5 % of the answerable
questions (the issue's limit) and 2 % (the gate in front of a language model). For each
score it prints how many unanswerable questions those thresholds decline. Scores:

- `relevance`: the one in force (`Retriever.relevance`);
- `sentence wN`: the best section cosine replaced by (section + N x sentence) / (1 + N),
  where sentence is the best cosine of the question's own vector (the condensed one for a
  follow-up) and one sentence of the top hits (sentences split and embedded here, at
  question time; the bot does not compute them);
- `logistic`: a logistic model over `SIGNALS` (each set scored by a model fitted on the
  others; NumPy gradient descent), without and with the sentence: does some combination
  of what the hits already say separate better than the one score?

`--apply SETS` scores further sets with the thresholds fitted on the first ones (a set
measured once, never fitted on). Needs a live index in DOCBOT_DATA_DIR.

Each line is followed by the same declines split by the question's length in keyword
tokens (`LENGTH_BANDS`): in the sets written so far, unanswerable questions are about half
as long as answerable ones (median 5 tokens against 10), so a signal that merely tracks
length looks useful on the pooled counts. A real gain shows within the bands, above all
the longest, where the near misses are.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live import live_retriever, question_sets_load  # noqa: E402
from bot.config import Settings  # noqa: E402
from rag.answerability import coverage, names_missing  # noqa: E402
from rag.calibrate import fit_threshold  # noqa: E402
from rag.evaluate import load_questions, thread_turns  # noqa: E402
from rag.retrieve import Hit, Retriever  # noqa: E402

RATES = (0.05, 0.02)
WEIGHTS = (1.0, 3.0)
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n+")
# Signals of the logistic check, all read off the hits the bot would use.
SIGNALS = ("section", "sentence", "coverage", "page_coverage", "first_coverage", "second", "names")
# Upper bounds (exclusive) of the length bands in keyword tokens; the last band is open.
LENGTH_BANDS = (6, 9)


def sentences(text: str) -> list[str]:
    """A section's sentences of at least three words (list items and code lines count)."""
    return [p.strip() for p in _BOUNDARY.split(text) if len(p.split()) >= 3][:40]


class Signals:
    """Per-question signals, sentence vectors cached per chunk."""

    def __init__(self, retriever: Retriever, top_k: int) -> None:
        self.retriever = retriever
        self.top_k = top_k
        self.cache: dict[str, np.ndarray] = {}

    def best_sentence(self, hits: list[Hit], question: str) -> float:
        vector = self.retriever.embedder.embed_query(question)
        best = -1.0
        for hit in hits:
            if hit.chunk_id not in self.cache:
                parts = sentences(hit.text)
                self.cache[hit.chunk_id] = (
                    self.retriever.embedder.embed_passages(parts) if parts else np.zeros((0, 1))
                )
            vectors = self.cache[hit.chunk_id]
            if len(vectors):
                best = max(best, float((vectors @ vector).max()))
        return best

    def of(self, question: str, history: list[str]) -> dict[str, float] | None:
        turns = thread_turns(history)
        hits = self.retriever.search(question, k=self.top_k, history=turns)
        if not hits:
            return None
        r = self.retriever
        keyword = r.index.keyword  # type: ignore[union-attr]  # the search just loaded it
        text = r.condense(question, turns) if history else question
        evidence = [*hits, *(s for h in hits for s in h.signposts)]
        terms = hits[0].terms
        pages: dict[str, set[str]] = {}
        for h in evidence:
            pages.setdefault(h.page_url, set()).update(h.covered)
        scores = sorted((h.score for h in hits), reverse=True)
        section = max(h.score for h in evidence)
        return {
            "relevance": r.relevance(hits),
            "section": section,
            "sentence": self.best_sentence(hits, keyword.respell(text)),
            "coverage": coverage(terms, set().union(*(h.covered for h in evidence))),
            "page_coverage": max(coverage(terms, words) for words in pages.values()),
            "first_coverage": coverage(terms, set(hits[0].covered)),
            "second": scores[1] if len(scores) > 1 else scores[0],
            "names": float(names_missing(terms)),
            "tokens": float(len(keyword.query_tokens(text))),
        }


def blended(rows: list[dict[str, float]], weight: float) -> np.ndarray:
    """The relevance in force with its section cosine blended with the best sentence's."""
    return np.array(
        [
            r["relevance"] - r["section"] + (r["section"] + weight * r["sentence"]) / (1 + weight)
            for r in rows
        ]
    )


def logistic(x: np.ndarray, y: np.ndarray, steps: int = 3000, rate: float = 0.5) -> np.ndarray:
    """Weights (bias last) of a class-balanced logistic regression; y = 1 is answerable."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    balance = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    w = np.zeros(z.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        w -= rate * (z.T @ (balance * (p - y))) / len(y)
    w[:-1] /= std
    w[-1] -= float(mean @ w[:-1])
    return w


def loso_logistic(
    rows: list[dict[str, float]], y: np.ndarray, sets: np.ndarray, signals: tuple[str, ...]
) -> np.ndarray:
    x = np.array([[r[s] for s in signals] for r in rows])
    out = np.zeros(len(rows))
    for name in np.unique(sets):
        held = sets == name
        w = logistic(x[~held], y[~held])
        out[held] = x[held] @ w[:-1] + w[-1]
    return out


def counts(scores: np.ndarray, y: np.ndarray, threshold: float) -> str:
    declined = scores < threshold
    return f"{int(declined[y == 1].sum())}/{int((y == 1).sum())} ans, {int(declined[y == 0].sum())}/{int((y == 0).sum())} unans"


def bands(lengths: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(name, mask) of each length band (`LENGTH_BANDS`), shortest first."""
    out = []
    for low, high in zip((0, *LENGTH_BANDS), (*LENGTH_BANDS, None), strict=True):
        if high is None:
            out.append((f">={low}", lengths >= low))
        else:
            name = f"<{high}" if low == 0 else f"{low}-{high - 1}"
            out.append((name, (lengths >= low) & (lengths < high)))
    return out


def length_matched(
    scores: np.ndarray, y: np.ndarray, lengths: np.ndarray, threshold: float
) -> float:
    """Share of unanswerable questions declined had they been as long as the answerable
    ones: each band's unanswerable decline rate, weighted by its share of the answerable."""
    total = 0.0
    for _, band in bands(lengths):
        unanswerable = band & (y == 0)
        if unanswerable.any():
            share = float((band & (y == 1)).sum()) / max(int((y == 1).sum()), 1)
            total += share * float((scores[unanswerable] < threshold).mean())
    return total


def by_length(scores: np.ndarray, y: np.ndarray, lengths: np.ndarray, threshold: float) -> str:
    """`counts` per length band: "<6: 1/5 ans, 40/44 unans; 6-8: ...; >=9: ..."."""
    return "; ".join(
        f"{name}: {counts(scores[band], y[band], threshold)}" for name, band in bands(lengths)
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("questions", type=Path, nargs="+")
    ap.add_argument("--apply", type=Path, nargs="*", default=[])
    args = ap.parse_args()
    if not question_sets_load([*args.questions, *args.apply]):
        return 2
    settings = Settings.from_env()
    retriever = live_retriever(settings)
    if retriever is None:  # no live index: said on stderr
        return 2
    retriever.embedder.accelerate()
    signals = Signals(retriever, settings.top_k)

    def collect(paths: list[Path]) -> tuple[list[dict[str, float]], np.ndarray, np.ndarray]:
        rows, labels, sets = [], [], []
        for path in paths:
            for q in load_questions(path):
                row = signals.of(q.question, q.history)
                if row is not None:
                    rows.append(row)
                    labels.append(1 if q.answerable else 0)
                    sets.append(path.name)
            print(f"{path.name}: retrieved", file=sys.stderr)
        return rows, np.array(labels), np.array(sets)

    rows, y, sets = collect(args.questions)
    applied = collect(args.apply) if args.apply else None
    scores = {"relevance": np.array([r["relevance"] for r in rows])}
    for w in WEIGHTS:
        scores[f"sentence w{w:g}"] = blended(rows, w)
    without = tuple(s for s in SIGNALS if s != "sentence")
    scores["logistic, sections only"] = loso_logistic(rows, y, sets, without)
    scores["logistic, with sentence"] = loso_logistic(rows, y, sets, SIGNALS)
    lengths = np.array([r["tokens"] for r in rows])
    print(f"{len(rows)} questions: {int(y.sum())} answerable, {int((1 - y).sum())} unanswerable")
    print(
        f"median length in keyword tokens: answerable {np.median(lengths[y == 1]):g}, "
        f"unanswerable {np.median(lengths[y == 0]):g}"
    )
    for name, s in scores.items():
        for rate in RATES:
            fitted = fit_threshold(s[y == 1].tolist(), s[y == 0].tolist(), rate)
            line = f"{name:<28} {rate:.0%}: threshold {fitted.value:+.3f}: {counts(s, y, fitted.value)}"
            if applied and not name.startswith("logistic"):
                a_rows, a_y, _ = applied
                a = (
                    np.array([r["relevance"] for r in a_rows])
                    if name == "relevance"
                    else blended(a_rows, float(name.split("w")[1]))
                )
                line += f" | applied: {counts(a, a_y, fitted.value)}"
            print(line)
            print(
                f"{'':<33}by length: {by_length(s, y, lengths, fitted.value)}; "
                f"length-matched unanswerable declined {length_matched(s, y, lengths, fitted.value):.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
