"""The bot's server: /healthz, /metrics, the status page, adapter supervision, graceful shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.console import to_message
from bot.config import ConfigError, Settings
from bot.core import Bot
from bot.server import build_app, serve, supervise
from rag.trained_gate import GateConfig, TrainedGate
from tests.local_net import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def client(built_settings: Settings, tmp_path: Path):
    bot = Bot.from_settings(
        dataclasses.replace(built_settings, state_url=str(tmp_path / "state.sqlite3"))
    )
    app = build_app(bot, {"slack": {"status": "running"}})
    async with TestClient(TestServer(app)) as c:
        c.bot = bot  # type: ignore[attr-defined]
        yield c


async def test_healthz_reports_index_models_and_adapters(client: TestClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    report = await resp.json()
    assert report["status"] == "ok"
    assert report["index"]["pages"] > 0 and report["index"]["chunks"] > 0
    assert report["models"]["extractive"]
    assert report["adapters"] == {"slack": "running"}
    assert report["state_backend"] == "sqlite"
    assert report["decline"]["model"] is None and report["decline"]["min_relevance"] > 0


async def test_healthz_asks_a_running_adapter_whether_it_is_still_connected(
    built_settings: Settings, tmp_path: Path
) -> None:
    """A Socket Mode connection that drops after it was up is reconnected by the SDK on its
    own, so the supervisor never hears of it: the adapter's probe says how it is now."""
    bot = Bot.from_settings(
        dataclasses.replace(built_settings, state_url=str(tmp_path / "state.sqlite3"))
    )
    connected = True
    probe = {"status": "running", "probe": lambda: "running" if connected else "reconnecting"}
    app = build_app(bot, {"slack": probe})
    async with TestClient(TestServer(app)) as c:
        assert (await (await c.get("/healthz")).json())["status"] == "ok"
        connected = False
        report = await (await c.get("/healthz")).json()
    assert report["status"] == "degraded" and report["adapters"] == {"slack": "reconnecting"}


async def test_healthz_and_the_status_page_show_the_decline_model_serving(
    client: TestClient,
) -> None:
    bot: Bot = client.bot  # type: ignore[attr-defined]
    config = GateConfig(0.61, 0.52, bot.settings.embedding_model, trained_on=["a.jsonl", "b.jsonl"])
    # what Retriever._refresh_gate installs after the CML job swapped a new model in
    bot.answerer.retriever.trained_gate = TrainedGate(
        lambda q, passages: [0.0] * len(passages), config
    )
    bot.answerer.retriever.min_relevance, bot.answerer.retriever.llm_min_relevance = 0.61, 0.52
    retriever = bot.answerer.retriever
    retriever.settings = dataclasses.replace(retriever.settings, gate_model="/models/gate")
    report = await (await client.get("/healthz")).json()
    assert report["decline"] == {
        "min_relevance": 0.61,
        "llm_min_relevance": 0.52,
        "model": {
            "path": "/models/gate",
            "weight": 0.5,
            "sections_judged": 2,
            "question_sets": 2,
            "runtime": "torch",
        },
    }
    page = await (await client.get("/")).text()
    assert "thresholds 0.61 / 0.52; model /models/gate (weight 0.5, 2 sections judged" in page


async def test_a_live_index_version_that_is_gone_reports_degraded_not_a_server_error(
    built_settings: Settings, tmp_path: Path
) -> None:
    """The pointer names a version whose folder was lost (a partial restore, a prune by
    another process): /healthz still answers 200 and says why, and /metrics still serves."""
    data = tmp_path / "data"
    (data / "index").mkdir(parents=True)
    (data / "index" / "current").write_text("v-gone", encoding="utf-8")
    bot = Bot.from_settings(
        dataclasses.replace(built_settings, data_dir=data, state_url=str(tmp_path / "s.sqlite3"))
    )
    async with TestClient(TestServer(build_app(bot, {}))) as c:
        resp = await c.get("/healthz")
        assert resp.status == 200
        report = await resp.json()
        assert report["status"] == "degraded" and report["index"] is None
        assert "v-gone" in report["index_error"]
        assert (await c.get("/metrics")).status == 200
        assert (await c.get("/")).status == 200


async def test_metrics_count_questions_answers_and_index(client: TestClient) -> None:
    bot: Bot = client.bot  # type: ignore[attr-defined]
    await bot.handle(to_message("how do I install the widget toolkit?", user="u1", history=[]))
    await bot.handle(to_message("what is the capital of Australia?", user="u1", history=[]))
    text = await (await client.get("/metrics")).text()
    assert 'docbot_requests_total{kind="question",platform="console"}' in text
    assert "docbot_answer_seconds_bucket" in text
    assert "docbot_declines_total" in text
    assert "docbot_index_chunks" in text and "docbot_index_version_info{version=" in text


async def test_the_status_page_shows_the_index(client: TestClient) -> None:
    page = await (await client.get("/")).text()
    assert "<h1>docbot</h1>" in page and "Index version" in page and "/healthz" in page


async def test_a_dying_adapter_is_restarted_and_a_misconfigured_one_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bot.server as server

    monkeypatch.setattr(server, "RESTART_BACKOFF_S", (0.01,))
    attempts = 0
    stop = asyncio.Event()
    state: dict = {}

    async def flaky() -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("socket closed")

    task = asyncio.create_task(supervise("slack", flaky, state, stop))
    for _ in range(200):
        if state.get("status") == "running":
            break
        await asyncio.sleep(0.01)
    assert attempts == 3 and state["status"] == "running"
    stop.set()
    await task

    async def misconfigured() -> None:
        raise ConfigError("SLACK_APP_TOKEN is required")

    bad: dict = {}
    await asyncio.wait_for(supervise("slack", misconfigured, bad, asyncio.Event()), 5)
    assert bad["status"].startswith("failed: SLACK_APP_TOKEN")


async def test_many_waiting_questions_get_an_overloaded_reply(
    built_settings: Settings, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        built_settings,
        state_url=str(tmp_path / "s.sqlite3"),
        max_concurrent_answers=1,
        rate_limit_per_minute=0,
    )
    bot = Bot.from_settings(settings)
    bot.max_queue = 1
    await bot._slots.acquire()  # the only slot is busy
    waiting = asyncio.create_task(
        bot.handle(to_message("how do I install widgets?", user="a", history=[]))
    )
    await asyncio.sleep(0.05)
    overflow = await bot.handle(to_message("how do I install widgets?", user="b", history=[]))
    assert overflow.declined and "too many" in overflow.text
    bot._slots.release()
    assert not (await waiting).declined  # the queued one is answered once a slot frees


async def test_serve_binds_loopback_and_shuts_down_gracefully(
    built_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    settings = dataclasses.replace(built_settings, state_url=str(tmp_path / "s.sqlite3"), port=port)
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, slack=False, teams=False, ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 60)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200
    stop.set()
    assert await asyncio.wait_for(task, 60) == 0


def test_the_cml_application_reports_a_bad_setting_in_one_line_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A setting only checked while serving starts (here DOCBOT_GATE_MODEL) must read like
    one checked at start: one line naming the variable, exit status 2."""
    from bot import cml_app

    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setattr("bot.logs.setup_logging", lambda settings: None)  # pytest's handlers stay
    for name, value in {
        "DOCBOT_DATA_DIR": str(tmp_path / "data"),
        "DOCBOT_GATE_MODEL": str(tmp_path / "no-gate-here"),
        "DOCBOT_HOST": "127.0.0.1",  # main() sets these two by default: restored after the test
        "DOCBOT_SLACK_MODE": "socket",
    }.items():
        monkeypatch.setenv(name, value)
    assert cml_app.main() == 2
    err = capsys.readouterr().err
    assert "DOCBOT_GATE_MODEL" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_cml_application_script_serves_healthz_on_cdsw_app_port(
    built_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CDSW_APP_PORT": str(port),
        "DOCBOT_DATA_DIR": str(built_settings.data_dir),
        "DOCBOT_STATE_URL": str(tmp_path / "s.sqlite3"),
        "DOCBOT_LOG_LEVEL": "warning",
    }
    for name in ("SLACK_BOT_TOKEN", "MicrosoftAppId", "DOCBOT_PORT", "DOCBOT_HOST"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "bot/cml_app.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import urllib.request

        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"cml_app did not serve: {proc.stderr.read() if proc.stderr else ''}"
                    ) from None
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == 0  # SIGTERM: answers in flight finished, clean exit


async def test_serve_starts_degraded_when_the_live_index_cannot_be_loaded(
    built_settings: Settings, tmp_path: Path
) -> None:
    """A pointer to a lost version must not keep the server from starting: /healthz
    answers "degraded" with index_error, so the operator sees why and can re-ingest."""
    data = tmp_path / "data"
    (data / "index").mkdir(parents=True)
    (data / "index" / "current").write_text("v-gone", encoding="utf-8")
    port = free_port()
    settings = dataclasses.replace(
        built_settings, data_dir=data, state_url=str(tmp_path / "s.sqlite3"), port=port
    )
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, slack=False, teams=False, ready=ready, stop=stop))
    await asyncio.wait_for(
        asyncio.wait(
            [task, asyncio.ensure_future(ready.wait())], return_when=asyncio.FIRST_COMPLETED
        ),
        60,
    )
    assert not task.done(), task.exception()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
            report = await resp.json()
    assert report["status"] == "degraded" and "v-gone" in report["index_error"]
    stop.set()
    assert await asyncio.wait_for(task, 60) == 0


def test_serve_on_a_port_in_use_names_docbot_port_and_exits_2(
    built_settings: Settings, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {
            **os.environ,
            "DOCBOT_DATA_DIR": str(built_settings.data_dir),
            "DOCBOT_STATE_URL": str(tmp_path / "s.sqlite3"),
            "DOCBOT_PORT": str(port),
            "SLACK_BOT_TOKEN": "",
            "MicrosoftAppId": "",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2, proc.stderr
    assert f"port {port}" in proc.stderr and "DOCBOT_PORT" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_serve_without_an_index_says_how_to_build_one(
    built_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    settings = dataclasses.replace(
        built_settings,
        data_dir=tmp_path / "empty",
        state_url=str(tmp_path / "s.sqlite3"),
        port=port,
    )
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, slack=False, teams=False, ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 60)
    stop.set()
    assert await asyncio.wait_for(task, 60) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("no index" in m and "docbot ingest" in m for m in warnings), warnings
