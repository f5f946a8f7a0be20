"""The terminal adapter: `docbot chat` goes through exactly the same bot core as Slack and Teams.

Parsing and rendering are pure; the loop only reads lines and prints replies.
The whole session is one thread, so follow-up questions use earlier turns.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from bot.core import Bot
from bot.messages import t
from bot.types import IncomingMessage, Reply, ReplyTarget, Turn, section_label

MAX_HISTORY_TURNS = 6
PROMPT = "you> "


def to_message(
    text: str, *, user: str, history: list[Turn], session: str = "terminal"
) -> IncomingMessage:
    return IncomingMessage(
        platform="console",
        conversation_id=session,
        user_id=user,
        user_name=user,
        text=text,
        thread_id=session,
        is_direct=True,
        history=list(history[-MAX_HISTORY_TURNS:]),
        reply_target=ReplyTarget("console", {"session": session}),
    )


def render(reply: Reply) -> str:
    """Plain text: the answer, numbered sources with section links, notices, a footer."""
    lines = [reply.text]
    if reply.citations:
        lines.append("")
        lines.append(t("sources", reply.language) + ":")
        for c in reply.citations:
            updated = (
                f" ({t('updated', reply.language, date=c.last_updated)})" if c.last_updated else ""
            )
            lines.append(f"  [{c.n}] {section_label(c.title, c.section)}{updated}\n      {c.url}")
    for notice in reply.notices:
        lines.append(f"note: {notice}")
    if not reply.is_command and reply.model:
        docs = t("docs_used" if reply.used_docs else "docs_not_used", reply.language)
        seconds = reply.timings_ms.get("total", 0.0) / 1000
        lines.append(
            "— " + t("footer", reply.language, model=reply.model, docs=docs, seconds=seconds)
        )
    return "\n".join(lines)


async def _read_in_daemon_thread(reader: Callable[[], str]) -> str:
    """``reader()`` on a daemon thread of its own, not the loop's default executor.

    A prompt blocked in ``input()`` cannot be interrupted: on Ctrl-C, `asyncio.run` cancels
    the chat and then joins its default executor, which would wait for the user to press
    Enter. A daemon thread is never joined, so the chat leaves at once.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def settle(result: str | None, error: BaseException | None) -> None:
        if future.done():  # cancelled: nobody waits for this line any more
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result or "")

    def work() -> None:
        result: str | None = None
        error: BaseException | None = None
        try:
            result = reader()
        except BaseException as exc:  # EOFError, KeyboardInterrupt: the caller decides
            error = exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is closed: the chat has ended
            pass

    threading.Thread(target=work, name="docbot-chat-input", daemon=True).start()
    return await future


async def chat_loop(
    bot: Bot,
    *,
    read_line: Callable[[], str] | None = None,
    out: TextIO = sys.stdout,
    user: str | None = None,
) -> int:
    """Read questions until EOF, Ctrl-C at the prompt or `exit`; print each reply."""
    user = user or getpass.getuser()
    history: list[Turn] = []
    reader = read_line or (lambda: input(PROMPT))

    async def notify(_target: ReplyTarget | None, text: str) -> None:
        print(f"docbot> {text}", file=out, flush=True)

    bot.register_notifier("console", notify)
    print(
        "docbot chat: ask about the docs; `docbot help` for commands, Ctrl-D or `exit` to leave.",
        file=out,
    )
    while True:
        try:
            line = await _read_in_daemon_thread(reader)
        except (EOFError, KeyboardInterrupt, asyncio.CancelledError):
            # CancelledError: Ctrl-C at the prompt, as `asyncio.run` delivers it; leave
            # as on Ctrl-D, so a re-ingest started from the chat is still waited for
            print(file=out)
            break
        if line.strip().lower() in ("exit", "quit", ":q"):
            break
        if not line.strip():
            continue
        reply = await bot.handle(to_message(line, user=user, history=history))
        print(render(reply), file=out, flush=True)
        if not reply.is_command:
            history.extend([Turn("user", line.strip()), Turn("assistant", reply.text)])
    await bot.wait_reingest()
    return 0
