"""Deploying against the stand-in CML: create, idempotent re-deploy, update, dry run, status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_settings
from fake_cml import FakeCml

from bot.config import Settings
from deploy.apply import deploy, status_lines
from deploy.client import CmlAuthError, CmlClient, CmlError
from deploy.plan import APP_NAME, GATE_JOB_NAME, INDEX_JOB_NAME, SCRAPE_JOB_NAME, render

ENVIRON = {
    "DOCBOT_MODEL": "bedrock",
    "SLACK_BOT_TOKEN": "xoxb-very-secret",
    "SLACK_APP_TOKEN": "xapp-very-secret",
    "AWS_DEFAULT_REGION": "us-west-2",
    "HOME": "/home/cdsw",
}


def test_first_deploy_creates_jobs_with_dependency_and_the_application(
    client: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    result = deploy(client, settings, ENVIRON)
    assert result.applied
    scrape = cml.job_by_name(SCRAPE_JOB_NAME)
    index = cml.job_by_name(INDEX_JOB_NAME)
    app = cml.app_by_name(APP_NAME)
    assert index["parent_id"] == scrape["id"]
    assert scrape["script"] == "ingest/scrape_job.py" and index["script"] == "ingest/index_job.py"
    assert index["nvidia_gpu"] == 1 and "cuda" in index["runtime_identifier"]
    assert scrape["nvidia_gpu"] == 0 and "standard:2024.02.1-b4" in scrape["runtime_identifier"]
    assert app["script"] == "bot/cml_app.py" and app["subdomain"] == "docbot"
    assert app["status"] == "APPLICATION_RUNNING"
    assert json.loads(app["environment"]) == {k: v for k, v in ENVIRON.items() if k != "HOME"}
    assert result.ids == {"scrape": scrape["id"], "index": index["id"], "app": app["id"]}
    assert [c.method for c in cml.writes()] == ["POST", "POST", "POST"]


def test_redeploy_is_idempotent(client: CmlClient, cml: FakeCml, settings: Settings) -> None:
    deploy(client, settings, ENVIRON)
    writes = len(cml.writes())
    again = deploy(client, settings, ENVIRON)
    assert len(cml.writes()) == writes  # no write at all the second time
    assert [a.op for a in again.plan.actions] == ["unchanged"] * 3
    assert len(cml.jobs) == 2 and len(cml.apps) == 1


def test_changed_settings_update_in_place_and_restart_the_app(
    client: CmlClient, cml: FakeCml, tmp_path: Path
) -> None:
    deploy(client, make_settings(cml, tmp_path), ENVIRON)
    app_id = cml.app_by_name(APP_NAME)["id"]
    changed = make_settings(
        cml, tmp_path, DOCBOT_CML_GPUS="2", DOCBOT_CML_SCRAPE_SCHEDULE="0 3 * * *"
    )
    result = deploy(client, changed, {**ENVIRON, "SLACK_BOT_TOKEN": "xoxb-rotated"})
    assert len(cml.jobs) == 2 and list(cml.apps) == [app_id]
    assert cml.job_by_name(INDEX_JOB_NAME)["nvidia_gpu"] == 2
    assert cml.job_by_name(SCRAPE_JOB_NAME)["schedule"] == "0 3 * * *"
    assert json.loads(cml.apps[app_id]["environment"])["SLACK_BOT_TOKEN"] == "xoxb-rotated"
    assert cml.apps[app_id]["restarts"] == 1
    log = "\n".join(result.log)
    assert "restarted application" in log and "xoxb-rotated" not in log


def test_existing_jobs_made_elsewhere_are_adopted_and_linked(
    client: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    """The AMP creates both jobs without a parent; deploy links them by name."""
    runtime = cml.runtimes[1]["image_identifier"]
    for name, script in (
        (SCRAPE_JOB_NAME, "ingest/scrape_job.py"),
        (INDEX_JOB_NAME, "ingest/index_job.py"),
    ):
        client.create_job({"name": name, "script": script, "runtime_identifier": runtime})
    deploy(client, settings, ENVIRON, include_application=False)
    assert len(cml.jobs) == 2 and not cml.apps
    index = cml.job_by_name(INDEX_JOB_NAME)
    assert index["parent_id"] == cml.job_by_name(SCRAPE_JOB_NAME)["id"]
    assert index["runtime_identifier"] == runtime  # a working runtime is kept


def test_dry_run_reads_but_never_writes(
    client: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    result = deploy(client, settings, ENVIRON, dry_run=True)
    assert not result.applied and cml.writes() == []
    assert cml.calls  # it did look at the project
    text = render(result.plan, dry_run=True)
    assert "create" in text and "SLACK_BOT_TOKEN" in text and "xoxb-very-secret" not in text


def test_dry_run_without_cml_plans_a_first_deploy(tmp_path: Path) -> None:
    settings = Settings.from_env(environ={"DOCBOT_DATA_DIR": str(tmp_path)}, env_file=None)
    result = deploy(None, settings, ENVIRON, dry_run=True)
    assert [a.op for a in result.plan.actions] == ["create"] * 3
    assert any("not configured" in n for n in result.plan.notes)
    with pytest.raises(CmlError, match="not configured"):
        deploy(None, settings, ENVIRON)


def test_no_matching_runtime_stops_before_any_write(
    client: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    cml.runtimes = [r for r in cml.runtimes if r["kernel"] == "Python 3.9"]
    with pytest.raises(CmlError, match="DOCBOT_CML_RUNTIME_ID"):
        deploy(client, settings, ENVIRON)
    assert cml.writes() == []


def test_configured_runtime_is_used_without_listing(
    client: CmlClient, cml: FakeCml, tmp_path: Path
) -> None:
    settings = make_settings(cml, tmp_path, DOCBOT_CML_RUNTIME_ID="my/runtime:7")
    deploy(client, settings, ENVIRON)
    assert not any(c.path.endswith("/runtimes") for c in cml.calls)
    assert {j["runtime_identifier"] for j in cml.jobs.values()} == {"my/runtime:7"}


def test_a_failed_write_is_reported(client: CmlClient, cml: FakeCml, settings: Settings) -> None:
    cml.fail("POST", r"/applications$", 401)
    with pytest.raises(CmlAuthError):
        deploy(client, settings, ENVIRON)
    assert len(cml.jobs) == 2  # jobs were made; a re-run finishes the job
    deploy(client, settings, ENVIRON)
    assert len(cml.apps) == 1 and len(cml.jobs) == 2


def test_status_shows_latest_runs_and_app_state(
    client: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    before = "\n".join(status_lines(client, settings))
    assert before.count("not deployed") == 3
    deploy(client, settings, ENVIRON)
    scrape_id = cml.job_by_name(SCRAPE_JOB_NAME)["id"]
    run = client.create_job_run(scrape_id)
    client.get_job_run(scrape_id, run["id"])
    client.get_job_run(scrape_id, run["id"])
    text = "\n".join(status_lines(client, settings))
    assert f"latest run {run['id']}: ENGINE_SUCCEEDED" in text
    assert "no runs yet" not in text.split("\n")[1]
    assert "ENGINE_SCHEDULING" in text  # the index run the dependency started
    assert "APPLICATION_RUNNING" in text and "docbot.127.0.0.1:" in text


def test_question_sets_add_the_decline_model_job_which_status_then_shows(
    client: CmlClient, cml: FakeCml, tmp_path: Path
) -> None:
    plain = make_settings(cml, tmp_path)
    assert GATE_JOB_NAME not in "\n".join(status_lines(client, plain))
    configured = make_settings(cml, tmp_path, DOCBOT_CML_GATE_SETS="questions/*.jsonl")
    environ = {**ENVIRON, "DOCBOT_CML_GATE_SETS": "questions/*.jsonl"}
    result = deploy(client, configured, environ)
    gate = cml.job_by_name(GATE_JOB_NAME)
    assert gate["script"] == "rag/gate_job.py" and "cuda" in gate["runtime_identifier"]
    assert not gate.get("parent_id") and not gate.get("schedule")
    assert json.loads(gate["environment"])["DOCBOT_CML_GATE_SETS"] == "questions/*.jsonl"
    assert result.ids["gate"] == gate["id"]
    status = "\n".join(status_lines(client, plain))
    assert f"job {GATE_JOB_NAME!r} ({gate['id']}): no runs yet" in status
    # the AMP's job-only setup manages it too
    jobs_only = deploy(client, configured, environ, include_application=False)
    assert [a.key for a in jobs_only.plan.actions] == ["scrape", "index", "gate"]
