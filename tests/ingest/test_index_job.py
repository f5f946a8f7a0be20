"""CML Job 2 (`ingest/index_job.py`) says why it indexed nothing, in one line, and exits 2.

The job runs unattended on CML; its log is what an operator reads, so a missing or broken
snapshot, or a rollback with nothing to roll back to, is a clear error rather than a
traceback, and the live index is left alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import Settings
from ingest import index_job
from ingest.snapshot import publish, snapshots_dir, write_snapshot


def _settings(data_dir: Path) -> Settings:
    return Settings.from_env({"DOCBOT_DATA_DIR": str(data_dir)}, env_file=None)


def test_no_snapshot_yet_is_nothing_to_index(tmp_path: Path) -> None:
    code, result = index_job.run_index_job(_settings(tmp_path))
    assert code == 2 and "docbot scrape" in result["error"]


def test_an_unreadable_current_snapshot_is_a_clear_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_snapshot(tmp_path, "20261207T000000Z-abcdef", [], {"source": "test"})
    publish(tmp_path, "20261207T000000Z-abcdef")
    (snapshots_dir(tmp_path) / "20261207T000000Z-abcdef" / "pages.jsonl").write_text("{not json\n")

    code, result = index_job.run_index_job(_settings(tmp_path))
    assert code == 2 and "unreadable" in result["error"]

    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path))
    # a handler on this test's captured stderr would outlive it and fail later tests' logging
    monkeypatch.setattr("bot.logs.setup_logging", lambda settings: None)
    assert index_job.main([]) == 2
    out = capsys.readouterr()
    assert "index job: snapshot 20261207T000000Z-abcdef is unreadable" in out.err
    assert "Traceback" not in out.err
    assert json.loads(out.out.strip().splitlines()[-1])["error"]


def test_a_live_version_gone_missing_is_named_with_the_way_back(tmp_path: Path) -> None:
    from rag.index_store import IndexStore

    settings = _settings(tmp_path)
    write_snapshot(tmp_path, "20261207T000000Z-abcdef", [], {"source": "test"})
    publish(tmp_path, "20261207T000000Z-abcdef")
    store = IndexStore(settings)
    store.pointer.parent.mkdir(parents=True, exist_ok=True)
    store.pointer.write_text("v-gone")  # its version folder deleted by hand

    code, result = index_job.run_index_job(settings)
    assert code == 2
    assert result["error"].startswith("index store: index version v-gone is missing")
    assert "docbot index --rollback" in result["error"]


def test_a_rollback_with_no_earlier_version_says_so(tmp_path: Path) -> None:
    code, result = index_job.run_index_job(_settings(tmp_path), rollback=True)
    assert code == 2 and result == {"error": "no earlier index version to roll back to"}


def test_a_rollback_while_an_ingest_runs_is_busy_and_leaves_current_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish prunes old versions under the ingest lock: a rollback at that moment could
    point `current` at a version just deleted, so it waits its turn like an ingest."""
    from rag.index_build import ingest_lock

    settings = _settings(tmp_path)
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "current").write_text("v2\n")
    with ingest_lock(settings):
        code, result = index_job.run_index_job(settings, rollback=True)
        assert code == 2 and result == {"error": "another ingest is running"}

        monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path))
        monkeypatch.setattr("bot.logs.setup_logging", lambda settings: None)
        assert index_job.main(["--rollback"]) == 2
    out = capsys.readouterr()
    assert out.err == "index job: another ingest is running\n"
    assert json.loads(out.out.strip().splitlines()[-1]) == {"error": "another ingest is running"}
    assert (tmp_path / "index" / "current").read_text() == "v2\n"


def test_a_live_version_that_is_gone_is_a_clear_error(tmp_path: Path) -> None:
    from ingest.model import Page, Section

    page = Page(url="https://d.example/a", title="A", sections=[Section("a", ["A"], "Text.")])
    write_snapshot(tmp_path, "20261207T000000Z-abcdef", [page], {"source": "test"})
    publish(tmp_path, "20261207T000000Z-abcdef")
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "current").write_text("v-gone\n")

    code, result = index_job.run_index_job(_settings(tmp_path))
    assert code == 2 and "v-gone" in result["error"] and "--rollback" in result["error"]
