"""Reading a large sitemap: parse and de-duplicate N URLs (no network; a file on disk).

    python bench/bench_sitemap.py [--urls 50000] [--repeats 5]

Prints the median seconds of `ingest.sources.read_sitemap` over a generated
`<urlset>` of N URLs (each with a `<lastmod>`), half of them listed twice, so the
de-duplication is exercised as a sitemap index of overlapping children would.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:1] = [str(ROOT)]

from ingest.sources import read_sitemap  # noqa: E402


def sitemap_xml(urls: int) -> str:
    entries = [
        f"<url><loc>https://docs.example.com/p{i % max(1, urls)}/</loc>"
        "<lastmod>2026-12-01</lastmod></url>"
        for i in range(urls + urls // 2)  # the first half listed twice
    ]
    return (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(entries)
        + "</urlset>"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--urls", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sitemap.xml"
        path.write_text(sitemap_xml(args.urls), encoding="utf-8")
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            listed = asyncio.run(read_sitemap(str(path), None))  # type: ignore[arg-type]
            times.append(time.perf_counter() - started)
        assert len(listed.urls) == args.urls, len(listed.urls)
    print(
        f"{args.urls} URLs ({args.urls // 2} listed twice): median {statistics.median(times):.3f} s "
        f"over {args.repeats} runs (min {min(times):.3f}, max {max(times):.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
