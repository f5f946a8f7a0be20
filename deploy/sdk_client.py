"""`CmlClient` over the `cmlapi` SDK (preinstalled in CML runtimes, not on PyPI).

`cmlapi` answers with model objects, not dicts (cml_and_bedrock.md §1.2); this
adapter turns every answer into a plain dict with `.to_dict()` and every
`cmlapi.rest.ApiException` into the same `CmlError`s the REST client raises,
so callers cannot tell the two apart.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from bot.config import Secret, Settings
from deploy.client import CmlConfigError, CmlError, CmlTimeoutError, base_url, status_error

PAGE_SIZE = 100
MAX_PAGES = 50

log = logging.getLogger(__name__)


def _to_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        data = to_dict()
        return data if isinstance(data, dict) else {}
    return {}


class SdkCmlClient:
    """`CmlClient` over a `cmlapi.CMLServiceApi`. Blocking, like the SDK itself."""

    def __init__(
        self, api: Any, cmlapi: ModuleType, project_id: str, timeout_s: float = 30.0
    ) -> None:
        if not project_id:
            raise CmlConfigError("CDSW_PROJECT_ID is not set.")
        self.project_id = project_id
        self._api = api
        self._cmlapi = cmlapi
        self._timeout_s = timeout_s
        self._key: Secret = Secret("")

    @classmethod
    def from_settings(
        cls, settings: Settings, cmlapi: ModuleType, timeout_s: float = 30.0
    ) -> SdkCmlClient:
        """Explicit URL and key when configured; inside a CML session the SDK reads its env."""
        try:
            if settings.cml_domain and settings.cml_api_key:
                api = cmlapi.default_client(
                    url=base_url(settings.cml_domain), cml_api_key=settings.cml_api_key.reveal()
                )
            else:
                api = cmlapi.default_client()
        except ValueError:
            # default_client() raises ValueError outside a CML session without arguments.
            raise CmlConfigError(
                "cmlapi could not build a client: set CDSW_DOMAIN and CDSW_APIV2_KEY."
            ) from None
        client = cls(api, cmlapi, settings.cml_project_id, timeout_s)
        client._key = settings.cml_api_key
        return client

    def __repr__(self) -> str:
        return f"SdkCmlClient(project_id={self.project_id!r})"

    # -- plumbing ------------------------------------------------------------------------

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        api_exception = getattr(getattr(self._cmlapi, "rest", None), "ApiException", None)
        try:
            return method(*args, _request_timeout=self._timeout_s, **kwargs)
        except Exception as exc:
            if api_exception is not None and isinstance(exc, api_exception):
                status = int(getattr(exc, "status", 0) or 0)
                if status == 0:  # the SDK wraps transport problems with status 0
                    raise CmlError(f"Could not reach the CML API for {what}.") from None
                raise status_error(status, what, self._detail(exc)) from None
            # urllib3 raises ReadTimeoutError, or MaxRetryError whose `reason` is one.
            names = f"{type(exc).__name__} {type(getattr(exc, 'reason', None)).__name__}"
            if "timeout" in names.lower():
                raise CmlTimeoutError(
                    f"CML API did not answer {what} within {self._timeout_s:g} s."
                ) from None
            if isinstance(exc, (OSError, ConnectionError)) or "urllib3" in type(exc).__module__:
                raise CmlError(
                    f"Could not reach the CML API for {what} ({type(exc).__name__})."
                ) from None
            raise

    def _detail(self, exc: Exception) -> str:
        body = getattr(exc, "body", None)
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        message = ""
        if isinstance(body, str) and body:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("message"), str):
                message = data["message"]
        key = self._key.reveal()
        if key:
            message = message.replace(key, "**********")
        return message[:300]

    def _model(self, name: str, body: Mapping[str, Any]) -> Any:
        """A `cmlapi` request model, given only the fields it declares (extra kwargs raise)."""
        cls = getattr(self._cmlapi, name)
        declared = getattr(cls, "swagger_types", None) or getattr(cls, "openapi_types", None)
        if declared:
            dropped = sorted(set(body) - set(declared))
            if dropped:
                # An older cmlapi than the spec we follow; say so rather than fail.
                log.warning("cmlapi.%s has no field(s) %s; not sent", name, ", ".join(dropped))
            body = {k: v for k, v in body.items() if k in declared}
        return cls(**body)

    def _list(self, what: str, method: Callable[..., Any], field: str, **kwargs: Any) -> list[dict]:
        items: list[dict[str, Any]] = []
        token = None
        for _ in range(MAX_PAGES):
            page_kwargs = dict(kwargs, page_size=PAGE_SIZE)
            if token:
                page_kwargs["page_token"] = token
            response = _to_dict(self._call(what, method, **page_kwargs))
            items.extend(_to_dict(item) for item in response.get(field) or [])
            token = response.get("next_page_token")
            if not token:
                break
        return items

    @staticmethod
    def _filter(search_filter: Mapping[str, str] | None) -> dict[str, str]:
        return {"search_filter": json.dumps(dict(search_filter))} if search_filter else {}

    # -- jobs ----------------------------------------------------------------------------

    def list_jobs(self, search_filter: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        return self._list(
            "listing jobs",
            self._api.list_jobs,
            "jobs",
            project_id=self.project_id,
            **self._filter(search_filter),
        )

    def create_job(self, body: Mapping[str, Any]) -> dict[str, Any]:
        model = self._model("CreateJobRequest", {**body, "project_id": self.project_id})
        what = f"creating job {body.get('name', '')!r}"
        return _to_dict(
            self._call(what, self._api.create_job, body=model, project_id=self.project_id)
        )

    def update_job(self, job_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        model = self._model("Job", body)
        return _to_dict(
            self._call(
                f"updating job {job_id}",
                self._api.update_job,
                body=model,
                project_id=self.project_id,
                job_id=job_id,
            )
        )

    def create_job_run(self, job_id: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        model = self._model(
            "CreateJobRunRequest", {**(body or {}), "project_id": self.project_id, "job_id": job_id}
        )
        return _to_dict(
            self._call(
                f"starting a run of job {job_id}",
                self._api.create_job_run,
                body=model,
                project_id=self.project_id,
                job_id=job_id,
            )
        )

    def list_job_runs(self, job_id: str, page_size: int = 10) -> list[dict[str, Any]]:
        response = _to_dict(
            self._call(
                f"listing runs of job {job_id}",
                self._api.list_job_runs,
                project_id=self.project_id,
                job_id=job_id,
                sort="-created_at",
                page_size=page_size,
            )
        )
        return [_to_dict(run) for run in response.get("job_runs") or []]

    def get_job_run(self, job_id: str, run_id: str) -> dict[str, Any]:
        return _to_dict(
            self._call(
                f"reading run {run_id} of job {job_id}",
                self._api.get_job_run,
                project_id=self.project_id,
                job_id=job_id,
                run_id=run_id,
            )
        )

    # -- applications --------------------------------------------------------------------

    def list_applications(
        self, search_filter: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        return self._list(
            "listing applications",
            self._api.list_applications,
            "applications",
            project_id=self.project_id,
            **self._filter(search_filter),
        )

    def create_application(self, body: Mapping[str, Any]) -> dict[str, Any]:
        model = self._model("CreateApplicationRequest", {**body, "project_id": self.project_id})
        what = f"creating application {body.get('name', '')!r}"
        return _to_dict(
            self._call(what, self._api.create_application, body=model, project_id=self.project_id)
        )

    def update_application(self, app_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        model = self._model("Application", body)
        return _to_dict(
            self._call(
                f"updating application {app_id}",
                self._api.update_application,
                body=model,
                project_id=self.project_id,
                application_id=app_id,
            )
        )

    def restart_application(self, app_id: str) -> dict[str, Any]:
        return _to_dict(
            self._call(
                f"restarting application {app_id}",
                self._api.restart_application,
                project_id=self.project_id,
                application_id=app_id,
            )
        )

    # -- runtimes ------------------------------------------------------------------------

    def list_runtimes(self, search_filter: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        return self._list(
            "listing runtimes", self._api.list_runtimes, "runtimes", **self._filter(search_filter)
        )
