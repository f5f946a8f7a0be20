"""The terminal adapter: plain-text rendering and the chat loop over the real bot core."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.console import MAX_HISTORY_TURNS, chat_loop, render, to_message
from bot.config import Settings
from bot.core import Bot
from bot.types import Citation, Reply, Turn


def script(*lines: str) -> Callable[[], str]:
    it = iter(lines)

    def read_line() -> str:
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None

    return read_line


@pytest.fixture
def bot(tmp_path: Path, built_settings: Settings) -> Bot:
    return Bot.from_settings(
        dataclasses.replace(built_settings, state_url=str(tmp_path / "state.sqlite3"))
    )


def test_render_shows_numbered_sources_with_urls_and_a_footer() -> None:
    reply = Reply(
        text="Restore with widgetron restore [1]. Stop the server first [2].",
        citations=[
            Citation(
                1,
                "Backing up",
                "https://docs.example.com/backup/#restore",
                "Backing up › Restore",
                last_updated="2024-03-05",
            ),
            Citation(2, "Operations", "https://docs.example.com/ops/", "Operations"),
        ],
        model="extractive (offline, no LLM)",
        used_docs=True,
        notices=["Bedrock timed out; answered by extractive."],
        timings_ms={"total": 1234.0},
    )
    text = render(reply)
    assert text.startswith("Restore with widgetron restore [1].")
    assert "Sources:" in text
    assert (
        "  [1] Backing up › Restore (updated 2024-03-05)\n      https://docs.example.com/backup/#restore"
        in text
    )
    assert "  [2] Operations\n      https://docs.example.com/ops/" in text
    assert "note: Bedrock timed out; answered by extractive." in text
    assert text.endswith("— extractive (offline, no LLM) · from the docs · 1.2s")


def test_render_in_korean_and_commands_without_a_footer() -> None:
    reply = Reply(
        text="답", citations=[Citation(1, "T", "u")], model="m", used_docs=True, language="ko"
    )
    assert "출처:" in render(reply) and "문서 기반" in render(reply)
    assert render(Reply(text="Settings reset.", is_command=True, model="m")) == "Settings reset."


def test_to_message_keeps_only_recent_history() -> None:
    history = [Turn("user", str(i)) for i in range(20)]
    message = to_message("q", user="ann", history=history, session="s1")
    assert message.platform == "console" and message.is_direct
    assert len(message.history) == MAX_HISTORY_TURNS and message.history[-1].text == "19"
    assert message.reply_target is not None and message.reply_target.data == {"session": "s1"}


async def test_chat_loop_answers_and_exits_on_eof(bot: Bot) -> None:
    out = io.StringIO()
    assert (
        await chat_loop(bot, read_line=script("How do I restore a backup?"), out=out, user="ann")
        == 0
    )
    text = out.getvalue()
    assert "https://docs.example.com/backup/#restore" in text
    assert "[1]" in text and "— extractive" in text


async def test_chat_loop_keeps_the_thread_for_follow_ups(bot: Bot) -> None:
    out = io.StringIO()
    await chat_loop(
        bot,
        read_line=script(
            "How do I restore a backup of the widget catalog?", "must the server be stopped?"
        ),
        out=out,
        user="ann",
    )
    answers = out.getvalue().split("— extractive")
    assert len(answers) == 3  # two answers, each with a footer
    assert "https://docs.example.com/backup/" in answers[1]  # the follow-up stays on the topic


async def test_blank_lines_are_skipped_and_exit_leaves(bot: Bot) -> None:
    out = io.StringIO()
    await chat_loop(
        bot, read_line=script("", "   ", "exit", "How do I restore a backup?"), out=out, user="ann"
    )
    assert "Sources" not in out.getvalue()  # left before the question


async def test_commands_work_in_the_terminal(bot: Bot) -> None:
    out = io.StringIO()
    await chat_loop(
        bot, read_line=script("docbot length short", "docbot status"), out=out, user="ann"
    )
    assert "Answer length set to *short*." in out.getvalue()
    assert "length short" in out.getvalue()


class _NoQuestionsBot:
    """Only what the loop touches before a question: a prompt nobody answers never asks."""

    def __init__(self) -> None:
        self.waited_for_reingest = False

    def register_notifier(self, _platform: str, _notify: object) -> None:
        pass

    async def wait_reingest(self) -> None:
        self.waited_for_reingest = True


def test_ctrl_c_at_the_prompt_leaves_at_once_without_waiting_for_enter() -> None:
    """Ctrl-C while `input()` waits: `asyncio.run` cancels the chat; it must not then sit
    until the user presses Enter (the blocked read joined at shutdown), and it leaves as
    on Ctrl-D: exit status 0, a re-ingest still waited for."""
    enter = threading.Event()

    def prompt_nobody_answers() -> str:
        enter.wait(10)
        raise EOFError

    bot = _NoQuestionsBot()

    async def session() -> int:
        chat = asyncio.create_task(
            chat_loop(bot, read_line=prompt_nobody_answers, out=io.StringIO(), user="ann")  # type: ignore[arg-type]
        )
        await asyncio.sleep(0.2)
        chat.cancel()  # what asyncio.run does on Ctrl-C
        return await chat

    started = time.monotonic()
    try:
        assert asyncio.run(session()) == 0
        assert time.monotonic() - started < 5
        assert bot.waited_for_reingest
    finally:
        enter.set()
