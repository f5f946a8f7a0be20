"""`docbot scrape` (and the source options `docbot ingest` shares).

The lead's `bot/cli.py` calls `register(subparsers)` and dispatches the
`scrape` command to `run_scrape(args, settings)`; `docbot ingest` can reuse
`add_source_arguments` and `source_from_args` and then run the index job.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import TYPE_CHECKING

from ingest.scrape import scrape
from ingest.snapshot import SnapshotError
from ingest.sources import SourceError, SourceSpec, default_source

if TYPE_CHECKING:
    from bot.config import Settings


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--path", metavar="DIR", help="a local folder of HTML, Markdown or text files"
    )
    group.add_argument("--sitemap", metavar="URL", help="a sitemap or sitemap index (URL or file)")
    group.add_argument(
        "--links", metavar="FILE_OR_URL", help="a links file: one URL a line, # comments"
    )
    group.add_argument("--url", metavar="URL", help="crawl from this start URL")
    parser.add_argument(
        "--base-url",
        default="",
        metavar="URL",
        help="--path: the URL the folder is published under (citation links)",
    )
    parser.add_argument(
        "--prefix",
        default="",
        help="crawl: only follow URLs under this prefix (default: the start URL's folder)",
    )
    parser.add_argument(
        "--depth", type=int, default=2, help="crawl: link hops from the start URL (default 2)"
    )
    parser.add_argument(
        "--allow-private",
        action="store_true",
        help="allow private and loopback addresses (same as DOCBOT_INGEST_ALLOW_PRIVATE=true)",
    )


def source_from_args(args: argparse.Namespace, settings: Settings) -> SourceSpec:
    """The source the options name; else DOCBOT_INGEST_SOURCE; else the shipped CML list."""
    spec = _named_source(args, settings)
    base_url = (getattr(args, "base_url", "") or "").strip()
    if base_url:
        if spec.kind != "path":
            raise SourceError("--base-url applies to a local folder (--path) only")
        spec = dataclasses.replace(spec, base_url=base_url)
    return spec


def _named_source(args: argparse.Namespace, settings: Settings) -> SourceSpec:
    depth = getattr(args, "depth", 2)
    prefix = getattr(args, "prefix", "")
    if getattr(args, "path", None):
        return SourceSpec("path", args.path)
    if getattr(args, "sitemap", None):
        return SourceSpec("sitemap", args.sitemap)
    if getattr(args, "links", None):
        return SourceSpec("links", args.links)
    if getattr(args, "url", None):
        return SourceSpec("crawl", args.url, prefix=prefix, depth=depth)
    return default_source(settings.ingest_source, settings.ingest_base_url)


def settings_for_args(args: argparse.Namespace, settings: Settings) -> Settings:
    if getattr(args, "allow_private", False) and not settings.ingest_allow_private:
        return dataclasses.replace(settings, ingest_allow_private=True)
    return settings


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "scrape",
        help="fetch the docs into a new snapshot (CML Job 1)",
        description="Fetch and clean the doc pages of a source into a new docs snapshot under the data dir.",
    )
    add_source_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(command="scrape")
    return parser


def run_scrape(args: argparse.Namespace, settings: Settings) -> int:
    """0: a snapshot was published (failed pages, if any, are in the summary).
    2: the source or data dir is unusable; nothing was published."""
    try:
        source = source_from_args(args, settings)
        summary = asyncio.run(
            scrape(
                source,
                settings_for_args(args, settings),
                progress=not getattr(args, "no_progress", False),
            )
        )
    except (SourceError, SnapshotError) as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(exc)}))
        print(f"docbot scrape: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(summary.to_dict(), ensure_ascii=False, indent=1))
    else:
        print(f"scrape {summary.snapshot_id}: {summary.format()}")
        for failure in summary.failures:
            kept = "kept previous" if failure["kept"] == "yes" else "no previous copy"
            print(f"  failed: {failure['url']}: {failure['error']} ({kept})")
        for url in summary.removed_urls:
            print(f"  removed: {url}")
    return 0
