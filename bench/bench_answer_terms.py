"""Offline answer fact coverage under several weights of the question's rare words.

    DOCBOT_DATA_DIR=/tmp/q_site3 python bench/bench_answer_terms.py --weights 0,0.3,1.0 \
        tests/data/heldout17_questions.jsonl tests/data/heldout18_questions.jsonl

The offline answerer picks sentences by their cosine to the question plus
`rag.extractive.QUESTION_TERMS_WEIGHT` times the share of the question's IDF weight they
hold. This loads the index and the embedding model once, then asks every question of every
set once per weight (with its thread, as `docbot eval` does), and prints per set the answer
facts quoted out of the facts of the answered answerable questions, and how many questions
quote more / fewer facts than under the first weight. Retrieval and declines do not depend
on the weight, only which sentences are quoted. `--json` keeps each question's facts found.
Needs a live index in DOCBOT_DATA_DIR (`docbot ingest --path .../site/docs`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import rag.extractive as extractive  # noqa: E402
from bench.live import live_retriever, question_sets_load  # noqa: E402
from bot.config import Settings  # noqa: E402
from rag.evaluate import background_loop, load_questions, run_eval, thread_turns  # noqa: E402
from rag.pipeline import Answerer  # noqa: E402

FactsFound = dict[str, tuple[int, int]]  # question id -> (facts found, facts asked for)


@contextmanager
def terms_weight(weight: float) -> Iterator[None]:
    """`QUESTION_TERMS_WEIGHT` set to `weight` for the duration (read at each answer)."""
    before = extractive.QUESTION_TERMS_WEIGHT
    extractive.QUESTION_TERMS_WEIGHT = weight
    try:
        yield
    finally:
        extractive.QUESTION_TERMS_WEIGHT = before


def facts_per_question(
    answerer: Answerer, path: Path, loop: asyncio.AbstractEventLoop
) -> FactsFound:
    """Each answered answerable question's (facts found, facts) in the offline answer."""
    model = answerer.settings.default_model

    def answer(text: str, history: Sequence[str]) -> Any:
        coro = answerer.answer(text, model=model, history=thread_turns(history))
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    metrics = run_eval(load_questions(path), lambda _text, _history: [], answer)
    return {
        row["id"]: (row["facts_found"], row["facts_total"])
        for row in metrics["per_question"]
        if "facts_total" in row
    }


def compare(base: FactsFound, other: FactsFound) -> tuple[int, int, int, int]:
    """(facts found, facts, questions with more facts than `base`, with fewer)."""
    found = sum(f for f, _ in other.values())
    total = sum(t for _, t in other.values())
    more = sum(1 for q, (f, _) in other.items() if q in base and f > base[q][0])
    fewer = sum(1 for q, (f, _) in other.items() if q in base and f < base[q][0])
    return found, total, more, fewer


def report(results: dict[str, dict[str, FactsFound]], weights: Sequence[str]) -> str:
    """One line per set and weight, then the sets pooled."""
    lines = [f"{'set':<40} {'weight':>6} {'facts':>11} {'coverage':>8}  vs {weights[0]}"]
    pooled: dict[str, FactsFound] = {w: {} for w in weights}
    for name, by_weight in results.items():
        for w in weights:
            pooled[w].update({f"{name}:{q}": v for q, v in by_weight[w].items()})
        lines += [_line(name, w, by_weight[weights[0]], by_weight[w]) for w in weights]
    if len(results) > 1:
        lines += [_line("all sets", w, pooled[weights[0]], pooled[w]) for w in weights]
    return "\n".join(lines)


def _line(name: str, weight: str, base: FactsFound, other: FactsFound) -> str:
    found, total, more, fewer = compare(base, other)
    coverage = f"{found / total:.3f}" if total else "-"
    return f"{name:<40} {weight:>6} {found:>5}/{total:<5} {coverage:>8}  +{more} / -{fewer}"


def run(answerer: Answerer, paths: Sequence[Path], weights: Sequence[str]) -> dict[str, Any]:
    """{set name: {weight: facts per question}}, answers on one private event loop."""
    results: dict[str, dict[str, FactsFound]] = {}
    with background_loop("bench-answer-terms") as loop:
        for path in paths:
            for w in weights:
                with terms_weight(float(w)):
                    found = facts_per_question(answerer, path, loop)
                results.setdefault(path.stem, {})[w] = found
                print(f"{path.stem}: weight {w} done", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("questions", nargs="+", type=Path)
    parser.add_argument("--weights", default="0,0.3,1.0", help="comma-separated; first = base")
    parser.add_argument("--json", type=Path, dest="json_out")
    args = parser.parse_args(argv)
    weights = [w.strip() for w in args.weights.split(",") if w.strip()]
    try:
        [float(w) for w in weights]
    except ValueError:
        parser.error(f"--weights: numbers separated by commas, not {args.weights!r}")
    if not question_sets_load(args.questions):
        return 2
    settings = Settings.from_env()
    retriever = live_retriever(settings)
    if retriever is None:
        return 2
    retriever.embedder.accelerate()
    answerer = Answerer(settings, retriever)
    results = run(answerer, args.questions, weights)
    print(report(results, weights))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
