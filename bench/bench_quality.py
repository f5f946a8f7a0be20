"""Retrieval quality and decline decisions on question sets, without generating answers.

    DOCBOT_DATA_DIR=/tmp/q_site python bench/bench_quality.py \
        tests/data/dev_questions.jsonl tests/data/dev2_questions.jsonl --json /tmp/quality.json

For each set it prints the `docbot eval` table (page recall@1/@5, MRR@10, both pages@5,
section hit@5) plus the decline rates of the retriever's own decision (`Retriever.gate` on the
hits the bot would use), which is what the pipeline declines on before any model runs: the
table's rows for the offline answerer's gate, then a line for the lower gate in front of a
language model (which then judges the rest itself, see rag.retrieve). The table's "decline
links an expected page" row counts, as `docbot eval` does, the declined answerable questions
whose decline links an expected page: between the two gates the offline answerer's decline
links the nearest sections (rag.citations.nearest_links), below both it links nothing.
`--features` prints, per question, the signals the decline decision combines (top cosine,
salient-term coverage, the combined score), which is what the threshold is calibrated on.
Needs a live index in DOCBOT_DATA_DIR (`docbot ingest --path .../site/docs`).
`--json` keeps every question's results and gate, which `bench/compare_quality.py` compares
between two runs (a change measured before and after).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live import live_retriever, question_sets_load  # noqa: E402
from bot.config import Settings  # noqa: E402
from rag.citations import nearest_links  # noqa: E402
from rag.evaluate import compute_metrics, format_table, load_questions, thread_turns  # noqa: E402
from rag.pipeline import hits_to_sources  # noqa: E402
from rag.retrieve import Gate, Hit, Retriever  # noqa: E402

K = 10  # results per question, as `docbot eval` asks for


def missing(hits: list[Hit]) -> list[str]:
    """Salient terms of the question that none of the hits contains."""
    if not hits:
        return []
    covered = set().union(*(h.covered for h in hits))
    return [f"{t.token}:{t.weight:.1f}" for t in hits[0].terms if t.token not in covered]


def evaluate_set(retriever: Retriever, path: Path, top_k: int, features: bool) -> dict[str, Any]:
    questions = load_questions(path)
    retrievals: list[list[dict[str, Any]]] = []
    answers: list[dict[str, Any]] = []
    llm_answers: list[dict[str, Any]] = []
    gates: list[str] = []
    times: list[float] = []
    rows: list[str] = []
    for q in questions:
        t0 = time.perf_counter()
        hits = retriever.search(q.question, k=K, history=thread_turns(q.history))
        times.append((time.perf_counter() - t0) * 1000)
        retrievals.append([{"url": h.url, "score": h.score} for h in hits])
        # the pipeline decides on the top_k hits it passes on as sources
        allowed = retriever.gate(hits[:top_k])
        gates.append(allowed.value)
        relevant = allowed is Gate.ANSWER
        # the offline answerer's decline between the two gates links the nearest sections
        pointers = nearest_links(hits_to_sources(hits[:top_k])) if allowed is Gate.READER else ""
        answers.append({"answer": pointers, "declined": not relevant, "citations": []})
        llm_answers.append({"answer": "", "declined": allowed is Gate.DECLINE, "citations": []})
        if features:
            top = hits[0] if hits else None
            expected = {u for u in q.expected_urls}
            first = top.page_url if top else ""
            rows.append(
                f"{q.id:>5} {q.kind[:5]:>5} {'ok ' if first in expected else '-- '}"
                f"cos={max((h.score for h in hits[:top_k]), default=0):.3f} "
                f"rel={retriever.relevance(hits[:top_k]):.3f} "
                f"{'DECL' if not relevant else '    '} {q.question[:60]} "
                f"missing={missing(hits[:top_k])}"
            )
    metrics = compute_metrics(questions, retrievals, answers)
    for row, decision in zip(metrics["per_question"], gates, strict=True):
        row["gate"] = decision  # answer / reader / decline, for bench/compare_quality.py
    llm = compute_metrics(questions, retrievals, llm_answers)
    metrics["llm_gate"] = {
        "min_relevance": retriever.llm_min_relevance,
        "decline_rate_answerable": llm["decline_rate_answerable"],
        "decline_rate_unanswerable": llm["decline_rate_unanswerable"],
    }
    times.sort()
    metrics["retrieve_p50_ms"] = times[len(times) // 2]
    if rows:
        print("\n".join(rows))
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("questions", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, dest="json_out")
    parser.add_argument("--features", action="store_true", help="per-question decline signals")
    args = parser.parse_args(argv)
    if not question_sets_load(args.questions):
        return 2
    settings = Settings.from_env()
    retriever = live_retriever(settings)
    if retriever is None:
        return 2
    retriever.search("warm up", k=K)
    out: dict[str, Any] = {}
    for path in args.questions:
        metrics = evaluate_set(retriever, path, settings.top_k, args.features)
        print(format_table(metrics, f"retrieval + decline: {path}"))
        gate = metrics["llm_gate"]
        print(
            f"gate before a language model ({gate['min_relevance']:.2f}): declined, answerable "
            f"{gate['decline_rate_answerable']:.3f}; unanswerable "
            f"{gate['decline_rate_unanswerable']:.3f} (the model judges the rest)"
        )
        print(f"retrieve p50 {metrics['retrieve_p50_ms']:.1f} ms")
        out[str(path)] = {k: v for k, v in metrics.items() if k != "per_question"}
        out[str(path)]["per_question"] = metrics["per_question"]
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
