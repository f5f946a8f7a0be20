"""Carry out a deploy plan against CML, and report what is deployed.

Blocking (the CML clients are); the CLI calls it directly, async callers via
`asyncio.to_thread`. Reads happen first (runtimes, jobs, applications), then
the writes in dependency order: scrape job, index job (its parent is the scrape
job), the decline model's training job when configured, application.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.config import Settings
from deploy.client import CmlClient, CmlError, base_url
from deploy.plan import (
    APP_NAME,
    GATE_JOB_NAME,
    INDEX_JOB_NAME,
    PARENT_PENDING,
    RUNTIME_UNKNOWN,
    SCRAPE_JOB_NAME,
    Plan,
    desired_state,
    find_by_name,
    make_plan,
)
from deploy.runtimes import RuntimeChoiceError, RuntimeIds, choose_runtimes


@dataclass
class DeployResult:
    plan: Plan
    applied: bool
    ids: dict[str, str] = field(default_factory=dict)  # Action.key -> id
    log: list[str] = field(default_factory=list)


def _choose(client: CmlClient, settings: Settings, environ: Mapping[str, str]) -> RuntimeIds:
    if settings.cml_runtime_id:
        return RuntimeIds(settings.cml_runtime_id, settings.cml_runtime_id)
    return choose_runtimes(client.list_runtimes(), "", settings.cml_gpus, environ)


def build_plan(
    client: CmlClient | None,
    settings: Settings,
    environ: Mapping[str, str],
    include_application: bool = True,
) -> Plan:
    """Read the project's state (no writes) and plan. Without a client: plan a first deploy."""
    notes: list[str] = []
    runtimes: RuntimeIds | None = None
    jobs: list[dict[str, Any]] = []
    apps: list[dict[str, Any]] = []
    if client is None:
        notes.append("CML is not configured here; showing what a first deploy would create.")
        if settings.cml_runtime_id:
            runtimes = RuntimeIds(settings.cml_runtime_id, settings.cml_runtime_id)
    else:
        try:
            runtimes = _choose(client, settings, environ)
        except RuntimeChoiceError as exc:
            notes.append(str(exc))
        # The API filter is a substring match: "docbot" finds all three names at once.
        jobs = client.list_jobs({"name": "docbot"})
        if include_application:
            apps = client.list_applications({"name": APP_NAME})
    desired = desired_state(settings, environ, runtimes)
    plan = make_plan(settings.cml_project_id, desired, jobs, apps)
    actions = tuple(a for a in plan.actions if include_application or a.kind == "job")
    return replace(plan, actions=actions, notes=plan.notes + tuple(notes))


def _resolve_parent(body: dict[str, Any], scrape_id: str) -> dict[str, Any]:
    out = dict(body)
    for key in ("parent_job_id", "parent_id"):
        if out.get(key) == PARENT_PENDING:
            out[key] = scrape_id
    return out


def apply_plan(client: CmlClient, plan: Plan) -> DeployResult:
    """Make CML match the plan. Unchanged resources get no calls at all."""
    for action in plan.actions:
        if action.op != "unchanged" and action.body.get("runtime_identifier") == RUNTIME_UNKNOWN:
            raise CmlError(
                "No CML runtime could be chosen. "
                + " ".join(n for n in plan.notes if "runtime" in n.lower())
            )
    result = DeployResult(plan=plan, applied=True)
    for action in plan.actions:
        what = f"{action.kind} {action.name!r}"
        body = action.body
        if action.key == "index":
            body = _resolve_parent(body, result.ids.get("scrape", ""))
        ident = action.existing_id
        if action.op == "create":
            if action.kind == "job":
                created = client.create_job(body)
            else:
                created = client.create_application(body)
            ident = str(created.get("id") or "")
            result.log.append(f"created {what} ({ident})")
        elif action.op == "update":
            if action.kind == "job":
                client.update_job(ident, body)
            else:
                client.update_application(ident, body)
            result.log.append(f"updated {what} ({ident}): {', '.join(action.changes)}")
        else:
            result.log.append(f"unchanged {what} ({ident})")
        if action.kind == "application" and action.restart and ident:
            client.restart_application(ident)
            result.log.append(f"restarted {what} ({ident})")
        result.ids[action.key] = ident
    return result


def deploy(
    client: CmlClient | None,
    settings: Settings,
    environ: Mapping[str, str],
    dry_run: bool = False,
    include_application: bool = True,
) -> DeployResult:
    """Plan, and unless `dry_run`, apply. A dry run makes read calls only (none without a client)."""
    plan = build_plan(client, settings, environ, include_application)
    if dry_run:
        return DeployResult(plan=plan, applied=False)
    if client is None:
        raise CmlError(
            "CML is not configured: set CDSW_DOMAIN, CDSW_APIV2_KEY and CDSW_PROJECT_ID."
        )
    return apply_plan(client, plan)


def _run_line(run: Mapping[str, Any] | None) -> str:
    if not run:
        return "no runs yet"
    parts = [f"latest run {run.get('id', '?')}: {run.get('status') or 'ENGINE_UNKNOWN'}"]
    for key in ("created_at", "finished_at"):
        if run.get(key):
            parts.append(f"{key.split('_')[0]} {run[key]}")
    return ", ".join(parts)


def status_lines(client: CmlClient, settings: Settings) -> list[str]:
    """The jobs' latest runs and the application's state, one line each (the decline
    model's training job only where it is configured or deployed)."""
    lines = [f"CML project {client.project_id}:"]
    jobs = client.list_jobs({"name": "docbot"})
    names = [SCRAPE_JOB_NAME, INDEX_JOB_NAME]
    if settings.cml_gate_sets.strip() or find_by_name(jobs, GATE_JOB_NAME)[0] is not None:
        names.append(GATE_JOB_NAME)
    for name in names:
        job, _ = find_by_name(jobs, name)
        if job is None:
            lines.append(f"  job {name!r}: not deployed (run `docbot deploy cml`)")
            continue
        runs = client.list_job_runs(str(job["id"]), page_size=1)
        extra = f", schedule {job['schedule']}" if job.get("schedule") else ""
        lines.append(f"  job {name!r} ({job['id']}{extra}): {_run_line(runs[0] if runs else None)}")
    app, _ = find_by_name(client.list_applications({"name": APP_NAME}), APP_NAME)
    if app is None:
        lines.append(f"  application {APP_NAME!r}: not deployed (run `docbot deploy cml`)")
    else:
        status = app.get("status") or "APPLICATION_UNKNOWN"
        url = ""
        if app.get("subdomain") and settings.cml_domain:
            host = base_url(settings.cml_domain).split("://", 1)[1]
            url = f", https://{app['subdomain']}.{host}"
        lines.append(f"  application {APP_NAME!r} ({app['id']}): {status}{url}")
    return lines
