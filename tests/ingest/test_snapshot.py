"""The snapshot store: complete snapshots only, an atomic `current` pointer, pruning."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from ingest import snapshot
from ingest.model import Page, Section


def pages(n: int, text: str = "body") -> list[Page]:
    return [
        Page(
            url=f"https://docs.example.com/p{i}/",
            title=f"Página {i}",  # non-ASCII survives the round trip
            sections=[Section(anchor="", heading_path=[f"Página {i}"], text=f"{text} {i}")],
            source=f"https://mirror.example.com/p{i}/",
            last_modified="2026-01-01",
        )
        for i in range(n)
    ]


def test_nothing_scraped_yet(tmp_path: Path):
    assert snapshot.load_current(tmp_path) is None
    assert snapshot.current_id(tmp_path) is None


def test_write_publish_and_load_round_trip(tmp_path: Path):
    sid = snapshot.new_snapshot_id()
    snapshot.write_snapshot(tmp_path, sid, pages(3), {"source": {"kind": "links"}, "pages": {}})
    assert snapshot.load_current(tmp_path) is None  # written but not yet current

    snapshot.publish(tmp_path, sid)
    loaded, manifest = snapshot.load_current(tmp_path)
    assert [p.to_dict() for p in loaded] == [p.to_dict() for p in pages(3)]
    assert (
        manifest["id"] == sid
        and manifest["version"] == 1
        and manifest["source"] == {"kind": "links"}
    )
    assert (tmp_path / "snapshots" / "current").read_text().strip() == sid
    assert not list((tmp_path / "snapshots").glob(".*.tmp"))  # temp files renamed away


def test_an_incomplete_snapshot_is_never_published(tmp_path: Path):
    (tmp_path / "snapshots" / "broken").mkdir(parents=True)
    with pytest.raises(snapshot.SnapshotError, match="incomplete"):
        snapshot.publish(tmp_path, "broken")
    assert snapshot.current_id(tmp_path) is None


def test_ids_sort_by_time_and_pruning_keeps_the_newest(tmp_path: Path):
    ids = [
        snapshot.new_snapshot_id(datetime(2026, 1, day, tzinfo=timezone.utc)) for day in range(1, 6)
    ]
    assert ids == sorted(ids)
    for sid in ids:
        snapshot.write_snapshot(tmp_path, sid, pages(1), {"pages": {}})
        snapshot.publish(tmp_path, sid)
    removed = snapshot.prune(tmp_path, keep=2)
    assert removed == ids[:3]
    left = sorted(p.name for p in (tmp_path / "snapshots").iterdir() if p.is_dir())
    assert left == ids[3:]


def test_one_scrape_at_a_time(tmp_path: Path):
    with snapshot.scrape_lock(tmp_path):
        with pytest.raises(snapshot.SnapshotError, match="another scrape"):
            with snapshot.scrape_lock(tmp_path):
                pass
    with snapshot.scrape_lock(tmp_path):  # released
        pass


def test_a_corrupt_snapshot_gives_a_clear_error(tmp_path: Path):
    sid = snapshot.new_snapshot_id()
    folder = snapshot.write_snapshot(tmp_path, sid, pages(1), {"pages": {}})
    snapshot.publish(tmp_path, sid)
    (folder / "pages.jsonl").write_text("{not json\n")
    with pytest.raises(snapshot.SnapshotError, match="unreadable"):
        snapshot.load_current(tmp_path)
