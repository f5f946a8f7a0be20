"""Fixtures for the Slack adapter tests (helpers live in `support.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.slack.app import SlackAdapter
from adapters.slack.stand_in import SlackStandIn
from bot.core import Bot
from bot.state import StateStore
from tests.adapters.slack.support import ScriptedBot, SlackHttp, make_settings


@pytest.fixture
async def stand_in() -> AsyncIterator[SlackStandIn]:
    server = await SlackStandIn().start()
    yield server
    await server.close()


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state.sqlite3")


@pytest.fixture
def bot(store: StateStore) -> ScriptedBot:
    return ScriptedBot(store, admins=("UADMIN0001",))


@pytest.fixture
async def scripted_slack(
    tmp_path: Path, stand_in: SlackStandIn, bot: ScriptedBot
) -> AsyncIterator[SlackHttp]:
    """The adapter with the scripted bot (to hold, crash, stream or lengthen answers)."""
    adapter = SlackAdapter(
        bot, make_settings(tmp_path, stand_in), update_interval_s=0.2, event_lease_s=5.0
    )
    server = await SlackHttp(adapter).start()
    yield server
    await server.close()


@pytest.fixture
def core(tmp_path: Path, stand_in: SlackStandIn) -> Bot:
    """The real bot core (empty index: questions get the real "no docs indexed yet" answer)."""
    return Bot.from_settings(make_settings(tmp_path, stand_in, DOCBOT_ADMINS="UADMIN0001"))


@pytest.fixture
async def slack(tmp_path: Path, stand_in: SlackStandIn, core: Bot) -> AsyncIterator[SlackHttp]:
    """The adapter with the real bot core."""
    adapter = SlackAdapter(core, core.settings, update_interval_s=0.2, event_lease_s=5.0)
    server = await SlackHttp(adapter).start()
    yield server
    await server.close()
