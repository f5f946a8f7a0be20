"""The bot's one aiohttp server: Slack HTTP events, Teams messages, health, status, metrics.

`docbot serve` and the CML Application (`bot/cml_app.py`) both run `serve`.
Adapters are supervised: one that dies is restarted with backoff, and the
others keep serving. On SIGTERM/SIGINT the server stops taking requests and
finishes the answers in flight before exiting.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot import metrics
from bot.config import ConfigError, Settings
from bot.core import Bot
from rag.retrieve import describe_decline

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (1, 2, 5, 10, 30, 60)
BOT_KEY: web.AppKey[Bot] = web.AppKey("bot", Bot)
ADAPTERS_KEY: web.AppKey[dict[str, Any]] = web.AppKey("adapters", dict)


def _adapter_status(state: dict[str, Any]) -> str:
    """The supervisor's word, or, once running, the adapter's own probe (a Socket Mode
    connection can drop and be retried by the SDK without the supervisor knowing)."""
    status = str(state.get("status", "unknown"))
    probe = state.get("probe")
    if status == "running" and probe is not None:
        try:
            return probe() or status
        except Exception:  # a probe must never fail the health report
            return status
    return status


def health(bot: Bot, adapters: dict[str, Any]) -> dict[str, Any]:
    """What /healthz reports: index version and counts, last ingest, model health, adapters."""
    from rag.index_store import IndexStore, IndexStoreError

    # A pointer to a lost or broken version must read as "degraded", not fail the probe
    # (and /metrics, which refreshes its gauges here) with a server error.
    index_error: str | None = None
    try:
        current = IndexStore(bot.settings).current()
    except (IndexStoreError, OSError, ValueError) as exc:
        current, index_error = None, str(exc) or type(exc).__name__
    index = (
        {
            "version": current.id,
            "pages": current.page_count,
            "chunks": current.chunk_count,
            "embedding_model": current.manifest.get("embedding_model", ""),
        }
        if current
        else None
    )
    if current:
        metrics.set_index(current.id, current.page_count, current.chunk_count)
    summary_path = bot.settings.data_dir / "ingest" / "last_summary.json"
    try:
        last_ingest = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        last_ingest = None
    adapter_state = {name: _adapter_status(state) for name, state in adapters.items()}
    ok = index is not None and all(s in ("running", "mounted") for s in adapter_state.values())
    return {
        "status": "ok" if ok else "degraded",
        "uptime_s": round(time.time() - bot.started, 1),
        "index": index,
        "index_error": index_error,
        "last_ingest": {
            k: last_ingest[k] for k in ("source", "index", "seconds") if k in last_ingest
        }
        if last_ingest
        else None,
        "reingest_running": bot.reingest_running,
        "models": bot.answerer.router.health(),
        "decline": bot.answerer.retriever.decline_report(),
        "adapters": adapter_state,
        "state_backend": bot.store.backend,
    }


async def healthz(request: web.Request) -> web.Response:
    report = await asyncio.to_thread(health, request.app[BOT_KEY], request.app[ADAPTERS_KEY])
    # 200 while serving at all: "degraded" (no index yet, an adapter restarting) is in the body
    return web.json_response(report)


async def metrics_view(request: web.Request) -> web.Response:
    await asyncio.to_thread(
        health, request.app[BOT_KEY], request.app[ADAPTERS_KEY]
    )  # refresh index gauges
    body, content_type = metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def status_page(request: web.Request) -> web.Response:
    report = await asyncio.to_thread(health, request.app[BOT_KEY], request.app[ADAPTERS_KEY])
    index = report["index"] or {}
    rows = [
        ("Status", report["status"]),
        ("Index version", index.get("version", "none yet")),
        ("Pages / chunks", f"{index.get('pages', 0)} / {index.get('chunks', 0)}"),
        ("Embedding model", index.get("embedding_model", "")),
        (
            "Last ingest",
            json.dumps(report["last_ingest"], ensure_ascii=False)
            if report["last_ingest"]
            else "none yet",
        ),
        ("Re-ingest running", "yes" if report["reingest_running"] else "no"),
        ("Models", ", ".join(f"{k}: {v}" for k, v in report["models"].items())),
        ("Declines", describe_decline(report["decline"])),
        ("Adapters", ", ".join(f"{k}: {v}" for k, v in report["adapters"].items()) or "none"),
        ("Uptime", f"{report['uptime_s']:.0f} s"),
    ]
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>docbot</title>"
        "<style>body{font-family:sans-serif;margin:2em}th{text-align:left;padding-right:1em}</style></head>"
        f"<body><h1>docbot</h1><table>{cells}</table>"
        "<p><a href='/healthz'>/healthz</a> · <a href='/metrics'>/metrics</a></p></body></html>"
    )
    return web.Response(text=page, content_type="text/html")


def build_app(bot: Bot, adapters: dict[str, Any] | None = None) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[BOT_KEY] = bot
    app[ADAPTERS_KEY] = adapters if adapters is not None else {}
    app.router.add_get("/", status_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    return app


async def supervise(
    name: str, start: Callable[[], Awaitable[None]], state: dict[str, Any], stop: asyncio.Event
) -> None:
    """Run an adapter's start coroutine; restart it with backoff when it fails."""
    attempt = 0
    while not stop.is_set():
        try:
            state["status"] = "starting"
            await start()
            state["status"] = "running"
            attempt = 0
            await stop.wait()
            return
        except ConfigError as exc:  # a setting is wrong: restarting cannot help
            state["status"] = f"failed: {exc}"
            log.error("%s adapter cannot start: %s", name, exc)
            return
        except Exception as exc:
            delay = RESTART_BACKOFF_S[min(attempt, len(RESTART_BACKOFF_S) - 1)]
            attempt += 1
            state["status"] = f"restarting in {delay}s"
            log.warning("%s adapter died (%s); restarting in %ss", name, type(exc).__name__, delay)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass


HOUSEKEEPING_EVERY_S = 3600


async def housekeeping(bot: Bot, stop: asyncio.Event) -> None:
    """Hourly: drop expired event ids and answers older than the retention setting."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(
                bot.store.purge, answer_retention_days=bot.settings.answer_log_retention_days
            )
        except Exception as exc:  # a locked or unreachable database must not stop the bot
            log.warning("state housekeeping failed: %s", type(exc).__name__)
        try:
            await asyncio.wait_for(stop.wait(), timeout=HOUSEKEEPING_EVERY_S)
        except asyncio.TimeoutError:
            pass


def make_adapters(
    bot: Bot, settings: Settings, *, slack: bool, teams: bool
) -> tuple[dict[str, Any], list[web.RouteDef], bool]:
    """(adapter objects, routes to mount, whether the server must bind loopback only)."""
    objects: dict[str, Any] = {}
    routes: list[web.RouteDef] = []
    loopback_only = False
    if slack and settings.slack_bot_token:
        from adapters.slack.app import SlackAdapter

        adapter = SlackAdapter(bot, settings)
        objects["slack"] = adapter
        routes.extend(adapter.routes())
    if teams and (settings.teams_app_id or settings.teams_emulator):
        from adapters.teams.app import TeamsAdapter, check_startup

        check_startup(settings)
        teams_adapter = TeamsAdapter(bot, settings)
        objects["teams"] = teams_adapter
        routes.extend(teams_adapter.routes())
        loopback_only = loopback_only or teams_adapter.requires_loopback
    return objects, routes, loopback_only


async def serve(
    settings: Settings,
    *,
    slack: bool = True,
    teams: bool = True,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    bot = Bot.from_settings(settings)
    try:
        await asyncio.to_thread(bot.answerer.warm_up)
    except Exception as exc:  # a broken index must not keep /healthz from saying so
        log.error(
            "the live index could not be loaded (%s: %s); serving degraded until "
            "`docbot ingest` publishes a good version",
            type(exc).__name__,
            exc,
        )
    else:
        from rag.index_store import IndexStore

        if IndexStore(settings).current_id() is None:
            log.warning(
                "no index yet in %s: questions cannot be searched until `docbot ingest` "
                "(--path, --sitemap, --links or --url) publishes one",
                settings.data_dir,
            )
    objects, routes, loopback_only = make_adapters(bot, settings, slack=slack, teams=teams)
    if not objects:
        log.warning(
            "no chat adapter configured (set SLACK_BOT_TOKEN or MicrosoftAppId); serving health and metrics only"
        )
    states: dict[str, dict[str, Any]] = {name: {"status": "mounted"} for name in objects}
    for name, adapter in objects.items():
        if callable(probe := getattr(adapter, "connection_status", None)):
            states[name]["probe"] = probe
    app = build_app(bot, {name: st for name, st in states.items()})
    app.router.add_routes(routes)
    host = "127.0.0.1" if loopback_only else settings.host
    if loopback_only and settings.host != "127.0.0.1":
        log.warning(
            "Teams emulator mode: binding 127.0.0.1 only (unauthenticated requests are accepted)"
        )
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, settings.port)
    try:
        await site.start()
    except OSError as exc:  # port in use, or an address this machine does not have
        await runner.cleanup()
        await bot.answerer.router.aclose()
        raise ConfigError(
            f"cannot listen on {host} port {settings.port} ({exc.strerror or exc}); "
            "stop what uses it or set DOCBOT_PORT (or DOCBOT_HOST) to a free one"
        ) from None
    log.info(
        "docbot serving on http://%s:%d (adapters: %s)",
        host,
        settings.port,
        ", ".join(objects) or "none",
    )

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests), or Windows
            pass
    tasks = [asyncio.create_task(housekeeping(bot, stop))]
    for name, adapter in objects.items():
        start = getattr(adapter, "start", None)
        if start is not None:
            tasks.append(asyncio.create_task(supervise(name, start, states[name], stop)))
    if ready is not None:
        ready.set()
    await stop.wait()
    log.info("shutting down: finishing answers in flight")
    for adapter in objects.values():
        drain = getattr(adapter, "drain", None)
        if drain is not None:
            await drain(30.0)
    await bot.drain(30.0)
    for adapter in objects.values():
        close = getattr(adapter, "close", None)
        if close is not None:
            await close()
    for task in tasks:
        task.cancel()
    await runner.cleanup()
    await bot.answerer.router.aclose()
    return 0
