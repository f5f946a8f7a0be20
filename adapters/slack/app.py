"""The Slack adapter: a slack-bolt `AsyncApp` wired to the docbot core.

Socket Mode and the HTTP Events API share every handler. Handlers only parse
and hand off: bolt acks events at once (`process_before_response=False`), and
the answer runs in a task of ours that posts a placeholder, streams the answer
into it with throttled `chat.update`s and finally renders the reply.

Redeliveries are dropped by claiming `slack:{event_id}` (and the message's
`(channel, ts)`, which an `app_mention` shares with its `message` twin) in the
state store with a lease: an attempt that finished marks the key done; one that
died mid-way lets its lease expire, so Slack's next retry is still answered.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.core_api import BotLike
from adapters.slack import render
from adapters.slack.parse import (
    Ignored,
    SlackEvent,
    bot_in_thread,
    parse_command,
    parse_event,
    parse_feedback,
    thread_history,
)
from bot.commands import parse_command as parse_core_command
from bot.config import ConfigError, Settings
from bot.messages import detect_language, resolve_language, t
from bot.types import IncomingMessage, Reply, ReplyTarget

if TYPE_CHECKING:
    from aiohttp.web_routedef import RouteDef

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"
# Where a slash command's `response_url` may point: Slack's hooks hosts, GovSlack's
# included (or, with DOCBOT_SLACK_API_URL, that stand-in's host), never anywhere a body
# could name.
RESPONSE_URL_PREFIXES = ("https://hooks.slack.com/", "https://hooks.slack-gov.com/")
EVENTS_PATH = "/slack/events"
HISTORY_LIMIT = 20  # conversations.replies is rate-limited hard for some apps: fetch once, small
# A thread longer than that comes oldest first, so its latest turns (and the bot's own
# posts, which make it "our" thread) are on later pages: read on, in bigger pages, up to a cap.
HISTORY_PAGE = 200
HISTORY_MAX_PAGES = 4
ADMIN_GROUP_TTL_S = 300.0
NOT_OUR_THREAD_TTL_S = 600.0
THREAD_CACHE_SIZE = 10_000


SOCKET_CONNECT_TIMEOUT_S = 30.0


class _NoTraceback(logging.Filter):
    """The Socket Mode client logs each failed (re)connect with a full traceback, every
    10 seconds while Slack is unreachable: keep the one line that says why, as a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            record.exc_info, record.exc_text = None, None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_socket_log = logging.getLogger("slack_bolt.docbot.socket")
_socket_log.addFilter(_NoTraceback())


class _NotTheUnusedTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when given a client, then warns
    that the client wins ("`token` will be unused"): true, harmless, and misleading."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


logging.getLogger("slack_bolt.docbot").addFilter(_NotTheUnusedTokenWarning())


class SlackAdapter:
    """Slack transport for docbot. Mount `routes()` for HTTP mode; `start()` for Socket Mode."""

    def __init__(
        self,
        bot: BotLike,
        settings: Settings,
        *,
        event_lease_s: float = 90.0,
        update_interval_s: float = 1.0,
        command_ack_s: float = 2.0,
        socket_connect_timeout_s: float = SOCKET_CONNECT_TIMEOUT_S,
    ) -> None:
        if not settings.slack_bot_token:
            raise ConfigError("SLACK_BOT_TOKEN is required for Slack (xoxb-...)")
        # A token of the wrong kind (an app token pasted as the bot token) would only fail
        # at Slack, or be retried forever while Slack is unreachable: say so at start.
        if not settings.slack_bot_token.reveal().startswith(("xoxb-", "xoxe.xoxb-")):
            raise ConfigError(
                "SLACK_BOT_TOKEN must be the Bot User OAuth Token (xoxb-...), from "
                "OAuth & Permissions; the xapp- app-level token goes in SLACK_APP_TOKEN"
            )
        if settings.slack_mode == "http" and not settings.slack_signing_secret:
            raise ConfigError("SLACK_SIGNING_SECRET is required when DOCBOT_SLACK_MODE=http")
        if settings.slack_mode == "socket" and not settings.slack_app_token:
            raise ConfigError(
                "SLACK_APP_TOKEN (xapp-..., scope connections:write) is required when "
                "DOCBOT_SLACK_MODE=socket"
            )
        if settings.slack_mode == "socket" and not settings.slack_app_token.reveal().startswith(
            "xapp-"
        ):
            raise ConfigError(
                "SLACK_APP_TOKEN must be an app-level token (xapp-..., scope "
                "connections:write), from Basic Information -> App-Level Tokens"
            )
        self.bot = bot
        self.settings = settings
        self.event_lease_s = event_lease_s
        self.update_interval_s = update_interval_s
        self.command_ack_s = command_ack_s
        self.socket_connect_timeout_s = socket_connect_timeout_s
        api_url = settings.slack_api_url or DEFAULT_API_URL
        self.client = AsyncWebClient(
            token=settings.slack_bot_token.reveal(),
            base_url=api_url if api_url.endswith("/") else api_url + "/",
        )
        # Slack answers 429 with Retry-After; the SDK only retries connection errors by default.
        self.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.slack_signing_secret.reveal(),
            process_before_response=False,  # ack first; answers run in tasks
            request_verification_enabled=bool(settings.slack_signing_secret),
            logger=logging.getLogger("slack_bolt.docbot"),
        )
        self.app.event("app_mention")(self._on_event)
        self.app.event("message")(self._on_event)
        self.app.command(re.compile(r"^/"))(self._on_command)
        self.app.action(re.compile(f"^({render.ACTION_UP}|{render.ACTION_DOWN})$"))(
            self._on_feedback
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._socket: AsyncSocketModeHandler | None = None
        self._admin_group: frozenset[str] = frozenset()
        self._admin_group_at = float("-inf")
        # Threads seen without the bot in them, until when (so chatter costs one history call).
        self._not_our_threads: OrderedDict[tuple[str, str], float] = OrderedDict()
        # user id -> (locale, valid until): users.info is Tier 4, but every answer needs it
        self._locales: OrderedDict[str, tuple[str, float]] = OrderedDict()
        register = getattr(bot, "register_notifier", None)
        if register is not None:  # re-ingest progress is posted back into the conversation
            register("slack", self.notify)
        # Members of DOCBOT_SLACK_ADMIN_GROUP are admins too, once the core takes extra checks.
        register_admin = getattr(bot, "register_admin_check", None)
        if register_admin is not None:
            register_admin("slack", self.is_group_admin)

    # ---- transport -------------------------------------------------------------------------

    def routes(self) -> list[RouteDef]:
        """`POST /slack/events` (events, slash commands, interactivity) when a signing secret is set.

        Without one there is no way to authenticate Slack's requests, so nothing is mounted.
        """
        if not self.settings.slack_signing_secret:
            return []
        return [web.post(EVENTS_PATH, self.handle_http)]

    async def handle_http(self, request: web.Request) -> web.Response:
        """Bolt does signature verification, the 5-minute replay window and url_verification."""
        bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def start(self) -> None:
        """Check the bot token, then start what the mode needs (Socket Mode connects).

        A token Slack rejects raises ConfigError (restarting cannot fix it); other
        failures (network) raise as they are, so a supervisor can retry.
        """
        try:
            await self.client.auth_test()
        except SlackApiError as exc:
            raise _token_error("SLACK_BOT_TOKEN", exc) from None
        if self.settings.slack_mode == "socket":
            await self.start_socket_mode()

    async def start_socket_mode(self) -> None:
        """Open the Socket Mode WebSocket (no public URL needed, which suits CML Applications)."""
        if not self.settings.slack_app_token:
            raise ConfigError("SLACK_APP_TOKEN is required for Socket Mode")
        app_token = self.settings.slack_app_token.reveal()
        try:
            # The SDK would retry a rejected app token forever; ask once ourselves and hand it
            # the WebSocket URL.
            opened = await self.client.apps_connections_open(app_token=app_token)
        except SlackApiError as exc:
            raise _token_error("SLACK_APP_TOKEN", exc) from None
        self._socket = AsyncSocketModeHandler(
            self.app, app_token=app_token, web_client=self.client, logger=_socket_log
        )
        self._socket.client.wss_uri = opened["url"]
        try:
            # The SDK retries a failed connect to the same URL forever; bound it, so the
            # supervisor backs off and the next start asks Slack for a fresh URL.
            await asyncio.wait_for(self._socket.connect_async(), self.socket_connect_timeout_s)
        except asyncio.TimeoutError:
            socket, self._socket = self._socket, None
            await socket.close_async()
            raise ConnectionError(
                "Slack Socket Mode WebSocket did not connect within "
                f"{self.socket_connect_timeout_s:g}s (is outbound wss:// to Slack allowed?)"
            ) from None
        log.info("slack: socket mode connected")

    def connection_status(self) -> str | None:
        """Socket Mode: "running" while the WebSocket is open, "reconnecting" while the SDK
        retries a dropped one on its own (the supervisor never hears of that). None in
        HTTP mode or before start. Plain attribute reads: safe from /healthz's thread."""
        socket = self._socket
        if socket is None:
            return None
        client = socket.client
        session = getattr(client, "current_session", None)
        up = not client.closed and session is not None and not session.closed
        return "running" if up else "reconnecting"

    async def close(self) -> None:
        """Disconnect and stop answers in flight (their leases expire, so retries answer them)."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for answers in flight (tests and graceful shutdown)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=deadline - time.monotonic())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- admins ----------------------------------------------------------------------------

    def is_group_admin(self, user_id: str) -> bool:
        """Whether the user is in `DOCBOT_SLACK_ADMIN_GROUP` (cached; see `refresh_admin_group`)."""
        return user_id in self._admin_group

    async def is_admin(self, user_id: str) -> bool:
        """Allowlist (`DOCBOT_ADMINS`, checked by the core) or the Slack admin user group."""
        if self.bot.is_admin("slack", user_id):
            return True
        await self.refresh_admin_group()
        return self.is_group_admin(user_id)

    async def refresh_admin_group(self, force: bool = False) -> None:
        group = self.settings.slack_admin_group
        if not group or (not force and time.monotonic() - self._admin_group_at < ADMIN_GROUP_TTL_S):
            return
        try:
            resp = await self.client.usergroups_users_list(usergroup=group)
            self._admin_group = frozenset(resp.get("users") or [])
        except SlackApiError as exc:
            log.warning("slack: cannot read admin group %s: %s", group, exc.response.get("error"))
        self._admin_group_at = time.monotonic()

    # ---- state -----------------------------------------------------------------------------

    async def _claim(self, keys: Sequence[str]) -> bool:
        """Claim every key or none (the store is blocking: keep it off the event loop)."""
        claimed: list[str] = []
        for key in keys:
            if not await asyncio.to_thread(self.bot.store.claim_event, key, self.event_lease_s):
                # Not ours: give back what we took, so the attempt that holds this key
                # alone decides whether the message got its answer.
                for taken in claimed:
                    await asyncio.to_thread(self.bot.store.release_event, taken)
                return False
            claimed.append(key)
        return True

    async def _complete(self, keys: Sequence[str]) -> None:
        for key in keys:
            try:
                await asyncio.to_thread(self.bot.store.complete_event, key)
            except Exception:  # a state hiccup must not turn an answer into an error
                log.exception("slack: could not mark %s done", key)

    # ---- users -----------------------------------------------------------------------------

    LOCALE_TTL_S = 3600.0
    LOCALE_CACHE_SIZE = 5000

    async def user_locale(self, user_id: str) -> str:
        """The user's Slack locale (`users.info`, include_locale), cached; '' when unknown.

        A missing `users:read` scope or any API error just means "unknown": the reply
        language then follows the question's script.
        """
        if not user_id:
            return ""
        cached = self._locales.get(user_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        locale = ""
        try:
            resp = await self.client.users_info(user=user_id, include_locale=True)
            locale = str((resp.get("user") or {}).get("locale") or "")
        except (SlackApiError, OSError, asyncio.TimeoutError) as exc:
            log.debug("slack: no locale for a user (%s)", type(exc).__name__)
        self._locales[user_id] = (locale, time.monotonic() + self.LOCALE_TTL_S)
        self._locales.move_to_end(user_id)
        while len(self._locales) > self.LOCALE_CACHE_SIZE:
            self._locales.popitem(last=False)
        return locale

    async def _reply_language(self, msg: IncomingMessage) -> str:
        """The core's choice (a `/docbot language` setting wins), else the text and locale."""
        choose = getattr(self.bot, "reply_language", None)
        if choose is None:
            return resolve_language("auto", msg.text, msg.locale)
        try:
            return str(await asyncio.to_thread(choose, msg))
        except Exception:  # a state-store hiccup must not cost the placeholder
            return resolve_language("auto", msg.text, msg.locale)

    # ---- events ----------------------------------------------------------------------------

    async def _on_event(self, body: dict[str, Any], context: Mapping[str, Any]) -> None:
        received = time.monotonic()
        parsed = parse_event(body, context.get("bot_user_id") or "", context.get("bot_id") or "")
        if isinstance(parsed, Ignored):
            log.debug("slack: ignored %s: %s", body.get("event_id"), parsed.reason)
            return
        if parsed.kind == "thread" and not self.settings.slack_thread_followups:
            return
        self._spawn(
            self._answer_event(
                parsed, received, context.get("bot_user_id") or "", context.get("bot_id") or ""
            )
        )

    async def _answer_event(
        self, ev: SlackEvent, received: float, bot_user_id: str, bot_id: str
    ) -> None:
        keys = [f"slack:{ev.event_id}", ev.message_key] if ev.event_id else [ev.message_key]
        if not await self._claim(keys):
            log.info("slack: %s already handled or in progress", ev.event_id)
            return
        done = False
        placeholder_ts: str | None = None
        try:
            replies: list[dict[str, Any]] | None = None
            if ev.kind == "thread":
                thread_key = (ev.channel, ev.history_thread_ts or ev.ts)
                if self._not_our_threads.get(thread_key, 0.0) > time.monotonic():
                    done = True  # checked a moment ago: conversations.replies is rate-limited
                    return
                replies = await self._thread(*thread_key)
                if not bot_in_thread(replies, bot_user_id, bot_id):
                    self._remember_not_ours(thread_key)
                    done = True  # a conversation between people: not ours to join
                    return
            locale = await self.user_locale(ev.message.user_id)
            # Commands typed as text ("docbot status") are answered at once, ephemerally.
            is_command = parse_core_command(ev.message.text) is not None
            if is_command:
                await self.refresh_admin_group()
            else:
                waiting = t(
                    "placeholder", await self._reply_language(replace(ev.message, locale=locale))
                )
                resp = await self.client.chat_postMessage(
                    channel=ev.channel,
                    thread_ts=ev.reply_thread_ts,
                    **render.placeholder(waiting).kwargs(),
                )
                placeholder_ts = resp["ts"]
                if ev.reply_thread_ts:
                    self._not_our_threads.pop((ev.channel, ev.reply_thread_ts), None)
            if ev.history_thread_ts and replies is None and not is_command:
                replies = await self._thread(ev.channel, ev.history_thread_ts)
            history = thread_history(
                replies or [], bot_user_id=bot_user_id, bot_id=bot_id, before_ts=ev.ts
            )
            msg = replace(ev.message, history=history, locale=locale)
            stream = _Stream(self.client, ev.channel, placeholder_ts, self.update_interval_s)
            try:
                reply = await self.bot.handle(
                    msg, on_delta=stream.on_delta if placeholder_ts else None
                )
            finally:
                await stream.stop()
            await stream.wait_turn()
            await self._deliver(ev, reply, placeholder_ts, time.monotonic() - received)
            done = True
        except asyncio.CancelledError:
            raise  # shutting down mid-answer: the lease expires and Slack's retry answers
        except Exception:
            log.exception("slack: answering event %s failed", ev.event_id)
            await self._post_error(ev.channel, ev.reply_thread_ts, placeholder_ts)
            done = True
        finally:
            if done:
                await self._complete(keys)

    def _remember_not_ours(self, key: tuple[str, str]) -> None:
        self._not_our_threads[key] = time.monotonic() + NOT_OUR_THREAD_TTL_S
        self._not_our_threads.move_to_end(key)
        while len(self._not_our_threads) > THREAD_CACHE_SIZE:
            self._not_our_threads.popitem(last=False)

    async def _thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """A thread's messages, oldest first: one small call for a short thread; a long one
        is paged to its end (at most `HISTORY_MAX_PAGES` calls), since its follow-up needs
        the latest turns. A failed page keeps what the earlier ones gave."""
        messages: dict[str, dict[str, Any]] = {}
        cursor = ""
        for page in range(HISTORY_MAX_PAGES):
            paging = {"cursor": cursor} if cursor else {}
            try:
                resp = await self.client.conversations_replies(
                    channel=channel,
                    ts=thread_ts,
                    limit=HISTORY_PAGE if page else HISTORY_LIMIT,
                    **paging,
                )
            except SlackApiError as exc:
                log.warning("slack: no thread history (%s)", exc.response.get("error"))
                break
            for message in resp.get("messages") or []:
                # keyed by ts: pages may repeat the thread's parent
                messages.setdefault(str(message.get("ts") or ""), message)
            cursor = str((resp.get("response_metadata") or {}).get("next_cursor") or "")
            if not resp.get("has_more") or not cursor:
                break
        return list(messages.values())

    async def _deliver(
        self, ev: SlackEvent, reply: Reply, placeholder_ts: str | None, elapsed_s: float
    ) -> None:
        user = ev.message.user_id
        if reply.ephemeral and not ev.message.is_direct:
            if placeholder_ts:
                await self.client.chat_delete(channel=ev.channel, ts=placeholder_ts)
            for message in render.render_reply(reply):
                await self.client.chat_postEphemeral(
                    channel=ev.channel, user=user, thread_ts=ev.reply_thread_ts, **message.kwargs()
                )
            return
        messages = render.render_reply(reply, elapsed_s=elapsed_s)
        if placeholder_ts:
            await self.client.chat_update(
                channel=ev.channel, ts=placeholder_ts, **messages[0].kwargs()
            )
        else:
            await self.client.chat_postMessage(
                channel=ev.channel, thread_ts=ev.reply_thread_ts, **messages[0].kwargs()
            )
        for message in messages[1:]:
            await self.client.chat_postMessage(
                channel=ev.channel, thread_ts=ev.reply_thread_ts, **message.kwargs()
            )

    async def _post_error(
        self, channel: str, thread_ts: str | None, placeholder_ts: str | None
    ) -> None:
        error = render.error_message()
        try:
            if placeholder_ts:
                await self.client.chat_update(channel=channel, ts=placeholder_ts, **error.kwargs())
            else:
                await self.client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, **error.kwargs()
                )
        except Exception as exc:  # nothing more we can do; keep the log free of payloads
            log.error("slack: could not post the error message either: %s", type(exc).__name__)

    async def notify(self, target: ReplyTarget | None, text: str) -> None:
        """Post a later message (re-ingest progress) where a command was given.

        Into the thread when there is one, else the channel; when the bot may not
        post there (not a member), only the asker sees it.
        """
        if target is None or target.platform != "slack" or not target.data.get("channel"):
            return
        data = target.data
        message = render.render_reply(Reply(text=text, is_command=True))[0]
        try:
            await self.client.chat_postMessage(
                channel=data["channel"], thread_ts=data.get("thread_ts"), **message.kwargs()
            )
        except SlackApiError as exc:
            if not data.get("user"):
                raise
            log.info("slack: notice goes ephemeral (%s)", exc.response.get("error"))
            await self.client.chat_postEphemeral(
                channel=data["channel"], user=data["user"], **message.kwargs()
            )

    # ---- slash commands --------------------------------------------------------------------

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        """Answer ephemerally; inside the ack when the core is quick, else by a later post."""
        msg = parse_command(body)
        key = f"slack:{msg.event_id}"
        if not await self._claim([key]):
            await ack()
            return
        await self.refresh_admin_group()
        task = asyncio.create_task(self._handle_command(msg))
        finished, _ = await asyncio.wait({task}, timeout=self.command_ack_s)
        if task in finished:
            messages = task.result()
            await ack(response_type="ephemeral", **messages[0].kwargs())
            if len(messages) > 1:
                await self._post_ephemeral(msg, messages[1:], self._response_url(body))
            await self._complete([key])
            return
        waiting = t("placeholder", detect_language(msg.text))
        await ack(response_type="ephemeral", text=waiting)
        self._spawn(self._finish_command(task, msg, key, self._response_url(body)))

    async def _handle_command(self, msg: IncomingMessage) -> list[render.SlackMessage]:
        try:
            return render.render_reply(await self.bot.handle(msg))
        except Exception:
            log.exception("slack: command %s failed", msg.event_id)
            return [render.error_message()]

    async def _finish_command(
        self,
        task: asyncio.Task[list[render.SlackMessage]],
        msg: IncomingMessage,
        key: str,
        response_url: str = "",
    ) -> None:
        try:
            await self._post_ephemeral(msg, await task, response_url)
        finally:
            await self._complete([key])

    def _response_url(self, body: Mapping[str, Any]) -> str:
        """The command's `response_url` when it points where Slack's do; else ""."""
        url = str(body.get("response_url") or "")
        allowed = list(RESPONSE_URL_PREFIXES)
        if self.settings.slack_api_url:  # a stand-in serves the hooks too
            allowed.append(self.settings.slack_api_url.rstrip("/").rsplit("/api", 1)[0] + "/")
        return url if url.startswith(tuple(allowed)) else ""

    async def _post_ephemeral(
        self, msg: IncomingMessage, messages: list[render.SlackMessage], response_url: str = ""
    ) -> None:
        """Post to the asker only. A command can come from a channel the bot is not in
        (not_in_channel), where only the command's `response_url` (30 minutes, 5 posts)
        can still reach them."""
        for message in messages:
            try:
                await self.client.chat_postEphemeral(
                    channel=msg.conversation_id, user=msg.user_id, **message.kwargs()
                )
                continue
            except SlackApiError as exc:
                error = exc.response.get("error")
            if not response_url:
                log.warning("slack: ephemeral reply failed: %s", error)
                continue
            try:
                sent = await AsyncWebhookClient(response_url).send(
                    response_type="ephemeral", replace_original=False, **message.kwargs()
                )
                failed = "" if sent.status_code == 200 else f"HTTP {sent.status_code}"
            except Exception as exc:  # noqa: BLE001 - the URL stays out of the log
                failed = type(exc).__name__
            if failed:
                log.warning(
                    "slack: ephemeral reply failed: %s, then response_url: %s", error, failed
                )

    # ---- feedback buttons ------------------------------------------------------------------

    async def _on_feedback(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        action = parse_feedback(body)
        if action is None:
            return
        try:
            thanks = await self.bot.record_feedback(
                action.answer_id, "slack", action.user_id, action.value
            )
            await self.client.chat_postEphemeral(
                channel=action.channel,
                user=action.user_id,
                thread_ts=action.thread_ts,
                **render.thanks_message(thanks).kwargs(),
            )
        except Exception:
            log.exception("slack: feedback on %s failed", action.answer_id)


_TOKEN_ERRORS = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
}


def _token_error(name: str, exc: SlackApiError) -> Exception:
    """ConfigError for a token Slack rejects (names the variable, never shows the value)."""
    error = str(exc.response.get("error") or "")
    if error in _TOKEN_ERRORS:
        return ConfigError(f"{name} was rejected by Slack ({error})")
    return RuntimeError(f"Slack API call failed while starting ({error or 'unknown error'})")


class _Stream:
    """Throttled `chat.update`s of the placeholder while the answer streams in.

    At most one update per `interval` seconds; only the latest text is sent, and
    an update never overtakes the final message (`stop` waits for the one in flight).
    """

    def __init__(
        self, client: AsyncWebClient, channel: str, ts: str | None, interval: float
    ) -> None:
        self._client = client
        self._channel = channel
        self._ts = ts
        self._interval = interval
        self._latest = ""
        self._sent = ""
        # The first streamed edit comes one interval after the placeholder: an answer that is
        # ready by then goes straight to its final form.
        self._last_at = time.monotonic()
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def on_delta(self, text: str) -> None:
        self._latest = text
        if self._task is None and self._ts:
            self._task = asyncio.create_task(self._run())
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopped.is_set():
            await self._wake.wait()
            self._wake.clear()
            wait = self._last_at + self._interval - time.monotonic()
            if wait > 0:
                try:
                    await asyncio.wait_for(self._stopped.wait(), wait)
                except asyncio.TimeoutError:
                    pass
            if self._stopped.is_set() or self._latest == self._sent:
                continue
            text = self._latest
            try:
                await self._client.chat_update(
                    channel=self._channel, ts=self._ts, **render.streaming(text).kwargs()
                )
            except SlackApiError as exc:
                log.warning("slack: streaming update failed: %s", exc.response.get("error"))
            self._sent, self._last_at = text, time.monotonic()

    async def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._task is not None:
            await self._task

    async def wait_turn(self) -> None:
        """After streamed edits, sleep until the next edit is allowed (one per interval)."""
        wait = self._last_at + self._interval - time.monotonic()
        if self._sent and wait > 0:
            await asyncio.sleep(wait)
