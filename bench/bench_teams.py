"""Teams adapter benchmark: request-to-reply time and concurrent conversations.

    python bench/bench_teams.py                          # Katib docs, 8 conversations x 3 questions
    python bench/bench_teams.py --conversations 32 --questions 5
    python bench/bench_teams.py --data-dir .docbot       # use an index you already built
    python bench/bench_teams.py --empty-index --conversations 64   # adapter capacity, no model

Everything real but the network: the aiohttp `POST /api/messages` endpoint with JWT validation
against OpenID metadata served on loopback, the docbot core with the offline extractive model
over a real index (by default the 24 Katib pages of the Kubeflow corpus, embedded on first run),
and a stand-in Bot Connector on 127.0.0.1 that receives the typing indicator, the answer and
the sources card. Per question it reports:

- first typing: request sent -> typing indicator at the connector (what the user sees first);
- reply: request sent -> answer text at the connector;
- done: request sent -> HTTP 201 (the card was delivered too; the turn is over);
- core_answer_ms_p50: the core's own answering time (from its answer log), for comparison.

Conversations run concurrently, each asking its questions one after another (a person waits
for the answer before asking again); throughput is answers per second over the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.teams import TeamsAdapter  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core import Bot  # noqa: E402
from tests.adapters.teams.payloads import load_fixture  # noqa: E402
from tests.adapters.teams.standins import (  # noqa: E402
    APP_ID,
    OpenIdIssuer,
    StandInConnector,
    StaticTokenCredentialsFactory,
)
from tests.local_net import start_app  # noqa: E402

CORPUS = Path("/work/shared/corpus/kubeflow/md/components/katib")
CORPUS_BASE_URL = "https://www.kubeflow.org/docs/components/katib/"
QUESTIONS = ROOT / "tests" / "data" / "dev_questions.jsonl"


def build_index(data_dir: Path, corpus: Path, base_url: str) -> float:
    """Ingest a Markdown folder into `data_dir` once; returns the seconds it took (0 if reused)."""
    settings = Settings.from_env({"DOCBOT_DATA_DIR": str(data_dir)}, env_file=None)
    from rag.index_store import IndexStore

    if IndexStore(settings).current() is not None:
        return 0.0
    from ingest.local import read_folder
    from rag.index_build import build_index as build

    t0 = time.perf_counter()
    pages = read_folder(corpus, base_url=base_url)
    build(pages, settings, source=str(corpus))
    return time.perf_counter() - t0


def load_questions(keyword: str) -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    picked = [r["question"] for r in rows if keyword in json.dumps(r).lower()]
    return picked or [r["question"] for r in rows]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="docbot-bench-teams-"))
    index_s = 0.0
    if not args.empty_index:
        index_s = await asyncio.to_thread(build_index, data_dir, Path(args.corpus), args.base_url)

    issuer = OpenIdIssuer().start()
    connector = await StandInConnector().start()
    settings = Settings.from_env(
        {
            "DOCBOT_DATA_DIR": str(data_dir),
            "MicrosoftAppId": APP_ID,
            "MicrosoftAppPassword": "bench-only",
            "DOCBOT_TEAMS_OPENID_METADATA_URL": issuer.metadata_url,
            "DOCBOT_RATE_LIMIT_PER_MINUTE": "0",
            "DOCBOT_MAX_CONCURRENT_ANSWERS": str(args.max_concurrent_answers),
        },
        env_file=None,
    )
    bot = Bot.from_settings(settings)
    outbound = issuer.token(service_url=connector.url, audience="https://api.botframework.com")
    adapter = TeamsAdapter(
        bot, settings, credentials_factory=StaticTokenCredentialsFactory(APP_ID, lambda: outbound)
    )
    app = web.Application()
    app.add_routes(adapter.routes())
    runner, base = await start_app(app, access_log=None)
    url = f"{base}/api/messages"
    questions = load_questions(args.keyword)
    token = issuer.token(service_url=connector.url, lifetime_s=24 * 3600)
    template = load_fixture("teams_personal_message.json")
    run_id = f"{time.time_ns():x}"  # fresh activity ids: a reused data dir remembers old ones

    # Warm-up: loads the embedding model and the index, outside the measurement.
    t0 = time.perf_counter()
    async with ClientSession() as session:
        body = dict(template, serviceUrl=connector.url, id=f"warmup-{run_id}", text=questions[0])
        async with session.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 201, r.status
    warmup_s = time.perf_counter() - t0

    samples: list[dict[str, float]] = []
    errors: list[str] = []

    async def conversation(session: ClientSession, c: int) -> None:
        conv_id = f"a:bench-conversation-{c}"
        for q in range(args.questions):
            activity_id = f"bench-{run_id}-{c}-{q}"
            body = dict(
                template,
                serviceUrl=connector.url,
                id=activity_id,
                text=questions[(c + q) % len(questions)],
                conversation=dict(template["conversation"], id=conv_id),
            )
            start = time.perf_counter()
            async with session.post(
                url, json=body, headers={"Authorization": f"Bearer {token}"}
            ) as response:
                status = response.status
            done = time.perf_counter()
            mine = [s for s in connector.sent if s.reply_to_id == activity_id]
            texts = [s for s in mine if s.activity.get("type") == "message"]
            typing = [s for s in mine if s.activity.get("type") == "typing"]
            if status != 201 or len(texts) < 2:
                errors.append(f"{activity_id}: HTTP {status}, {len(texts)} messages")
                continue
            samples.append(
                {
                    "typing_ms": (typing[0].at - start) * 1000 if typing else float("nan"),
                    "reply_ms": (texts[0].at - start) * 1000,
                    "done_ms": (done - start) * 1000,
                }
            )

    since = time.time()
    t0 = time.perf_counter()
    async with ClientSession() as session:
        await asyncio.gather(*(conversation(session, c) for c in range(args.conversations)))
    wall = time.perf_counter() - t0

    # The core's own time per answer (embedding, retrieval, extractive answer), from its log;
    # the rest of "reply" is the adapter: auth, parsing, typing, rendering, connector calls.
    core_ms = [row["latency_ms"] for row in bot.store.answers(since)]
    await runner.cleanup()
    await connector.stop()
    issuer.stop()
    bot.store.close()

    def summary(key: str) -> dict[str, float]:
        values = [s[key] for s in samples]
        if not values:
            return {}
        return {
            "p50": round(statistics.median(values), 1),
            "p95": round(pct(values, 0.95), 1),
            "max": round(max(values), 1),
        }

    return {
        "conversations": args.conversations,
        "questions_per_conversation": args.questions,
        "answers": len(samples),
        "errors": errors,
        "index_build_s": round(index_s, 1),
        "warmup_s": round(warmup_s, 2),
        "wall_s": round(wall, 2),
        "answers_per_s": round(len(samples) / wall, 2) if wall else 0.0,
        "first_typing_ms": summary("typing_ms"),
        "reply_ms": summary("reply_ms"),
        "done_ms": summary("done_ms"),
        "core_answer_ms_p50": round(statistics.median(core_ms), 1) if core_ms else None,
        "data_dir": str(data_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--questions", type=int, default=3, help="per conversation, in sequence")
    parser.add_argument("--data-dir", default="", help="docbot data dir with an index (reused)")
    parser.add_argument("--corpus", default=str(CORPUS), help="Markdown folder to index")
    parser.add_argument("--base-url", default=CORPUS_BASE_URL)
    parser.add_argument("--keyword", default="katib", help="pick dev questions mentioning this")
    parser.add_argument("--max-concurrent-answers", type=int, default=8)
    parser.add_argument(
        "--empty-index",
        action="store_true",
        help="no index: the core declines at once, so this measures the adapter's own capacity",
    )
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
