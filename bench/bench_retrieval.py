"""Retrieval latency at scale, cold start of `docbot ask`, memory of a serving process.

    python bench/bench_retrieval.py --sizes 10000 100000 --queries 200 --out bench/results/retrieval.json

How the big indexes are made: the Kubeflow corpus is chunked and embedded once
for real (~1,700 chunks), then replicated to N chunks. Each replica gets its own
page URL and a few distinct words, and its vector is the original plus a little
Gaussian noise, renormalised, so that Chroma's HNSW graph and the BM25 index
see N distinct, realistically distributed items. Queries are real questions,
embedded for real on every search (the query embedding is inside the timing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from ingest.local import read_folder  # noqa: E402
from rag.chunking import chunk_pages  # noqa: E402
from rag.embeddings import get_embedder  # noqa: E402
from rag.index_store import IndexStore  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "kubeflow" / "md"
QUESTIONS = [
    "how do i install katib",
    "what is a pipeline component",
    "run a notebook server with gpu",
    "kserve inference autoscaling",
    "how to create a profile for my team",
    "spark operator install helm",
    "model registry python client",
    "trainer pytorch distributed job",
    "central dashboard add a link",
    "pipeline caching disable",
]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def build_base(embedder, cache: Path):
    if (cache / "emb.npy").exists():
        chunks = [json.loads(line) for line in (cache / "chunks.jsonl").read_text().splitlines()]
        return chunks, np.load(cache / "emb.npy")
    pages = read_folder(CORPUS, base_url="https://www.kubeflow.org/docs/")
    chunks = chunk_pages(
        pages, max_tokens=embedder.info.max_tokens, count_tokens=embedder.count_tokens
    )
    emb = embedder.embed_passages([c.embed_text for c in chunks])
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "chunks.jsonl").write_text("\n".join(json.dumps(c.to_dict()) for c in chunks))
    np.save(cache / "emb.npy", emb)
    return [c.to_dict() for c in chunks], emb


def make_index(settings: Settings, base_chunks, base_emb, n: int, seed: int = 0) -> None:
    from rag.chunking import Chunk

    rng = np.random.default_rng(seed)
    chunks, rows = [], []
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]
    for i in range(n):
        j = i % len(base_chunks)
        replica = i // len(base_chunks)
        c = dict(base_chunks[j])
        if replica:
            c["id"] = f"{c['id']}-{replica}"
            c["page_url"] = c["page_url"].rstrip("/") + f"-r{replica}/"
            tag = f" {words[replica % 8]}{replica}"
            c["text"] += tag
            c["embed_text"] += tag
        chunks.append(Chunk.from_dict(c))
        rows.append(j)
    emb = base_emb[rows].copy()
    if n > len(base_chunks):
        noise = rng.normal(0, 0.02, size=emb.shape).astype(np.float32)
        noise[: len(base_chunks)] = 0
        emb += noise
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    store = IndexStore(settings)
    version = store.write_version(
        chunks,
        emb,
        {"embedding_model": settings.embedding_model, "pages": len({c.page_url for c in chunks})},
    )
    store.publish(version)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_size(
    n: int, base_chunks, base_emb, queries: int, root: Path, encoder: str = "onnx"
) -> dict:
    """Search latency at n chunks in a fresh process, questions embedded by `encoder`:
    "numpy", or "onnx" (ONNX Runtime, as the server has it: waited for before timing)."""
    settings = Settings.from_env({"DOCBOT_DATA_DIR": str(root / f"n{n}")}, env_file=None)
    t0 = time.perf_counter()
    if not (root / f"n{n}").exists():
        make_index(settings, base_chunks, base_emb, n)
    build_s = time.perf_counter() - t0
    # measure in a fresh process so memory is that of a serving process, not of the builder
    code = f"""
import json, resource, sys, time, statistics
sys.path.insert(0, {str(ROOT)!r})
from bot.config import Settings
from rag.embeddings import Embedder
from rag.retrieve import Retriever
s = Settings.from_env({{"DOCBOT_DATA_DIR": {str(root / f"n{n}")!r}}}, env_file=None)
r = Retriever(s, Embedder(s.embedding_model, "cpu"))
t = time.perf_counter(); r.refresh(); load = time.perf_counter() - t
if {encoder == "onnx"!r}: r.embedder.accelerate()
onnx = r.embedder.wait_until_accelerated(120)
qs = {QUESTIONS!r}
for q in qs: r.search(q, k=5)  # warm
times = []
for i in range({queries}):
    q = qs[i % len(qs)] + ("" if i < len(qs) else f" {{i}}")
    t = time.perf_counter(); r.search(q, k=5); times.append((time.perf_counter() - t) * 1000)
times.sort()
print(json.dumps({{"query_encoder": "onnx" if onnx else "numpy", "load_s": load, "p50_ms": statistics.median(times), "p99_ms": times[int(0.99 * len(times)) - 1],
                  "mean_ms": statistics.fmean(times), "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update({"chunks": n, "build_s": round(build_s, 1)})
    return result


def cold_start(root: Path, runs: int) -> dict:
    """`docbot ask` from process start to the printed answer, on the demo corpus."""
    data = root / "cold"
    env = {**os.environ, "DOCBOT_DATA_DIR": str(data), "DOCBOT_LOG_LEVEL": "warning"}
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "ingest", "--path", str(ROOT / "docs")],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "ask", "How do I connect docbot to Slack?"],
            env=env,
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        times.append(time.perf_counter() - t)
    return {
        "runs": runs,
        "median_s": round(statistics.median(times), 2),
        "max_s": round(max(times), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--out", default="bench/results/retrieval.json")
    args = ap.parse_args()
    embedder = get_embedder()
    with tempfile.TemporaryDirectory(prefix="docbot-bench-") as tmp:
        root = Path(tmp)
        base_chunks, base_emb = build_base(embedder, ROOT / "bench" / "results" / "base_cache")
        results = {"machine": machine(), "base_chunks": len(base_chunks), "sizes": []}
        for n in args.sizes:
            # the same index searched with each query encoder, one after the other
            for encoder in ("numpy", "onnx"):
                r = bench_size(n, base_chunks, base_emb, args.queries, root, encoder)
                print(json.dumps(r), flush=True)
                results["sizes"].append(r)
        results["cold_start"] = cold_start(root, args.cold_runs)
        print(json.dumps(results["cold_start"]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
