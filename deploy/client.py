"""One client interface over the CML API v2, whichever way it is reached.

`CmlClient` is the protocol both implementations follow: `RestCmlClient`
(plain `requests`, always available) and `SdkCmlClient` (an adapter over
`cmlapi`, preinstalled in CML runtimes and not on PyPI). Every method returns
plain dicts in the REST shapes (snake_case fields, as in the OpenAPI spec), so
the rest of `deploy/` never sees a `cmlapi` model object.

Errors are `CmlError` subclasses whose messages name the operation and the
HTTP status, never the API key.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from typing import Any, Protocol

from bot.config import Settings

# EngineStatus values that end a job run (cml_and_bedrock.md §1.4).
TERMINAL_RUN_STATUSES = frozenset(
    {"ENGINE_SUCCEEDED", "ENGINE_FAILED", "ENGINE_TIMEDOUT", "ENGINE_STOPPED", "ENGINE_SKIPPED"}
)
SUCCEEDED = "ENGINE_SUCCEEDED"


class CmlError(Exception):
    """A CML API call failed. `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CmlConfigError(CmlError):
    """docbot is not configured to reach CML (domain, key or project missing)."""


class CmlAuthError(CmlError):
    """401/403: the API key is missing, wrong, expired, or lacks permission."""


class CmlNotFoundError(CmlError):
    """404: the project, job, run or application does not exist."""


class CmlServerError(CmlError):
    """5xx or an unreadable answer from the CML API."""


class CmlTimeoutError(CmlError):
    """The CML API did not answer in time, or a run did not finish in time."""


class CmlClient(Protocol):
    """CML API v2 operations docbot uses, scoped to one project.

    `search_filter` is a dict of field -> value; CML matches it as a substring
    ("contains"), so callers compare names exactly themselves.
    """

    project_id: str

    def list_jobs(self, search_filter: Mapping[str, str] | None = None) -> list[dict[str, Any]]: ...

    def create_job(self, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def update_job(self, job_id: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def create_job_run(
        self, job_id: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]: ...

    def list_job_runs(self, job_id: str, page_size: int = 10) -> list[dict[str, Any]]:
        """Newest first (sort=-created_at), at most `page_size` runs."""
        ...

    def get_job_run(self, job_id: str, run_id: str) -> dict[str, Any]: ...

    def list_applications(
        self, search_filter: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]: ...

    def create_application(self, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def update_application(self, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def restart_application(self, app_id: str) -> dict[str, Any]: ...

    def list_runtimes(
        self, search_filter: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]: ...


def base_url(domain: str) -> str:
    """`https://<CDSW_DOMAIN>`; a domain that already carries a scheme is kept (tests, proxies)."""
    domain = domain.strip().rstrip("/")
    if domain.endswith("/api/v1") or domain.endswith("/api/v2"):
        domain = domain[: -len("/api/v1")]
    if "://" in domain:
        return domain
    return f"https://{domain}"


def decode_environment(value: Any) -> dict[str, str]:
    """Jobs and applications carry `environment` as a JSON string in responses; accept both."""
    if not value:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def status_error(status: int, what: str, detail: str = "") -> CmlError:
    """The error for an HTTP status, with a message a human can act on."""
    detail = f": {detail}" if detail else ""
    if status == 401:
        return CmlAuthError(
            f"CML API refused {what} (401 unauthenticated){detail}. Check CDSW_APIV2_KEY "
            "(an API v2 key, sent as a Bearer token).",
            status,
        )
    if status == 403:
        return CmlAuthError(
            f"CML API refused {what} (403 forbidden){detail}. The API key's user needs "
            "write access to the project.",
            status,
        )
    if status == 404:
        return CmlNotFoundError(
            f"CML API found nothing for {what} (404){detail}. Check CDSW_DOMAIN and "
            "CDSW_PROJECT_ID.",
            status,
        )
    if status == 409:
        return CmlError(
            f"CML API refused {what} (409 conflict){detail}. It clashes with something that "
            "already exists, such as an application subdomain in use (choose another with "
            "DOCBOT_CML_APP_SUBDOMAIN).",
            status,
        )
    if status == 429:
        return CmlError(
            f"CML API is rate-limiting requests ({what}, 429){detail}; wait a minute and "
            "try again.",
            status,
        )
    if status >= 500:
        return CmlServerError(
            f"CML API failed on {what} ({status}){detail}; try again later.", status
        )
    return CmlError(f"CML API rejected {what} ({status}){detail}", status)


def make_client(settings: Settings, prefer: str = "auto", timeout_s: float = 30.0) -> CmlClient:
    """The client for `settings`: `cmlapi` when importable (unless prefer="rest"), else REST.

    Raises `CmlConfigError` naming the missing variable.
    """
    if not settings.cml_project_id:
        raise CmlConfigError(
            "CDSW_PROJECT_ID is not set: docbot does not know which CML project to use."
        )
    if prefer not in {"auto", "sdk", "rest"}:
        raise ValueError(f"prefer must be auto, sdk or rest, got {prefer!r}")
    if prefer in {"auto", "sdk"}:
        try:
            cmlapi = importlib.import_module("cmlapi")
        except ImportError:
            if prefer == "sdk":
                raise CmlConfigError(
                    "cmlapi is not importable (it ships with CML runtimes)."
                ) from None
        else:
            from deploy.sdk_client import SdkCmlClient

            return SdkCmlClient.from_settings(settings, cmlapi)
    from deploy.rest_client import RestCmlClient

    return RestCmlClient.from_settings(settings, timeout_s=timeout_s)
