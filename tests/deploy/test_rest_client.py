"""REST specifics: TLS bundle choice, redaction of echoed keys, unreadable answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_cml import API_KEY, FakeCml

from bot.config import Settings
from deploy.client import CmlServerError
from deploy.rest_client import SYSTEM_CA_BUNDLE, RestCmlClient, tls_verify


def test_tls_verify_prefers_requests_own_variables() -> None:
    assert tls_verify({"REQUESTS_CA_BUNDLE": "/etc/my-ca.pem"}) == "/etc/my-ca.pem"
    assert tls_verify({"CURL_CA_BUNDLE": "/etc/curl-ca.pem"}) == "/etc/curl-ca.pem"
    expected = str(SYSTEM_CA_BUNDLE) if SYSTEM_CA_BUNDLE.is_file() else True
    assert tls_verify({}) == expected


def test_a_key_echoed_by_the_server_is_redacted(cml: FakeCml, settings: Settings) -> None:
    cml.fail("GET", r"/jobs$", 500, message=f"bad token {API_KEY} rejected upstream")
    with pytest.raises(CmlServerError) as info:
        RestCmlClient.from_settings(settings).list_jobs()
    assert API_KEY not in str(info.value) and "**********" in str(info.value)


def test_an_answer_that_is_not_json_is_a_server_error(cml: FakeCml, settings: Settings) -> None:
    cml.fail("GET", r"/applications$", 200, raw=b"<html>login</html>")
    with pytest.raises(CmlServerError, match="not JSON"):
        RestCmlClient.from_settings(settings).list_applications()


def test_repr_hides_the_key(settings: Settings, tmp_path: Path) -> None:
    client = RestCmlClient.from_settings(settings)
    assert API_KEY not in repr(client) and API_KEY not in str(vars(client).get("_key"))
