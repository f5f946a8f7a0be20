"""Ingest the 214-page Kubeflow site from a loopback server, then again with nothing changed.

    python bench/bench_ingest.py --out bench/results/ingest.json [--device cuda]

Reports pages/s fetched, chunks/s embedded (the device the embedder used), the
seconds of every stage, and the unchanged re-ingest's time as a share of the
first ingest's (target <= 10%). Also times embedding alone on a fixed batch of
chunks (`--embed-only N`), which is the number to compare across CPUs and GPUs,
and the tokenizer alone on the same chunks, which bounds what a GPU can reach.
Embedding is timed through both bulk paths (`model.encode` and the pipelined
`rag.bulk_encode`, the default on CUDA), and the pipelined tokenizer alone with
1, 2, ... workers. On a GPU, `--batch-sizes 128,256,512,1024` times the default
path at each batch size, and `--reference ref.npy` compares the device's vectors
with float32 CPU vectors of the same chunks written here by `--write-reference`.

    python bench/bench_ingest.py --write-reference ref.npy --embed-only 512   # on the CPU
    python bench/bench_ingest.py --device cuda --skip-ingest --embed-only 20000 \
        --repeats 3 --batch-sizes 128,256,512,1024 --reference ref.npy
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

import numpy as np

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


_CHUNK_TEXTS: dict[tuple[str, int], list[str]] = {}


def corpus_texts(embedder: object, n: int) -> list[str]:
    """`n` chunk texts of the Kubeflow Markdown corpus (repeated to reach `n`), chunked
    once per model and process: every run below asks for them again."""
    from ingest.local import read_folder
    from rag.chunking import chunk_pages

    key = (embedder.path, embedder.info.max_tokens)  # type: ignore[attr-defined]
    if key not in _CHUNK_TEXTS:
        pages = read_folder(
            SHARED / "corpus" / "kubeflow" / "md", base_url="https://www.kubeflow.org/docs/"
        )
        chunks = chunk_pages(
            pages,
            max_tokens=embedder.info.max_tokens,  # type: ignore[attr-defined]
            count_tokens=embedder.count_tokens,  # type: ignore[attr-defined]
        )
        _CHUNK_TEXTS[key] = [c.embed_text for c in chunks]
    texts = _CHUNK_TEXTS[key]
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


def embed_only(
    n: int,
    device: str,
    pipelined: bool | None = None,
    *,
    batch_size: int = 0,
    repeats: int = 1,
) -> dict:
    """Chunks/s embedded (median of `repeats` timed runs after a warm-up);
    `pipelined` None is the Embedder's default path for the device, `batch_size`
    0 its default batch."""
    from rag.embeddings import Embedder

    embedder = Embedder(device=device, batch_size=batch_size, pipelined=pipelined)
    texts = corpus_texts(embedder, n)
    embedder.embed_passages(texts[: min(2 * embedder.batch_size, n)])  # load and warm up
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        embedder.embed_passages(texts)
        runs.append(time.perf_counter() - t0)
    seconds = sorted(runs)[len(runs) // 2]
    return {
        "chunks": n,
        "device": embedder.device,
        "path": "pipelined" if embedder._use_pipeline(n) else "model.encode",
        "batch_size": embedder.batch_size,
        "repeats": repeats,
        "seconds": round(seconds, 3),
        "chunks_per_s": round(n / seconds, 1),
    }


def reference_vectors(n: int) -> np.ndarray:
    """float32 CPU vectors of the first `n` corpus chunks, through `model.encode`."""
    from rag.embeddings import Embedder

    embedder = Embedder(device="cpu", pipelined=False)
    return embedder.embed_passages(corpus_texts(embedder, n))


def compare_with_reference(reference: np.ndarray, device: str) -> dict:
    """How far the device's vectors (its default bulk path and dtype) are from the
    CPU's float32 ones: what fp16 on a GPU costs in retrieval terms."""
    from rag.embeddings import Embedder

    embedder = Embedder(device=device)
    n = len(reference)
    vectors = embedder.embed_passages(corpus_texts(embedder, n))
    cosine = np.sum(vectors * reference, axis=1)  # both L2-normalised
    return {
        "chunks": n,
        "device": embedder.device,
        "path": "pipelined" if embedder._use_pipeline(n) else "model.encode",
        "min_cosine": round(float(cosine.min()), 6),
        "median_cosine": round(float(np.median(cosine)), 6),
        "max_abs_diff": round(float(np.abs(vectors - reference).max()), 6),
    }


def accelerator() -> str | None:
    """The GPU in words, or None without CUDA."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    memory = torch.cuda.get_device_properties(0).total_memory / 2**30
    return f"{name} ({memory:.0f} GiB), torch {torch.__version__}, CUDA {torch.version.cuda}"


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
    ap.add_argument("--only-ingest", action="store_true", help="no embedding or tokenizer runs")
    ap.add_argument("--repeats", type=int, default=1, help="timed embedding runs (median)")
    ap.add_argument("--batch-sizes", default="", help="comma-separated, e.g. 128,256,512")
    ap.add_argument("--reference", help="compare with CPU vectors saved by --write-reference")
    ap.add_argument("--write-reference", help="save float32 CPU vectors of --embed-only chunks")
    ap.add_argument("--out", default="bench/results/ingest.json")
    args = ap.parse_args()
    if args.write_reference:
        np.save(args.write_reference, reference_vectors(args.embed_only))
        return
    result: dict = {"machine": machine(), "accelerator": accelerator()}
    print(json.dumps(result), flush=True)
    if not args.skip_ingest:
        result["ingest"] = asyncio.run(ingest_twice(args.device))
        print(json.dumps(result["ingest"], indent=2), flush=True)
    if not args.only_ingest:
        embedding_runs(args, result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


def embedding_runs(args: argparse.Namespace, result: dict) -> None:
    if args.reference:
        result["reference"] = compare_with_reference(np.load(args.reference), args.device)
        print(json.dumps(result["reference"]), flush=True)
    n, device, repeats = args.embed_only, args.device, args.repeats
    result["embed_only"] = embed_only(n, device, repeats=repeats)  # the path ingest takes
    print(json.dumps(result["embed_only"]), flush=True)
    other = result["embed_only"]["path"] != "pipelined"
    key = "embed_pipelined" if other else "embed_model_encode"
    result[key] = embed_only(n, device, pipelined=other, repeats=repeats)
    print(json.dumps(result[key]), flush=True)
    sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    if sizes:
        result["embed_by_batch_size"] = {
            b: embed_only(n, device, batch_size=b, repeats=repeats)["chunks_per_s"] for b in sizes
        }
        print(json.dumps(result["embed_by_batch_size"]), flush=True)
    result["tokenize_only"] = tokenize_only(args.embed_only, args.device)
    print(json.dumps(result["tokenize_only"]), flush=True)
    result["tokenize_pipelined"] = tokenize_pipelined(args.embed_only, args.device)
    print(json.dumps(result["tokenize_pipelined"]), flush=True)


if __name__ == "__main__":
    main()
