"""CML API v2 over plain REST with `requests`: the fallback when `cmlapi` is absent.

Paths and shapes follow the OpenAPI spec (cml_and_bedrock.md §1.5):
`https://<CDSW_DOMAIN>/api/v2/...`, `Authorization: Bearer <CDSW_APIV2_KEY>`,
list answers `{"<things>": [...], "next_page_token": "..."}`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from bot.config import Secret, Settings
from deploy.client import (
    CmlConfigError,
    CmlError,
    CmlServerError,
    CmlTimeoutError,
    base_url,
    status_error,
)

# Private-CA workspaces: the runtime's system bundle carries the workspace CA.
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PAGE_SIZE = 100
MAX_PAGES = 50  # a guard against a server that keeps returning a next_page_token


def tls_verify(environ: Mapping[str, str]) -> bool | str:
    """requests' `verify`: its own env vars win; else the system bundle when there is one."""
    if environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE"):
        return environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE") or True
    return str(SYSTEM_CA_BUNDLE) if SYSTEM_CA_BUNDLE.is_file() else True


class RestCmlClient:
    """`CmlClient` over HTTP. Blocking: call it via `asyncio.to_thread` from async code."""

    def __init__(
        self,
        domain: str,
        api_key: Secret,
        project_id: str,
        timeout_s: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        if not domain:
            raise CmlConfigError("CDSW_DOMAIN is not set: docbot does not know the CML workspace.")
        if not api_key:
            raise CmlConfigError("CDSW_APIV2_KEY is not set: the CML API needs an API v2 key.")
        if not project_id:
            raise CmlConfigError("CDSW_PROJECT_ID is not set.")
        self.project_id = project_id
        self._root = base_url(domain) + "/api/v2"
        self._key = api_key
        self._timeout_s = timeout_s
        self._session = session or requests.Session()
        self._verify = tls_verify(os.environ)

    @classmethod
    def from_settings(cls, settings: Settings, timeout_s: float = 30.0) -> RestCmlClient:
        return cls(settings.cml_domain, settings.cml_api_key, settings.cml_project_id, timeout_s)

    def __repr__(self) -> str:  # the key never shows
        return f"RestCmlClient(root={self._root!r}, project_id={self.project_id!r})"

    # -- transport -----------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        what: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = self._root + path
        headers = {
            "Authorization": f"Bearer {self._key.reveal()}",
            "Accept": "application/json",
        }
        try:
            response = self._session.request(
                method,
                url,
                params=dict(params) if params else None,
                json=dict(body) if body is not None else None,
                headers=headers,
                timeout=self._timeout_s,
                verify=self._verify,
            )
        except requests.Timeout:
            raise CmlTimeoutError(
                f"CML API did not answer {what} within {self._timeout_s:g} s ({method} {path})."
            ) from None
        except requests.RequestException as exc:
            # The exception text can carry the URL but never headers; still keep it short.
            raise CmlError(
                f"Could not reach the CML API for {what} ({type(exc).__name__})."
            ) from None
        if response.status_code >= 400:
            raise status_error(response.status_code, what, self._detail(response))
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError:
            raise CmlServerError(
                f"CML API answered {what} with something that is not JSON."
            ) from None
        if not isinstance(data, dict):
            raise CmlServerError(f"CML API answered {what} with an unexpected shape.")
        return data

    def _detail(self, response: requests.Response) -> str:
        """The server's own error message (grpc-gateway: {"message": ...}), key redacted."""
        try:
            data = response.json()
        except ValueError:
            return ""
        message = data.get("message") or data.get("error") if isinstance(data, dict) else ""
        if not isinstance(message, str):
            return ""
        key = self._key.reveal()
        if key:
            message = message.replace(key, "**********")
        return message[:300]

    def _list(
        self, path: str, field: str, what: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        query = dict(params or {})
        query.setdefault("page_size", PAGE_SIZE)
        for _ in range(MAX_PAGES):
            data = self._request("GET", path, what, params=query)
            items.extend(data.get(field) or [])
            token = data.get("next_page_token")
            if not token:
                break
            query["page_token"] = token
        return items

    def _project(self) -> str:
        return f"/projects/{quote(self.project_id, safe='')}"

    # -- jobs ----------------------------------------------------------------------------

    def list_jobs(self, search_filter: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        params = {"search_filter": json.dumps(dict(search_filter))} if search_filter else None
        return self._list(f"{self._project()}/jobs", "jobs", "listing jobs", params)

    def create_job(self, body: Mapping[str, Any]) -> dict[str, Any]:
        payload = {**body, "project_id": self.project_id}
        name = body.get("name", "")
        return self._request(
            "POST", f"{self._project()}/jobs", f"creating job {name!r}", body=payload
        )

    def update_job(self, job_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        path = f"{self._project()}/jobs/{quote(job_id, safe='')}"
        return self._request("PATCH", path, f"updating job {job_id}", body=dict(body))

    def create_job_run(self, job_id: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        path = f"{self._project()}/jobs/{quote(job_id, safe='')}/runs"
        payload = {**(body or {}), "project_id": self.project_id, "job_id": job_id}
        return self._request("POST", path, f"starting a run of job {job_id}", body=payload)

    def list_job_runs(self, job_id: str, page_size: int = 10) -> list[dict[str, Any]]:
        path = f"{self._project()}/jobs/{quote(job_id, safe='')}/runs"
        params = {"sort": "-created_at", "page_size": page_size}
        data = self._request("GET", path, f"listing runs of job {job_id}", params=params)
        return list(data.get("job_runs") or [])

    def get_job_run(self, job_id: str, run_id: str) -> dict[str, Any]:
        path = f"{self._project()}/jobs/{quote(job_id, safe='')}/runs/{quote(run_id, safe='')}"
        return self._request("GET", path, f"reading run {run_id} of job {job_id}")

    # -- applications --------------------------------------------------------------------

    def list_applications(
        self, search_filter: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        params = {"search_filter": json.dumps(dict(search_filter))} if search_filter else None
        return self._list(
            f"{self._project()}/applications", "applications", "listing applications", params
        )

    def create_application(self, body: Mapping[str, Any]) -> dict[str, Any]:
        payload = {**body, "project_id": self.project_id}
        name = body.get("name", "")
        path = f"{self._project()}/applications"
        return self._request("POST", path, f"creating application {name!r}", body=payload)

    def update_application(self, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        path = f"{self._project()}/applications/{quote(app_id, safe='')}"
        return self._request("PATCH", path, f"updating application {app_id}", body=dict(body))

    def restart_application(self, app_id: str) -> dict[str, Any]:
        path = f"{self._project()}/applications/{quote(app_id, safe='')}:restart"
        return self._request("POST", path, f"restarting application {app_id}", body={})

    # -- runtimes ------------------------------------------------------------------------

    def list_runtimes(self, search_filter: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        params = {"search_filter": json.dumps(dict(search_filter))} if search_filter else None
        return self._list("/runtimes", "runtimes", "listing runtimes", params)
