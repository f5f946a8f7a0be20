"""The whole ingest in one process: source -> pages -> a new live index version."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from ingest.pipeline import IngestRequest, format_summary, pages_from_snapshot, run_ingest
from ingest.sources import SourceSpec
from rag.index_build import IngestBusyError, PublishRefusedError, ingest_lock
from rag.index_store import IndexStore
from rag.retrieve import Retriever

BASE = "https://docs.example.com/"


@pytest.fixture
def settings(tmp_path: Path, make_settings, embedder) -> Settings:  # noqa: ANN001 - embedder: loaded once
    return make_settings(tmp_path / "data")


async def test_a_folder_with_a_base_url_is_indexed_under_that_url(
    corpus_dir: Path, settings: Settings
) -> None:
    said: list[str] = []

    async def progress(text: str) -> None:
        said.append(text)

    result = await run_ingest(
        IngestRequest(SourceSpec("path", str(corpus_dir)), base_url=BASE),
        settings,
        on_progress=progress,
    )
    assert result["source"] == f"path {corpus_dir}"
    assert result["scrape"] == {"pages": 5}
    assert result["index"]["published"] is True
    assert said[0].startswith("Reading ") and said[1] == "Indexing 5 pages…"
    assert said[-1].startswith("Ingest finished: pages 5; chunks ")
    assert (settings.data_dir / "ingest" / "last_summary.json").is_file()
    hits = Retriever(settings).search("restore a backup")
    assert hits[0].url == BASE + "backup/#restore"


async def test_a_folder_without_a_base_url_goes_through_a_snapshot(
    corpus_dir: Path, settings: Settings
) -> None:
    result = await run_ingest(IngestRequest(SourceSpec("path", str(corpus_dir))), settings)
    assert result["scrape"]["pages"] == 5
    assert result["index"]["published"] is True
    pages, manifest = pages_from_snapshot(settings)
    assert len(pages) == 5 and manifest["source"]["kind"] == "path"
    assert IndexStore(settings).current_id() == result["index"]["version"]
    assert "pages 5: 5 new" in format_summary(result)


async def test_an_empty_folder_is_a_clear_error_and_publishes_nothing(
    tmp_path: Path, settings: Settings
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no HTML, Markdown or text files"):
        await run_ingest(
            IngestRequest(SourceSpec("path", str(tmp_path / "empty")), base_url=BASE), settings
        )
    assert IndexStore(settings).current_id() is None


async def test_a_second_ingest_while_one_runs_is_refused(
    corpus_dir: Path, settings: Settings
) -> None:
    with ingest_lock(settings), pytest.raises(IngestBusyError):
        await run_ingest(
            IngestRequest(SourceSpec("path", str(corpus_dir)), base_url=BASE), settings
        )


async def test_force_passes_the_page_loss_guard(corpus_dir: Path, settings: Settings) -> None:
    request = IngestRequest(SourceSpec("path", str(corpus_dir)), base_url=BASE)
    await run_ingest(request, settings)
    for name in ("backup.md", "slack.md"):
        (corpus_dir / name).unlink()
    with pytest.raises(PublishRefusedError):
        await run_ingest(request, settings)
    result = await run_ingest(IngestRequest(request.source, base_url=BASE, force=True), settings)
    assert result["index"]["pages"] == 3


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
