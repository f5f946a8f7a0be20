"""Fixtures: one stand-in CML server per test, and a client over each path (REST, SDK)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from deploy.client import CmlClient
from deploy.rest_client import RestCmlClient
from deploy.sdk_client import SdkCmlClient

sys.path.insert(0, str(Path(__file__).parent))

import fake_cml  # noqa: E402
import fake_cmlapi  # noqa: E402


@pytest.fixture
def cml() -> Iterator[fake_cml.FakeCml]:
    server = fake_cml.FakeCml().start()
    try:
        yield server
    finally:
        server.stop()


def make_settings(cml: fake_cml.FakeCml, tmp_path: Path, **extra: str) -> Settings:
    env = {
        "CDSW_DOMAIN": cml.base_url,
        "CDSW_APIV2_KEY": cml.api_key,
        "CDSW_PROJECT_ID": cml.project_id,
        "DOCBOT_DATA_DIR": str(tmp_path / "data"),
        **extra,
    }
    return Settings.from_env(environ=env, env_file=None)


@pytest.fixture
def settings(cml: fake_cml.FakeCml, tmp_path: Path) -> Settings:
    return make_settings(cml, tmp_path)


@pytest.fixture
def cmlapi_module(monkeypatch: pytest.MonkeyPatch):
    """The fake SDK, importable as `cmlapi` for the duration of a test."""
    module = fake_cmlapi.build_module()
    monkeypatch.setitem(sys.modules, "cmlapi", module)
    monkeypatch.setitem(sys.modules, "cmlapi.rest", module.rest)
    return module


@pytest.fixture(params=["rest", "sdk"])
def client(request: pytest.FixtureRequest, settings: Settings) -> CmlClient:
    """The same tests run through both client paths against the same stand-in."""
    if request.param == "rest":
        return RestCmlClient.from_settings(settings, timeout_s=5.0)
    return SdkCmlClient.from_settings(settings, fake_cmlapi.build_module(), timeout_s=5.0)
