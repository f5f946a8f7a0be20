"""`.project-metadata.yaml` against the documented AMP spec v1 fields (cml_and_bedrock.md §2)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.plan import APP_SCRIPT, INDEX_JOB_NAME, INDEX_SCRIPT, SCRAPE_JOB_NAME, SCRAPE_SCRIPT

ROOT = Path(__file__).resolve().parents[2]
METADATA = ROOT / ".project-metadata.yaml"

TOP_LEVEL = {
    "name",
    "description",
    "author",
    "date",
    "specification_version",
    "prototype_version",
    "shared_memory_limit",
    "environment_variables",
    "feature_dependencies",
    "engine_images",
    "runtimes",
    "tasks",
}
REQUIRED_TOP_LEVEL = {"name", "description", "author", "specification_version", "prototype_version"}
ENV_FIELDS = {"default", "description", "required"}
RUNTIME_FIELDS = {"editor", "kernel", "edition", "addons"}
EDITORS = {"JupyterLab", "Workbench", "PBJ Workbench"}
EDITIONS = {"Standard", "Nvidia GPU"}
_COMMON = "type name script short_summary long_summary kernel cpu memory gpu"
TASK_FIELDS: dict[str, set[str]] = {
    "run_session": set(_COMMON.split()),
    "create_job": set(f"{_COMMON} entity_label arguments environment".split()),
    "run_job": set("type entity_label short_summary long_summary arguments".split()),
    "start_application": set(
        f"{_COMMON} subdomain bypass_authentication static_subdomain is_embedded "
        "environment_variables".split()
    ),
}
# Read by the AWS SDK itself rather than by bot/config.py.
AWS_SDK_VARS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}


@pytest.fixture(scope="module")
def amp() -> dict[str, Any]:
    # The spec wants `date` quoted; load with the base loader so a bare date would stay a date.
    text = METADATA.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def test_top_level_fields(amp: dict[str, Any]) -> None:
    assert set(amp) <= TOP_LEVEL
    assert REQUIRED_TOP_LEVEL <= set(amp)
    assert 0 < len(amp["name"]) <= 200
    assert 0 < len(amp["description"]) <= 2048
    assert 0 < len(amp["author"]) <= 64
    assert str(amp["specification_version"]) == "1.0"
    assert re.fullmatch(r"\d+\.\d+", str(amp["prototype_version"]))
    assert isinstance(amp["date"], str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", amp["date"])


def test_environment_variables_are_documented_and_read_by_docbot(amp: dict[str, Any]) -> None:
    config_source = (ROOT / "bot" / "config.py").read_text(encoding="utf-8")
    variables = amp["environment_variables"]
    for name, spec in variables.items():
        assert isinstance(spec, dict) and set(spec) <= ENV_FIELDS, name
        assert set(spec) == ENV_FIELDS, f"{name} needs default, description and required"
        assert isinstance(spec["default"], str), name
        assert isinstance(spec["required"], bool), name
        assert spec["description"].strip(), name
        assert f'"{name}"' in config_source or name in AWS_SDK_VARS, f"docbot never reads {name}"


@pytest.mark.parametrize("reference", ["docs/configuration.md", "docs/ko/configuration.md"])
def test_environment_variables_are_in_the_configuration_reference(
    amp: dict[str, Any], reference: str
) -> None:
    text = (ROOT / reference).read_text(encoding="utf-8")
    missing = sorted(name for name in amp["environment_variables"] if f"`{name}`" not in text)
    assert not missing, f"{reference} does not document the AMP's {missing}"


def test_environment_variables_cover_every_platform(amp: dict[str, Any]) -> None:
    names = set(amp["environment_variables"])
    assert {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"} <= names
    assert {"MicrosoftAppId", "MicrosoftAppPassword", "MicrosoftAppType"} <= names
    assert AWS_SDK_VARS <= names
    assert {"DOCBOT_CML_MODEL_URL", "DOCBOT_CML_MODEL_ACCESS_KEY", "DOCBOT_MODEL"} <= names
    assert {"DOCBOT_ADMINS", "DOCBOT_INGEST_SOURCE", "DOCBOT_CML_GPUS"} <= names
    # Secrets have no defaults baked into the repository.
    for name in ("SLACK_BOT_TOKEN", "MicrosoftAppPassword", "AWS_SECRET_ACCESS_KEY"):
        assert amp["environment_variables"][name]["default"] == ""


def test_runtimes(amp: dict[str, Any]) -> None:
    assert amp["runtimes"]
    for runtime in amp["runtimes"]:
        assert set(runtime) <= RUNTIME_FIELDS
        assert runtime["editor"] in EDITORS and runtime["edition"] in EDITIONS
        assert re.fullmatch(r"Python 3\.(1\d)", runtime["kernel"])


def test_tasks_use_documented_fields(amp: dict[str, Any]) -> None:
    for task in amp["tasks"]:
        assert task["type"] in TASK_FIELDS, task
        extra = set(task) - TASK_FIELDS[task["type"]]
        assert not extra, f"{task['type']} has undocumented fields {extra}"
        for key in ("cpu", "memory", "gpu"):
            if key in task:
                assert isinstance(task[key], (int, float)) and task[key] >= 0
        if task["type"] != "run_job":
            assert task["script"].endswith(".py") and not task["script"].startswith("/")


def test_task_order_and_references(amp: dict[str, Any]) -> None:
    tasks = amp["tasks"]
    types = [t["type"] for t in tasks]
    assert tasks[0]["type"] == "run_session" and tasks[0]["script"] == "deploy/install_deps.py"
    labels: set[str] = set()
    for task in tasks:
        if task["type"] == "create_job":
            assert task["entity_label"] not in labels
            labels.add(task["entity_label"])
        if task["type"] == "run_job":
            assert task["entity_label"] in labels, "run_job must follow its create_job"
    link = types.index("run_session", 1)
    assert tasks[link]["script"] == "deploy/amp_setup.py"
    # The jobs are linked before the first ingest runs, so the index job follows the scrape.
    assert types.index("create_job") < link < types.index("run_job")
    assert types[-1] == "start_application"


def test_jobs_and_application_match_what_deploy_manages(amp: dict[str, Any]) -> None:
    """`docbot deploy cml` and the AMP's link step find the AMP's jobs by exact name."""
    jobs = {t["name"]: t for t in amp["tasks"] if t["type"] == "create_job"}
    assert jobs[SCRAPE_JOB_NAME]["script"] == SCRAPE_SCRIPT
    assert jobs[INDEX_JOB_NAME]["script"] == INDEX_SCRIPT
    run = next(t for t in amp["tasks"] if t["type"] == "run_job")
    assert run["entity_label"] == jobs[SCRAPE_JOB_NAME]["entity_label"]
    app = next(t for t in amp["tasks"] if t["type"] == "start_application")
    assert app["name"] == "docbot" and app["script"] == APP_SCRIPT
    assert app["bypass_authentication"] is False
    assert "environment" not in app  # applications take environment_variables in AMP YAML


def test_deploy_scripts_exist(amp: dict[str, Any]) -> None:
    for task in amp["tasks"]:
        script = task.get("script", "")
        if script.startswith("deploy/"):
            assert (ROOT / script).is_file(), script
