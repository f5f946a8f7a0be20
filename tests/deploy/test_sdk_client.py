"""cmlapi specifics: building the client inside and outside a CML session, model fields."""

from __future__ import annotations

import logging
from pathlib import Path

import fake_cmlapi
import pytest
from conftest import make_settings
from fake_cml import FakeCml

from deploy.client import CmlConfigError
from deploy.sdk_client import SdkCmlClient


def test_inside_a_session_the_sdk_reads_the_engine_environment(
    cml: FakeCml, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDSW_API_URL", f"{cml.base_url}/api/v1")
    monkeypatch.setenv("CDSW_APIV2_KEY", cml.api_key)
    settings = make_settings(cml, tmp_path, CDSW_DOMAIN="", CDSW_APIV2_KEY="")
    client = SdkCmlClient.from_settings(settings, fake_cmlapi.build_module())
    assert client.list_jobs() == []


def test_outside_a_session_without_settings_is_a_config_error(
    cml: FakeCml, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDSW_API_URL", raising=False)
    monkeypatch.delenv("CDSW_APIV2_KEY", raising=False)
    settings = make_settings(cml, tmp_path, CDSW_DOMAIN="", CDSW_APIV2_KEY="")
    with pytest.raises(CmlConfigError, match="CDSW_DOMAIN and CDSW_APIV2_KEY"):
        SdkCmlClient.from_settings(settings, fake_cmlapi.build_module())


def test_fields_an_older_sdk_lacks_are_dropped_with_a_warning(
    cml: FakeCml, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    module = fake_cmlapi.build_module()
    settings = make_settings(cml, tmp_path)
    client = SdkCmlClient.from_settings(settings, module)
    job = client.create_job(
        {
            "name": "j",
            "script": "s.py",
            "runtime_identifier": "rt",
            "brand_new_field": 1,
        }
    )
    with caplog.at_level(logging.WARNING, logger="deploy.sdk_client"):
        client.update_job(job["id"], {"cpu": 3.0, "another_new_field": "x"})
    assert cml.jobs[job["id"]]["cpu"] == 3.0
    assert "another_new_field" in caplog.text
    assert all("brand_new_field" not in (c.body or {}) for c in cml.calls)
