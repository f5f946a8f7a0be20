"""What `docbot deploy cml` wants on CML, and what it has to do to get there. Pure.

`desired_state(settings, environ, runtimes)` says what docbot's two jobs (a
third, "train decline model", when DOCBOT_CML_GATE_SETS names question sets) and
its application should look like; `make_plan(desired, jobs, apps)` compares
that with what the project has (matched by exact name) and returns actions:
create, update (only the fields that differ) or unchanged. `render(plan)`
prints it. Environment variable values never appear in a rendered plan, only
their names: they include tokens and keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.config import Settings
from deploy.client import decode_environment
from deploy.runtimes import RuntimeIds

SCRAPE_JOB_NAME = "docbot: scrape docs"
INDEX_JOB_NAME = "docbot: build index"
GATE_JOB_NAME = "docbot: train decline model"
APP_NAME = "docbot"
SCRAPE_SCRIPT = "ingest/scrape_job.py"
INDEX_SCRIPT = "ingest/index_job.py"
GATE_SCRIPT = "rag/gate_job.py"
APP_SCRIPT = "bot/cml_app.py"
APP_DESCRIPTION = "docbot: answers documentation questions in Slack and Teams, with citations."

# Resources (cpu cores, memory GB). The index job embeds (GPU when given); the
# application holds the embedding model and the index in memory.
SCRAPE_RESOURCES = {"cpu": 2.0, "memory": 4.0}
INDEX_RESOURCES = {"cpu": 4.0, "memory": 16.0}
GATE_RESOURCES = {"cpu": 4.0, "memory": 16.0}  # fine-tunes a cross-encoder (GPU when given)
APP_RESOURCES = {"cpu": 2.0, "memory": 8.0}

# Which of the deploying process's variables travel to CML (cml task statement).
APP_ENV_PREFIXES = ("DOCBOT_", "SLACK_", "Microsoft", "AWS_", "CHROMA_")
JOB_ENV_PREFIXES = ("DOCBOT_", "CHROMA_")
# Jobs never need chat or model credentials, nor the answer log's salt: keep them out.
JOB_ENV_EXCLUDED = frozenset(
    {"DOCBOT_CML_MODEL_ACCESS_KEY", "DOCBOT_CAII_TOKEN", "DOCBOT_HASH_SALT"}
)

RUNTIME_UNKNOWN = "<chosen at deploy time>"
PARENT_PENDING = "<id of the scrape job once created>"
# docbot creates jobs without arguments; later ones are the operator's and are kept.
# YAML reads an AMP's `arguments: None` as the string "None": cleared like an empty value.
NO_ARGUMENTS = frozenset({"", "None"})

Op = Literal["create", "update", "unchanged"]
Kind = Literal["job", "application"]


def passthrough_env(
    environ: Mapping[str, str],
    prefixes: tuple[str, ...] = APP_ENV_PREFIXES,
    excluded: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Variables set (non-empty) in `environ` whose names start with one of `prefixes`."""
    return {
        name: value
        for name, value in sorted(environ.items())
        if name.startswith(prefixes) and name not in excluded and value.strip()
    }


@dataclass(frozen=True)
class Desired:
    """Create-request bodies (CreateJobRequest / CreateApplicationRequest fields)."""

    scrape_job: dict[str, Any]
    index_job: dict[str, Any]  # parent_job_id is filled by make_plan / apply
    application: dict[str, Any]
    runtime_pinned: bool  # DOCBOT_CML_RUNTIME_ID set: enforce it on existing jobs too
    # Run by hand after labelling questions: no parent, no schedule. None: not configured.
    gate_job: dict[str, Any] | None = None


def _job(
    name: str,
    script: str,
    resources: Mapping[str, float],
    gpus: int,
    runtime: str,
    environment: dict[str, str],
) -> dict[str, Any]:
    """A CreateJobRequest body for one of docbot's jobs (no parent, no schedule yet)."""
    return {
        "name": name,
        "script": script,
        **resources,
        "nvidia_gpu": gpus,
        "runtime_identifier": runtime,
        "environment": environment,
        "arguments": "",
    }


def desired_state(
    settings: Settings, environ: Mapping[str, str], runtimes: RuntimeIds | None
) -> Desired:
    """docbot's jobs and application as CML should have them. `runtimes` None: not chosen yet."""
    if settings.cml_runtime_id:
        runtimes = RuntimeIds(settings.cml_runtime_id, settings.cml_runtime_id)
    cpu_runtime = runtimes.cpu if runtimes else RUNTIME_UNKNOWN
    gpu_runtime = runtimes.gpu if runtimes else RUNTIME_UNKNOWN
    job_env = passthrough_env(environ, JOB_ENV_PREFIXES, JOB_ENV_EXCLUDED)
    scrape = _job(SCRAPE_JOB_NAME, SCRAPE_SCRIPT, SCRAPE_RESOURCES, 0, cpu_runtime, job_env)
    if settings.cml_scrape_schedule:
        scrape["schedule"] = settings.cml_scrape_schedule
    index = _job(
        INDEX_JOB_NAME, INDEX_SCRIPT, INDEX_RESOURCES, settings.cml_gpus, gpu_runtime, job_env
    )
    application: dict[str, Any] = {
        "name": APP_NAME,
        "subdomain": settings.cml_app_subdomain,
        "description": APP_DESCRIPTION,
        "script": APP_SCRIPT,
        **APP_RESOURCES,
        "nvidia_gpu": 0,
        "runtime_identifier": cpu_runtime,
        "environment": passthrough_env(environ),
        # Slack runs in Socket Mode and needs no inbound reach; keep CML auth in front.
        "bypass_authentication": False,
    }
    # the same passthrough as the other jobs (DOCBOT_CML_GATE_SETS among it); in an AMP
    # none, the project's environment being the one place to set them
    gate = (
        _job(GATE_JOB_NAME, GATE_SCRIPT, GATE_RESOURCES, settings.cml_gpus, gpu_runtime, job_env)
        if settings.cml_gate_sets.strip()
        else None
    )
    return Desired(
        scrape, index, application, runtime_pinned=bool(settings.cml_runtime_id), gate_job=gate
    )


@dataclass(frozen=True)
class Action:
    """One step of a plan. For an update `body` holds only the changed fields."""

    kind: Kind
    key: str  # "scrape" | "index" | "gate" | "app"
    name: str
    op: Op
    body: dict[str, Any]
    existing_id: str = ""
    changes: tuple[str, ...] = ()
    restart: bool = False  # applications: (re)start after the update, or start a stopped one
    status: str = ""  # applications: the current status


@dataclass(frozen=True)
class Plan:
    project_id: str
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def action(self, key: str) -> Action:
        return next(a for a in self.actions if a.key == key)

    @property
    def writes(self) -> bool:
        return any(a.op != "unchanged" or a.restart for a in self.actions)


def find_by_name(
    items: Iterable[Mapping[str, Any]], name: str
) -> tuple[dict[str, Any] | None, int]:
    """The oldest item whose name is exactly `name` (API filters match substrings), and the count."""
    matches = [dict(item) for item in items if item.get("name") == name]
    if not matches:
        return None, 0
    matches.sort(key=lambda item: (str(item.get("created_at") or ""), str(item.get("id") or "")))
    return matches[0], len(matches)


def _same(field_name: str, want: Any, have: Any) -> bool:
    if field_name == "environment":
        return dict(want or {}) == decode_environment(have)
    if isinstance(want, bool) or isinstance(have, bool):
        return bool(want) == bool(have)
    if isinstance(want, (int, float)):
        try:
            return float(want) == float(have or 0)
        except (TypeError, ValueError):
            return False
    return str(want or "") == str(have or "")


def _describe_change(field_name: str, want: Any, have: Any) -> str:
    if field_name != "environment":
        return field_name
    before = decode_environment(have)
    after = dict(want or {})
    parts = []
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(after) & set(before) if after[k] != before[k])
    if added:
        parts.append("added " + ", ".join(added))
    if changed:
        parts.append("changed " + ", ".join(changed))
    if removed:
        parts.append("removed " + ", ".join(removed))
    return "environment (" + "; ".join(parts) + ")"


def _diff(
    desired: Mapping[str, Any], existing: Mapping[str, Any], runtime_pinned: bool
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Changed fields as a PATCH body (environment as a JSON string, as the API's objects hold it)."""
    body: dict[str, Any] = {}
    changes: list[str] = []
    for name, want in desired.items():
        if name == "name":
            continue
        have = existing.get(name)
        if name == "parent_job_id":
            have = existing.get("parent_id") or existing.get("parent_job_id")
        if name == "runtime_identifier" and have and not runtime_pinned:
            continue  # keep a working runtime unless one is configured explicitly
        if name == "arguments" and str(have or "") not in NO_ARGUMENTS:
            continue  # set on CML by the operator (docs/deploy-cml.md: train-gate options)
        if _same(name, want, have):
            continue
        changes.append(_describe_change(name, want, have))
        if name == "environment":
            body[name] = json.dumps(dict(want), sort_keys=True)
        elif name == "parent_job_id":
            body["parent_id"] = want
        else:
            body[name] = want
    return body, tuple(changes)


def _job_action(
    key: str,
    desired: dict[str, Any],
    jobs: list[dict[str, Any]],
    runtime_pinned: bool,
    notes: list[str],
) -> Action:
    existing, count = find_by_name(jobs, desired["name"])
    if count > 1:
        notes.append(
            f"{count} jobs are named {desired['name']!r}; managing the oldest ({existing['id']})."
        )
    if existing is None:
        return Action("job", key, desired["name"], "create", dict(desired))
    if "schedule" not in desired and existing.get("schedule"):
        desired = {**desired, "schedule": ""}  # the schedule was turned off
    body, changes = _diff(desired, existing, runtime_pinned)
    op: Op = "update" if changes else "unchanged"
    return Action("job", key, desired["name"], op, body, str(existing["id"]), changes)


def make_plan(
    project_id: str,
    desired: Desired,
    jobs: Iterable[Mapping[str, Any]],
    applications: Iterable[Mapping[str, Any]],
) -> Plan:
    """Compare desired with existing; jobs and applications are matched by exact name."""
    jobs = [dict(j) for j in jobs]
    notes: list[str] = []
    scrape = _job_action("scrape", desired.scrape_job, jobs, desired.runtime_pinned, notes)
    parent = scrape.existing_id or PARENT_PENDING
    index_desired = {**desired.index_job, "parent_job_id": parent}
    index = _job_action("index", index_desired, jobs, desired.runtime_pinned, notes)
    job_actions = [scrape, index]
    if desired.gate_job is not None:
        job_actions.append(
            _job_action("gate", desired.gate_job, jobs, desired.runtime_pinned, notes)
        )
    elif find_by_name(jobs, GATE_JOB_NAME)[0] is not None:
        notes.append(
            f"job {GATE_JOB_NAME!r} exists but DOCBOT_CML_GATE_SETS is not set here; left as it is."
        )

    app_desired = desired.application
    existing, count = find_by_name(applications, app_desired["name"])
    if count > 1:
        notes.append(f"{count} applications are named {APP_NAME!r}; managing the oldest.")
    if existing is None:
        app = Action("application", "app", APP_NAME, "create", dict(app_desired))
    else:
        body, changes = _diff(app_desired, existing, desired.runtime_pinned)
        status = str(existing.get("status") or "")
        stopped = status in {"APPLICATION_STOPPED", "APPLICATION_FAILED"}
        app = Action(
            "application",
            "app",
            APP_NAME,
            "update" if changes else "unchanged",
            body,
            str(existing["id"]),
            changes,
            # An updated environment or script only takes effect after a restart.
            restart=bool(changes) or stopped,
            status=status,
        )
    return Plan(project_id, (*job_actions, app), tuple(notes))


def _summary(action: Action) -> list[str]:
    body = action.body
    lines = []
    fields_shown = ("script", "cpu", "memory", "nvidia_gpu", "runtime_identifier", "schedule")
    shown = [f"{k}={body[k]}" for k in fields_shown if k in body and body[k] not in ("", None)]
    if action.kind == "application" and "subdomain" in body:
        shown.insert(0, f"subdomain={body['subdomain']}")
    if "parent_job_id" in body:
        shown.append(f"parent={body['parent_job_id']}")
    if shown:
        lines.append("      " + " ".join(shown))
    env = body.get("environment")
    if isinstance(env, Mapping):
        names = ", ".join(sorted(env)) or "(none)"
        lines.append(f"      environment: {names}")
    return lines


def render(plan: Plan, dry_run: bool = False) -> str:
    """The plan as text: one block per action, variable names only, never values."""
    head = "Plan (dry run, nothing was changed)" if dry_run else "Plan"
    lines = [f"{head} for CML project {plan.project_id or '(CDSW_PROJECT_ID not set)'}:"]
    for action in plan.actions:
        ident = f" ({action.existing_id})" if action.existing_id else ""
        label = f"{action.kind} {action.name!r}{ident}"
        lines.append(f"  {action.op:<9} {label}")
        if action.op == "create":
            lines.extend(_summary(action))
        elif action.op == "update":
            lines.append("      changes: " + ", ".join(action.changes))
        if action.kind == "application":
            if action.status:
                lines.append(f"      status: {action.status}")
            if action.restart:
                lines.append("      then: restart the application")
            elif action.op == "create":
                lines.append("      then: CML starts it on creation")
    lines.extend(f"  note: {note}" for note in plan.notes)
    if not plan.writes:
        lines.append("Nothing to do: CML already matches.")
    return "\n".join(lines)
