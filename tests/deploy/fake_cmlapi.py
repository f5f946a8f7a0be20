"""A small fake of the `cmlapi` SDK that talks to the stand-in server over HTTP.

Only what docbot uses, with the SDK's shapes (cml_and_bedrock.md §1.2-1.4):
`default_client(url=, cml_api_key=)` (ValueError without them outside CML),
`CMLServiceApi` methods taking `body=` request models and keyword ids, model
objects with attributes and `.to_dict()`, request models that refuse unknown
fields (swagger models do), `cmlapi.rest.ApiException(status, reason, body)`.
Transport is urllib3, as in the generated SDK, so timeouts surface as
urllib3 exceptions.
"""

from __future__ import annotations

import json
import os
import sys
import types
from typing import Any
from urllib.parse import quote, urlencode

import urllib3


class ApiException(Exception):
    def __init__(self, status: int = 0, reason: str = "", body: str | None = None) -> None:
        super().__init__(f"({status}) Reason: {reason}")
        self.status = status
        self.reason = reason
        self.body = body


class _Model:
    """Request/response model: declared fields only, attributes, `.to_dict()`."""

    swagger_types: dict[str, str] = {}

    def __init__(self, **kwargs: Any) -> None:
        declared = type(self).swagger_types
        for key in kwargs:
            if declared and key not in declared:
                raise TypeError(f"__init__() got an unexpected keyword argument '{key}'")
        for key in declared:
            setattr(self, key, None)
        for key, value in kwargs.items():
            setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in vars(self).items():
            if isinstance(value, list):
                out[key] = [v.to_dict() if isinstance(v, _Model) else v for v in value]
            elif isinstance(value, _Model):
                out[key] = value.to_dict()
            else:
                out[key] = value
        return out


def _model(name: str, fields: str) -> type[_Model]:
    return type(name, (_Model,), {"swagger_types": {f: "object" for f in fields.split()}})


_JOB_REQ = (
    "project_id name script cpu memory nvidia_gpu parent_job_id parent_id environment arguments "
    "timeout kill_on_timeout schedule timezone paused kernel runtime_identifier "
    "runtime_addon_identifiers recipients attachments run_as"
)
CreateJobRequest = _model("CreateJobRequest", _JOB_REQ)
Job = _model("Job", "id created_at updated_at " + _JOB_REQ)
CreateJobRunRequest = _model("CreateJobRunRequest", "project_id job_id environment arguments")
_APP = (
    "project_id name subdomain description script cpu memory nvidia_gpu environment kernel "
    "bypass_authentication runtime_identifier runtime_addon_identifiers run_as"
)
CreateApplicationRequest = _model("CreateApplicationRequest", _APP)
Application = _model("Application", "id status created_at updated_at restarts " + _APP)


class _Response(_Model):
    """A response model built from JSON; lists of objects become nested models."""

    swagger_types: dict[str, str] = {}

    def __init__(self, data: dict[str, Any]) -> None:
        for key, value in data.items():
            if isinstance(value, list):
                value = [_Response(v) if isinstance(v, dict) else v for v in value]
            setattr(self, key, value)


class Configuration:
    def __init__(self) -> None:
        self.host = ""
        self.verify_ssl = True
        self.ssl_ca_cert: str | None = None


class ApiClient:
    def __init__(self, configuration: Configuration) -> None:
        self.configuration = configuration
        self.default_headers: dict[str, str] = {}
        self.pool = urllib3.PoolManager(retries=False)

    def set_default_header(self, name: str, value: str) -> None:
        self.default_headers[name] = value

    def call(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: _Model | None = None,
        timeout: float | None = None,
    ) -> _Response:
        url = self.configuration.host.rstrip("/") + "/api/v2" + path
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urlencode(params)
        payload = None
        if body is not None:
            payload = json.dumps({k: v for k, v in body.to_dict().items() if v is not None})
        headers = {"Content-Type": "application/json", **self.default_headers}
        response = self.pool.request(
            method,
            url,
            body=payload,
            headers=headers,
            timeout=urllib3.Timeout(total=timeout) if timeout else None,
        )
        text = response.data.decode("utf-8")
        if response.status >= 400:
            raise ApiException(response.status, response.reason or "", text)
        return _Response(json.loads(text) if text else {})


class CMLServiceApi:
    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client

    def _p(self, project_id: str) -> str:
        return f"/projects/{quote(project_id, safe='')}"

    def _go(self, method: str, path: str, kwargs: dict[str, Any], body: Any = None) -> Any:
        timeout = kwargs.pop("_request_timeout", None)
        return self.api_client.call(method, path, kwargs, body, timeout)

    def list_jobs(self, project_id: str, **kwargs: Any) -> Any:
        return self._go("GET", f"{self._p(project_id)}/jobs", kwargs)

    def create_job(self, body: Any, project_id: str, **kwargs: Any) -> Any:
        return self._go("POST", f"{self._p(project_id)}/jobs", kwargs, body)

    def update_job(self, body: Any, project_id: str, job_id: str, **kwargs: Any) -> Any:
        return self._go("PATCH", f"{self._p(project_id)}/jobs/{job_id}", kwargs, body)

    def create_job_run(self, body: Any, project_id: str, job_id: str, **kwargs: Any) -> Any:
        return self._go("POST", f"{self._p(project_id)}/jobs/{job_id}/runs", kwargs, body)

    def list_job_runs(self, project_id: str, job_id: str, **kwargs: Any) -> Any:
        return self._go("GET", f"{self._p(project_id)}/jobs/{job_id}/runs", kwargs)

    def get_job_run(self, project_id: str, job_id: str, run_id: str, **kwargs: Any) -> Any:
        return self._go("GET", f"{self._p(project_id)}/jobs/{job_id}/runs/{run_id}", kwargs)

    def list_applications(self, project_id: str, **kwargs: Any) -> Any:
        return self._go("GET", f"{self._p(project_id)}/applications", kwargs)

    def create_application(self, body: Any, project_id: str, **kwargs: Any) -> Any:
        return self._go("POST", f"{self._p(project_id)}/applications", kwargs, body)

    def update_application(
        self, body: Any, project_id: str, application_id: str, **kwargs: Any
    ) -> Any:
        path = f"{self._p(project_id)}/applications/{application_id}"
        return self._go("PATCH", path, kwargs, body)

    def restart_application(self, project_id: str, application_id: str, **kwargs: Any) -> Any:
        path = f"{self._p(project_id)}/applications/{application_id}:restart"
        return self._go("POST", path, kwargs)

    def list_runtimes(self, **kwargs: Any) -> Any:
        return self._go("GET", "/runtimes", kwargs)


def default_client(url: str | None = None, cml_api_key: str | None = None) -> CMLServiceApi:
    """As the SDK: without arguments it reads the CML engine environment, or raises ValueError."""
    if url is None or cml_api_key is None:
        api_url = os.environ.get("CDSW_API_URL")
        key = os.environ.get("CDSW_APIV2_KEY")
        if not api_url or not key:
            raise ValueError("not running in a CML session: pass url and cml_api_key")
        url, cml_api_key = api_url.replace("/api/v1", ""), key
    config = Configuration()
    config.host = url
    client = ApiClient(config)
    client.set_default_header("authorization", "Bearer " + cml_api_key)
    return CMLServiceApi(client)


def build_module() -> types.ModuleType:
    """A fresh `cmlapi` module (and `cmlapi.rest`) to put in sys.modules."""
    module = types.ModuleType("cmlapi")
    rest = types.ModuleType("cmlapi.rest")
    rest.ApiException = ApiException  # type: ignore[attr-defined]
    this = sys.modules[__name__]
    for name in (
        "Configuration",
        "ApiClient",
        "CMLServiceApi",
        "default_client",
        "CreateJobRequest",
        "Job",
        "CreateJobRunRequest",
        "CreateApplicationRequest",
        "Application",
    ):
        setattr(module, name, getattr(this, name))
    module.rest = rest  # type: ignore[attr-defined]
    return module
