"""Ingest the 214-page Kubeflow site from a loopback server, then again with nothing changed.

    python bench/bench_ingest.py --out bench/results/ingest.json [--device cuda]

Reports pages/s fetched, chunks/s embedded (the device the embedder used), the
seconds of every stage, and the unchanged re-ingest's time as a share of the
first ingest's (target <= 10%). Also times embedding alone on a fixed batch of
chunks (`--embed-only N`), which is the number to compare across CPUs and GPUs.
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


def embed_only(n: int, device: str) -> dict:
    from ingest.local import read_folder
    from rag.chunking import chunk_pages
    from rag.embeddings import Embedder

    embedder = Embedder(device=device)
    pages = read_folder(
        SHARED / "corpus" / "kubeflow" / "md", base_url="https://www.kubeflow.org/docs/"
    )
    chunks = chunk_pages(
        pages, max_tokens=embedder.info.max_tokens, count_tokens=embedder.count_tokens
    )
    texts = [c.embed_text for c in chunks]
    texts = (texts * (n // len(texts) + 1))[:n]
    embedder.embed_passages(texts[: min(256, n)])  # load and warm up
    t0 = time.perf_counter()
    embedder.embed_passages(texts)
    seconds = time.perf_counter() - t0
    return {
        "chunks": n,
        "device": embedder.device,
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
    result["embed_only"] = embed_only(args.embed_only, args.device)
    print(json.dumps(result["embed_only"]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
