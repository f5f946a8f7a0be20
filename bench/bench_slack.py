"""Slack adapter benchmark: HTTP ack latency, time to placeholder, answers per second.

Runs the real adapter (bolt AsyncApp over aiohttp, HTTP Events API mode) and the
real bot core against the local Slack stand-in, all on loopback:

1. a small index is built from part of the Kubeflow corpus (extractive model, no LLM);
2. `--events` distinct signed `message.im` events are sent at once; for each we
   measure the HTTP ack latency and the time until its placeholder reaches Slack;
3. answers per second = events / time from the first send to the last final answer.

    python bench/bench_slack.py --events 50 --pages 20
    python bench/bench_slack.py --events 50 --no-index   # the adapter alone, no answering work

Targets (issue #6): ack p99 <= 50 ms, placeholder <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.slack.app import SlackAdapter  # noqa: E402
from adapters.slack.stand_in import SlackStandIn  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core import Bot  # noqa: E402
from tests.local_net import start_app  # noqa: E402

FIXTURES = Path("/work/shared/fixtures")
CORPUS = Path("/work/shared/corpus/kubeflow/md")
SECRET = "bench-signing-secret"
QUESTIONS = [
    "How do I install Kubeflow Pipelines?",
    "What is a Kubeflow notebook server?",
    "How do I run a hyperparameter tuning experiment with Katib?",
    "How can I serve a model with KServe?",
    "What are pipeline components?",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def signed(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={sig}",
    }


def copy_pages(pages: int) -> Path:
    docs = Path(tempfile.mkdtemp(prefix="bench-slack-docs-"))
    for path in sorted(CORPUS.rglob("*.md"))[:pages]:
        target = docs / path.relative_to(CORPUS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return docs


async def build_index(settings: Settings, pages: int) -> str:
    from ingest.pipeline import IngestRequest, format_summary, run_ingest
    from ingest.sources import SourceSpec

    docs = await asyncio.to_thread(copy_pages, pages)
    result = await run_ingest(IngestRequest(SourceSpec("path", str(docs))), settings)
    shutil.rmtree(docs, ignore_errors=True)
    return format_summary(result)


def dm_event(i: int, run: str) -> dict[str, Any]:
    body = copy.deepcopy(json.loads((FIXTURES / "slack_dm.json").read_text()))
    body["event_id"] = f"EvBENCH{run}{i:05d}"
    body["event"].update(
        channel=f"DBENCH{run}{i:05d}",
        user=f"UBENCH{i:05d}",  # distinct users: the core's per-user rate limit stays out of it
        text=QUESTIONS[i % len(QUESTIONS)],
        ts=f"{int(time.time())}.{i:06d}",
    )
    return body


def finals(stand_in: SlackStandIn) -> dict[str, float]:
    """channel -> time its final answer (message with feedback buttons) reached Slack."""
    out: dict[str, float] = {}
    for call in stand_in.calls_to("chat.update") + stand_in.calls_to("chat.postMessage"):
        if any(b.get("type") == "actions" for b in call.args.get("blocks") or []):
            out.setdefault(call.args["channel"], call.at)
    return out


async def burst(
    session: aiohttp.ClientSession, url: str, stand_in: SlackStandIn, n: int, run: str
) -> dict[str, float]:
    bodies = [json.dumps(dm_event(i, run)).encode() for i in range(n)]
    sent: dict[str, float] = {}
    acks: list[float] = []

    async def post(i: int, body: bytes) -> None:
        channel = f"DBENCH{run}{i:05d}"
        sent[channel] = time.monotonic()
        async with session.post(url, data=body, headers=signed(body)) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        acks.append((time.monotonic() - sent[channel]) * 1000)

    start = time.monotonic()
    await asyncio.gather(*(post(i, b) for i, b in enumerate(bodies)))
    mine = {c: t for c, t in sent.items()}

    def all_answered(s: SlackStandIn) -> dict[str, float] | None:
        answered = finals(s)
        return answered if all(c in answered for c in mine) else None

    done = await stand_in.wait_for(all_answered, timeout=600)
    placeholders = {}
    for call in stand_in.calls_to("chat.postMessage"):
        channel = call.args["channel"]
        if channel in mine and channel not in placeholders:
            placeholders[channel] = (call.at - mine[channel]) * 1000
    last = max(done[c] for c in mine)
    return {
        "ack_p50_ms": statistics.median(acks),
        "ack_p99_ms": percentile(acks, 99),
        "ack_max_ms": max(acks),
        "placeholder_p50_ms": statistics.median(placeholders.values()),
        "placeholder_p99_ms": percentile(list(placeholders.values()), 99),
        "answers_per_s": n / (last - start),
        "seconds": last - start,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50, help="concurrent events per burst")
    parser.add_argument("--pages", type=int, default=20, help="corpus pages to index")
    parser.add_argument("--rounds", type=int, default=2, help="bursts to run (after a warm-up)")
    parser.add_argument(
        "--no-index",
        action="store_true",
        help="skip the index: the core answers 'no docs indexed' at once (adapter overhead only)",
    )
    args = parser.parse_args()

    stand_in = await SlackStandIn().start()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-slack-"))
    settings = Settings.from_env(
        {
            "DOCBOT_DATA_DIR": str(data_dir),
            "DOCBOT_SLACK_MODE": "http",
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "DOCBOT_SLACK_API_URL": stand_in.api_url,
            "DOCBOT_MODEL": "extractive",
            "DOCBOT_RATE_LIMIT_PER_MINUTE": "0",
            "DOCBOT_LOG_LEVEL": "warning",
        },
        env_file=None,
    )
    if not args.no_index:
        t0 = time.monotonic()
        print(await build_index(settings, args.pages), f"({time.monotonic() - t0:.1f} s)")
    bot = Bot.from_settings(settings)
    adapter = SlackAdapter(bot, settings)
    app = web.Application()
    app.add_routes(adapter.routes())
    runner, base = await start_app(app, access_log=None)
    url = f"{base}/slack/events"
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=args.events)
        ) as session:
            warm = await burst(session, url, stand_in, 2, "W")  # auth.test, embedding model load
            print(f"warm-up: {warm['seconds']:.1f} s")
            for r in range(args.rounds):
                result = await burst(session, url, stand_in, args.events, f"R{r}")
                print(
                    f"round {r + 1}: {args.events} concurrent events | "
                    f"ack p50 {result['ack_p50_ms']:.1f} ms p99 {result['ack_p99_ms']:.1f} ms "
                    f"(max {result['ack_max_ms']:.1f}) | placeholder p50 "
                    f"{result['placeholder_p50_ms']:.0f} ms p99 {result['placeholder_p99_ms']:.0f} ms"
                    f" | {result['answers_per_s']:.1f} answers/s ({result['seconds']:.1f} s)"
                )
    finally:
        await adapter.close()
        await runner.cleanup()
        await stand_in.close()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
