"""The bot core: one `IncomingMessage` in, one `Reply` out, the same for every platform.

Commands are parsed first; anything else is a question answered with the
conversation's settings. Every addressed message gets an answer or a clear
reason: failures become a short, secret-free message, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict

from bot import metrics
from bot.commands import ADMIN_COMMANDS, Command, CommandError, parse_command
from bot.config import Settings
from bot.history import is_acknowledgement, question_history
from bot.limits import RateLimiter
from bot.logs import RedactingFilter
from bot.messages import t
from bot.state import ConversationSettings, StateStore
from bot.stats import compute_stats, format_stats
from bot.types import IncomingMessage, Reply, ReplyTarget
from rag.pipeline import Answerer

log = logging.getLogger(__name__)

DeltaCallback = Callable[[str], Awaitable[None]]
Notifier = Callable[[ReplyTarget | None, str], Awaitable[None]]
STATS_DAYS = 30
QUEUE_PER_SLOT = 8


class Bot:
    def __init__(self, settings: Settings, store: StateStore, answerer: Answerer) -> None:
        self.settings = settings
        self.store = store
        self.answerer = answerer
        self.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
        self._slots = asyncio.Semaphore(settings.max_concurrent_answers)
        # questions waiting for a slot; beyond this many the bot says it is overloaded
        self.max_queue = settings.max_concurrent_answers * QUEUE_PER_SLOT
        self._queued = 0
        self._notifiers: dict[str, Notifier] = {}
        self._admin_checks: dict[str, Callable[[str], bool]] = {}
        self._reingest_task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[object]] = set()
        self.started = time.time()
        # the answer log keeps questions as the logs do: without a pasted token or secret
        self._redactor = RedactingFilter(settings.secrets())

    @classmethod
    def from_settings(cls, settings: Settings) -> Bot:
        store = StateStore(
            settings.state_url or settings.state_path,
            defaults=ConversationSettings(model=settings.default_model),
            salt=settings.hash_salt.reveal(),
        )
        return cls(settings, store, Answerer(settings))

    # wiring ----------------------------------------------------------------
    def register_notifier(self, platform: str, notifier: Notifier) -> None:
        """How the bot posts later messages (re-ingest progress) into a conversation."""
        self._notifiers[platform] = notifier

    def register_admin_check(self, platform: str, check: Callable[[str], bool]) -> None:
        """An extra, platform-verified admin test (e.g. membership of a Slack user group)."""
        self._admin_checks[platform] = check

    def is_admin(self, platform: str, user_id: str) -> bool:
        if not user_id:
            return False
        if user_id in self.settings.admins:
            return True
        check = self._admin_checks.get(platform)
        return bool(check and check(user_id))

    def scopes(self, msg: IncomingMessage) -> tuple[str, str]:
        """(conversation scope, the asker's own scope inside it)."""
        return msg.settings_scope, f"{msg.settings_scope}:user:{msg.user_id}"

    def conversation_settings(self, msg: IncomingMessage) -> ConversationSettings:
        return self.store.get_settings(*self.scopes(msg))

    # entry points ---------------------------------------------------------------
    async def handle(self, msg: IncomingMessage, on_delta: DeltaCallback | None = None) -> Reply:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        started = time.perf_counter()
        metrics.IN_FLIGHT.inc()
        try:
            reply = await self._handle(msg, on_delta)
        except Exception as exc:  # the last line of defence: never silence, never a traceback
            log.exception("failed to answer a %s message", msg.platform)
            metrics.ERRORS.labels(msg.platform).inc()
            lang = await asyncio.to_thread(self._language, msg)  # reads the state store
            return Reply(
                text=t("error", lang, reason=type(exc).__name__), declined=True, language=lang
            )
        finally:
            metrics.IN_FLIGHT.dec()
            if task is not None:
                self._in_flight.discard(task)
        metrics.REQUESTS.labels(msg.platform, "command" if reply.is_command else "question").inc()
        if not reply.is_command and not reply.ephemeral:  # the hint to a bare mention is neither
            metrics.LATENCY.labels(msg.platform).observe(time.perf_counter() - started)
            if reply.declined:
                metrics.DECLINES.labels(msg.platform).inc()
            else:
                metrics.ANSWERS.labels(msg.platform, reply.model or "none").inc()
            if reply.fallback_used:
                metrics.FALLBACKS.labels(msg.platform).inc()
        return reply

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Graceful shutdown: wait for the answers in flight."""
        pending = [
            task
            for task in self._in_flight
            if not task.done() and task is not asyncio.current_task()
        ]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)

    def reply_language(self, msg: IncomingMessage) -> str:
        """The language the bot will answer `msg` in (settings, script, locale). Blocking."""
        return self._language(msg)

    def _language(self, msg: IncomingMessage, setting: str | None = None) -> str:
        from bot.messages import SUPPORTED, resolve_language

        if setting is None:
            try:
                setting = self.conversation_settings(msg).language
            except Exception:
                setting = "auto"
        if setting == "auto" and self.settings.default_language in SUPPORTED:
            setting = self.settings.default_language
        return resolve_language(setting, msg.text, msg.locale)

    async def _settings_or_defaults(self, msg: IncomingMessage) -> ConversationSettings:
        """The conversation's settings; the defaults when the state database is unavailable.

        A locked or unreachable database must not stop questions from being answered.
        """
        try:
            return await asyncio.to_thread(self.conversation_settings, msg)
        except Exception as exc:
            log.warning(
                "state store unavailable (%s); answering with default settings", type(exc).__name__
            )
            return self.store.defaults

    async def _log_answer(self, msg: IncomingMessage, text: str, reply: Reply, lang: str) -> str:
        """Log the answer; '' (no feedback buttons) when the state database is unavailable."""
        try:
            return await asyncio.to_thread(
                self.store.log_answer,
                platform=msg.platform,
                user_id=msg.user_id,
                conversation_id=msg.conversation_id,
                question=self._redactor.redact(text),
                sources=[c.url for c in reply.citations],
                model=reply.model,
                latency_ms=reply.timings_ms.get("total", 0.0),
                declined=reply.declined,
                language=lang,
                thread_id=msg.thread_id,
                unavailable=reply.unavailable,
            )
        except Exception as exc:
            log.warning("could not log an answer (%s); it was still delivered", type(exc).__name__)
            return ""

    async def _handle(self, msg: IncomingMessage, on_delta: DeltaCallback | None) -> Reply:
        conv = await self._settings_or_defaults(msg)
        lang = self._language(msg, conv.language)
        text = msg.text.strip()
        parsed = parse_command(text, is_command=msg.is_command, lang=lang)
        if isinstance(parsed, CommandError):
            return Reply(
                text=t(parsed.key, lang, **parsed.params),
                ephemeral=True,
                is_command=True,
                language=lang,
            )
        if isinstance(parsed, Command):
            return await self._command(msg, parsed, conv, lang)
        if not text:
            return Reply(text=t("empty_question", lang), ephemeral=True, language=lang)
        if is_acknowledgement(text):  # "thanks!" in a thread: nothing to search, nothing to log
            return Reply(text=t("acknowledged", lang), ephemeral=True, language=lang)
        if len(text) > self.settings.max_question_chars:
            return Reply(
                text=t("too_long", lang, length=len(text), limit=self.settings.max_question_chars),
                declined=True,
                language=lang,
            )
        wait = self.rate_limiter.check(f"{msg.platform}:{msg.user_id}")
        if wait:
            metrics.RATE_LIMITED.labels(msg.platform).inc()
            return Reply(
                text=t("rate_limited", lang, seconds=int(wait) + 1), declined=True, language=lang
            )
        if self._slots.locked() and self._queued >= self.max_queue:
            metrics.RATE_LIMITED.labels(msg.platform).inc()
            return Reply(text=t("overloaded", lang), declined=True, language=lang)
        self._queued += 1
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1
        try:
            reply = await self.answerer.answer(
                text,
                model=conv.model,
                use_docs=conv.rag,
                temperature=conv.temperature,
                length=conv.length,
                language=lang,
                history=question_history(msg.history, max_chars=self.settings.max_question_chars),
                on_delta=on_delta,
            )
        finally:
            self._slots.release()
        reply.answer_id = await self._log_answer(msg, text, reply, lang)
        # message text only when DOCBOT_LOG_MESSAGE_TEXT allows it
        log.info(
            "answered %s question%s: model=%s declined=%s sources=%d %.0f ms",
            msg.platform,
            f" {text!r}" if self.settings.log_message_text else f" ({len(text)} chars)",
            reply.model or "-",
            reply.declined,
            len(reply.citations),
            reply.timings_ms.get("total", 0.0),
        )
        return reply

    async def record_feedback(self, answer_id: str, platform: str, user_id: str, value: str) -> str:
        """Store a 👍/👎 click; what to tell the user, in the answer's language."""
        lang = "en"
        try:
            lang = await asyncio.to_thread(self.store.answer_language, answer_id) or "en"
            if value not in ("up", "down"):
                return t("feedback_unknown", lang)
            ok = await asyncio.to_thread(
                self.store.record_feedback, answer_id, f"{platform}:{user_id}", value
            )
        except Exception as exc:  # a locked or unreachable database: say so, never silence
            log.warning("could not store feedback (%s)", type(exc).__name__)
            return t("feedback_unavailable", lang)
        if not ok:
            return t("feedback_unknown", lang)
        metrics.FEEDBACK.labels(value).inc()
        return t("feedback_thanks_up" if value == "up" else "feedback_thanks_down", lang)

    # commands --------------------------------------------------------------
    async def _command(
        self, msg: IncomingMessage, cmd: Command, conv: ConversationSettings, lang: str
    ) -> Reply:
        def reply(text: str) -> Reply:
            return Reply(text=text, ephemeral=True, is_command=True, language=lang)

        router = self.answerer.router
        if cmd.name in ADMIN_COMMANDS and not self.is_admin(msg.platform, msg.user_id):
            return reply(t("admin_only", lang, command=cmd.name))
        if cmd.channel_scope and not msg.is_direct and not self.is_admin(msg.platform, msg.user_id):
            return reply(t("admin_only", lang, command=f"{cmd.name} channel"))
        scope = self.scopes(msg)[0 if cmd.channel_scope else 1]
        if cmd.name == "help":
            return reply(t("help", lang, models=", ".join(router.names())))
        if cmd.name == "status":
            return reply(await asyncio.to_thread(self.status_text, conv, lang))
        if cmd.name == "model":
            if not cmd.value:
                return reply(t("models", lang, models=", ".join(router.names())))
            name = router.resolve(cmd.value)
            if name is None:
                return reply(
                    t("unknown_model", lang, value=cmd.value, models=", ".join(router.names()))
                )
            await asyncio.to_thread(self.store.update_settings, scope, model=name)
            return reply(t("set_model", lang, value=name))
        if cmd.name == "rag":
            await asyncio.to_thread(self.store.update_settings, scope, rag=cmd.value == "on")
            return reply(t("set_rag_on" if cmd.value == "on" else "set_rag_off", lang))
        if cmd.name == "temperature":
            await asyncio.to_thread(self.store.update_settings, scope, temperature=float(cmd.value))
            return reply(t("set_temperature", lang, value=cmd.value))
        if cmd.name == "length":
            await asyncio.to_thread(self.store.update_settings, scope, length=cmd.value)
            return reply(t("set_length", lang, value=cmd.value))
        if cmd.name == "language":
            await asyncio.to_thread(self.store.update_settings, scope, language=cmd.value)
            new_lang = cmd.value if cmd.value != "auto" else lang
            return Reply(
                text=t("set_language", new_lang, value=cmd.value),
                ephemeral=True,
                is_command=True,
                language=new_lang,
            )
        if cmd.name == "reset":
            await asyncio.to_thread(self.store.reset_settings, scope)
            return reply(t("reset", lang))
        if cmd.name == "stats":
            since = time.time() - STATS_DAYS * 86400
            answers = await asyncio.to_thread(self.store.answers, since)
            feedback = await asyncio.to_thread(self.store.feedback_counts, since)
            return reply(format_stats(compute_stats(answers, feedback), days=STATS_DAYS, lang=lang))
        if cmd.name == "reingest":
            return reply(self.start_reingest(msg, lang))
        return reply(t("unknown_command", lang, command=cmd.name))  # pragma: no cover

    def status_text(self, conv: ConversationSettings, lang: str) -> str:
        from rag.index_store import IndexStore
        from rag.retrieve import describe_decline

        store = IndexStore(self.settings)
        current = store.current()
        if current is None:
            index = "none yet"
        else:
            index = f"{current.id} ({current.page_count} pages, {current.chunk_count} chunks, {current.manifest.get('embedding_model', '?')})"
        summary_path = self.settings.data_dir / "ingest" / "last_summary.json"
        ingest = "none yet"
        if summary_path.is_file():
            import json

            from ingest.pipeline import SUMMARY_PREFIX, format_summary

            try:
                ingest = format_summary(
                    json.loads(summary_path.read_text(encoding="utf-8"))
                ).removeprefix(SUMMARY_PREFIX)
            except (OSError, ValueError):
                ingest = "unreadable"
        if self.reingest_running:
            ingest += " (a re-ingest is running now)"
        health = ", ".join(
            f"{name}: {state}" for name, state in self.answerer.router.health().items()
        )
        values = asdict(conv)
        return t(
            "status",
            lang,
            model=values["model"],
            rag="on" if values["rag"] else "off",
            temperature=values["temperature"],
            length=values["length"],
            language=values["language"],
            index=index,
            ingest=ingest,
            health=health,
            declines=describe_decline(self.answerer.retriever.decline_report()),
        )

    # re-ingest ----------------------------------------------------------------
    @property
    def reingest_running(self) -> bool:
        return self._reingest_task is not None and not self._reingest_task.done()

    def start_reingest(self, msg: IncomingMessage, lang: str) -> str:
        from bot.reingest import plan_reingest
        from rag.index_build import is_ingest_running

        # one ingest at a time, including one started elsewhere (a CLI run, another replica)
        if self.reingest_running or is_ingest_running(self.settings):
            return t("reingest_running", lang)
        job = plan_reingest(self.settings)
        if job is None:
            return t("reingest_unavailable", lang)
        notifier = self._notifiers.get(msg.platform)
        target = msg.reply_target

        async def say(text: str) -> None:
            if notifier is not None:
                try:
                    await notifier(target, text)
                except Exception:
                    log.exception("could not post re-ingest progress")

        self._reingest_task = asyncio.get_running_loop().create_task(job(say))
        return t("reingest_started", lang)

    async def wait_reingest(self) -> None:
        if self._reingest_task is not None:
            await asyncio.shield(self._reingest_task)
