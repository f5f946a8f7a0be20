"""A stand-in CML API v2 server on 127.0.0.1 with the documented REST shapes.

State lives in memory: runtimes, jobs, job runs, applications of one project.
It checks the Bearer key, records every call, and can be told to fail a call
with a status, to answer slowly (client timeouts), to end a job's runs with a
given status, or to keep them running forever. Job runs advance one step each
time they are read (SCHEDULING -> RUNNING -> the outcome); when a run
succeeds, runs of the jobs whose parent it is start, as CML does.

Shapes follow /work/shared/reference/cml_and_bedrock.md §1.4-1.5: snake_case
fields, lists as {"jobs": [...], "next_page_token": ""}, errors as
grpc-gateway's {"error", "code", "message"}, `environment` on jobs and
applications a JSON string, `:restart` custom verbs.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "test-apiv2-key-3f9c"
PROJECT_ID = "p4b4-1yyp-flae-ag2z"

DEFAULT_RUNTIMES = [
    {
        "image_identifier": "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-jupyterlab-python3.10-standard:2023.08.2-b8",
        "editor": "JupyterLab",
        "kernel": "Python 3.10",
        "edition": "Standard",
        "full_version": "2023.08.2-b8",
        "status": "ENABLED",
    },
    {
        "image_identifier": "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-jupyterlab-python3.10-standard:2024.02.1-b4",
        "editor": "JupyterLab",
        "kernel": "Python 3.10",
        "edition": "Standard",
        "full_version": "2024.02.1-b4",
        "status": "ENABLED",
    },
    {
        "image_identifier": "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-jupyterlab-python3.10-cuda:2024.02.1-b4",
        "editor": "JupyterLab",
        "kernel": "Python 3.10",
        "edition": "Nvidia GPU",
        "full_version": "2024.02.1-b4",
        "status": "ENABLED",
    },
    {
        "image_identifier": "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-pbj-workbench-python3.9-standard:2024.02.1-b4",
        "editor": "PBJ Workbench",
        "kernel": "Python 3.9",
        "edition": "Standard",
        "full_version": "2024.02.1-b4",
        "status": "ENABLED",
    },
]

JOB_FIELDS = (
    "name",
    "script",
    "cpu",
    "memory",
    "nvidia_gpu",
    "runtime_identifier",
    "arguments",
    "timeout",
    "kill_on_timeout",
    "schedule",
    "timezone",
    "paused",
    "kernel",
)
APP_FIELDS = (
    "name",
    "subdomain",
    "description",
    "script",
    "cpu",
    "memory",
    "nvidia_gpu",
    "runtime_identifier",
    "bypass_authentication",
    "kernel",
)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int = 0  # 0: no error, only the delay
    delay_s: float = 0.0
    times: int = 1
    message: str = ""
    raw: bytes | None = None  # answer these bytes verbatim (not JSON) instead


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 500: 13, 503: 14}


@dataclass
class FakeCml:
    api_key: str = API_KEY
    project_id: str = PROJECT_ID
    runtimes: list[dict[str, Any]] = field(
        default_factory=lambda: [dict(r) for r in DEFAULT_RUNTIMES]
    )
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # job name -> final run status
    hanging: set[str] = field(default_factory=set)  # job names whose runs never end
    page_size_cap: int = 2  # small, so clients must follow next_page_token

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._clock = datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._lock = threading.RLock()
        self.base_url = ""
        self._server: ThreadingHTTPServer | None = None

    # -- control --------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        message: str = "",
        raw: bytes | None = None,
    ) -> None:
        """Answer the next `times` matching calls with `status` (and `message`, or `raw` bytes)."""
        fault = Fault(method, re.compile(path_regex), status, times=times, message=message, raw=raw)
        self.faults.append(fault)

    def delay(self, method: str, path_regex: str, seconds: float, times: int = 1) -> None:
        """Answer the next `times` matching calls only after `seconds`."""
        self.faults.append(Fault(method, re.compile(path_regex), delay_s=seconds, times=times))

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method in {"POST", "PATCH", "PUT", "DELETE"}]

    def job_by_name(self, name: str) -> dict[str, Any]:
        return next(j for j in self.jobs.values() if j["name"] == name)

    def app_by_name(self, name: str) -> dict[str, Any]:
        return next(a for a in self.apps.values() if a["name"] == name)

    def start(self) -> FakeCml:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- helpers ---------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):04d}"

    def _now(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.pattern.search(path):
                    fault.times -= 1
                    return fault
        return None

    # -- dispatch --------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Any:
        prefix = "/api/v2"
        if not path.startswith(prefix):
            raise ApiError(404, "Not Found")
        path = path[len(prefix) :]
        if path == "/runtimes" and method == "GET":
            return self._list(self.runtimes, "runtimes", query)
        match = re.fullmatch(r"/projects/([^/]+)(/.*)?", path)
        if not match:
            raise ApiError(404, f"no route for {method} {path}")
        if match.group(1) != self.project_id:
            raise ApiError(404, "project not found")
        rest = match.group(2) or ""
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"/jobs", self._list_jobs),
            ("POST", r"/jobs", self._create_job),
            ("GET", r"/jobs/([^/]+)", self._get_job),
            ("PATCH", r"/jobs/([^/]+)", self._update_job),
            ("GET", r"/jobs/([^/]+)/runs", self._list_runs),
            ("POST", r"/jobs/([^/]+)/runs", self._create_run),
            ("GET", r"/jobs/([^/]+)/runs/([^/:]+)", self._get_run),
            ("GET", r"/applications", self._list_apps),
            ("POST", r"/applications", self._create_app),
            ("GET", r"/applications/([^/:]+)", self._get_app),
            ("PATCH", r"/applications/([^/:]+)", self._update_app),
            ("POST", r"/applications/([^/:]+):restart", self._restart_app),
        ]
        for route_method, pattern, fn in routes:
            found = re.fullmatch(pattern, rest)
            if found and route_method == method:
                with self._lock:
                    return fn(*found.groups(), query=query, body=body)
        raise ApiError(404, f"no route for {method} {path}")

    def _list(self, items: list[dict[str, Any]], key: str, query: dict[str, str]) -> dict:
        raw_filter = query.get("search_filter") or query.get("searchFilter")
        if raw_filter:
            wanted = json.loads(raw_filter)
            items = [
                i
                for i in items
                if all(str(v).lower() in str(i.get(k, "")).lower() for k, v in wanted.items())
            ]
        size = int(query.get("page_size") or query.get("pageSize") or 10)
        size = max(1, min(size, self.page_size_cap))
        start = int(query.get("page_token") or query.get("pageToken") or 0)
        page = items[start : start + size]
        token = str(start + size) if start + size < len(items) else ""
        return {key: [dict(i) for i in page], "next_page_token": token}

    def _job(self, job_id: str) -> dict[str, Any]:
        if job_id not in self.jobs:
            raise ApiError(404, f"job {job_id} not found")
        return self.jobs[job_id]

    def _list_jobs(self, query: dict[str, str], body: Any) -> dict:
        return self._list(list(self.jobs.values()), "jobs", query)

    def _create_job(self, query: dict[str, str], body: Any) -> dict:
        body = body or {}
        for required in ("name", "script", "runtime_identifier"):
            if not body.get(required):
                raise ApiError(400, f"{required} is required for a runtime project")
        parent = body.get("parent_job_id") or body.get("parent_id") or ""
        if parent and parent not in self.jobs:
            raise ApiError(400, f"parent job {parent} not found")
        if parent and body.get("schedule"):
            raise ApiError(400, "a job cannot have both a schedule and a parent")
        if not isinstance(body.get("environment", {}), dict):
            raise ApiError(400, "environment must be a map")
        job = {k: body.get(k, "") for k in JOB_FIELDS}
        job.update(
            id=self._new_id("job"),
            project_id=self.project_id,
            parent_id=parent,
            environment=json.dumps(body.get("environment") or {}),
            created_at=self._now(),
        )
        self.jobs[job["id"]] = job
        self.runs[job["id"]] = []
        return dict(job)

    def _get_job(self, job_id: str, query: dict[str, str], body: Any) -> dict:
        return dict(self._job(job_id))

    def _update_job(self, job_id: str, query: dict[str, str], body: Any) -> dict:
        job = self._job(job_id)
        body = body or {}
        if "environment" in body and not isinstance(body["environment"], str):
            raise ApiError(400, "environment must be a JSON string on a Job")
        parent = body.get("parent_id", body.get("parent_job_id", job["parent_id"]))
        if parent and parent not in self.jobs:
            raise ApiError(400, f"parent job {parent} not found")
        for key in (*JOB_FIELDS, "environment"):
            if key in body:
                job[key] = body[key]
        job["parent_id"] = parent
        job["updated_at"] = self._now()
        return dict(job)

    def _start_run(self, job: dict[str, Any]) -> dict[str, Any]:
        run = {
            "id": self._new_id("run"),
            "project_id": self.project_id,
            "job_id": job["id"],
            "status": "ENGINE_SCHEDULING",
            "created_at": self._now(),
            "runtime_identifier": job["runtime_identifier"],
            "nvidia_gpu": job["nvidia_gpu"],
        }
        self.runs[job["id"]].append(run)
        return run

    def _list_runs(self, job_id: str, query: dict[str, str], body: Any) -> dict:
        self._job(job_id)
        runs = list(self.runs[job_id])
        if (query.get("sort") or "") == "-created_at":
            runs.reverse()
        return self._list(runs, "job_runs", query)

    def _create_run(self, job_id: str, query: dict[str, str], body: Any) -> dict:
        return dict(self._start_run(self._job(job_id)))

    def _get_run(self, job_id: str, run_id: str, query: dict[str, str], body: Any) -> dict:
        job = self._job(job_id)
        run = next((r for r in self.runs[job_id] if r["id"] == run_id), None)
        if run is None:
            raise ApiError(404, f"run {run_id} not found")
        self._advance(job, run)
        return dict(run)

    def _advance(self, job: dict[str, Any], run: dict[str, Any]) -> None:
        if run["status"] == "ENGINE_SCHEDULING":
            run["status"] = "ENGINE_RUNNING"
            run["running_at"] = self._now()
        elif run["status"] == "ENGINE_RUNNING" and job["name"] not in self.hanging:
            run["status"] = self.outcomes.get(job["name"], "ENGINE_SUCCEEDED")
            run["finished_at"] = self._now()
            if run["status"] == "ENGINE_SUCCEEDED":
                for child in self.jobs.values():
                    if child.get("parent_id") == job["id"]:
                        self._start_run(child)

    def _app(self, app_id: str) -> dict[str, Any]:
        if app_id not in self.apps:
            raise ApiError(404, f"application {app_id} not found")
        return self.apps[app_id]

    def _list_apps(self, query: dict[str, str], body: Any) -> dict:
        return self._list(list(self.apps.values()), "applications", query)

    def _create_app(self, query: dict[str, str], body: Any) -> dict:
        body = body or {}
        for required in ("name", "script", "subdomain", "runtime_identifier"):
            if not body.get(required):
                raise ApiError(400, f"{required} is required")
        if any(a["subdomain"] == body["subdomain"] for a in self.apps.values()):
            raise ApiError(409, f"subdomain {body['subdomain']} is taken")
        if "environment_variables" in body:
            raise ApiError(400, "unknown field environment_variables")
        app = {k: body.get(k, "") for k in APP_FIELDS}
        app.update(
            id=self._new_id("app"),
            project_id=self.project_id,
            environment=json.dumps(body.get("environment") or {}),
            status="APPLICATION_RUNNING",  # creating an application also starts it
            created_at=self._now(),
            restarts=0,
        )
        self.apps[app["id"]] = app
        return dict(app)

    def _get_app(self, app_id: str, query: dict[str, str], body: Any) -> dict:
        return dict(self._app(app_id))

    def _update_app(self, app_id: str, query: dict[str, str], body: Any) -> dict:
        app = self._app(app_id)
        body = body or {}
        if "environment" in body and not isinstance(body["environment"], str):
            raise ApiError(400, "environment must be a JSON string on an Application")
        for key in (*APP_FIELDS, "environment"):
            if key in body:
                app[key] = body[key]
        app["updated_at"] = self._now()
        return dict(app)

    def _restart_app(self, app_id: str, query: dict[str, str], body: Any) -> dict:
        app = self._app(app_id)
        app["status"] = "APPLICATION_RUNNING"
        app["restarts"] += 1
        return dict(app)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeCml
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _serve(self, method: str) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        fake.calls.append(Call(method, parts.path, query, body))
        fault = fake._fault_for(method, parts.path)
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        try:
            if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                raise ApiError(401, "authentication failed: invalid API key")
            if fault is not None and fault.status:
                raise ApiError(fault.status, fault.message or f"injected failure {fault.status}")
            status, payload = 200, fake.handle(method, parts.path, query, body)
        except ApiError as exc:
            status = exc.status
            payload = {
                "error": exc.message,
                "code": _GRPC_CODES.get(exc.status, 2),
                "message": exc.message,
            }
        data = json.dumps(payload).encode()
        if fault is not None and fault.raw is not None:
            data = fault.raw
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve("PATCH")
