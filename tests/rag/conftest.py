"""Shared by the tests of `docbot` commands that read labelled question sets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings


@pytest.fixture
def docbot_on_test_index(
    tmp_path: Path,
    built_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., tuple[int, str, str]]:
    """`docbot COMMAND ARGS` against the shared test index: (exit code, stdout, stderr)."""
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(built_settings.data_dir))
    monkeypatch.setenv("DOCBOT_STATE_URL", str(tmp_path / "state.sqlite3"))

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(["--env-file", "absent.env", *args])
        except SystemExit as exc:  # argparse's own refusals: usage and exit code 2
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run
