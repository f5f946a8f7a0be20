"""`docbot deploy cml [--dry-run]` and `docbot deploy status`, as the lead wires them.

(Named test_deploy_cli rather than test_cli so it cannot clash with tests/bot/test_cli.py
while the tests folders have no __init__.py.)
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pytest
from conftest import make_settings
from fake_cml import FakeCml

from bot.config import Settings
from deploy import cli
from deploy.plan import APP_NAME

ENVIRON = {"SLACK_BOT_TOKEN": "xoxb-cli-secret", "DOCBOT_MODEL": "extractive"}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="docbot")
    subparsers = parser.add_subparsers(dest="command")
    cli.register(subparsers)
    return parser.parse_args(argv)


def call(argv: list[str], settings: Settings) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(parse(argv), settings, environ=ENVIRON, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def rest_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cmlapi", None)


def test_register_adds_the_subcommands() -> None:
    args = parse(["deploy", "cml", "--dry-run"])
    assert (args.command, args.deploy_command, args.dry_run) == ("deploy", "cml", True)
    assert parse(["deploy", "status"]).deploy_command == "status"
    with pytest.raises(SystemExit):
        parse(["deploy"])  # a subcommand is required


def test_deploy_then_redeploy(cml: FakeCml, settings: Settings) -> None:
    code, out, err = call(["deploy", "cml"], settings)
    assert (code, err) == (0, "")
    assert out.count("created ") == 3
    assert "SLACK_BOT_TOKEN" in out and "xoxb-cli-secret" not in out
    code, out, _ = call(["deploy", "cml"], settings)
    assert code == 0 and "Nothing to do" in out
    assert len(cml.jobs) == 2 and len(cml.apps) == 1


def test_dry_run_prints_the_plan_and_changes_nothing(cml: FakeCml, settings: Settings) -> None:
    code, out, _ = call(["deploy", "cml", "--dry-run"], settings)
    assert code == 0 and "dry run" in out
    assert cml.writes() == [] and not cml.jobs


def test_dry_run_works_without_cml_settings(tmp_path: Path) -> None:
    settings = Settings.from_env(environ={"DOCBOT_DATA_DIR": str(tmp_path)}, env_file=None)
    code, out, _ = call(["deploy", "cml", "--dry-run"], settings)
    assert code == 0 and "not configured" in out and out.count("create ") == 3


def test_missing_configuration_exits_2_with_the_variable(tmp_path: Path) -> None:
    settings = Settings.from_env(environ={"DOCBOT_DATA_DIR": str(tmp_path)}, env_file=None)
    code, _, err = call(["deploy", "cml"], settings)
    assert code == 2 and "CDSW_PROJECT_ID" in err
    code, _, err = call(["deploy", "status"], settings)
    assert code == 2 and "CDSW_PROJECT_ID" in err


def test_a_cml_error_exits_1_without_a_traceback_or_the_key(cml: FakeCml, tmp_path: Path) -> None:
    settings = make_settings(cml, tmp_path, CDSW_APIV2_KEY="nope-key-123")
    code, out, err = call(["deploy", "cml"], settings)
    assert code == 1 and "401" in err
    assert "Traceback" not in err and "nope-key-123" not in out + err


def test_status(cml: FakeCml, settings: Settings) -> None:
    call(["deploy", "cml"], settings)
    code, out, _ = call(["deploy", "status"], settings)
    assert code == 0
    assert "no runs yet" in out and f"application {APP_NAME!r}" in out
    assert "APPLICATION_RUNNING" in out


def test_sdk_path_via_the_client_flag(
    cml: FakeCml, settings: Settings, monkeypatch: pytest.MonkeyPatch, cmlapi_module: object
) -> None:
    code, out, _ = call(["deploy", "cml", "--client", "sdk"], settings)
    assert code == 0 and out.count("created ") == 3
