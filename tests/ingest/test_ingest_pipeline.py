"""The whole ingest in one process: source -> pages -> a new live index version."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import Settings
from ingest.pipeline import IngestRequest, format_summary, pages_from_snapshot, run_ingest
from ingest.sources import SourceError, SourceSpec
from rag.index_build import (
    IngestBusyError,
    PublishRefusedError,
    ingest_lock,
    is_ingest_running,
)
from rag.index_store import IndexStore
from rag.retrieve import Retriever
from tests.ingest.sites import needs_site

BASE = "https://docs.example.com/"


@pytest.fixture
def settings(tmp_path: Path, make_settings, embedder) -> Settings:  # noqa: ANN001 - embedder: loaded once
    return make_settings(tmp_path / "data")


def folder(path: Path, base_url: str = BASE) -> IngestRequest:
    return IngestRequest(SourceSpec("path", str(path), base_url=base_url))


async def test_a_folder_with_a_base_url_is_indexed_under_that_url(
    corpus_dir: Path, settings: Settings
) -> None:
    said: list[str] = []

    async def progress(text: str) -> None:
        said.append(text)

    result = await run_ingest(folder(corpus_dir), settings, on_progress=progress)
    assert result["source"] == f"path {corpus_dir} (published at {BASE})"
    scrape = result["scrape"]
    assert (scrape["pages"], scrape["new"], scrape["changed"], scrape["removed"]) == (5, 5, 0, 0)
    assert scrape["published"] is True and scrape["requests"] == 0
    assert result["index"]["published"] is True
    assert said[0] == f"Reading {corpus_dir}…"
    assert said[1].startswith("Read: 5 pages: 5 new, 0 changed, 0 unchanged, 0 removed, 0 failed")
    assert "requests" not in said[1]  # a folder is read, not fetched
    assert said[2] == "Indexing 5 pages…"
    assert said[-1].startswith("Ingest finished: pages 5: 5 new, 0 changed, ")
    assert (settings.data_dir / "ingest" / "last_summary.json").is_file()
    hits = Retriever(settings).search("restore a backup")
    assert hits[0].url == BASE + "backup/#restore"
    # the snapshot holds the pages under their published URLs, and knows the base URL
    pages, manifest = pages_from_snapshot(settings)
    assert sorted(p.url for p in pages)[0].startswith(BASE)
    assert manifest["source"] == {
        "kind": "path",
        "value": str(corpus_dir),
        "prefix": "",
        "depth": 2,
        "base_url": BASE,
    }


async def test_a_second_folder_ingest_counts_changes_against_the_snapshot(
    corpus_dir: Path, settings: Settings
) -> None:
    await run_ingest(folder(corpus_dir), settings)
    backup = corpus_dir / "backup.md"
    backup.write_text(
        backup.read_text(encoding="utf-8")
        + "\n## Retention\n\nBackups are kept for thirty days.\n",
        encoding="utf-8",
    )
    (corpus_dir / "new.md").write_text("# New page\n\nSomething new to say.\n", encoding="utf-8")
    result = await run_ingest(folder(corpus_dir), settings)
    scrape = result["scrape"]
    assert (scrape["pages"], scrape["new"], scrape["changed"], scrape["unchanged"]) == (6, 1, 1, 4)
    assert scrape["removed"] == 0 and result["index"]["pages"] == 6
    assert "pages 6: 1 new, 1 changed, 4 unchanged, 0 removed" in format_summary(result)


async def test_index_alone_rebuilds_a_folder_ingest_with_the_same_citation_urls(
    corpus_dir: Path, settings: Settings
) -> None:
    """`ingest --path DIR --base-url URL`, then `docbot index` alone (CML Job 2): the same
    pages, under the same URLs, come back from the snapshot."""
    from ingest.index_job import run_index_job

    # an earlier ingest without a base URL left a snapshot with path-style links
    await run_ingest(IngestRequest(SourceSpec("path", str(corpus_dir))), settings)
    result = await run_ingest(folder(corpus_dir), settings)
    assert result["scrape"]["changed"] == 5  # every citation URL moved under the base URL
    live = IndexStore(settings).current_id()
    urls = {h.url for h in Retriever(settings).search("restore a backup", k=10)}
    assert BASE + "backup/#restore" in urls

    # the page hashes (citation URLs included) match the live version: nothing to build
    code, again = run_index_job(settings)
    assert code == 0, again
    assert again["index"]["unchanged"] is True and again["index"]["version"] == live
    assert again["source"]["base_url"] == BASE

    # rebuilt anyway: a new version, every chunk's vector reused, the same links
    code, rebuilt = run_index_job(settings, force=True)
    assert code == 0, rebuilt
    assert rebuilt["index"]["version"] != live and rebuilt["index"]["pages"] == 5
    assert rebuilt["index"]["chunks_embedded"] == 0
    assert IndexStore(settings).current_id() == rebuilt["index"]["version"]
    hits = Retriever(settings).search("restore a backup", k=10)
    assert hits[0].url == BASE + "backup/#restore"
    assert {h.url for h in hits} == urls


async def test_an_empty_folder_is_a_clear_error_and_publishes_nothing(
    tmp_path: Path, settings: Settings
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no HTML, Markdown or text files"):
        await run_ingest(folder(tmp_path / "empty"), settings)
    assert IndexStore(settings).current_id() is None
    with pytest.raises(FileNotFoundError, match="no docs snapshot yet"):
        pages_from_snapshot(settings)


async def test_a_second_ingest_while_one_runs_is_refused(
    corpus_dir: Path, settings: Settings
) -> None:
    with ingest_lock(settings), pytest.raises(IngestBusyError):
        await run_ingest(folder(corpus_dir), settings)


async def test_force_passes_the_page_loss_guard(corpus_dir: Path, settings: Settings) -> None:
    request = folder(corpus_dir)
    await run_ingest(request, settings)
    for name in ("backup.md", "slack.md"):
        (corpus_dir / name).unlink()
    with pytest.raises(PublishRefusedError):
        await run_ingest(request, settings)
    result = await run_ingest(IngestRequest(request.source, force=True), settings)
    assert result["index"]["pages"] == 3


async def _interrupted_after_a_change(
    small_site: Path, settings: Settings, request: IngestRequest
) -> str | None:
    """Ingest `request`, change one page, then run again and interrupt it (as Ctrl-C does)
    once it is indexing; the live version id from before."""
    await run_ingest(request, settings)
    live = IndexStore(settings).current_id()
    page = small_site / "docs" / "about" / "events" / "index.html"
    html = page.read_text(encoding="utf-8")
    page.write_text(html.replace("</h1>", "</h1><p>Quokka meetups are on Tuesdays.</p>", 1))

    running: asyncio.Task[dict] | None = None

    async def interrupt_when_indexing(text: str) -> None:
        if text.startswith("Indexing") and running is not None:
            running.cancel()  # what asyncio.run does on SIGINT

    running = asyncio.ensure_future(
        run_ingest(request, settings, on_progress=interrupt_when_indexing)
    )
    with pytest.raises(asyncio.CancelledError):
        await running
    return live


@needs_site
async def test_an_ingest_interrupted_while_indexing_leaves_the_live_index_alone(
    small_site: Path,
    serve: Callable[..., str],
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    embedder: object,
) -> None:
    """Ctrl-C in `docbot ingest` cancels run_ingest while build_index runs in its thread:
    the thread must not go on to publish a new version after the lock was released."""
    settings = make_settings(tmp_path / "data", DOCBOT_INGEST_ALLOW_PRIVATE="true")
    request = IngestRequest(SourceSpec("sitemap", serve(small_site) + "/sitemap.xml"))
    live = await _interrupted_after_a_change(small_site, settings, request)
    await asyncio.get_running_loop().shutdown_default_executor()  # the build thread is done
    store = IndexStore(settings)
    assert store.current_id() == live
    assert [v.id for v in store.list_versions()] == [live]
    assert not is_ingest_running(settings)


@needs_site
async def test_the_run_after_an_interrupted_ingest_counts_against_the_live_index(
    small_site: Path,
    serve: Callable[..., str],
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    embedder: object,
) -> None:
    """The interrupted run fetched the changed page but published nothing: the next run
    must still report it as changed (not "0 changed" while it publishes the change)."""
    settings = make_settings(tmp_path / "data", DOCBOT_INGEST_ALLOW_PRIVATE="true")
    request = IngestRequest(SourceSpec("links", serve(small_site) + "/links.txt"))
    await _interrupted_after_a_change(small_site, settings, request)

    result = await run_ingest(request, settings)
    scrape = result["scrape"]
    assert (scrape["pages"], scrape["changed"], scrape["unchanged"]) == (8, 1, 7)
    assert scrape["published"] is True and result["index"]["published"] is True
    assert "Quokka meetups" in Retriever(settings).search("when are quokka meetups")[0].text
    again = await run_ingest(request, settings)
    assert (again["scrape"]["changed"], again["index"]["unchanged"]) == (0, True)


def test_no_snapshot_yet_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(FileNotFoundError, match="docbot scrape"):
        pages_from_snapshot(settings)


def test_format_summary() -> None:
    text = format_summary(
        {
            "scrape": {
                "pages": 10,
                "new": 1,
                "changed": 2,
                "unchanged": 7,
                "removed": 0,
                "failed": 1,
            },
            "index": {"chunks": 40, "chunks_embedded": 5, "chunks_reused": 35, "version": "v1"},
            "seconds": 3.21,
        }
    )
    assert text == (
        "Ingest finished: pages 10: 1 new, 2 changed, 7 unchanged, 0 removed, 1 failed; "
        "chunks 40: 5 embedded, 35 reused; index version v1; 3.2s"
    )
