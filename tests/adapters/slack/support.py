"""Test support: signed requests like Slack sends, a scripted bot, the adapter on a server.

The adapter under test is real (bolt AsyncApp, slack_sdk clients, aiohttp
server); Slack is the local stand-in from `adapters.slack.stand_in`. The bot is
a scripted stand-in of `bot.core.Bot` with the real `bot.state.StateStore`, so the
adapter's behaviour can be driven precisely (hold an answer, crash, stream).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from adapters.slack.app import SlackAdapter
from adapters.slack.stand_in import SlackStandIn
from bot.config import Settings
from bot.state import StateStore
from bot.types import Citation, IncomingMessage, Reply
from tests.local_net import start_app
from tests.shared_dir import FIXTURES

SIGNING_SECRET = json.loads((FIXTURES / "slack_signature_vectors.json").read_text())[
    "signing_secret"
]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes(name))


def sign(body: bytes, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest.hexdigest()}


class ScriptedBot:
    """Stands in for `bot.core.Bot`: same interface, scripted answers, real StateStore."""

    def __init__(self, store: StateStore, admins: tuple[str, ...] = ()) -> None:
        self.store = store
        self.admins = admins
        self.handled: list[IncomingMessage] = []
        self.feedback: list[tuple[str, str, str, str]] = []
        self.gate: asyncio.Event | None = None  # when set, answers wait for it
        self.fail = False
        self.answer = "Kubeflow Pipelines runs **ML workflows** on Kubernetes [1]."
        self.deltas: list[str] = []
        self.delta_pause = 0.0

    def is_admin(self, platform: str, user_id: str) -> bool:
        return user_id in self.admins

    async def record_feedback(self, answer_id: str, platform: str, user_id: str, value: str) -> str:
        self.feedback.append((answer_id, platform, user_id, value))
        return "Thanks for the feedback! 👍" if value == "up" else "Thanks, noted. 👎"

    async def handle(
        self, msg: IncomingMessage, on_delta: Callable[[str], Awaitable[None]] | None = None
    ) -> Reply:
        self.handled.append(msg)
        text = msg.text.strip()
        if text.lower().startswith(("/docbot", "docbot")):
            words = text.split()
            sub = words[1].lower() if len(words) > 1 else "help"
            if sub in {"reingest", "stats"} and not self.is_admin(msg.platform, msg.user_id):
                body = f"Sorry, `{sub}` is for docbot admins only."
            else:
                body = f"docbot {sub}: ok"
            return Reply(text=body, ephemeral=True, is_command=True)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("provider exploded")
        accumulated = ""
        for delta in self.deltas:
            accumulated += delta
            if on_delta is not None:
                await on_delta(accumulated)
            await asyncio.sleep(self.delta_pause)
        return Reply(
            text=self.answer,
            citations=[
                Citation(
                    1,
                    "Pipelines overview",
                    "http://127.0.0.1/docs/pipelines/#overview",
                    section="Overview",
                )
            ],
            model="extractive",
            used_docs=True,
            answer_id=f"ans-{len(self.handled)}",
            timings_ms={"total": 42.0},
        )


class SlackHttp:
    """The adapter mounted on a real aiohttp server, and a client that signs like Slack."""

    def __init__(self, adapter: SlackAdapter) -> None:
        self.adapter = adapter
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> SlackHttp:
        app = web.Application()
        app.add_routes(self.adapter.routes())
        self.runner, base = await start_app(app, access_log=None)
        self.url = f"{base}/slack/events"
        self.session = aiohttp.ClientSession()
        await self.adapter.start()
        return self

    async def close(self) -> None:
        await self.adapter.close()
        if self.session is not None:
            await self.session.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def post(
        self,
        body: bytes,
        content_type: str = "application/json",
        *,
        retry: int | None = None,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str, dict[str, str]]:
        assert self.session is not None
        sent = {"Content-Type": content_type, **sign(body, timestamp), **(headers or {})}
        if retry:
            sent.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
        async with self.session.post(self.url, data=body, headers=sent) as resp:
            return resp.status, await resp.text(), dict(resp.headers)

    async def post_event(
        self, payload: dict[str, Any], **kw: Any
    ) -> tuple[int, str, dict[str, str]]:
        return await self.post(json.dumps(payload).encode(), **kw)


def make_settings(tmp_path: Path, stand_in: SlackStandIn, **extra: str) -> Settings:
    env = {
        "DOCBOT_DATA_DIR": str(tmp_path),
        "SLACK_BOT_TOKEN": "xoxb-test-not-real",
        "SLACK_APP_TOKEN": "xapp-test-not-real",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DOCBOT_SLACK_MODE": "http",
        "DOCBOT_SLACK_API_URL": stand_in.api_url,
    }
    env.update(extra)
    return Settings.from_env(env, env_file=None)


def answers(stand_in: SlackStandIn) -> list[dict[str, Any]]:
    """Final answer edits/posts: messages carrying the feedback buttons."""
    out = []
    for call in stand_in.calls_to("chat.update") + stand_in.calls_to("chat.postMessage"):
        if any(b.get("type") == "actions" for b in call.args.get("blocks") or []):
            out.append(call.args)
    return out


async def wait_answers(stand_in: SlackStandIn, count: int = 1) -> list[dict[str, Any]]:
    return await stand_in.wait_for(lambda s: answers(s) if len(answers(s)) >= count else None)
