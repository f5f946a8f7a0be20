"""The whole ingest in one process: source -> pages -> new index version.

`docbot ingest` runs this; on CML the same two halves run as two dependent
Jobs (`ingest/scrape_job.py`, then `ingest/index_job.py`). The live index is
untouched until the new version has passed its checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from ingest import snapshot as snap
from ingest.model import Page
from ingest.sources import SourceSpec
from rag.index_build import (
    IndexSummary,
    PublishRefusedError,
    build_index,
    ingest_lock,
    write_summary,
)

log = logging.getLogger(__name__)
SUMMARY_PREFIX = "Ingest finished: "  # the closing progress line, which is the result

Progress = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class IngestRequest:
    source: SourceSpec  # a folder's publish URL, for citations, is `source.base_url`
    force: bool = False


async def _noop(_: str) -> None:
    return None


def _publish_snapshot(settings: Settings, snapshot_id: str) -> bool:
    """Make the run's snapshot current (and prune old ones); False if a scrape runs."""
    from ingest.scrape import make_current

    try:
        with snap.scrape_lock(settings.data_dir):
            make_current(settings, snapshot_id)
    except snap.SnapshotError as exc:
        log.warning("docs snapshot %s not made current: %s", snapshot_id, exc)
        return False
    return True


def pages_from_snapshot(settings: Settings) -> tuple[list[Page], dict[str, Any]]:
    from ingest.snapshot import load_current

    loaded = load_current(settings.data_dir)
    if loaded is None:
        raise FileNotFoundError("no docs snapshot yet: run `docbot scrape` first")
    return loaded


async def run_ingest(
    request: IngestRequest,
    settings: Settings,
    *,
    progress: bool = False,
    on_progress: Progress = _noop,
) -> dict[str, Any]:
    """Scrape (or read) and index; returns a JSON-able summary of both stages."""
    started = time.perf_counter()
    spec = request.source
    result: dict[str, Any] = {"source": spec.describe()}
    with ingest_lock(settings):
        # every source, a local folder too, goes through a docs snapshot, so that a later
        # `docbot index` (CML Job 2) rebuilds exactly these pages
        from ingest.scrape import scrape

        folder = spec.kind == "path"
        await on_progress(f"Reading {spec.value}…" if folder else f"Fetching {spec.describe()}…")
        # the snapshot becomes current only once the index step is over: after an
        # interrupted or failed index the next run still counts against the live pages
        summary = await scrape(spec, settings, progress=progress, publish=False)
        result["scrape"] = summary.to_dict()
        await on_progress(f"{'Read' if folder else 'Fetched'}: {summary.format()}")
        pages, _ = await asyncio.to_thread(
            snap.load_snapshot, settings.data_dir, summary.snapshot_id
        )
        await on_progress(f"Indexing {len(pages)} pages…")
        stop = threading.Event()
        building = asyncio.ensure_future(
            asyncio.to_thread(
                build_index,
                pages,
                settings,
                force=request.force,
                progress=progress,
                source=result["source"],
                cancelled=stop,
            )
        )
        try:
            index: IndexSummary = await asyncio.shield(building)
        except asyncio.CancelledError:
            # interrupted (Ctrl-C): the build thread cannot be killed, so tell it not to
            # publish and wait for it while still holding the lock
            stop.set()
            with contextlib.suppress(Exception):
                await building
            raise
        except PublishRefusedError:
            _publish_snapshot(settings, summary.snapshot_id)  # for `docbot index --force`
            raise
        result["scrape"]["published"] = _publish_snapshot(settings, summary.snapshot_id)
    result["index"] = index.to_dict()
    result["seconds"] = round(time.perf_counter() - started, 2)
    write_summary(settings, result)
    await on_progress(format_summary(result))
    return result


def format_summary(result: dict[str, Any]) -> str:
    index = result.get("index", {})
    scrape = result.get("scrape", {})
    parts = []
    if "new" in scrape:
        parts.append(
            f"pages {scrape.get('pages', 0)}: {scrape.get('new', 0)} new, {scrape.get('changed', 0)} changed, "
            f"{scrape.get('unchanged', 0)} unchanged, {scrape.get('removed', 0)} removed, {scrape.get('failed', 0)} failed"
        )
    else:
        parts.append(f"pages {scrape.get('pages', index.get('pages', 0))}")
    parts.append(
        f"chunks {index.get('chunks', 0)}: {index.get('chunks_embedded', 0)} embedded, {index.get('chunks_reused', 0)} reused"
    )
    if index.get("unchanged"):
        parts.append(f"nothing changed, index version {index.get('version', '')} stays live")
    elif index.get("version"):
        parts.append(f"index version {index['version']}")
    if "seconds" in result:
        parts.append(f"{result['seconds']:.1f}s")
    return SUMMARY_PREFIX + "; ".join(parts)
