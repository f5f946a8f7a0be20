"""Router benchmarks: overhead per answer without a model, and time to first token when streaming.

    python bench/bench_router.py                      # both, defaults (a few seconds)
    python bench/bench_router.py --answers 2000 --rate 40 --tokens 80 --runs 10

1. overhead: prompt building (5 sources of ~300 words, 4 follow-up turns),
   routing with breaker and timeouts, delta forwarding, citation finalize,
   with a provider that answers instantly (40 deltas). The model's time is zero,
   so what is measured is docbot's own cost per answer.
2. streaming: a local stand-in model (an OpenAI-compatible SSE server on
   127.0.0.1) emits tokens at a fixed rate; the real Cloudera AI Inference
   provider streams through the router to an `on_delta` callback. Reports time
   to first token (TTFT) and its excess over the model's own first-token delay.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Secret, Settings  # noqa: E402
from bot.types import Turn  # noqa: E402
from rag.citations import finalize  # noqa: E402
from rag.generation import GenerationRequest, Source  # noqa: E402
from rag.prompt import build_messages  # noqa: E402
from rag.router import ModelRouter  # noqa: E402
from tests.local_net import start_app  # noqa: E402

ANSWER = " ".join(f"step{i} [1]" if i % 10 == 0 else f"word{i}" for i in range(40))


def request() -> GenerationRequest:
    words = " ".join(f"token{i}" for i in range(300))
    sources = [
        Source(n, f"Page {n}", f"https://docs/p{n}#s", "Section", words) for n in range(1, 6)
    ]
    history = [Turn("user" if i % 2 == 0 else "assistant", f"turn {i} " * 20) for i in range(4)]
    return GenerationRequest(question="How do I install Katib?", sources=sources, history=history)


class InstantProvider:
    """Builds the prompt like a real provider, then answers at once in 40 deltas."""

    name = "instant"
    label = "instant"

    async def generate(self, req: GenerationRequest) -> AsyncIterator[str]:
        build_messages(req, max_context_tokens=8000)
        for word in ANSWER.split(" "):
            yield word + " "


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_overhead(answers: int) -> dict[str, float]:
    router = ModelRouter(
        Settings(default_model="instant"), InstantProvider(), {"instant": InstantProvider()}
    )
    req = request()
    received = 0

    async def on_delta(delta: str) -> None:
        nonlocal received
        received += 1

    times: list[float] = []
    for _ in range(answers):
        start = time.perf_counter()
        routed = await router.generate("instant", req, on_delta)
        finalize(routed.text, req.sources, retrieval_weak=False, use_docs=True)
        times.append((time.perf_counter() - start) * 1e6)
    return {
        "answers": answers,
        "mean_us": round(statistics.fmean(times), 1),
        "p50_us": round(percentile(times, 0.5), 1),
        "p95_us": round(percentile(times, 0.95), 1),
    }


async def start_model(rate: float, tokens: int) -> tuple[web.AppRunner, str]:
    interval = 1.0 / rate

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(tokens):
            await asyncio.sleep(interval)  # the model's time per token, first one included
            chunk = {"choices": [{"delta": {"content": f"tok{i} "}, "finish_reason": None}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner, url = await start_app(app)
    return runner, f"{url}/v1"


async def bench_streaming(rate: float, tokens: int, runs: int) -> dict[str, float]:
    runner, url = await start_model(rate, tokens)
    settings = Settings(
        default_model="caii", caii_url=url, caii_model="stand-in", caii_token=Secret("x")
    )
    router = ModelRouter(settings, InstantProvider())
    req = request()
    ttft: list[float] = []
    totals: list[float] = []
    try:
        await router.generate("caii", req)  # warm the connection pool
        for _ in range(runs):
            first: float | None = None
            start = time.perf_counter()

            async def on_delta(delta: str, start: float = start) -> None:
                nonlocal first
                if first is None:
                    first = time.perf_counter() - start

            routed = await router.generate("caii", req, on_delta)
            assert routed.provider == "caii", routed.notices
            totals.append(time.perf_counter() - start)
            ttft.append(first or 0.0)
    finally:
        await router.aclose()
        await runner.cleanup()
    interval_ms = 1000.0 / rate
    return {
        "rate_tokens_per_s": rate,
        "tokens": tokens,
        "runs": runs,
        "model_first_token_ms": round(interval_ms, 1),
        "ttft_p50_ms": round(percentile(ttft, 0.5) * 1000, 2),
        "ttft_excess_p50_ms": round(percentile(ttft, 0.5) * 1000 - interval_ms, 2),
        "total_p50_ms": round(percentile(totals, 0.5) * 1000, 1),
        "model_total_ms": round(interval_ms * tokens, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=500, help="answers for the overhead run")
    parser.add_argument("--rate", type=float, default=50.0, help="stand-in model tokens per second")
    parser.add_argument("--tokens", type=int, default=40, help="tokens per streamed answer")
    parser.add_argument("--runs", type=int, default=10, help="streamed answers")
    args = parser.parse_args(argv)
    print(json.dumps({"overhead": asyncio.run(bench_overhead(args.answers))}))
    print(
        json.dumps({"streaming": asyncio.run(bench_streaming(args.rate, args.tokens, args.runs))})
    )


if __name__ == "__main__":
    main()
