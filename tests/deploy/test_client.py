"""The CmlClient contract, exercised through both paths (REST and cmlapi) on one stand-in."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import make_settings
from fake_cml import API_KEY, FakeCml

from bot.config import Settings
from deploy.client import (
    CmlAuthError,
    CmlClient,
    CmlConfigError,
    CmlError,
    CmlNotFoundError,
    CmlServerError,
    CmlTimeoutError,
    base_url,
    decode_environment,
    make_client,
)
from deploy.rest_client import RestCmlClient
from deploy.sdk_client import SdkCmlClient

RUNTIME = "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-jupyterlab-python3.10-standard:2024.02.1-b4"


def _job_body(name: str = "docbot: scrape docs", **extra: object) -> dict:
    return {
        "name": name,
        "script": "ingest/scrape_job.py",
        "cpu": 2.0,
        "memory": 4.0,
        "nvidia_gpu": 0,
        "runtime_identifier": RUNTIME,
        "environment": {"DOCBOT_DATA_DIR": "/home/cdsw/.docbot"},
        **extra,
    }


def test_jobs_and_runs_round_trip(client: CmlClient, cml: FakeCml) -> None:
    parent = client.create_job(_job_body())
    child = client.create_job(_job_body("docbot: build index", parent_job_id=parent["id"]))
    assert isinstance(parent, dict) and parent["id"]
    assert child["parent_id"] == parent["id"]

    found = client.list_jobs({"name": "docbot"})
    assert {j["name"] for j in found} == {"docbot: scrape docs", "docbot: build index"}
    # A job's environment comes back as a JSON string, as CML's Job object holds it.
    assert decode_environment(found[0]["environment"]) == {"DOCBOT_DATA_DIR": "/home/cdsw/.docbot"}

    updated = client.update_job(parent["id"], {"cpu": 4.0, "environment": json.dumps({"A": "1"})})
    assert updated["cpu"] == 4.0
    assert decode_environment(cml.jobs[parent["id"]]["environment"]) == {"A": "1"}

    first = client.create_job_run(parent["id"])
    second = client.create_job_run(parent["id"], {})
    runs = client.list_job_runs(parent["id"], page_size=1)
    assert [r["id"] for r in runs] == [second["id"]]  # newest first
    assert client.get_job_run(parent["id"], first["id"])["status"] == "ENGINE_RUNNING"
    assert client.get_job_run(parent["id"], first["id"])["status"] == "ENGINE_SUCCEEDED"


def test_applications_round_trip(client: CmlClient, cml: FakeCml) -> None:
    app = client.create_application(
        {
            "name": "docbot",
            "subdomain": "docbot",
            "script": "bot/cml_app.py",
            "runtime_identifier": RUNTIME,
            "environment": {"SLACK_BOT_TOKEN": "xoxb-1"},
            "bypass_authentication": False,
        }
    )
    assert app["status"] == "APPLICATION_RUNNING"  # creating an application starts it
    client.update_application(app["id"], {"environment": json.dumps({"SLACK_BOT_TOKEN": "x"})})
    client.restart_application(app["id"])
    assert cml.apps[app["id"]]["restarts"] == 1
    listed = client.list_applications({"name": "docbot"})
    assert [a["id"] for a in listed] == [app["id"]]
    assert cml.writes()[-1].path.endswith(f"/applications/{app['id']}:restart")


def test_lists_follow_next_page_token(client: CmlClient, cml: FakeCml) -> None:
    cml.page_size_cap = 1
    runtimes = client.list_runtimes()
    assert len(runtimes) == 4
    tokens = [c.query.get("page_token") for c in cml.calls if c.path == "/api/v2/runtimes"]
    assert tokens == [None, "1", "2", "3"]


def test_search_filter_is_sent_as_json(client: CmlClient, cml: FakeCml) -> None:
    runtimes = client.list_runtimes({"edition": "Nvidia GPU"})
    assert [r["edition"] for r in runtimes] == ["Nvidia GPU"]
    assert json.loads(cml.calls[0].query["search_filter"]) == {"edition": "Nvidia GPU"}


def test_bearer_key_is_sent(client: CmlClient, cml: FakeCml) -> None:
    client.list_jobs()
    assert cml.calls and all(c.path.startswith("/api/v2/projects/") for c in cml.calls)


@pytest.mark.parametrize("kind", ["rest", "sdk"])
def test_401_is_an_auth_error_without_the_key(
    kind: str, cml: FakeCml, tmp_path: Path, cmlapi_module: object
) -> None:
    wrong = "wrong-key-0123456789"
    settings = make_settings(cml, tmp_path, CDSW_APIV2_KEY=wrong)
    client = make_client(settings, prefer=kind)
    with pytest.raises(CmlAuthError) as info:
        client.list_jobs()
    message = str(info.value)
    assert info.value.status == 401
    assert "CDSW_APIV2_KEY" in message
    assert wrong not in message and API_KEY not in message
    assert wrong not in repr(client)


def test_403_is_an_auth_error(client: CmlClient, cml: FakeCml) -> None:
    cml.fail("POST", r"/jobs$", 403)
    with pytest.raises(CmlAuthError, match="403"):
        client.create_job(_job_body())


def test_404_names_the_project_variable(client: CmlClient, cml: FakeCml) -> None:
    cml.project_id = "some-other-project"
    with pytest.raises(CmlNotFoundError, match="CDSW_PROJECT_ID"):
        client.list_jobs()


def test_404_for_a_missing_run(client: CmlClient, cml: FakeCml) -> None:
    job = client.create_job(_job_body())
    with pytest.raises(CmlNotFoundError):
        client.get_job_run(job["id"], "run-does-not-exist")


def test_5xx_is_a_server_error(client: CmlClient, cml: FakeCml) -> None:
    cml.fail("GET", r"/jobs$", 503)
    with pytest.raises(CmlServerError, match="503"):
        client.list_jobs()
    assert client.list_jobs() == []  # the next call is fine again


@pytest.mark.parametrize("kind", ["rest", "sdk"])
def test_slow_answer_is_a_timeout(kind: str, cml: FakeCml, settings: Settings) -> None:
    cml.delay("GET", r"/jobs$", 1.0)
    if kind == "rest":
        client: CmlClient = RestCmlClient.from_settings(settings, timeout_s=0.2)
    else:
        client = SdkCmlClient.from_settings(settings, __import__("fake_cmlapi").build_module(), 0.2)
    with pytest.raises(CmlTimeoutError, match="did not answer"):
        client.list_jobs()


def test_unreachable_server_is_a_clear_error(settings: Settings, cml: FakeCml) -> None:
    cml.stop()
    client = RestCmlClient.from_settings(settings, timeout_s=1.0)
    with pytest.raises(Exception) as info:
        client.list_jobs()
    assert "Could not reach the CML API" in str(info.value)
    assert API_KEY not in str(info.value)


def test_make_client_prefers_cmlapi_when_importable(
    settings: Settings, cmlapi_module: object
) -> None:
    assert isinstance(make_client(settings), SdkCmlClient)
    assert isinstance(make_client(settings, prefer="rest"), RestCmlClient)


def test_make_client_falls_back_to_rest(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cmlapi", None)  # import cmlapi -> ImportError
    assert isinstance(make_client(settings), RestCmlClient)
    with pytest.raises(CmlConfigError, match="cmlapi"):
        make_client(settings, prefer="sdk")


def test_make_client_names_what_is_missing(
    cml: FakeCml, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cmlapi", None)
    with pytest.raises(CmlConfigError, match="CDSW_PROJECT_ID"):
        make_client(make_settings(cml, tmp_path, CDSW_PROJECT_ID=""))
    with pytest.raises(CmlConfigError, match="CDSW_APIV2_KEY"):
        make_client(make_settings(cml, tmp_path, CDSW_APIV2_KEY=""))
    with pytest.raises(CmlConfigError, match="CDSW_DOMAIN"):
        make_client(make_settings(cml, tmp_path, CDSW_DOMAIN=""))


def test_base_url() -> None:
    assert base_url("ml-1234.cloudera.site") == "https://ml-1234.cloudera.site"
    assert base_url("https://ml-1234.cloudera.site/api/v1") == "https://ml-1234.cloudera.site"
    assert base_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"


def test_decode_environment_accepts_strings_maps_and_junk() -> None:
    assert decode_environment('{"A": "1"}') == {"A": "1"}
    assert decode_environment({"A": 1}) == {"A": "1"}
    assert decode_environment("") == {}
    assert decode_environment("not json") == {}
    assert decode_environment(None) == {}


def test_409_names_the_conflict_and_the_subdomain_setting(client: CmlClient, cml: FakeCml) -> None:
    cml.fail("POST", r"/applications$", 409, message="already exists")
    with pytest.raises(CmlError) as info:
        client.create_application(
            {"name": "docbot", "subdomain": "docbot", "script": "bot/cml_app.py"}
        )
    message = str(info.value)
    assert info.value.status == 409 and "already exists" in message
    assert "DOCBOT_CML_APP_SUBDOMAIN" in message


def test_429_says_to_wait_and_try_again(client: CmlClient, cml: FakeCml) -> None:
    cml.fail("GET", r"/jobs$", 429, message="too many requests")
    with pytest.raises(CmlError) as info:
        client.list_jobs()
    assert info.value.status == 429
    assert "rate" in str(info.value).lower() and "try again" in str(info.value)
