"""`/docbot reingest` from chat on CML: the bot starts the scrape job and reports both runs.

Driven through the real bot core and the console adapter's message shape, against
the stand-in CML API (its runs advance as they are polled).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_settings
from fake_cml import FakeCml

import deploy.reingest as cml_reingest
from adapters.console import to_message
from bot.core import Bot
from bot.types import ReplyTarget
from deploy.apply import deploy
from deploy.client import make_client
from deploy.plan import INDEX_JOB_NAME, SCRAPE_JOB_NAME


@pytest.fixture
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    # the real default polls CML every few seconds; the stand-in needs no waiting
    monkeypatch.setattr(cml_reingest, "DEFAULT_POLL_S", 0.001)


async def test_an_admin_reingest_on_cml_runs_both_jobs_and_reports_in_the_thread(
    cml: FakeCml, tmp_path: Path, fast_polling: None
) -> None:
    settings = make_settings(cml, tmp_path, DOCBOT_ADMINS="UADMIN")
    deploy(make_client(settings, prefer="rest"), settings, {})
    bot = Bot.from_settings(settings)
    posted: list[tuple[ReplyTarget | None, str]] = []

    async def notify(target: ReplyTarget | None, text: str) -> None:
        posted.append((target, text))

    bot.register_notifier("console", notify)
    reply = await bot.handle(
        to_message("/docbot reingest", user="UADMIN", history=[], session="ops")
    )
    assert reply.is_command and "started" in reply.text.lower()
    await bot.wait_reingest()

    scrape_runs = [c for c in cml.writes() if c.method == "POST" and "/runs" in c.path]
    assert scrape_runs, "the scrape job was started"
    assert cml.job_by_name(SCRAPE_JOB_NAME) and cml.job_by_name(INDEX_JOB_NAME)
    texts = [text for _, text in posted]
    assert texts and all(target and target.data.get("session") == "ops" for target, _ in posted)
    assert any("finished" in text.lower() or "succeeded" in text.lower() for text in texts[-1:]), (
        texts
    )


async def test_a_non_admin_cannot_start_a_cml_reingest(cml: FakeCml, tmp_path: Path) -> None:
    settings = make_settings(cml, tmp_path, DOCBOT_ADMINS="UADMIN")
    bot = Bot.from_settings(settings)
    reply = await bot.handle(to_message("/docbot reingest", user="UEVE", history=[]))
    assert "admin" in reply.text.lower()
    assert not [c for c in cml.writes() if "/runs" in c.path]
