"""Building index versions: reuse, guards, rollback, stale builds, the ingest lock,
and a running Retriever switching to a new version without a restart."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from bot.config import Settings
from ingest.local import read_folder
from ingest.model import Page
from rag.embeddings import Embedder
from rag.index_build import (
    IngestBusyError,
    PublishRefusedError,
    build_index,
    ingest_lock,
    is_ingest_running,
    write_summary,
)
from rag.index_store import IndexStore
from rag.retrieve import Retriever
from tests.open_files import open_files_under

BASE = "https://docs.example.com/"


@pytest.fixture
def settings(tmp_path: Path, make_settings) -> Settings:  # noqa: ANN001
    return make_settings(tmp_path / "data", DOCBOT_KEEP_VERSIONS="3")


def pages(root: Path) -> list[Page]:
    return read_folder(root, base_url=BASE)


def build(root: Path, settings: Settings, embedder: Embedder, **kw: object):  # noqa: ANN201
    return build_index(pages(root), settings, embedder=embedder, **kw)  # type: ignore[arg-type]


def test_a_build_publishes_and_the_pointer_names_it(
    corpus_dir: Path, settings: Settings, embedder: Embedder
) -> None:
    summary = build(corpus_dir, settings, embedder, source="path docs")
    store = IndexStore(settings)
    assert summary.published and not summary.refused
    assert store.current_id() == summary.version
    assert summary.pages == 5 and summary.chunks >= 10
    assert summary.chunks_embedded == summary.chunks and summary.chunks_reused == 0
    manifest = store.current().manifest  # type: ignore[union-attr]
    assert manifest["embedding_model"] == embedder.name
    assert manifest["source"] == "path docs"
    assert set(manifest["page_hashes"]) == {p.url for p in pages(corpus_dir)}
    assert summary.to_dict()["version"] == summary.version


def edit(corpus_dir: Path, n: int) -> None:
    """Change one page a little (a new version is only built when the docs change)."""
    with open(corpus_dir / "backup.md", "a", encoding="utf-8") as fh:
        fh.write(f"\n## Note {n}\n\nBackups older than {n} weeks are deleted automatically.\n")


def test_unchanged_docs_build_nothing_and_the_live_version_stays(
    corpus_dir: Path, settings: Settings, embedder: Embedder
) -> None:
    first = build(corpus_dir, settings, embedder)
    second = build(corpus_dir, settings, embedder)
    assert second.unchanged and not second.published
    assert second.version == first.version == IndexStore(settings).current_id()
    assert second.chunks_embedded == 0 and second.chunks_reused == first.chunks
    assert len(IndexStore(settings).list_versions()) == 1


def test_a_forced_rebuild_of_unchanged_docs_reuses_every_vector(
    corpus_dir: Path, settings: Settings, embedder: Embedder
) -> None:
    first = build(corpus_dir, settings, embedder)
    second = build(corpus_dir, settings, embedder, force=True)
    assert second.published and second.version != first.version
    assert second.previous_version == first.version
    assert second.chunks_embedded == 0
    assert second.chunks_reused == second.chunks == first.chunks


def test_one_changed_page_re_embeds_only_its_chunks(
    corpus_dir: Path, settings: Settings, embedder: Embedder
) -> None:
    """backup.md holds the first chunk, the publish check's probe: the check must probe the
    new version, not the live one (where the changed chunk does not exist)."""
    build(corpus_dir, settings, embedder)
    backup = corpus_dir / "backup.md"
    backup.write_text(backup.read_text().replace("every night", "every hour"))
    summary = build(corpus_dir, settings, embedder)
    assert summary.chunks_embedded == 1  # only the changed section
    assert summary.chunks_reused == summary.chunks - 1


def test_a_removed_page_disappears_from_retrieval(
    corpus_dir: Path, tmp_path: Path, make_settings, embedder: Embedder
) -> None:  # noqa: ANN001
    settings = make_settings(tmp_path / "data", DOCBOT_MAX_PAGE_LOSS="0.5")
    build(corpus_dir, settings, embedder)
    retriever = Retriever(settings, embedder)
    assert any("/backup/" in h.url for h in retriever.search("restore a backup"))
    (corpus_dir / "backup.md").unlink()
    build(corpus_dir, settings, embedder)
    hits = retriever.search("restore a backup")
    assert hits and all("/backup/" not in h.url for h in hits)


def test_the_page_loss_guard_refuses_and_leaves_the_live_version(
    corpus_dir: Path, settings: Settings, embedder: Embedder
) -> None:
    live = build(corpus_dir, settings, embedder)
    store = IndexStore(settings)
    pointer_before = store.pointer.read_text()
    versions_before = [v.id for v in store.list_versions()]
    for name in ("backup.md", "slack.md"):
        (corpus_dir / name).unlink()  # 2 of 5 pages gone: 40% > 20%
    with pytest.raises(PublishRefusedError, match="--force"):
        build(corpus_dir, settings, embedder)
    assert store.pointer.read_text() == pointer_before
    assert store.current_id() == live.version
    assert [v.id for v in store.list_versions()] == versions_before
    # and the live version keeps answering
    assert Retriever(settings, embedder).search("restore a backup")


def test_force_publishes_despite_the_page_loss(
    corpus_dir: Path, settings: Settings, embedder: Embedder
) -> None:
    build(corpus_dir, settings, embedder)
    for name in ("backup.md", "slack.md"):
        (corpus_dir / name).unlink()
    summary = build(corpus_dir, settings, embedder, force=True)
    assert summary.published and summary.pages == 3
    assert IndexStore(settings).current_id() == summary.version


def test_rollback_makes_the_previous_version_live_again(
    corpus_dir: Path, settings: Settings, embedder: Embedder
) -> None:
    first = build(corpus_dir, settings, embedder)
    (corpus_dir / "extra.md").write_text(
        "---\ntitle: Extra\n---\n## Gizmos\n\nGizmos attach to widgets with magnets.\n"
    )
    build(corpus_dir, settings, embedder)
    retriever = Retriever(settings, embedder)
    assert any("/extra/" in h.url for h in retriever.search("gizmos magnets"))
    assert IndexStore(settings).rollback().id == first.version
    assert all("/extra/" not in h.url for h in retriever.search("gizmos magnets"))


def test_prune_keeps_keep_versions(
    corpus_dir: Path, tmp_path: Path, make_settings, embedder: Embedder
) -> None:  # noqa: ANN001
    settings = make_settings(tmp_path / "data", DOCBOT_KEEP_VERSIONS="2")
    ids = []
    for n in range(3):
        edit(corpus_dir, n)
        ids.append(build(corpus_dir, settings, embedder).version)
    assert [v.id for v in IndexStore(settings).list_versions()] == ids[1:]


def test_a_killed_builds_leftovers_are_cleaned_and_the_live_version_serves(
    corpus_dir: Path, settings: Settings, embedder: Embedder
) -> None:
    live = build(corpus_dir, settings, embedder)
    store = IndexStore(settings)
    stale = store.building_dir / "v-killed-build"
    shutil.copytree(store.versions_dir / live.version, stale)
    (stale / "manifest.json").unlink()  # half-written
    retriever = Retriever(settings, embedder)
    assert retriever.search("install widgetron")[0].url.startswith(BASE + "install/")
    edit(corpus_dir, 1)
    summary = build(corpus_dir, settings, embedder)
    assert summary.published
    assert not stale.exists()
    assert stale.name not in [v.id for v in store.list_versions()]


def test_a_second_concurrent_ingest_is_refused(settings: Settings) -> None:
    assert not is_ingest_running(settings)
    with ingest_lock(settings):
        assert is_ingest_running(settings)
        errors: list[BaseException] = []

        def second() -> None:
            try:
                with ingest_lock(settings):
                    pass
            except IngestBusyError as exc:
                errors.append(exc)

        worker = threading.Thread(target=second)
        worker.start()
        worker.join()
        assert len(errors) == 1 and "another ingest" in str(errors[0])
    assert not is_ingest_running(settings)
    with ingest_lock(settings):  # free again afterwards
        pass


def test_a_retriever_opened_before_a_publish_switches_on_its_next_search(
    corpus_dir: Path, settings: Settings, embedder: Embedder
) -> None:
    build(corpus_dir, settings, embedder)
    retriever = Retriever(settings, embedder)
    assert all("/gizmos/" not in h.url for h in retriever.search("gizmo magnets"))
    (corpus_dir / "gizmos.md").write_text(
        "---\ntitle: Gizmos\n---\n## Attaching gizmos\n\nGizmos attach to widgets with strong magnets.\n"
    )
    summary = build(corpus_dir, settings, embedder)
    hits = retriever.search("gizmo magnets")
    assert hits[0].url == BASE + "gizmos/#attaching-gizmos"
    assert retriever.index.version.id == summary.version  # type: ignore[union-attr]


def test_an_empty_page_list_is_refused(settings: Settings, embedder: Embedder) -> None:
    with pytest.raises(PublishRefusedError, match="no chunks"):
        build_index([], settings, embedder=embedder)
    assert IndexStore(settings).current_id() is None


def test_the_summary_is_saved_for_status(settings: Settings) -> None:
    path = write_summary(settings, {"index": {"version": "v1"}})
    assert path == settings.data_dir / "ingest" / "last_summary.json"
    assert '"v1"' in path.read_text()


@pytest.mark.slow
def test_any_sentence_transformers_model_from_a_folder_builds_and_serves_an_index(
    corpus_dir: Path,
    tmp_path: Path,
    make_settings,  # noqa: ANN001
) -> None:
    """DOCBOT_EMBEDDING_MODEL names another model (here a tiny one on disk, 32 dimensions):
    ingest embeds with it, the manifest records it, and retrieval embeds questions with it."""
    from tests.tiny_models import HIDDEN, sentence_transformer

    model_dir = sentence_transformer(tmp_path / "tiny")
    settings = make_settings(tmp_path / "data", DOCBOT_EMBEDDING_MODEL=str(model_dir))
    summary = build_index(pages(corpus_dir), settings)
    assert summary.published and summary.embedding_model == str(model_dir)
    manifest = IndexStore(settings).current().manifest  # type: ignore[union-attr]
    assert (manifest["embedding_model"], manifest["dimension"]) == (str(model_dir), HIDDEN)
    retriever = Retriever(settings)
    hits = retriever.search("pip install --upgrade widgetron", k=5)
    assert retriever.embedder.info.dimension == HIDDEN
    # random weights rank by chance; BM25, fused in, still finds the exact command
    assert BASE + "install/" in [h.page_url for h in hits]


def test_a_probe_that_errors_is_refused_and_leaves_no_unpublished_version_behind(
    corpus_dir: Path, settings: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unchecked version left in versions/ would take a DOCBOT_KEEP_VERSIONS slot and
    become the target of a later `docbot index --rollback`."""
    live = build(corpus_dir, settings, embedder)
    store = IndexStore(settings)
    versions_before = [v.id for v in store.list_versions()]

    def broken_search(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the collection cannot be queried")

    monkeypatch.setattr(Retriever, "search", broken_search)
    edit(corpus_dir, 1)
    with pytest.raises(PublishRefusedError, match="probe query failed"):
        build(corpus_dir, settings, embedder)
    assert store.current_id() == live.version
    assert [v.id for v in store.list_versions()] == versions_before


def test_an_unexpected_error_in_the_checks_leaves_no_unpublished_version_behind(
    corpus_dir: Path, settings: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag.index_build

    first = build(corpus_dir, settings, embedder)

    def crash(*args: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(rag.index_build, "check_version", crash)
    edit(corpus_dir, 1)
    with pytest.raises(KeyboardInterrupt):
        build(corpus_dir, settings, embedder)
    monkeypatch.undo()
    edit(corpus_dir, 2)
    second = build(corpus_dir, settings, embedder)
    store = IndexStore(settings)
    assert [v.id for v in store.list_versions()] == [first.version, second.version]
    assert store.rollback().id == first.version  # never the unchecked one


def test_a_serving_retriever_lets_go_of_pruned_versions_so_their_disk_space_is_freed(
    corpus_dir: Path, tmp_path: Path, make_settings, embedder: Embedder
) -> None:  # noqa: ANN001
    """An in-process re-ingest (/docbot reingest) followed by questions, several times:
    the files of pruned versions must not stay open (disk space, file descriptors)."""
    settings = make_settings(tmp_path / "data", DOCBOT_KEEP_VERSIONS="1")
    retriever = Retriever(settings, embedder)
    for n in range(3):
        edit(corpus_dir, n)
        build(corpus_dir, settings, embedder)
        assert retriever.search("restore a backup")
    held = open_files_under(settings.index_dir)
    assert not [p for p in held if p.endswith("(deleted)")]
    live = IndexStore(settings).current_id()
    assert all(f"/versions/{live}/" in p for p in held)  # the builds' own clients closed too


def test_a_question_in_flight_during_a_switch_finishes_on_the_version_it_started_with(
    corpus_dir: Path, settings: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(corpus_dir, settings, embedder)
    retriever = Retriever(settings, embedder)
    assert retriever.search("restore a backup")
    old = retriever._index
    started, switched = threading.Event(), threading.Event()
    original = Retriever._search

    def slow_search(self: Retriever, index, *args, **kwargs):  # noqa: ANN001, ANN202
        if index is old and not started.is_set():
            started.set()
            assert switched.wait(60)
        return original(self, index, *args, **kwargs)

    monkeypatch.setattr(Retriever, "_search", slow_search)
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(retriever.search("restore a backup")))
    worker.start()
    assert started.wait(60)
    edit(corpus_dir, 1)
    new = build(corpus_dir, settings, embedder)
    assert retriever.search("restore a backup")  # switches while the first is in flight
    assert retriever._index.version.id == new.version  # type: ignore[union-attr]
    switched.set()
    worker.join(60)
    assert results and results[0]  # the old version's collection was still open for it


def test_a_version_switched_away_from_serves_again_after_a_rollback(
    corpus_dir: Path, settings: Settings, embedder: Embedder
) -> None:
    first = build(corpus_dir, settings, embedder)
    retriever = Retriever(settings, embedder)
    assert retriever.search("restore a backup")
    edit(corpus_dir, 1)
    build(corpus_dir, settings, embedder)
    assert retriever.search("restore a backup")  # the first version's client is closed now
    IndexStore(settings).rollback()
    assert retriever.search("restore a backup")[0].url.startswith(BASE + "backup/")
    assert retriever.index.version.id == first.version  # type: ignore[union-attr]
