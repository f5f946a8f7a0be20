"""Korean next to English: retrieval and decline quality over docbot's own docs, offline.

    python bench/bench_korean.py                      # ingests docs/ into a temp dir first
    python bench/bench_korean.py --data-dir /tmp/kodata --calibrate

Ingests `docs/` (English pages and their Korean edition `docs/ko/`) with the
offline default (packaged all-MiniLM-L6-v2, BM25 over `rag.tokenize` tokens)
into a data dir, then runs `tests/data/ko_questions.jsonl` (Korean, a few mixed
Korean/English) and `tests/data/docs_en_questions.jsonl` (English, same topics)
through `rag.evaluate.run_eval`: page recall@1/@5, MRR@10, section hit@5, and
the decline rates of the retriever's own decision (`Retriever.is_relevant` on
the `DOCBOT_TOP_K` hits the pipeline uses). CJK questions under an English-only
embedding model take `rag.multilingual`'s path: keyword-leaning fusion and a
keyword-evidence decline decision.

`--calibrate` prints, per Korean question, the best keyword relevance among
the hits the pipeline would use, which `rag.multilingual.KEYWORD_MIN_RELEVANCE`
is calibrated on.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from rag.evaluate import format_table, load_questions, run_eval  # noqa: E402

KO_QUESTIONS = ROOT / "tests" / "data" / "ko_questions.jsonl"
EN_QUESTIONS = ROOT / "tests" / "data" / "docs_en_questions.jsonl"
K = 10  # results per question, as `docbot eval` asks for


def ensure_index(settings: Settings) -> None:
    """Ingest docs/ into the settings' data dir unless it already has a live index."""
    from rag.index_store import IndexStore

    if IndexStore(settings).current() is not None:
        return
    from ingest.pipeline import IngestRequest, format_summary, run_ingest
    from ingest.sources import SourceSpec

    started = time.perf_counter()
    request = IngestRequest(SourceSpec("path", str(ROOT / "docs")))
    result = asyncio.run(run_ingest(request, settings))
    print(f"{format_summary(result)} ({time.perf_counter() - started:.0f}s)", flush=True)


def evaluate(retriever: Any, path: Path, top_k: int) -> dict[str, Any]:
    questions = load_questions(path)
    hits_by_question: dict[str, list[Any]] = {}

    def retrieve(text: str, history: Sequence[str] = ()) -> list[Any]:
        # single questions only: these sets have no threads
        hits = retriever.search(text, k=K)
        hits_by_question[text] = hits
        return hits

    def answer(text: str, history: Sequence[str] = ()) -> dict[str, Any]:
        # the pipeline decides on the top_k hits it passes on as sources
        relevant = retriever.is_relevant(hits_by_question[text][:top_k])
        # no answer text: fact coverage is not measured here, only the decline decision
        return {"answer": None, "declined": not relevant, "citations": []}

    return run_eval(questions, retrieve, answer)


def calibration_rows(retriever: Any, path: Path, top_k: int) -> list[str]:
    from rag.multilingual import best_keyword_relevance

    rows = []
    index = retriever.index
    from rag.keyword import keyword_text

    for q in load_questions(path):
        hits = retriever.search(q.question, k=K)[:top_k]
        score = best_keyword_relevance(
            q.question, (keyword_text(index.chunks[h.row]) for h in hits), index.keyword.idf
        )
        top = hits[0].url if hits else "-"
        rows.append(f"{q.id:>4} {q.kind[:5]:>5} kw={score:.2f} {q.question}  -> {top}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="reuse (or create) this data dir")
    parser.add_argument("--calibrate", action="store_true", help="per-question keyword relevance")
    parser.add_argument("--json", type=Path, dest="json_out", help="write the metrics here")
    args = parser.parse_args(argv)

    base = Settings.from_env()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="docbot-korean-"))
    settings = dataclasses.replace(base, data_dir=data_dir, state_url="", chroma_host="")
    ensure_index(settings)

    from rag.retrieve import Retriever

    out: dict[str, Any] = {"embedding_model": settings.embedding_model}
    retriever = Retriever(settings)
    retriever.refresh()
    for name, path in (("ko", KO_QUESTIONS), ("en", EN_QUESTIONS)):
        metrics = evaluate(retriever, path, settings.top_k)
        print(format_table(metrics, path.name))
        out[name] = {k: v for k, v in metrics.items() if k != "per_question"}
    if args.calibrate:
        print("\n".join(calibration_rows(retriever, KO_QUESTIONS, settings.top_k)))
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
