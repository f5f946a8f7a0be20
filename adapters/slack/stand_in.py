"""A local stand-in for the Slack Web API and Socket Mode, for tests, benchmarks and demos.

It speaks enough of Slack's protocol for the real slack_sdk clients: Web API
methods under `/api/<method>` (JSON, form or query arguments; answers in
Slack's `{"ok": ...}` shape; 429 with `Retry-After` on demand) and a Socket Mode
WebSocket handed out by `apps.connections.open`. Every call is recorded so
tests can assert on what the bot sent. Threads are kept in memory, so
`conversations.replies` returns what was posted.

    stand_in = SlackStandIn()
    await stand_in.start()          # then DOCBOT_SLACK_API_URL=stand_in.api_url
    ...
    await stand_in.close()
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_USER_ID = "U07HLPBOT1"
BOT_ID = "B07HLPBOT9"
TEAM_ID = "T0AB12CDE"


@dataclass
class Call:
    """One Web API call as received."""

    method: str
    args: dict[str, Any]
    token: str
    at: float = field(default_factory=time.monotonic)


class SlackStandIn:
    def __init__(
        self, *, bot_user_id: str = BOT_USER_ID, bot_id: str = BOT_ID, team_id: str = TEAM_ID
    ):
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.calls: list[Call] = []
        self.usergroups: dict[str, list[str]] = {}
        self.user_locales: dict[str, str] = {}  # users.info locale per user id (default en-US)
        # channel -> ts -> message
        self.messages: dict[str, dict[str, dict[str, Any]]] = {}
        self.socket_acks: list[dict[str, Any]] = []
        self._rate_limits: dict[str, list[float]] = {}
        self._delays: dict[str, float] = {}
        self._errors: dict[str, list[str]] = {}
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> SlackStandIn:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/commands/{path:.*}", self._response_url)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.host = host
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/"

    # ---- test controls ---------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: float = 1) -> None:
        """Answer the next `times` calls of `method` with 429 and `Retry-After`."""
        self._rate_limits.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with `{"ok": false, "error": error}`."""
        self._errors.setdefault(method, []).extend([error] * times)

    def delay(self, method: str, seconds: float) -> None:
        """Make `method` slow (e.g. to hold an answer in flight)."""
        self._delays[method] = seconds

    def add_message(self, channel: str, message: dict[str, Any]) -> None:
        """Seed a message (e.g. a user's question) so `conversations.replies` returns it."""
        self.messages.setdefault(channel, {})[str(message["ts"])] = dict(message)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self, predicate: Callable[[SlackStandIn], Any], timeout: float = 10.0
    ) -> Any:
        """Wait until `predicate(self)` is truthy (re-checked on every call); return its value."""
        async with self._changed:
            result = predicate(self)
            deadline = time.monotonic() + timeout
            while not result:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"stand-in: condition not met in {timeout} s")
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except asyncio.TimeoutError:
                    pass
                result = predicate(self)
            return result

    async def wait_calls(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        return await self.wait_for(
            lambda s: s.calls_to(method) if len(s.calls_to(method)) >= count else None, timeout
        )

    # ---- socket mode -----------------------------------------------------------------------

    async def send_envelope(self, envelope: dict[str, Any], timeout: float = 10.0) -> None:
        """Push a Socket Mode envelope to the connected client (waits for a connection)."""
        await self.wait_for(lambda s: s._sockets, timeout)
        await self._sockets[-1].send_str(json.dumps(envelope))

    async def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        return await self.wait_for(
            lambda s: next((a for a in s.socket_acks if a.get("envelope_id") == envelope_id), None),
            timeout,
        )

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self._sockets.append(ws)
        await self._notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(msg.data))
                    await self._notify()
        finally:
            self._sockets.remove(ws)
        return ws

    # ---- web api ---------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        for key in ("blocks", "attachments"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") or str(args.get("token", ""))
        self.calls.append(Call(method, args, token))
        await self._notify()
        if self._delays.get(method):
            await asyncio.sleep(self._delays[method])
        pending = self._rate_limits.get(method)
        if pending:
            retry_after = pending.pop(0)
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(int(retry_after))},
            )
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        errors = self._errors.get(method)
        if errors:
            return web.json_response({"ok": False, "error": errors.pop(0)})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": True})
        return web.json_response(handler(args))

    @property
    def response_url(self) -> str:
        """A slash command's `response_url` on this stand-in (Slack's are on hooks.slack.com)."""
        return f"http://{self.host}:{self.port}/commands/{self.team_id}/1/aBcD"

    async def _response_url(self, request: web.Request) -> web.Response:
        """A post to a `response_url`: recorded as a call to `response_url`."""
        self.calls.append(Call("response_url", await request.json(), token=""))
        await self._notify()
        return web.Response(text="ok")

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://acme-corp.slack.com/",
            "team": "Acme",
            "user": "docbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://{self.host}:{self.port}/socket"}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        ts = self._next_ts()
        message = {
            "type": "message",
            "ts": ts,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "text": args.get("text", ""),
            "blocks": args.get("blocks", []),
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages.setdefault(channel, {})[ts] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        message = self.messages.get(channel, {}).get(ts)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.update({"text": args.get("text", ""), "blocks": args.get("blocks", [])})
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"]}

    def _m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if self.messages.get(channel, {}).pop(ts, None) is None:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel, "ts": ts}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        msgs = self.messages.get(channel, {})
        thread = [m for m in msgs.values() if m["ts"] == ts or m.get("thread_ts") == ts]
        thread.sort(key=lambda m: tuple(int(p) for p in m["ts"].split(".")))
        limit = int(args.get("limit") or 1000)
        # Slack's cursor paging; here the cursor is the offset of the page's first message
        start = int(args.get("cursor") or 0)
        page, more = thread[start : start + limit], len(thread) > start + limit
        metadata = {"next_cursor": str(start + limit) if more else ""}
        return {"ok": True, "messages": page, "has_more": more, "response_metadata": metadata}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user", ""))
        info: dict[str, Any] = {"id": user, "team_id": self.team_id, "name": user.lower()}
        if str(args.get("include_locale", "")).lower() in ("1", "true"):
            info["locale"] = self.user_locales.get(user, "en-US")
        return {"ok": True, "user": info}

    def _m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup", ""))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.usergroups[group]}
