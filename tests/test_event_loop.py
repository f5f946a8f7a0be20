"""Blocking work stays off the event loop: while one question is inside a slow, blocking
step (an AWS config lookup, a state-store read), the loop keeps serving everything else
(Slack acks, /healthz, other questions)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar

import botocore.session
import pytest

from adapters.console import to_message
from bot.config import Settings
from bot.core import Bot
from bot.state import StateStore
from bot.types import Turn
from rag.condense import condense_with_model
from rag.generation import GenerationRequest
from rag.providers.bedrock import BedrockProvider
from rag.router import ModelRouter

T = TypeVar("T")
BLOCK_S = 0.5  # how long the stand-in blocking step takes
STALL_BOUND_S = 0.25  # the longest the loop may go without running anything else


async def longest_stall(work: Awaitable[T]) -> tuple[T, float]:
    """`work`'s result, and the longest the event loop went without waking a ticker meanwhile."""
    gaps = [0.0]
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)  # the ticker is running before the work starts
    try:
        result = await work
    finally:
        done.set()
        await ticker
    return result, max(gaps)


class _NoRegion:
    def get_config_variable(self, name: str) -> None:
        return None


@pytest.fixture
def slow_aws_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's session, as slow as reading AWS config files on a slow disk can make it."""
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)

    def get_session() -> _NoRegion:
        time.sleep(BLOCK_S)
        return _NoRegion()

    monkeypatch.setattr(botocore.session, "get_session", get_session)


class Extractive:
    name = "extractive"
    label = "offline"
    configured = True

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str]:
        yield "the offline answer"


async def test_the_bedrock_region_lookup_does_not_stall_the_loop_when_routing(
    slow_aws_config: None,
) -> None:
    router = ModelRouter(Settings(default_model="bedrock"), Extractive())
    routed, stall = await longest_stall(
        router.generate("bedrock", GenerationRequest(question="how do I install it?"))
    )
    assert routed.provider == "extractive"
    assert routed.notices == ["Bedrock is not configured; answered by the offline answerer."]
    assert stall < STALL_BOUND_S


async def test_the_bedrock_region_lookup_does_not_stall_the_loop_when_condensing(
    slow_aws_config: None,
) -> None:
    history = [Turn("user", "how do I back up the catalog?"), Turn("assistant", "Run backup.")]
    standalone, stall = await longest_stall(
        condense_with_model(BedrockProvider(), "and restore it?", history)
    )
    assert standalone is None  # not configured: the thread is joined instead
    assert stall < STALL_BOUND_S


class _FailingAnswerer:
    router: Any = None

    async def answer(self, question: str, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")


async def test_a_failed_answer_reads_the_reply_language_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    read = store.get_settings

    def slow_read(*scopes: str) -> Any:
        time.sleep(BLOCK_S)  # a busy PostgreSQL, or SQLite waiting on another writer
        return read(*scopes)

    monkeypatch.setattr(store, "get_settings", slow_read)
    bot = Bot(Settings(rate_limit_per_minute=0), store, _FailingAnswerer())  # type: ignore[arg-type]
    reply, stall = await longest_stall(bot.handle(to_message("how?", user="u1", history=[])))
    assert reply.declined and "RuntimeError" in reply.text
    assert stall < STALL_BOUND_S
