"""Ingest the 214-page Kubeflow site from a loopback server, then again with nothing changed.

    python bench/bench_ingest.py --out bench/results/ingest.json [--device cuda]

Reports pages/s fetched, chunks/s embedded (the device the embedder used), the
seconds of every stage, and the unchanged re-ingest's time as a share of the
first ingest's (target <= 10%). Also times embedding alone on a fixed batch of
chunks (`--embed-only N`), which is the number to compare across CPUs and GPUs,
and the tokenizer alone on the same chunks, which bounds what a GPU can reach.
Embedding is timed through both bulk paths (`model.encode` and the pipelined
`rag.bulk_encode`, the default on CUDA), and the pipelined tokenizer alone with
1, 2, ... workers.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_retrieval import machine  # noqa: E402
from bot.config import Settings  # noqa: E402
from ingest.pipeline import IngestRequest, run_ingest  # noqa: E402
from ingest.sources import SourceSpec  # noqa: E402

SHARED = ROOT.parent / "shared"
SITE = SHARED / "corpus" / "kubeflow" / "site"


def serve_site() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(SHARED / "tools" / "serve_site.py"), str(SITE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().split()[1]


def corpus_texts(embedder: object, n: int) -> list[str]:
    """`n` chunk texts of the Kubeflow Markdown corpus (repeated to reach `n`)."""
    from ingest.local import read_folder
    from rag.chunking import chunk_pages

    pages = read_folder(
        SHARED / "corpus" / "kubeflow" / "md", base_url="https://www.kubeflow.org/docs/"
    )
    chunks = chunk_pages(
        pages,
        max_tokens=embedder.info.max_tokens,  # type: ignore[attr-defined]
        count_tokens=embedder.count_tokens,  # type: ignore[attr-defined]
    )
    texts = [c.embed_text for c in chunks]
    return (texts * (n // len(texts) + 1))[:n]


def median_of_3(run: Callable[[], object]) -> float:
    """Median wall-clock seconds of three calls of `run`."""
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        run()
        runs.append(time.perf_counter() - t0)
    return sorted(runs)[1]


def tokenize_only(n: int, device: str) -> dict:
    """Chunks/s through the model's own tokenizer alone, batched and padded as
    sentence-transformers does: the ceiling tokenization puts on GPU embedding."""
    from rag.embeddings import Embedder

    embedder = Embedder(device=device)
    tokenizer = embedder._load_st().tokenizer  # the one encode() uses
    texts = corpus_texts(embedder, n)
    batch = embedder.batch_size

    def run() -> None:
        for i in range(0, n, batch):
            tokenizer(
                texts[i : i + batch],
                padding=True,
                truncation=True,
                max_length=embedder.info.max_tokens,
                return_tensors="pt",
            )

    seconds = median_of_3(run)
    return {
        "chunks": n,
        "batch_size": batch,
        "seconds_median_of_3": round(seconds, 3),
        "chunks_per_s": round(n / seconds, 1),
    }


def tokenize_pipelined(n: int, device: str) -> dict:
    """Chunks/s through `rag.bulk_encode`'s tokenizer pool alone (sorted, batched,
    padded, tensors built), for 1, 2, ... workers: what it can feed a GPU."""
    from concurrent.futures import ThreadPoolExecutor

    from rag.bulk_encode import BulkEncoder, default_workers
    from rag.embeddings import Embedder

    embedder = Embedder(device=device)
    model = embedder._load_st()
    texts = corpus_texts(embedder, n)
    order = sorted(range(n), key=lambda i: -len(texts[i]))
    batch = embedder.batch_size
    batches = [[texts[i] for i in order[j : j + batch]] for j in range(0, n, batch)]
    result: dict = {"chunks": n, "batch_size": batch, "chunks_per_s_by_workers": {}}
    for workers in sorted({1, 2, default_workers()}):
        encoder = BulkEncoder.for_model(model, embedder.path, workers=workers)
        assert encoder is not None

        def run(encoder: BulkEncoder = encoder, workers: int = workers) -> None:
            with ThreadPoolExecutor(workers) as pool:
                for _features in pool.map(encoder.tokenize, batches):
                    pass

        result["chunks_per_s_by_workers"][workers] = round(n / median_of_3(run), 1)
    return result


def embed_only(n: int, device: str, pipelined: bool | None = None) -> dict:
    """Chunks/s embedded; `pipelined` None is the Embedder's default path for the device."""
    from rag.embeddings import Embedder

    embedder = Embedder(device=device, pipelined=pipelined)
    texts = corpus_texts(embedder, n)
    embedder.embed_passages(texts[: min(256, n)])  # load and warm up
    t0 = time.perf_counter()
    embedder.embed_passages(texts)
    seconds = time.perf_counter() - t0
    return {
        "chunks": n,
        "device": embedder.device,
        "path": "pipelined" if embedder._use_pipeline(n) else "model.encode",
        "batch_size": embedder.batch_size,
        "seconds": round(seconds, 2),
        "chunks_per_s": round(n / seconds, 1),
    }


async def ingest_twice(device: str) -> dict:
    proc, base = serve_site()
    try:
        with tempfile.TemporaryDirectory(prefix="docbot-bench-ingest-") as tmp:
            settings = Settings.from_env(
                {"DOCBOT_DATA_DIR": tmp, "DOCBOT_EMBEDDING_DEVICE": device}, env_file=None
            )
            settings = dataclasses.replace(settings, ingest_allow_private=True)
            request = IngestRequest(SourceSpec("sitemap", base + "/sitemap.xml"))
            first = await run_ingest(request, settings)
            second = await run_ingest(request, settings)
    finally:
        proc.terminate()
    embed_s = first["index"]["seconds"].get("embed", 0.0)
    return {
        "first": {
            "seconds": first["seconds"],
            "pages": first["scrape"]["pages"],
            "pages_per_s_fetch": first["scrape"].get("pages_per_s"),
            "chunks": first["index"]["chunks"],
            "embed_s": embed_s,
            "chunks_per_s_embed": round(first["index"]["chunks_embedded"] / embed_s, 1)
            if embed_s
            else None,
            "stages_s": first["index"]["seconds"],
        },
        "unchanged": {
            "seconds": second["seconds"],
            "not_modified": second["scrape"].get("not_modified"),
            "chunks_embedded": second["index"]["chunks_embedded"],
        },
        "unchanged_share_of_first": round(second["seconds"] / first["seconds"], 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--embed-only", type=int, default=5000)
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--out", default="bench/results/ingest.json")
    args = ap.parse_args()
    result: dict = {"machine": machine()}
    if not args.skip_ingest:
        result["ingest"] = asyncio.run(ingest_twice(args.device))
        print(json.dumps(result["ingest"], indent=2), flush=True)
    result["embed_only"] = embed_only(args.embed_only, args.device)  # the path ingest takes
    print(json.dumps(result["embed_only"]), flush=True)
    other = result["embed_only"]["path"] != "pipelined"
    key = "embed_pipelined" if other else "embed_model_encode"
    result[key] = embed_only(args.embed_only, args.device, pipelined=other)
    print(json.dumps(result[key]), flush=True)
    result["tokenize_only"] = tokenize_only(args.embed_only, args.device)
    print(json.dumps(result["tokenize_only"]), flush=True)
    result["tokenize_pipelined"] = tokenize_pipelined(args.embed_only, args.device)
    print(json.dumps(result["tokenize_pipelined"]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
