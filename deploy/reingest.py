"""Re-ingest on CML from chat: start the scrape job, follow it and the index job.

The index job has the scrape job as parent, so CML starts it by itself when the
scrape run succeeds; we only start the scrape run, then watch for the index
run that appears after it. Progress goes to `on_progress` (the bot posts it in
the thread) on each status change, not on every poll. A failed, stopped or
timed-out run raises `ReingestError` naming the job and its status; the live
index is untouched in that case (the index job only publishes a checked new
version).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from bot.config import Settings
from deploy.client import (
    SUCCEEDED,
    TERMINAL_RUN_STATUSES,
    CmlAuthError,
    CmlClient,
    CmlError,
    CmlNotFoundError,
)
from deploy.plan import INDEX_JOB_NAME, SCRAPE_JOB_NAME, find_by_name

T = TypeVar("T")

DEFAULT_POLL_S = 15.0
DEFAULT_TIMEOUT_S = 6 * 3600.0
# CML starts a dependent job shortly after its parent succeeds; past this, something is off.
DEFAULT_INDEX_START_TIMEOUT_S = 600.0
MAX_POLL_ERRORS = 5  # consecutive transient API errors tolerated while following a run
SUMMARY_CLOCK_SLACK_S = 120.0  # job and application containers may disagree on the time a little

ProgressFn = Callable[[str], Awaitable[None]]

_WORDS = {
    "ENGINE_SCHEDULING": "scheduled",
    "ENGINE_STARTING": "starting",
    "ENGINE_RUNNING": "running",
    "ENGINE_STOPPING": "stopping",
    "ENGINE_STOPPED": "stopped",
    "ENGINE_UNKNOWN": "in an unknown state",
    "ENGINE_SUCCEEDED": "succeeded",
    "ENGINE_FAILED": "failed",
    "ENGINE_TIMEDOUT": "timed out",
    "ENGINE_SKIPPED": "skipped",
}


class ReingestError(CmlError):
    """A run did not succeed (or did not finish in time). Carries the job and its status."""

    def __init__(self, message: str, job: str = "", run_id: str = "", run_status: str = "") -> None:
        super().__init__(message)
        self.job = job
        self.run_id = run_id
        self.run_status = run_status


def summary_path(settings: Settings) -> Path:
    """Where the index job writes its last ingest summary (ingest owns the writing)."""
    return settings.data_dir / "ingest" / "last_summary.json"


def read_summary(settings: Settings, not_before: float = 0.0) -> dict[str, Any] | None:
    """The last ingest summary if present, readable, and written at or after `not_before`."""
    path = summary_path(settings)
    try:
        if path.stat().st_mtime < not_before - SUMMARY_CLOCK_SLACK_S:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe(status: str) -> str:
    return _WORDS.get(status, status.lower() or "in an unknown state")


class _Polling:
    """Calls made while polling CML: a transient API error (5xx, a slow answer) gives None,
    up to `MAX_POLL_ERRORS` in a row, so a hiccup does not abandon a long ingest; auth and
    not-found errors, and the last of too many, are raised."""

    def __init__(self) -> None:
        self.errors = 0

    async def call(self, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            result = await asyncio.to_thread(fn, *args)
        except (CmlAuthError, CmlNotFoundError):
            raise
        except CmlError:
            self.errors += 1
            if self.errors >= MAX_POLL_ERRORS:
                raise
            return None
        self.errors = 0
        return result


async def _follow(
    client: CmlClient,
    job_id: str,
    run: Mapping[str, Any],
    label: str,
    on_progress: ProgressFn,
    deadline: float,
    poll_s: float,
) -> dict[str, Any]:
    """Poll a run until it ends; report each status change. Raises on timeout."""
    current = dict(run)
    run_id = str(current.get("id") or "")
    last = ""
    polling = _Polling()
    while True:
        status = str(current.get("status") or "ENGINE_UNKNOWN")
        if status != last:
            await on_progress(f"{label} (run {run_id}): {describe(status)}.")
            last = status
        if status in TERMINAL_RUN_STATUSES:
            return current
        if time.monotonic() >= deadline:
            raise ReingestError(
                f"{label} (run {run_id}) was still {describe(status)} when docbot stopped "
                "waiting; it may still finish. Check `docbot deploy status`.",
                job=label,
                run_id=run_id,
                run_status=status,
            )
        await asyncio.sleep(poll_s)
        fetched = await polling.call(client.get_job_run, job_id, run_id)
        if fetched is not None:
            current = fetched


async def _wait_for_new_run(
    client: CmlClient,
    job_id: str,
    known: set[str],
    deadline: float,
    poll_s: float,
) -> dict[str, Any] | None:
    """The first run of `job_id` not in `known` (the one the dependency started), or None."""
    # the scrape succeeded and CML starts the index run by itself: one API hiccup while we
    # wait for it is not a failed re-ingest
    polling = _Polling()
    while True:
        runs = await polling.call(client.list_job_runs, job_id, 5) or []
        fresh = [r for r in runs if str(r.get("id")) not in known]
        if fresh:
            return min(fresh, key=lambda r: str(r.get("created_at") or ""))
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(poll_s)


def _require_success(run: Mapping[str, Any], job: str, consequence: str) -> None:
    """Raise `ReingestError` (job, run, status and what it means for the index) unless the run succeeded."""
    status = str(run.get("status"))
    if status != SUCCEEDED:
        raise ReingestError(
            f"The CML job {job!r} (run {run.get('id')}) {describe(status)} ({status}). {consequence}",
            job=job,
            run_id=str(run.get("id") or ""),
            run_status=status,
        )


async def run_cml_reingest(
    client: CmlClient,
    settings: Settings,
    on_progress: ProgressFn,
    poll_s: float | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    index_start_timeout_s: float = DEFAULT_INDEX_START_TIMEOUT_S,
) -> dict[str, Any]:
    """Start the scrape job; follow it and the index run it triggers; return a summary.

    Returns {"scrape_run", "index_run", "summary" (the ingest summary dict or
    None), "duration_s", "text"}. Raises `ReingestError` (job, run, status in
    the message) when a run fails, is stopped or skipped, or time runs out, and
    other `CmlError`s when CML cannot be reached.
    """
    poll_s = DEFAULT_POLL_S if poll_s is None else poll_s  # read at call time: tests shorten it
    started_wall = time.time()
    started = time.monotonic()
    deadline = started + timeout_s
    jobs = await asyncio.to_thread(client.list_jobs, {"name": "docbot"})
    scrape, _ = find_by_name(jobs, SCRAPE_JOB_NAME)
    index, _ = find_by_name(jobs, INDEX_JOB_NAME)
    if scrape is None or index is None:
        missing = SCRAPE_JOB_NAME if scrape is None else INDEX_JOB_NAME
        raise ReingestError(
            f"The CML job {missing!r} does not exist; deploy first with `docbot deploy cml`.",
            job=missing,
        )
    scrape_id, index_id = str(scrape["id"]), str(index["id"])
    # Runs of the index job that exist now are not ours; the one the dependency starts is new.
    known = {str(r.get("id")) for r in await asyncio.to_thread(client.list_job_runs, index_id, 5)}

    latest = await asyncio.to_thread(client.list_job_runs, scrape_id, 1)
    if latest and latest[0].get("status") not in TERMINAL_RUN_STATUSES:
        # A scheduled or earlier run is under way: a second one would only race it.
        run = latest[0]
        await on_progress(
            f"The CML job {SCRAPE_JOB_NAME!r} is already running (run {run.get('id', '?')}); "
            "following it."
        )
    else:
        run = await asyncio.to_thread(client.create_job_run, scrape_id, {})
        await on_progress(f"Started the CML job {SCRAPE_JOB_NAME!r} (run {run.get('id', '?')}).")
    scrape_run = await _follow(
        client, scrape_id, run, f"Job {SCRAPE_JOB_NAME!r}", on_progress, deadline, poll_s
    )
    _require_success(
        scrape_run,
        SCRAPE_JOB_NAME,
        "The index was not rebuilt; answers keep using the current index.",
    )

    await on_progress(f"Waiting for the CML job {INDEX_JOB_NAME!r} to start.")
    index_deadline = min(deadline, time.monotonic() + index_start_timeout_s)
    index_run = await _wait_for_new_run(client, index_id, known, index_deadline, poll_s)
    if index_run is None:
        raise ReingestError(
            f"The CML job {INDEX_JOB_NAME!r} did not start after the scrape succeeded. "
            "Check that its parent is the scrape job (`docbot deploy cml` fixes it).",
            job=INDEX_JOB_NAME,
            run_status="NOT_STARTED",
        )
    index_run = await _follow(
        client, index_id, index_run, f"Job {INDEX_JOB_NAME!r}", on_progress, deadline, poll_s
    )
    _require_success(index_run, INDEX_JOB_NAME, "The live index is unchanged.")
    result: dict[str, Any] = {
        "scrape_run": scrape_run,
        "index_run": index_run,
        "summary": read_summary(settings, not_before=started_wall),
        "duration_s": round(time.monotonic() - started, 3),
    }
    result["text"] = format_summary(result)
    return result


_SUMMARY_LABELS = (
    ("pages_added", "pages added"),
    ("pages_changed", "changed"),
    ("pages_unchanged", "unchanged"),
    ("pages_removed", "removed"),
    ("pages_failed", "failed"),
    ("chunks_embedded", "chunks embedded"),
    ("chunks_reused", "chunks reused"),
)


def format_summary(result: Mapping[str, Any]) -> str:
    """One or two lines for the thread: duration and, when known, the ingest counts."""
    seconds = int(result.get("duration_s") or 0)
    took = f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
    text = f"Re-ingest finished in {took}."
    summary = result.get("summary")
    if isinstance(summary, Mapping):
        parts = [
            f"{label} {summary[key]}"
            for key, label in _SUMMARY_LABELS
            if isinstance(summary.get(key), (int, float))
        ]
        if not parts:  # an unknown summary shape: show its top-level numbers
            parts = [
                f"{key.replace('_', ' ')} {value}"
                for key, value in summary.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            ]
        if parts:
            text += " " + ", ".join(parts) + "."
    else:
        text += " (No ingest summary was found.)"
    return text
