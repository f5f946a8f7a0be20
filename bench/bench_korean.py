"""Korean next to English: retrieval and decline quality over docbot's own docs, offline.

    python bench/bench_korean.py                      # ingests docs/ into a temp dir first
    python bench/bench_korean.py --data-dir /tmp/kodata --calibrate

Ingests `docs/` (English pages and their Korean edition `docs/ko/`) with the
offline default (packaged all-MiniLM-L6-v2, BM25 over `rag.tokenize` tokens)
into a data dir, then runs `tests/data/ko_questions.jsonl` (Korean, a few mixed
Korean/English) and `tests/data/docs_en_questions.jsonl` (English, same topics)
through `rag.evaluate.run_eval`: page recall@1/@5, MRR@10, section hit@5, and
the decline rates of the retriever's own decision (`Retriever.is_relevant` on
the `DOCBOT_TOP_K` hits the pipeline uses).

Two retrievers are measured side by side:

- `current`: `rag.retrieve` as it is in the repository;
- `wired`: the same module with the `rag.multilingual` wiring applied
  (`WIRING` below, the change proposed for `rag/retrieve.py`): keyword-leaning
  fusion and a keyword-evidence decline decision for CJK questions when the
  embedding model is not multilingual. The patch is applied to the module's
  source text in memory, never to the file; when `rag/retrieve.py` already has
  it (or has changed so that it no longer applies) this says so and measures
  the module as it is.

`--calibrate` prints, per Korean question, the best keyword relevance among
the hits the pipeline would use, which `rag.multilingual.KEYWORD_MIN_RELEVANCE`
is calibrated on.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from rag.evaluate import format_table, load_questions, run_eval  # noqa: E402

KO_QUESTIONS = ROOT / "tests" / "data" / "ko_questions.jsonl"
EN_QUESTIONS = ROOT / "tests" / "data" / "docs_en_questions.jsonl"
K = 10  # results per question, as `docbot eval` asks for

# The change proposed for rag/retrieve.py, as (anchor, replacement) edits of its
# source, each anchor expected exactly once. Anchors are the stable parts of the
# module (imports, `search`'s signature, `relevance`'s guard), so that the retriever's
# ongoing tuning does not break the comparison.
WIRING: tuple[tuple[str, str], ...] = (
    (
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\n"
        "from rag.keyword import keyword_text as _keyword_tokens\n"
        "from rag.multilingual import (\n"
        "    KEYWORD_MIN_RELEVANCE,\n"
        "    fusion_weights,\n"
        "    keyword_relevance,\n"
        "    uses_keyword_evidence,\n"
        ")\n",
    ),
    (
        "    covered: frozenset[str] = frozenset()\n",
        "    covered: frozenset[str] = frozenset()\n"
        "    # Set for CJK questions under an English embedding model (rag.multilingual):\n"
        "    # the share of the question's salient words this section holds.\n"
        "    keyword_relevance: float | None = None\n",
    ),
    # fusion: the dense half scaled down for CJK questions under an English model
    (
        "        query = condense_query(question, history)\n",
        "        query = condense_query(question, history)\n"
        "        dense_scale, _ = fusion_weights(query, self.embedder.name)\n",
    ),
    ("fuse_scores(rows, sims, ", "fuse_scores(rows, sims * dense_scale, "),
    ("(dense_rows, DENSE_WEIGHT)", "(dense_rows, DENSE_WEIGHT * dense_scale)"),
    # keyword evidence on the returned hits: `search` becomes `_search` plus this
    (
        "    def search(\n",
        "    def search(\n"
        "        self, question: str, k: int = 5, history: list[Turn] | None = None, *, diverse: bool = True\n"
        "    ) -> list[Hit]:\n"
        "        hits = self._search(question, k, history, diverse=diverse)\n"
        "        query = condense_query(question, history)\n"
        "        index = self._index\n"
        "        if hits and index is not None and uses_keyword_evidence(query, self.embedder.name):\n"
        "            for hit in hits:\n"
        "                tokens = _keyword_tokens(index.chunks[hit.row])\n"
        "                hit.keyword_relevance = keyword_relevance(query, tokens, index.keyword.idf)\n"
        "        return hits\n\n"
        "    def _search(\n",
    ),
    # declining: keywords decide when they were measured
    (
        "        if not hits:\n            return -1.0\n",
        "        if not hits:\n            return -1.0\n"
        "        judged = [h.keyword_relevance for h in hits if h.keyword_relevance is not None]\n"
        "        if judged:\n"
        "            # cosine of CJK text under an English model says nothing: keywords decide,\n"
        "            # shifted so that the one threshold (min_relevance) still applies\n"
        "            return max(judged) - KEYWORD_MIN_RELEVANCE + self.min_relevance\n",
    ),
)


def wired_retrieve_module() -> tuple[types.ModuleType, str]:
    """rag.retrieve with `WIRING` applied in memory, and a note on how it went."""
    import rag.retrieve as current

    source = Path(current.__file__).read_text(encoding="utf-8")
    if "rag.multilingual" in source:
        return current, "rag/retrieve.py already uses rag.multilingual: measured as it is"
    for anchor, replacement in WIRING:
        if source.count(anchor) != 1:
            return current, f"wiring no longer applies (anchor not found once: {anchor.strip()!r})"
        source = source.replace(anchor, replacement)
    spec = importlib.util.spec_from_loader("rag_retrieve_wired", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = current.__file__
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    exec(compile(source, "rag/retrieve.py (wired)", "exec"), module.__dict__)  # noqa: S102
    return module, "wiring applied in memory"


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

    def retrieve(text: str) -> list[Any]:
        hits = retriever.search(text, k=K)
        hits_by_question[text] = hits
        return hits

    def answer(text: str) -> dict[str, Any]:
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

    import rag.retrieve as current

    wired, note = wired_retrieve_module()
    print(f"wired retriever: {note}")
    out: dict[str, Any] = {"embedding_model": settings.embedding_model}
    for label, module in (("current", current), ("wired", wired)):
        retriever = module.Retriever(settings)
        retriever.refresh()
        for name, path in (("ko", KO_QUESTIONS), ("en", EN_QUESTIONS)):
            metrics = evaluate(retriever, path, settings.top_k)
            print(format_table(metrics, f"{label} retriever: {path.name}"))
            out[f"{label}/{name}"] = {k: v for k, v in metrics.items() if k != "per_question"}
        if args.calibrate and label == "wired":
            print("\n".join(calibration_rows(retriever, KO_QUESTIONS, settings.top_k)))
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
