"""Re-ingest on CML: start the scrape job, follow it and the index run its success starts."""

from __future__ import annotations

import json
import os

import pytest
from fake_cml import FakeCml

from bot.config import Settings
from deploy.apply import deploy
from deploy.client import CmlAuthError, CmlClient
from deploy.plan import INDEX_JOB_NAME, SCRAPE_JOB_NAME
from deploy.reingest import (
    ReingestError,
    format_summary,
    read_summary,
    run_cml_reingest,
    summary_path,
)


class Progress:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, line: str) -> None:
        self.lines.append(line)


@pytest.fixture
def deployed(client: CmlClient, settings: Settings) -> CmlClient:
    deploy(client, settings, {})
    return client


def write_summary(settings: Settings, data: dict) -> None:
    path = summary_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


async def test_success_follows_both_runs_and_returns_the_summary(
    deployed: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    write_summary(
        settings,
        {
            "pages_added": 3,
            "pages_changed": 5,
            "pages_removed": 1,
            "pages_failed": 0,
            "chunks_embedded": 120,
        },
    )
    progress = Progress()
    result = await run_cml_reingest(deployed, settings, progress, poll_s=0.001)

    scrape = cml.job_by_name(SCRAPE_JOB_NAME)
    index = cml.job_by_name(INDEX_JOB_NAME)
    assert result["scrape_run"]["status"] == "ENGINE_SUCCEEDED"
    assert result["scrape_run"]["job_id"] == scrape["id"]
    assert result["index_run"]["status"] == "ENGINE_SUCCEEDED"
    assert result["index_run"]["job_id"] == index["id"]
    assert result["summary"]["chunks_embedded"] == 120
    assert "pages added 3" in result["text"] and "chunks embedded 120" in result["text"]
    # Only the scrape run was started by us; the index run came from the dependency.
    started = [c.path for c in cml.writes() if c.path.endswith("/runs")]
    assert started == [f"/api/v2/projects/{cml.project_id}/jobs/{scrape['id']}/runs"]
    # One line per status change, in order, not one per poll.
    text = "\n".join(progress.lines)
    assert text.index("Started the CML job") < text.index("scrape docs' (run")
    assert sum("running" in line for line in progress.lines) == 2
    assert sum("succeeded" in line for line in progress.lines) == 2
    assert len(progress.lines) == len(set(progress.lines))


async def test_old_index_runs_are_not_mistaken_for_the_new_one(
    deployed: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    index_id = cml.job_by_name(INDEX_JOB_NAME)["id"]
    old = deployed.create_job_run(index_id)
    result = await run_cml_reingest(deployed, settings, Progress(), poll_s=0.001)
    assert result["index_run"]["id"] != old["id"]


async def test_a_scrape_already_running_is_followed_not_started_again(
    deployed: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    scrape_id = cml.job_by_name(SCRAPE_JOB_NAME)["id"]
    running = deployed.create_job_run(scrape_id)  # e.g. the cron schedule fired
    progress = Progress()
    result = await run_cml_reingest(deployed, settings, progress, poll_s=0.001)
    assert result["scrape_run"]["id"] == running["id"]
    assert len(cml.runs[scrape_id]) == 1
    assert "already running" in progress.lines[0]


async def test_failed_scrape_raises_with_the_job_status(
    deployed: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    cml.outcomes[SCRAPE_JOB_NAME] = "ENGINE_FAILED"
    progress = Progress()
    with pytest.raises(ReingestError) as info:
        await run_cml_reingest(deployed, settings, progress, poll_s=0.001)
    assert info.value.run_status == "ENGINE_FAILED"
    assert info.value.job == SCRAPE_JOB_NAME
    assert "ENGINE_FAILED" in str(info.value) and "current index" in str(info.value)
    assert progress.lines[-1].endswith("failed.")
    assert cml.runs[cml.job_by_name(INDEX_JOB_NAME)["id"]] == []  # the index job never ran


async def test_failed_index_raises_with_the_job_status(
    deployed: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    cml.outcomes[INDEX_JOB_NAME] = "ENGINE_TIMEDOUT"
    with pytest.raises(ReingestError) as info:
        await run_cml_reingest(deployed, settings, Progress(), poll_s=0.001)
    assert info.value.job == INDEX_JOB_NAME and info.value.run_status == "ENGINE_TIMEDOUT"
    assert "timed out" in str(info.value)


async def test_a_run_that_never_ends_times_out(
    deployed: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    cml.hanging.add(SCRAPE_JOB_NAME)
    with pytest.raises(ReingestError) as info:
        await run_cml_reingest(deployed, settings, Progress(), poll_s=0.01, timeout_s=0.2)
    assert info.value.run_status == "ENGINE_RUNNING"
    assert "stopped waiting" in str(info.value)


async def test_index_job_that_never_starts_is_reported(
    deployed: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    cml.job_by_name(INDEX_JOB_NAME)["parent_id"] = ""  # someone unlinked it
    with pytest.raises(ReingestError, match="did not start"):
        await run_cml_reingest(
            deployed, settings, Progress(), poll_s=0.01, index_start_timeout_s=0.1
        )


async def test_transient_errors_while_following_are_tolerated(
    deployed: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    cml.fail("GET", r"/runs/run-", 503, times=2)
    result = await run_cml_reingest(deployed, settings, Progress(), poll_s=0.001)
    assert result["index_run"]["status"] == "ENGINE_SUCCEEDED"


async def test_transient_errors_while_waiting_for_the_index_run_are_tolerated(
    deployed: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    # The scrape succeeded and CML starts the index run by itself: a 503 from listing the
    # index job's runs while docbot waits for it must not report the re-ingest as failed.
    index_id = cml.job_by_name(INDEX_JOB_NAME)["id"]
    progress = Progress()

    async def fail_while_waiting(line: str) -> None:
        await progress(line)
        if line.startswith("Waiting for the CML job"):
            cml.fail("GET", rf"/jobs/{index_id}/runs$", 503, times=2)

    result = await run_cml_reingest(deployed, settings, fail_while_waiting, poll_s=0.001)
    assert result["index_run"]["status"] == "ENGINE_SUCCEEDED"


async def test_auth_failure_is_not_retried(
    deployed: CmlClient, cml: FakeCml, settings: Settings
) -> None:
    cml.fail("GET", r"/runs/run-", 401)
    with pytest.raises(CmlAuthError):
        await run_cml_reingest(deployed, settings, Progress(), poll_s=0.001)


async def test_missing_jobs_say_how_to_deploy(client: CmlClient, settings: Settings) -> None:
    with pytest.raises(ReingestError, match="docbot deploy cml"):
        await run_cml_reingest(client, settings, Progress(), poll_s=0.001)


async def test_summary_is_optional(deployed: CmlClient, settings: Settings) -> None:
    result = await run_cml_reingest(deployed, settings, Progress(), poll_s=0.001)
    assert result["summary"] is None
    assert "No ingest summary" in result["text"]


def test_a_stale_or_broken_summary_is_ignored(settings: Settings) -> None:
    write_summary(settings, {"pages_added": 1})
    path = summary_path(settings)
    assert read_summary(settings) == {"pages_added": 1}
    os.utime(path, (1_000_000, 1_000_000))
    assert read_summary(settings, not_before=2_000_000) is None
    path.write_text("{not json", encoding="utf-8")
    assert read_summary(settings) is None


def test_format_summary_handles_unknown_shapes() -> None:
    text = format_summary({"duration_s": 754, "summary": {"documents": 7, "ok": True}})
    assert text == "Re-ingest finished in 12 min 34 s. documents 7."
