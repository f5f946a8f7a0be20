"""Load test: signed Slack events at a fixed rate against `docbot serve` (HTTP mode).

    python bench/load_slack.py --rate 2 --seconds 60 --redeliver 0.1 --out bench/results/load.json

A real `docbot serve` process (extractive model, index of the bundled docs/) talks
to a local stand-in of the Slack Web API that records every call. This script
sends `app_mention` events at `--rate` per second for `--seconds`, each signed
like Slack signs them; a share of them is delivered again with
`X-Slack-Retry-Num` (a redelivery must not produce a second answer). Then it
waits for the answers and reports: throughput, ack latency p50/p99, answer
latency p50/p99 (event sent -> final `chat.update` of its placeholder), peak
memory of the server process, and duplicate / lost answers (both must be 0).
Every request goes to 127.0.0.1 only, and the loop is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.slack.stand_in import BOT_USER_ID, TEAM_ID, SlackStandIn  # noqa: E402

SECRET = "load-test-signing-secret"
QUESTIONS = [
    "how do I connect docbot to Slack?",
    "which Slack scopes does docbot need",
    "how do I switch the model to Bedrock",
    "who can run reingest",
    "how do I deploy docbot on CML",
    "where does docbot keep its data",
    "what does rag off do",
    "how do I give feedback on an answer",
    "what is the capital of Australia",
    "how do I use a Chroma server",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign(body: bytes, ts: str) -> str:
    base = b"v0:" + ts.encode() + b":" + body
    return "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()


def event(i: int) -> dict:
    ts = f"{1_700_000_000 + i}.{i:06d}"
    return {
        "token": "x",
        "team_id": TEAM_ID,
        "api_app_id": "A0LOAD",
        "type": "event_callback",
        "event_id": f"EvLOAD{i:06d}",
        "event_time": int(time.time()),
        "event": {
            "type": "app_mention",
            "user": f"U{i % 50:05d}",
            "text": f"<@{BOT_USER_ID}> {QUESTIONS[i % len(QUESTIONS)]}",
            "ts": ts,
            "channel": f"C{i % 20:05d}",
            "event_ts": ts,
        },
    }


def start_server(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--no-teams"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def post(session: aiohttp.ClientSession, url: str, payload: dict, retry: int = 0) -> float:
    body = json.dumps(payload).encode()
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(body, ts),
    }
    if retry:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    t0 = time.monotonic()
    async with session.post(url, data=body, headers=headers) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"ack status {resp.status}")
    return (time.monotonic() - t0) * 1000


async def run(args: argparse.Namespace) -> dict:
    data = Path(tempfile.mkdtemp(prefix="docbot-load-"))
    env_base = {**os.environ, "DOCBOT_DATA_DIR": str(data), "DOCBOT_LOG_LEVEL": "warning"}
    print("indexing docs/ …", flush=True)
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.cli", "ingest", "--path", str(ROOT / "docs")],
        env=env_base,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    stand_in = await SlackStandIn().start()
    port = free_port()
    env = {
        **env_base,
        "DOCBOT_SLACK_MODE": "http",
        "SLACK_BOT_TOKEN": "xoxb-load-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "DOCBOT_SLACK_API_URL": stand_in.api_url,
        "DOCBOT_PORT": str(port),
        "DOCBOT_RATE_LIMIT_PER_MINUTE": "0",
        "DOCBOT_MAX_CONCURRENT_ANSWERS": str(args.concurrency),
    }
    server = await asyncio.to_thread(start_server, env, data / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 120
            while True:
                try:
                    async with session.get(base + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("server did not start; see " + str(data / "server.log"))
                await asyncio.sleep(0.3)
            n = int(args.rate * args.seconds)
            sent_at: dict[str, float] = {}
            acks: list[float] = []
            errors: list[str] = []
            tasks = []
            start = time.monotonic()

            async def send(i: int) -> None:
                payload = event(i)
                key = f"{payload['event']['channel']}:{payload['event']['ts']}"
                sent_at[key] = time.monotonic()
                try:
                    acks.append(await post(session, base + "/slack/events", payload))
                    if (i * 7919) % 100 < args.redeliver * 100:
                        acks.append(await post(session, base + "/slack/events", payload, retry=1))
                except Exception as exc:  # counted, not fatal: the report shows them
                    errors.append(type(exc).__name__)

            for i in range(n):
                target = start + i / args.rate
                await asyncio.sleep(max(0.0, target - time.monotonic()))
                tasks.append(asyncio.create_task(send(i)))
            await asyncio.gather(*tasks)
            sent_s = time.monotonic() - start
            # wait for the answers (bounded)
            wait_until = time.monotonic() + args.drain_s
            while time.monotonic() < wait_until:
                if len(final_updates(stand_in)) >= n:
                    break
                await asyncio.sleep(0.5)
            finished = time.monotonic() - start
    finally:
        rss = peak_rss_mb(server.pid)
        server.terminate()
        try:
            await asyncio.to_thread(server.wait, 60)
        except subprocess.TimeoutExpired:
            server.kill()
        await stand_in.close()

    placeholders: dict[
        str, int
    ] = {}  # bot messages per thread: more than one is a duplicate answer
    for channel, messages in stand_in.messages.items():
        for message in messages.values():
            if message.get("thread_ts") and message.get("user") == stand_in.bot_user_id:
                key = f"{channel}:{message['thread_ts']}"
                placeholders[key] = placeholders.get(key, 0) + 1
    finals = final_updates(stand_in)
    answer_ms = sorted((finals[k] - sent_at[k]) * 1000 for k in finals if k in sent_at)
    duplicates = sum(v - 1 for v in placeholders.values() if v > 1)
    lost = n - len([k for k in sent_at if k in finals])
    acks.sort()
    return {
        "events": n,
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "redelivered_share": args.redeliver,
        "send_duration_s": round(sent_s, 1),
        "throughput_answers_per_s": round(len(finals) / finished, 2) if finished else 0,
        "ack_ms_p50": round(statistics.median(acks), 1) if acks else None,
        "ack_ms_p99": round(acks[max(0, int(0.99 * len(acks)) - 1)], 1) if acks else None,
        "answer_ms_p50": round(statistics.median(answer_ms), 0) if answer_ms else None,
        "answer_ms_p99": round(answer_ms[max(0, int(0.99 * len(answer_ms)) - 1)], 0)
        if answer_ms
        else None,
        "server_peak_rss_mb": round(rss, 0),
        "duplicates": duplicates,
        "lost": lost,
        "send_errors": len(errors),
    }


def final_updates(stand_in: SlackStandIn) -> dict[str, float]:
    """thread key -> time of the first chat.update that carried a final answer (it has a footer)."""
    thread_of: dict[tuple[str, str], str] = {}
    for channel, messages in stand_in.messages.items():
        for ts, message in messages.items():
            if message.get("thread_ts"):
                thread_of[(channel, ts)] = f"{channel}:{message['thread_ts']}"
    out: dict[str, float] = {}
    for call in stand_in.calls_to("chat.update"):
        key = thread_of.get((str(call.args.get("channel")), str(call.args.get("ts"))))
        if key and "footer:" in json.dumps(call.args.get("blocks") or []):
            out.setdefault(key, call.at)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=1.0, help="events per second")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--redeliver", type=float, default=0.1, help="share of events delivered twice")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument(
        "--drain-s", type=float, default=180.0, help="how long to wait for answers after sending"
    )
    ap.add_argument("--out", default="bench/results/load_slack.json")
    args = ap.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
