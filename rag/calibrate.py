"""Calibrate the decline thresholds on your own question sets (`docbot calibrate`).

The defaults (`DEFAULT_MIN_RELEVANCE` 0.29, `DEFAULT_LLM_MIN_RELEVANCE` 0.20 in
`rag.retrieve`) were calibrated with the packaged MiniLM on the Kubeflow question sets in
tests/data/. Another embedding model (`DOCBOT_EMBEDDING_MODEL`) puts cosines on another
scale, and another docs set may sit differently on it: an operator who switches either
should calibrate again, on questions about *their* docs, in the format `docbot eval`
reads (answerable ones with `expected_urls`, unanswerable ones with none).

`docbot calibrate SET.jsonl [MORE.jsonl ...]` retrieves each question as the bot would
(follow-ups with their `history`), takes the relevance score the gate compares
(`Retriever.relevance` on the top `DOCBOT_TOP_K` hits) and prints:

- the offline threshold: the highest that declines at most `--max-declined` (default 5 %)
  of the answerable questions, and how many unanswerable ones it declines;
- the threshold in front of a language model, at most `--reader-max-declined` (2 %);
- the decline rates at thresholds around them, and at the ones in force now;
- the two `DOCBOT_*` lines to put in the environment.

Thresholds are midpoints between neighbouring answerable scores, so a new question that
scores like a calibration one is not on the edge. The fitting is pure (`fit_threshold`,
`decline_table`); the command needs a live index.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.evaluate import NO_INDEX, EvalQuestion, load_questions, thread_turns

# Defaults of --max-declined and --reader-max-declined: the target for the offline
# answerer, and the share the reader gate's default was calibrated to.
MAX_DECLINED = 0.05
READER_MAX_DECLINED = 0.02
# From this many questions on, question embedding moves to ONNX Runtime (its start-up,
# about a second, then pays for itself).
ACCELERATE_FROM = 50
# Thresholds printed around the fitted ones, in steps of this.
TABLE_STEP = 0.02


@dataclass(frozen=True)
class Threshold:
    value: float
    answerable_declined: int
    answerable: int
    unanswerable_declined: int
    unanswerable: int

    def rates(self) -> str:
        ans = f"{self.answerable_declined}/{self.answerable} answerable"
        if not self.unanswerable:
            return f"{ans} questions (the sets have no unanswerable ones)"
        return f"{ans} and {self.unanswerable_declined}/{self.unanswerable} unanswerable questions"


def declines_at(
    value: float, answerable: Sequence[float], unanswerable: Sequence[float]
) -> Threshold:
    """How many questions of each kind score below `value` (the gate declines them)."""
    return Threshold(
        value,
        sum(s < value for s in answerable),
        len(answerable),
        sum(s < value for s in unanswerable),
        len(unanswerable),
    )


def fit_threshold(
    answerable: Sequence[float], unanswerable: Sequence[float], max_declined: float
) -> Threshold:
    """The highest threshold declining at most `max_declined` of the answerable scores.

    It lies halfway between the last answerable score it may decline and the first it
    must keep (just below the lowest score when it may decline none)."""
    if not answerable:
        raise ValueError("calibration needs answerable questions (with expected_urls)")
    if not 0.0 <= max_declined < 1.0:
        raise ValueError("the share of answerable questions declined must be in [0, 1)")
    ordered = sorted(answerable)
    allowed = math.floor(max_declined * len(ordered) + 1e-9)
    keep = ordered[allowed]  # the lowest score that must stay above the threshold
    below = ordered[allowed - 1] if allowed else keep - 0.01
    value = round((below + keep) / 2, 3)
    if value > keep:  # rounding must not decline the first kept question
        value = keep
    return declines_at(value, answerable, unanswerable)


def fit_both(
    answerable: Sequence[float],
    unanswerable: Sequence[float],
    max_declined: float = MAX_DECLINED,
    reader_max_declined: float = READER_MAX_DECLINED,
) -> tuple[Threshold, Threshold]:
    """The offline answerer's threshold and the (never higher) one in front of a language
    model, fitted to decline at most those shares of the answerable scores."""
    fitted = fit_threshold(answerable, unanswerable, max_declined)
    reader = fit_threshold(answerable, unanswerable, reader_max_declined)
    if reader.value > fitted.value:
        reader = declines_at(fitted.value, answerable, unanswerable)
    return fitted, reader


@dataclass(frozen=True)
class Fit:
    """Relevance scores of labelled questions and the two thresholds fitted to them."""

    answerable: list[float]
    unanswerable: list[float]
    fitted: Threshold  # the offline answerer's
    reader: Threshold  # in front of a language model


def fit_questions(
    retriever: Any,
    questions: Sequence[EvalQuestion],
    top_k: int,
    max_declined: float = MAX_DECLINED,
    reader_max_declined: float = READER_MAX_DECLINED,
) -> Fit:
    """Retrieve each question as the bot would and fit both thresholds to the scores
    (a ValueError when the questions cannot be fitted, e.g. none answerable)."""
    answerable, unanswerable = relevance_scores(retriever, questions, top_k)
    fitted, reader = fit_both(answerable, unanswerable, max_declined, reader_max_declined)
    return Fit(answerable, unanswerable, fitted, reader)


def decline_table(
    answerable: Sequence[float],
    unanswerable: Sequence[float],
    around: Sequence[float],
    step: float = TABLE_STEP,
) -> list[Threshold]:
    """Decline counts at the given thresholds and one `step` either side of each."""
    values = sorted({round(v + d, 3) for v in around for d in (-step, 0.0, step)})
    return [declines_at(v, answerable, unanswerable) for v in values]


def format_report(
    fitted: Threshold,
    reader: Threshold,
    table: Sequence[Threshold],
    current: tuple[float, float],
) -> str:
    lines = [
        f"offline answerer: {fitted.value:.3f} declines {fitted.rates()}",
        f"in front of a language model: {reader.value:.3f} declines {reader.rates()}",
        "",
        "threshold  answerable declined  unanswerable declined",
    ]
    marks = {fitted.value: "fitted", reader.value: "fitted (reader)"}
    marks.setdefault(current[0], "now")
    marks.setdefault(current[1], "now (reader)")
    for row in table:
        unans = f"{row.unanswerable_declined}/{row.unanswerable}" if row.unanswerable else "-"
        lines.append(
            f"{row.value:9.3f}  {row.answerable_declined:>9}/{row.answerable:<9}  "
            f"{unans:>12}   {marks.get(row.value, '')}".rstrip()
        )
    lines += [
        "",
        "to use them:",
        f"DOCBOT_MIN_RELEVANCE={fitted.value:.3f}",
        f"DOCBOT_LLM_MIN_RELEVANCE={min(reader.value, fitted.value):.3f}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- `docbot calibrate` wiring


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "calibrate",
        help="fit the decline thresholds to question sets about your docs",
        description="Relevance thresholds for DOCBOT_MIN_RELEVANCE and "
        "DOCBOT_LLM_MIN_RELEVANCE, fitted on question sets (the `docbot eval` format).",
    )
    p.add_argument("questions", type=Path, nargs="+", help="question sets (JSONL)")
    p.add_argument(
        "--max-declined",
        type=float,
        default=MAX_DECLINED,
        help="share of answerable questions the offline answerer may decline (default 0.05)",
    )
    p.add_argument(
        "--reader-max-declined",
        type=float,
        default=READER_MAX_DECLINED,
        help="the same, in front of a language model (default 0.02)",
    )
    return p


def each_retrieved(
    retriever: Any,
    questions: Sequence[EvalQuestion],
    top_k: int,
    command: str,
    done: str = "retrieved",
    every: int = 100,
    last: bool = False,
) -> Iterator[tuple[EvalQuestion, list[Any]]]:
    """Each question with the hits the bot would retrieve for it (follow-ups with their
    thread), and a "COMMAND: i/N questions DONE" line on stderr every `every` questions
    (and after the last one too, with `last`)."""
    for i, q in enumerate(questions, 1):
        yield q, retriever.search(q.question, k=top_k, history=thread_turns(q.history))
        if i % every == 0 or (last and i == len(questions)):
            print(f"{command}: {i}/{len(questions)} questions {done}", file=sys.stderr)


def relevance_scores(
    retriever: Any, questions: Sequence[EvalQuestion], top_k: int
) -> tuple[list[float], list[float]]:
    """(answerable, unanswerable) relevance scores, each question retrieved as the bot would."""
    answerable: list[float] = []
    unanswerable: list[float] = []
    for q, hits in each_retrieved(retriever, questions, top_k, "calibrate"):
        (answerable if q.answerable else unanswerable).append(retriever.relevance(hits))
    return answerable, unanswerable


def run(args: argparse.Namespace, settings: Any) -> int:
    from rag.retrieve import Retriever

    try:
        questions = [q for path in args.questions for q in load_questions(path)]
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    retriever = Retriever(settings)
    if not retriever.refresh():
        print(NO_INDEX, file=sys.stderr)
        return 2
    if len(questions) >= ACCELERATE_FROM:
        retriever.embedder.accelerate()
    try:
        fit = fit_questions(
            retriever, questions, settings.top_k, args.max_declined, args.reader_max_declined
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    current = (retriever.min_relevance, retriever.llm_min_relevance)
    table = decline_table(
        fit.answerable, fit.unanswerable, [fit.fitted.value, fit.reader.value, *current]
    )
    print(
        f"{len(questions)} questions ({len(fit.answerable)} answerable, "
        f"{len(fit.unanswerable)} unanswerable), embedding model {retriever.embedder.name}, "
        f"top {settings.top_k}"
    )
    print(format_report(fit.fitted, fit.reader, table, current))
    return 0


__all__ = [
    "Threshold",
    "declines_at",
    "decline_table",
    "each_retrieved",
    "Fit",
    "fit_both",
    "fit_questions",
    "fit_threshold",
    "format_report",
    "register",
    "relevance_scores",
    "run",
]
