"""Fetch and scrape throughput against the Kubeflow docs site served on loopback.

    python bench/bench_fetch.py [--site DIR] [--delay-ms N] [--concurrency N] [--per-host N]

Prints pages/s for: raw fetching (Fetcher.fetch_many), a cold scrape (fetch +
clean + snapshot), and a warm re-scrape (every page a 304). Target: >= 100
pages/s fetched from the local site.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:1] = [str(ROOT)]

from bot.config import Settings  # noqa: E402
from ingest.fetch import Fetcher, FetchPolicy  # noqa: E402
from ingest.scrape import scrape  # noqa: E402
from ingest.sources import SourceSpec, list_urls  # noqa: E402

SHARED = ROOT.parent / "shared"


async def bench(base: str, policy: FetchPolicy, data_dir: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    async with Fetcher(policy) as fetcher:
        urls = await list_urls(SourceSpec("sitemap", f"{base}/sitemap.xml"), fetcher)
        started = time.perf_counter()
        results = await fetcher.fetch_many(urls)
        seconds = time.perf_counter() - started
    assert all(r.status == "ok" for r in results), [r.error for r in results if r.status != "ok"][
        :3
    ]
    out["pages"] = len(urls)
    out["fetch_pages_per_s"] = round(len(urls) / seconds, 1)
    settings = Settings(data_dir=data_dir, ingest_allow_private=True)
    source = SourceSpec("sitemap", f"{base}/sitemap.xml")
    cold = await scrape(source, settings, progress=False, policy=policy)
    out["cold_scrape_s"] = cold.seconds
    out["cold_scrape_pages_per_s"] = round(cold.pages / cold.seconds, 1)
    warm = await scrape(source, settings, progress=False, policy=policy)
    out["warm_scrape_s"] = warm.seconds
    out["warm_scrape_pages_per_s"] = round(warm.pages / warm.seconds, 1)
    out["warm_not_modified"] = warm.not_modified
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--site", default=str(SHARED / "corpus" / "kubeflow" / "site"))
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--per-host", type=int, default=8)
    args = ap.parse_args()
    server = subprocess.Popen(
        [
            sys.executable,
            str(SHARED / "tools" / "serve_site.py"),
            args.site,
            "--delay-ms",
            str(args.delay_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base = server.stdout.readline().split()[1]
        policy = FetchPolicy(
            allow_private=True, concurrency=args.concurrency, per_host=args.per_host
        )
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(bench(base, policy, Path(tmp)))
    finally:
        server.terminate()
        server.wait()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
