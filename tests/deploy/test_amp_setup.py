"""The AMP's link step: adopt the jobs the AMP created, link them, leave the app alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fake_cml import FakeCml

from bot.config import Secret
from deploy import amp_setup
from deploy.plan import INDEX_JOB_NAME, SCRAPE_JOB_NAME
from deploy.rest_client import RestCmlClient


def _env(monkeypatch: pytest.MonkeyPatch, cml: FakeCml, tmp_path: Path, **extra: str) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env file
    monkeypatch.setitem(sys.modules, "cmlapi", None)  # the REST path
    values = {
        "CDSW_DOMAIN": cml.base_url,
        "CDSW_APIV2_KEY": cml.api_key,
        "CDSW_PROJECT_ID": cml.project_id,
        "DOCBOT_DATA_DIR": str(tmp_path / "data"),
        "SLACK_BOT_TOKEN": "xoxb-never-copied",
        **extra,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_links_the_amp_jobs_without_copying_variables(
    monkeypatch: pytest.MonkeyPatch, cml: FakeCml, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _env(monkeypatch, cml, tmp_path, DOCBOT_CML_SCRAPE_SCHEDULE="0 3 * * *", DOCBOT_CML_GPUS="1")
    # What the AMP's create_job tasks leave behind: plain jobs, no parent, no schedule.
    client = RestCmlClient(cml.base_url, Secret(cml.api_key), cml.project_id)
    runtime = cml.runtimes[2]["image_identifier"]
    for name, script, cpu, memory in (
        (SCRAPE_JOB_NAME, "ingest/scrape_job.py", 2, 4),
        (INDEX_JOB_NAME, "ingest/index_job.py", 4, 16),
    ):
        client.create_job(
            {
                "name": name,
                "script": script,
                "runtime_identifier": runtime,
                "cpu": cpu,
                "memory": memory,
            }
        )

    assert amp_setup.main() == 0

    scrape, index = cml.job_by_name(SCRAPE_JOB_NAME), cml.job_by_name(INDEX_JOB_NAME)
    assert index["parent_id"] == scrape["id"]
    assert scrape["schedule"] == "0 3 * * *"
    assert index["nvidia_gpu"] == 1
    assert scrape["environment"] == "{}"  # project env stays the one place for variables
    assert not cml.apps  # the AMP starts the application itself
    out = capsys.readouterr().out
    assert "xoxb-never-copied" not in out and "updated job" in out


def test_reports_a_missing_project(
    monkeypatch: pytest.MonkeyPatch, cml: FakeCml, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _env(monkeypatch, cml, tmp_path)
    monkeypatch.delenv("CDSW_PROJECT_ID")
    assert amp_setup.main() == 2
    assert "CDSW_PROJECT_ID" in capsys.readouterr().err


def test_reports_a_bad_key(
    monkeypatch: pytest.MonkeyPatch, cml: FakeCml, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _env(monkeypatch, cml, tmp_path, CDSW_APIV2_KEY="bad-key-xyz")
    assert amp_setup.main() == 1
    err = capsys.readouterr().err
    assert "401" in err and "bad-key-xyz" not in err
