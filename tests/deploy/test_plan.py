"""The deploy plan: desired state from settings, compared with what CML has. Pure."""

from __future__ import annotations

import json

from bot.config import Settings
from deploy.plan import (
    APP_NAME,
    GATE_JOB_NAME,
    INDEX_JOB_NAME,
    PARENT_PENDING,
    RUNTIME_UNKNOWN,
    SCRAPE_JOB_NAME,
    desired_state,
    make_plan,
    passthrough_env,
    render,
)
from deploy.runtimes import RuntimeIds

RUNTIMES = RuntimeIds(cpu="rt/cpu:1", gpu="rt/gpu:1")
ENVIRON = {
    "DOCBOT_MODEL": "bedrock",
    "DOCBOT_CML_MODEL_ACCESS_KEY": "model-key-secret-value",
    "SLACK_BOT_TOKEN": "xoxb-secret-value",
    "SLACK_APP_TOKEN": "xapp-secret-value",
    "MicrosoftAppPassword": "teams-secret-value",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
    "CHROMA_HOST": "chroma.internal",
    "CDSW_APIV2_KEY": "cml-key-secret-value",
    "HOME": "/home/cdsw",
    "PATH": "/usr/bin",
    "DOCBOT_EMPTY": "  ",
}
SECRET_VALUES = [v for k, v in ENVIRON.items() if "secret" in v]


def settings(**env: str) -> Settings:
    return Settings.from_env(environ={"CDSW_PROJECT_ID": "proj-1", **env}, env_file=None)


def existing_from(plan_body: dict, ident: str, **extra: object) -> dict:
    """What CML would answer for a resource created from `plan_body`."""
    item = dict(plan_body)
    item["id"] = ident
    item["environment"] = json.dumps(item.get("environment") or {})
    if "parent_job_id" in item:
        item["parent_id"] = item.pop("parent_job_id")
    item.update(extra)
    return item


def test_passthrough_env_takes_the_documented_prefixes_only() -> None:
    env = passthrough_env(ENVIRON)
    assert set(env) == {
        "DOCBOT_MODEL",
        "DOCBOT_CML_MODEL_ACCESS_KEY",
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "MicrosoftAppPassword",
        "AWS_SECRET_ACCESS_KEY",
        "CHROMA_HOST",
    }


def test_first_deploy_creates_everything() -> None:
    desired = desired_state(settings(DOCBOT_CML_GPUS="2"), ENVIRON, RUNTIMES)
    plan = make_plan("proj-1", desired, [], [])
    assert [(a.key, a.op) for a in plan.actions] == [
        ("scrape", "create"),
        ("index", "create"),
        ("app", "create"),
    ]
    scrape, index, app = plan.actions
    assert scrape.body["script"] == "ingest/scrape_job.py"
    assert scrape.body["runtime_identifier"] == "rt/cpu:1"
    assert "schedule" not in scrape.body
    assert index.body["parent_job_id"] == PARENT_PENDING
    assert index.body["nvidia_gpu"] == 2 and index.body["runtime_identifier"] == "rt/gpu:1"
    assert app.body["script"] == "bot/cml_app.py" and app.body["subdomain"] == "docbot"
    assert app.body["environment"]["SLACK_BOT_TOKEN"] == "xoxb-secret-value"
    assert app.body["bypass_authentication"] is False
    assert plan.writes


def test_jobs_get_no_chat_or_model_credentials() -> None:
    desired = desired_state(settings(), ENVIRON, RUNTIMES)
    assert set(desired.scrape_job["environment"]) == {"DOCBOT_MODEL", "CHROMA_HOST"}
    assert desired.index_job["environment"] == desired.scrape_job["environment"]


def test_the_answer_logs_hash_salt_goes_to_the_application_only() -> None:
    environ = {**ENVIRON, "DOCBOT_HASH_SALT": "pepper-secret-value"}
    desired = desired_state(settings(), environ, RUNTIMES)
    assert desired.application["environment"]["DOCBOT_HASH_SALT"] == "pepper-secret-value"
    assert "DOCBOT_HASH_SALT" not in desired.scrape_job["environment"]


def test_schedule_and_subdomain_come_from_settings() -> None:
    s = settings(DOCBOT_CML_SCRAPE_SCHEDULE="0 3 * * *", DOCBOT_CML_APP_SUBDOMAIN="docs-help")
    desired = desired_state(s, {}, RUNTIMES)
    assert desired.scrape_job["schedule"] == "0 3 * * *"
    assert "schedule" not in desired.index_job  # a child job cannot have a schedule
    assert desired.application["subdomain"] == "docs-help"


def test_the_decline_model_job_is_planned_only_when_question_sets_are_named() -> None:
    plain = make_plan("proj-1", desired_state(settings(), ENVIRON, RUNTIMES), [], [])
    assert [a.key for a in plain.actions] == ["scrape", "index", "app"]
    s = settings(DOCBOT_CML_GATE_SETS="questions/*.jsonl", DOCBOT_CML_GPUS="2")
    desired = desired_state(s, ENVIRON, RUNTIMES)
    plan = make_plan("proj-1", desired, [], [])
    assert [(a.key, a.op) for a in plan.actions] == [
        ("scrape", "create"),
        ("index", "create"),
        ("gate", "create"),
        ("app", "create"),
    ]
    gate = plan.action("gate").body
    assert gate["name"] == GATE_JOB_NAME and gate["script"] == "rag/gate_job.py"
    assert gate["nvidia_gpu"] == 2 and gate["runtime_identifier"] == "rt/gpu:1"
    # run by hand after labelling: neither a child of the index job nor scheduled
    assert "parent_job_id" not in gate and "schedule" not in gate
    # the jobs' passthrough: no chat or model credentials
    assert gate["environment"] == desired.index_job["environment"]
    environ = {**ENVIRON, "DOCBOT_CML_GATE_SETS": "questions/*.jsonl"}
    gate_env = desired_state(s, environ, RUNTIMES).gate_job["environment"]
    assert gate_env["DOCBOT_CML_GATE_SETS"] == "questions/*.jsonl"  # the job reads it there


def test_a_deployed_decline_model_job_is_left_alone_when_not_configured_here() -> None:
    configured = desired_state(settings(DOCBOT_CML_GATE_SETS="q/*.jsonl"), ENVIRON, RUNTIMES)
    jobs, apps = _deployed(configured)
    jobs.append(existing_from(configured.gate_job, "job-3"))
    again = make_plan("proj-1", configured, jobs, apps)
    assert [a.op for a in again.actions] == ["unchanged"] * 4
    plan = make_plan("proj-1", desired_state(settings(), ENVIRON, RUNTIMES), jobs, apps)
    assert [a.key for a in plan.actions] == ["scrape", "index", "app"]
    assert any(GATE_JOB_NAME in note and "left as it is" in note for note in plan.notes)


def test_render_shows_variable_names_never_values() -> None:
    plan = make_plan("proj-1", desired_state(settings(), ENVIRON, RUNTIMES), [], [])
    text = render(plan, dry_run=True)
    assert "dry run" in text
    assert "SLACK_BOT_TOKEN" in text and "AWS_SECRET_ACCESS_KEY" in text
    for value in SECRET_VALUES:
        assert value not in text
    assert SCRAPE_JOB_NAME in text and INDEX_JOB_NAME in text and repr(APP_NAME) in text


def _deployed(desired) -> tuple[list[dict], list[dict]]:
    scrape = existing_from(desired.scrape_job, "job-1")
    index = existing_from({**desired.index_job, "parent_job_id": "job-1"}, "job-2")
    app = existing_from(desired.application, "app-1", status="APPLICATION_RUNNING")
    return [scrape, index], [app]


def test_matching_state_is_unchanged() -> None:
    desired = desired_state(settings(), ENVIRON, RUNTIMES)
    jobs, apps = _deployed(desired)
    plan = make_plan("proj-1", desired, jobs, apps)
    assert [a.op for a in plan.actions] == ["unchanged"] * 3
    assert not plan.writes
    assert "Nothing to do" in render(plan)


def test_update_carries_only_changed_fields_and_restarts_the_app() -> None:
    desired = desired_state(settings(), ENVIRON, RUNTIMES)
    jobs, apps = _deployed(desired)
    jobs[1]["nvidia_gpu"] = 0
    jobs[1]["parent_id"] = ""
    apps[0]["environment"] = json.dumps({"SLACK_BOT_TOKEN": "old", "OLD_VAR": "x"})
    plan = make_plan("proj-1", desired, jobs, apps)
    scrape, index, app = plan.actions
    assert scrape.op == "unchanged"
    assert index.op == "update"
    assert index.body == {"nvidia_gpu": 1, "parent_id": "job-1"}
    assert app.op == "update" and app.restart
    assert json.loads(app.body["environment"]) == desired.application["environment"]
    text = render(plan)
    assert "changed SLACK_BOT_TOKEN" in text and "removed OLD_VAR" in text
    for value in SECRET_VALUES:
        assert value not in text


def test_working_runtime_is_kept_unless_pinned() -> None:
    desired = desired_state(settings(), ENVIRON, RuntimeIds("rt/cpu:2", "rt/gpu:2"))
    jobs, apps = _deployed(desired_state(settings(), ENVIRON, RUNTIMES))
    assert not make_plan("proj-1", desired, jobs, apps).writes
    pinned = desired_state(settings(DOCBOT_CML_RUNTIME_ID="rt/pinned:3"), ENVIRON, None)
    plan = make_plan("proj-1", pinned, jobs, apps)
    assert all(a.body.get("runtime_identifier") == "rt/pinned:3" for a in plan.actions)


def test_unknown_runtime_shows_as_a_placeholder() -> None:
    plan = make_plan("proj-1", desired_state(settings(), {}, None), [], [])
    assert plan.action("scrape").body["runtime_identifier"] == RUNTIME_UNKNOWN


def test_turning_the_schedule_off_clears_it() -> None:
    desired = desired_state(settings(), {}, RUNTIMES)
    jobs, apps = _deployed(desired)
    jobs[0]["schedule"] = "0 3 * * *"
    plan = make_plan("proj-1", desired, jobs, apps)
    assert plan.action("scrape").body == {"schedule": ""}


def test_stopped_app_is_started_without_an_update() -> None:
    desired = desired_state(settings(), {}, RUNTIMES)
    jobs, apps = _deployed(desired)
    apps[0]["status"] = "APPLICATION_STOPPED"
    app = make_plan("proj-1", desired, jobs, apps).action("app")
    assert app.op == "unchanged" and app.restart


def test_names_match_exactly_and_duplicates_are_noted() -> None:
    desired = desired_state(settings(), {}, RUNTIMES)
    jobs, apps = _deployed(desired)
    lookalike = {**jobs[0], "id": "job-9", "name": "docbot: scrape docs (copy)"}
    twin = {**jobs[0], "id": "job-8", "created_at": "2099-01-01T00:00:00Z"}
    jobs[0]["created_at"] = "2020-01-01T00:00:00Z"
    plan = make_plan("proj-1", desired, [lookalike, twin, *jobs], apps)
    assert plan.action("scrape").existing_id == "job-1"  # the oldest exact match
    assert any("2 jobs are named" in n for n in plan.notes)


def test_job_arguments_set_on_cml_are_kept_on_redeploy() -> None:
    """docs/deploy-cml.md: extra `docbot train-gate` options go in the job's arguments
    (e.g. `--epochs 3`); a later `docbot deploy cml` must not wipe them."""
    desired = desired_state(settings(DOCBOT_CML_GATE_SETS="q/*.jsonl"), ENVIRON, RUNTIMES)
    jobs, apps = _deployed(desired)
    jobs.append(existing_from(desired.gate_job, "job-3", arguments="--epochs 3"))
    jobs[0]["arguments"] = "crawl:https://docs.example.com/ml/"  # the scrape job's SOURCE
    plan = make_plan("proj-1", desired, jobs, apps)
    assert [a.op for a in plan.actions] == ["unchanged"] * 4
    assert not plan.writes


def test_the_amp_arguments_placeholder_is_cleared() -> None:
    """AMP YAML writes `arguments: None`, which YAML reads as the string "None"."""
    desired = desired_state(settings(), {}, RUNTIMES)
    jobs, apps = _deployed(desired)
    jobs[0]["arguments"] = "None"
    assert make_plan("proj-1", desired, jobs, apps).action("scrape").body == {"arguments": ""}
