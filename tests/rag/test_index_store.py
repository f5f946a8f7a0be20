"""Index versions on disk: write aside, publish atomically, roll back, prune."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings
from rag.chunking import Chunk
from rag.index_build import IngestBusyError, ingest_lock
from rag.index_store import (
    IndexStore,
    IndexStoreError,
    atomic_write_text,
    collection_name,
    page_counts,
)
from tests.open_files import open_files_under


def chunks(n: int, page: str = "https://docs.example.com/a/") -> list[Chunk]:
    return [
        Chunk(
            id=f"c{i}",
            page_url=page,
            anchor=f"s{i}",
            title="A",
            section=f"A › S{i}",
            text=f"text {i}",
            embed_text=f"A › S{i}\ntext {i}",
        )
        for i in range(n)
    ]


def vectors(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(n, 8)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path: Path, make_settings) -> IndexStore:  # noqa: ANN001
    return IndexStore(make_settings(tmp_path / "data", DOCBOT_KEEP_VERSIONS="2"))


def write(store: IndexStore, n: int = 3, vid: str | None = None):  # noqa: ANN201
    return store.write_version(
        chunks(n), vectors(n), {"pages": 1, "embedding_model": "test"}, version_id=vid
    )


def test_an_empty_store_has_no_live_version(store: IndexStore) -> None:
    assert store.current_id() is None and store.current() is None
    assert store.list_versions() == []
    assert store.pointer_stamp() is None


def test_a_written_version_is_complete_but_not_live(store: IndexStore) -> None:
    version = write(store, vid="v1")
    assert store.current_id() is None
    assert (version.path / "chunks.jsonl").is_file()
    assert (version.path / "embeddings.npy").is_file()
    assert (version.path / "bm25").is_dir() and (version.path / "chroma").is_dir()
    manifest = json.loads((version.path / "manifest.json").read_text())
    assert (
        manifest["version"] == "v1"
        and manifest["chunks"] == 3
        and manifest["embedding_model"] == "test"
    )
    assert not list(store.building_dir.iterdir())
    assert [c.id for c in store.read_chunks(version)] == ["c0", "c1", "c2"]
    assert store.read_embeddings(version).shape == (3, 8)


def test_publish_moves_the_pointer(store: IndexStore) -> None:
    version = write(store, vid="v1")
    store.publish(version)
    assert store.current_id() == "v1"
    assert (store.root / "current").read_text().strip() == "v1"
    assert store.current().chunk_count == 3  # type: ignore[union-attr]
    assert store.pointer_stamp() is not None


def test_publish_makes_the_versions_files_durable_before_the_pointer_names_it(
    store: IndexStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a power loss `current` must never name a version whose files were still only in
    the page cache: every file and directory of the version (and its entry in versions/) is
    fsynced before the pointer file is replaced."""
    version = write(store, vid="v1")
    synced: list[tuple[int, int]] = []  # (st_dev, st_ino) of each fsynced file or directory
    synced_before_pointer: list[tuple[int, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def recording_fsync(fd: int) -> None:
        st = os.fstat(fd)
        synced.append((st.st_dev, st.st_ino))
        real_fsync(fd)

    def recording_replace(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == store.pointer:
            synced_before_pointer.extend(synced)
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    store.publish(version)

    assert store.current_id() == "v1"
    must_be_durable = [store.versions_dir, version.path, *sorted(version.path.rglob("*"))]
    missing = [
        str(p.relative_to(store.root))
        for p in must_be_durable
        if ((st := p.stat()).st_dev, st.st_ino) not in synced_before_pointer
    ]
    assert missing == []


def test_rollback_is_refused_while_an_ingest_holds_the_lock(store: IndexStore) -> None:
    """A publish prunes under the ingest lock; a rollback in between could name a version
    the prune just deleted."""
    store.publish(write(store, vid="v1"))
    store.publish(write(store, vid="v2"))
    with (
        ingest_lock(store.settings),
        pytest.raises(IngestBusyError, match="another ingest is running"),
    ):
        store.rollback()
    assert store.current_id() == "v2"
    assert store.rollback().id == "v1"  # the lock is free again afterwards


def test_mismatched_chunks_and_vectors_are_refused(store: IndexStore) -> None:
    with pytest.raises(IndexStoreError, match="3 chunks but 2 vectors"):
        store.write_version(chunks(3), vectors(2), {})


def test_rollback_points_at_the_previous_version(store: IndexStore) -> None:
    store.publish(write(store, vid="v1"))
    store.publish(write(store, vid="v2"))
    assert store.rollback().id == "v1"
    assert store.current_id() == "v1"
    with pytest.raises(IndexStoreError, match="no earlier"):
        store.rollback()


def test_rollback_without_any_version_is_a_clear_error(store: IndexStore) -> None:
    with pytest.raises(IndexStoreError, match="no earlier index version"):
        store.rollback()


def test_prune_keeps_the_newest_versions_and_never_the_live_one(store: IndexStore) -> None:
    for vid in ("v1", "v2", "v3"):
        store.publish(write(store, vid=vid))
    assert [v.id for v in store.list_versions()] == ["v2", "v3"]  # DOCBOT_KEEP_VERSIONS=2
    store.rollback()  # v2 live
    store.write_version(chunks(1), vectors(1), {}, version_id="v4")
    store.write_version(chunks(1), vectors(1), {}, version_id="v5")
    removed = store.prune()
    assert "v2" not in removed
    assert store.current_id() == "v2" and (store.versions_dir / "v2").is_dir()


def test_prune_cleans_leftovers_of_killed_builds(store: IndexStore) -> None:
    store.publish(write(store, vid="v1"))
    stale = store.building_dir / "v-killed"
    stale.mkdir(parents=True)
    (stale / "chunks.jsonl").write_text("half")
    store.prune()
    assert not stale.exists()
    assert store.current_id() == "v1"


def test_a_missing_version_is_a_clear_error(store: IndexStore) -> None:
    with pytest.raises(IndexStoreError, match="v-nope is missing"):
        store.version("v-nope")


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "x" / "current"
    atomic_write_text(target, "v1\n")
    atomic_write_text(target, "v2\n")
    assert target.read_text() == "v2\n"
    assert [p.name for p in target.parent.iterdir()] == ["current"]


def test_collection_names_and_page_counts() -> None:
    assert collection_name("v2024:01") == "docbot_v2024-01"
    assert page_counts(chunks(3) + chunks(2, page="https://docs.example.com/b/")) == 2


def test_store_paths_follow_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"DOCBOT_DATA_DIR": str(tmp_path)}, env_file=None)
    assert IndexStore(settings).root == tmp_path / "index"


def test_version_ids_sort_in_creation_order_even_within_one_second() -> None:
    import time

    from rag.index_store import new_version_id

    ids = []
    for _ in range(20):
        ids.append(new_version_id())
        time.sleep(0.001)  # builds are never closer than this
    assert ids == sorted(ids) and len(set(ids)) == 20


def test_writing_and_dropping_versions_leaves_no_files_open(store: IndexStore) -> None:
    """The writer's Chroma client is closed: a long-running bot that re-ingests would
    otherwise keep every version's database open, pruned ones too (disk never freed)."""
    store.publish(write(store, vid="v1"))
    store.publish(write(store, vid="v2"))
    store.publish(write(store, vid="v3"))  # prunes v1
    assert open_files_under(store.root) == []
