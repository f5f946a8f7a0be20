"""Two bot processes, one Chroma server, one PostgreSQL: every event answered exactly once.

Slack may deliver an event (or its retry) to either replica behind a load
balancer. Both replicas serve the same index through the Chroma server and
share processed event ids through PostgreSQL, so a burst of the same event
across both gives one answer, and distinct events are all answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from adapters.slack.stand_in import BOT_USER_ID, TEAM_ID, SlackStandIn
from tests.local_net import free_port, spawn
from tests.pg_server import postgres_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chroma") is None, reason="no chroma CLI"),
]
ROOT = Path(__file__).resolve().parents[1]
SECRET = "replica-test-signing-secret"
PAGES = {
    "install.md": "# Installing Widgets\n\n## Install with pip\n\nRun `pip install widgets` to install the widget toolkit.\n",
    "backup.md": "# Backups\n\n## Nightly snapshots\n\nSnapshots of the widget database are kept for fourteen days.\n",
}


def _wait_port(port: int, timeout: float = 60, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process for port {port} exited with {proc.returncode}")
        time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {port}")


def _event(i: int, question: str) -> dict:
    ts = f"{1_700_000_100 + i}.000{i:03d}"
    return {
        "team_id": TEAM_ID,
        "api_app_id": "A0REPL",
        "type": "event_callback",
        "event_id": f"EvREPL{i:04d}",
        "event_time": int(time.time()),
        "event": {
            "type": "app_mention",
            "user": f"U{i:05d}",
            "text": f"<@{BOT_USER_ID}> {question}",
            "ts": ts,
            "channel": "C0REPLICA",
            "event_ts": ts,
        },
    }


async def _deliver(session: aiohttp.ClientSession, port: int, payload: dict, retry: int = 0) -> int:
    body = json.dumps(payload).encode()
    ts = str(int(time.time()))
    signature = (
        "v0="
        + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    )
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }
    if retry:
        headers["X-Slack-Retry-Num"] = str(retry)
    async with session.post(
        f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers
    ) as resp:
        return resp.status


async def test_two_replicas_answer_each_event_exactly_once(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for name, text in PAGES.items():
        (corpus / name).write_text(text)
    chroma_port = free_port()
    chroma = await asyncio.to_thread(
        spawn,
        [
            "chroma",
            "run",
            "--path",
            str(tmp_path / "chroma"),
            "--host",
            "127.0.0.1",
            "--port",
            str(chroma_port),
        ],
    )
    replicas: list[subprocess.Popen[bytes]] = []
    stand_in = await SlackStandIn().start()
    try:
        await asyncio.to_thread(_wait_port, chroma_port)
        with postgres_server() as pg_url:
            env = {
                **os.environ,
                "DOCBOT_DATA_DIR": str(tmp_path / "data"),
                "CHROMA_HOST": "127.0.0.1",
                "CHROMA_PORT": str(chroma_port),
                "DOCBOT_STATE_URL": pg_url,
                "DOCBOT_LOG_LEVEL": "warning",
                "DOCBOT_SLACK_MODE": "http",
                "SLACK_BOT_TOKEN": "xoxb-replica-test",
                "SLACK_SIGNING_SECRET": SECRET,
                "DOCBOT_SLACK_API_URL": stand_in.api_url,
            }
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "bot.cli", "ingest", "--path", str(corpus)],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            ports = [free_port(), free_port()]
            for port in ports:
                replicas.append(
                    await asyncio.to_thread(
                        spawn,
                        [sys.executable, "-m", "bot.cli", "serve", "--no-teams"],
                        env={**env, "DOCBOT_PORT": str(port)},
                        cwd=ROOT,
                        log=tmp_path / f"replica-{port}.log",
                    )
                )
            for port, proc in zip(ports, replicas, strict=True):
                try:
                    await asyncio.to_thread(_wait_port, port, 240, proc)
                except RuntimeError:
                    log = (tmp_path / f"replica-{port}.log").read_text(errors="replace")[-3000:]
                    raise AssertionError(
                        f"replica on {port} did not start (exit {proc.poll()}):\n{log}"
                    ) from None

            async with aiohttp.ClientSession() as session:
                burst = _event(1, "how do I install widgets with pip?")
                statuses = await asyncio.gather(
                    _deliver(session, ports[0], burst),
                    _deliver(session, ports[1], burst),
                    _deliver(session, ports[0], burst, retry=1),
                    _deliver(session, ports[1], burst, retry=2),
                )
                assert statuses == [200, 200, 200, 200]
                others = [_event(i, "how long are snapshots kept?") for i in range(2, 6)]
                await asyncio.gather(
                    *(_deliver(session, ports[i % 2], e) for i, e in enumerate(others))
                )

            threads = {e["event"]["ts"] for e in [burst, *others]}
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                answered = {
                    c.args.get("ts")
                    for c in stand_in.calls_to("chat.update")
                    if "footer:" in json.dumps(c.args.get("blocks") or [])
                }
                if len(answered) >= len(threads):
                    break
                await asyncio.sleep(0.5)
            bot_posts: dict[str, int] = {}
            for message in stand_in.messages.get("C0REPLICA", {}).values():
                if message.get("user") == BOT_USER_ID and message.get("thread_ts"):
                    bot_posts[message["thread_ts"]] = bot_posts.get(message["thread_ts"], 0) + 1
            assert set(bot_posts) == threads  # every event answered (none lost)
            assert all(n == 1 for n in bot_posts.values()), bot_posts  # and only once
            assert len(answered) == len(threads)
    finally:
        for proc in replicas:
            proc.terminate()
        for proc in replicas:
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        chroma.kill()
        await asyncio.to_thread(chroma.wait)  # reaped, not left to the garbage collector
        await stand_in.close()
