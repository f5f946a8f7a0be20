"""The model router: choice, fallback order and notices, timeouts, breakers, health."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.config import Secret, Settings
from rag.generation import GenerationRequest, ProviderError, Source
from rag.providers.bedrock import BedrockProvider
from rag.providers.caii import CAIIProvider
from rag.router import ModelRouter, RoutedAnswer
from tests.local_net import start_app

REQUEST = GenerationRequest(
    question="How do I install Katib?",
    sources=[Source(1, "Katib", "https://docs/katib#install", "Install", "Apply the manifests.")],
)


class StandIn:
    """A provider with scripted behaviour; counts its calls."""

    def __init__(
        self,
        name: str,
        deltas: list[str] | None = None,
        *,
        error: ProviderError | None = None,
        delay: float = 0.0,
        gap: float = 0.0,
        configured: bool = True,
    ) -> None:
        self.name = name
        self.label = f"StandIn({name})"
        self.deltas = deltas if deltas is not None else [f"answer from {name}"]
        self.error = error
        self.delay = delay
        self.gap = gap
        self.configured = configured
        self.calls = 0

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str]:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        for i, delta in enumerate(self.deltas):
            if i and self.gap:
                await asyncio.sleep(self.gap)
            yield delta
        if self.error is not None:
            raise self.error


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(
    providers: dict[str, StandIn],
    *,
    model: str = "bedrock",
    fallback: tuple[str, ...] = (),
    timeout: float = 1.0,
    clock: Clock | None = None,
    named: dict[str, str] | None = None,
) -> tuple[ModelRouter, StandIn]:
    settings = Settings(
        default_model=model,
        fallback_chain=fallback,
        model_timeout_s=timeout,
        named_models=named or {},
    )
    extractive = StandIn("extractive", ["extractive answer [1]"])
    router = ModelRouter(settings, extractive, providers, clock=clock or Clock())
    return router, extractive


async def test_chosen_model_answers_and_streams_deltas() -> None:
    bedrock = StandIn("bedrock", ["Apply ", "the manifests [1]."])
    router, extractive = make({"bedrock": bedrock})
    seen: list[str] = []

    async def on_delta(delta: str) -> None:
        seen.append(delta)

    answer = await router.generate("bedrock", REQUEST, on_delta)
    assert answer == RoutedAnswer("Apply the manifests [1].", "bedrock", "StandIn(bedrock)", [])
    assert seen == ["Apply ", "the manifests [1]."]
    assert extractive.calls == 0


async def test_fallback_order_and_notice() -> None:
    bedrock = StandIn("bedrock", [], error=ProviderError("bedrock", "timed out"))
    cml = StandIn("cml")
    router, _ = make({"bedrock": bedrock, "cml": cml}, fallback=("cml",))
    assert router.chain("bedrock") == ["bedrock", "cml", "extractive"]
    answer = await router.generate("bedrock", REQUEST)
    assert answer.provider == "cml" and answer.text == "answer from cml"
    assert answer.notices == ["Bedrock timed out; answered by the CML model."]


async def test_an_empty_reply_from_a_language_model_falls_back_and_counts_as_a_failure() -> None:
    blank = StandIn("bedrock", ["", " \n"])
    router, extractive = make({"bedrock": blank, "cml": StandIn("cml")}, fallback=("cml",))
    answer = await router.generate("bedrock", REQUEST)
    assert answer.provider == "cml" and answer.text == "answer from cml"
    assert answer.notices == ["Bedrock returned an empty answer; answered by the CML model."]
    assert extractive.calls == 0
    assert router.health()["bedrock"] == "ok (1 recent failure)"


async def test_every_failure_is_listed_before_the_extractive_answer() -> None:
    bedrock = StandIn("bedrock", [], error=ProviderError("bedrock", "is throttled"))
    cml = StandIn("cml", [], error=ProviderError("cml", "is busy (HTTP 429)"))
    router, extractive = make({"bedrock": bedrock, "cml": cml}, fallback=("cml", "bedrock"))
    answer = await router.generate("bedrock", REQUEST)
    assert answer.provider == "extractive" and extractive.calls == 1
    assert bedrock.calls == 1  # listed twice, tried once
    assert answer.notices == [
        "Bedrock is throttled; the CML model is busy (HTTP 429); answered by the offline answerer."
    ]


async def test_readers_only_never_falls_back_to_the_extractive_answerer() -> None:
    bedrock = StandIn("bedrock", [], error=ProviderError("bedrock", "timed out"))
    router, extractive = make({"bedrock": bedrock})
    assert router.chain("bedrock", readers_only=True) == ["bedrock"]
    answer = await router.generate("bedrock", REQUEST, readers_only=True)
    assert answer.provider == "none" and answer.text == "" and extractive.calls == 0
    assert answer.notices == ["Bedrock timed out; no model could answer."]


async def test_readers_only_still_follows_the_fallback_chain() -> None:
    bedrock = StandIn("bedrock", [], error=ProviderError("bedrock", "timed out"))
    router, _ = make({"bedrock": bedrock, "cml": StandIn("cml")}, fallback=("cml",))
    answer = await router.generate("bedrock", REQUEST, readers_only=True)
    assert answer.provider == "cml"


def test_only_language_models_read_the_sources() -> None:
    router, _ = make({"bedrock": StandIn("bedrock")}, model="extractive")
    assert router.reads("bedrock") and not router.reads("extractive")
    assert not router.reads("")  # the default model here is the offline answerer
    assert router.chain("extractive", readers_only=True) == []


async def test_timeout_before_first_token_falls_back() -> None:
    slow = StandIn("bedrock", delay=5)
    router, _ = make({"bedrock": slow}, timeout=0.1)
    answer = await router.generate("bedrock", REQUEST)
    assert answer.provider == "extractive"
    assert answer.notices == ["Bedrock timed out; answered by the offline answerer."]


async def test_stall_mid_stream_restarts_the_message_on_the_next_provider() -> None:
    stalling = StandIn("bedrock", ["partial ", "never"], gap=5)
    router, _ = make({"bedrock": stalling}, timeout=0.1)
    events: list[str] = []

    async def on_delta(delta: str) -> None:
        events.append(delta)

    async def on_restart() -> None:
        events.append("<restart>")

    answer = await router.generate("bedrock", REQUEST, on_delta, on_restart)
    assert events == ["partial ", "<restart>", "extractive answer [1]"]
    assert answer.text == "extractive answer [1]"


async def test_not_configured_provider_is_skipped_with_a_notice() -> None:
    bedrock = StandIn("bedrock", configured=False)
    router, _ = make({"bedrock": bedrock})
    answer = await router.generate("bedrock", REQUEST)
    assert bedrock.calls == 0
    assert answer.notices == ["Bedrock is not configured; answered by the offline answerer."]
    assert router.health()["bedrock"] == "not configured"


async def test_unknown_model_uses_the_default_and_says_so() -> None:
    router, _ = make({"bedrock": StandIn("bedrock")})
    answer = await router.generate("gpt-9", REQUEST)
    assert answer.provider == "bedrock"
    assert answer.notices == ["Unknown model 'gpt-9'; answered by Bedrock."]


async def test_extractive_choice_does_not_use_the_fallback_chain() -> None:
    bedrock = StandIn("bedrock")
    router, extractive = make({"bedrock": bedrock}, fallback=("bedrock",))
    assert router.chain("offline") == ["extractive"]
    answer = await router.generate("extractive", REQUEST)
    assert answer.provider == "extractive" and bedrock.calls == 0 and answer.notices == []


async def test_no_rag_answers_say_so() -> None:
    router, _ = make({"bedrock": StandIn("bedrock")})
    answer = await router.generate("bedrock", GenerationRequest(question="hi", use_docs=False))
    assert answer.notices == ["Answered by the model alone, without the documentation."]


async def test_a_provider_bug_is_a_failure_not_a_crash() -> None:
    class Broken(StandIn):
        async def generate(self, request: GenerationRequest) -> AsyncIterator[str]:
            raise KeyError("bug")
            yield ""  # pragma: no cover

    router, _ = make({"bedrock": Broken("bedrock")})
    answer = await router.generate("bedrock", REQUEST)
    assert answer.provider == "extractive"
    assert answer.notices == ["Bedrock failed; answered by the offline answerer."]


async def test_when_even_extractive_fails_the_answer_is_empty_with_a_notice() -> None:
    settings = Settings(default_model="extractive")
    broken = StandIn("extractive", [], error=ProviderError("extractive", "failed"))
    router = ModelRouter(settings, broken)
    answer = await router.generate("extractive", REQUEST)
    assert answer.text == "" and answer.provider == "none"
    assert answer.notices == ["The offline answerer failed; no model could answer."]


# -- circuit breaker ------------------------------------------------------------------------------


async def test_breaker_opens_skips_then_probes_and_closes() -> None:
    clock = Clock()
    bedrock = StandIn("bedrock", [], error=ProviderError("bedrock", "is unavailable"))
    router, _ = make({"bedrock": bedrock}, clock=clock)
    for _ in range(3):
        await router.generate("bedrock", REQUEST)
    assert bedrock.calls == 3
    assert router.health()["bedrock"] == "open (cooling down 30s)"

    answer = await router.generate("bedrock", REQUEST)
    assert bedrock.calls == 3  # skipped while open
    assert answer.notices == [
        "Bedrock is paused after repeated failures; answered by the offline answerer."
    ]

    clock.now += 31  # cool-down over: the next request is a probe
    assert router.health()["bedrock"].startswith("half-open")
    bedrock.error, bedrock.deltas = None, ["back again [1]"]
    answer = await router.generate("bedrock", REQUEST)
    assert bedrock.calls == 4 and answer.provider == "bedrock"
    assert router.health()["bedrock"] == "ok"


async def test_follow_ups_are_rewritten_only_by_a_reading_model_whose_breaker_is_closed() -> None:
    clock = Clock()
    bedrock = StandIn("bedrock", [], error=ProviderError("bedrock", "is unavailable"))
    router, _ = make({"bedrock": bedrock}, clock=clock)
    assert router.condenser("bedrock") is bedrock
    assert router.condenser("extractive") is None  # the offline answerer reads no thread
    for _ in range(3):
        await router.generate("bedrock", REQUEST)
    assert router.condenser("bedrock") is None  # open: a follow-up would only wait for it
    clock.now += 31
    assert router.condenser("bedrock") is None  # half-open: the answer itself is the probe
    bedrock.error, bedrock.deltas = None, ["back again [1]"]
    await router.generate("bedrock", REQUEST)
    assert router.condenser("bedrock") is bedrock


async def test_failed_probe_reopens() -> None:
    clock = Clock()
    bedrock = StandIn("bedrock", [], error=ProviderError("bedrock", "is unavailable"))
    router, _ = make({"bedrock": bedrock}, clock=clock)
    for _ in range(3):
        await router.generate("bedrock", REQUEST)
    clock.now += 31
    await router.generate("bedrock", REQUEST)
    assert bedrock.calls == 4
    assert router.health()["bedrock"].startswith("open")


# -- names, resolution, settings ---------------------------------------------------------------------


def test_names_resolve_and_named_models_from_settings() -> None:
    settings = Settings(
        named_models={"claude": "bedrock:us.anthropic.claude-3-5-haiku-20241022-v1:0"},
        caii_url="https://caii.example/namespaces/serving-default/endpoints/llama/v1",
        caii_model="meta/llama-3.1-8b-instruct",
        caii_token=Secret("t"),
        aws_region="us-east-1",
    )
    router = ModelRouter(settings, StandIn("extractive"))
    assert router.names() == ["bedrock", "caii", "bedrock:claude", "extractive"]
    assert router.resolve("Bedrock") == "bedrock"
    assert router.resolve("claude") == "bedrock:claude"
    assert router.resolve("BEDROCK:Claude") == "bedrock:claude"
    assert router.resolve("offline") == "extractive"
    assert router.resolve("cml") == "caii"  # only AI Inference is configured
    assert router.resolve("gpt-4") is None and router.resolve("  ") is None
    claude = router.provider("bedrock:claude")
    assert isinstance(claude, BedrockProvider)
    assert claude.model_id == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert claude._client is None  # lazily: no boto3 client until first use
    assert isinstance(router.provider("caii"), CAIIProvider)
    health = router.health()
    assert health == {"bedrock": "ok", "caii": "ok", "bedrock:claude": "ok", "extractive": "ok"}


def test_cml_models_endpoint_from_the_cml_domain() -> None:
    settings = Settings(cml_domain="ml-1.cloudera.site", cml_model_access_key=Secret("k"))
    router = ModelRouter(settings, StandIn("extractive"))
    assert router.resolve("cml") == "cml"
    assert router.provider("cml").url == "https://modelservice.ml-1.cloudera.site/model"  # type: ignore[union-attr]
    assert "k" not in repr(router.provider("cml").label)  # type: ignore[union-attr]


def test_fallback_chain_ignores_unknown_names() -> None:
    router, _ = make({"bedrock": StandIn("bedrock")}, fallback=("nope", "offline", "bedrock"))
    assert router.chain("bedrock") == ["bedrock", "extractive"]


# -- end to end through a real provider -----------------------------------------------------------------


@pytest.fixture
async def caii_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A stand-in AI Inference endpoint: 500 on the first call, an SSE answer afterwards."""
    calls: list[int] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        calls.append(1)
        if len(calls) == 1:
            return web.Response(status=500)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for text in ("Katib ", "is installed [1]."):
            payload = {"choices": [{"delta": {"content": text}, "finish_reason": None}]}
            await resp.write(f"data: {json.dumps(payload)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner, url = await start_app(app)
    yield f"{url}/v1", calls
    await runner.cleanup()


async def test_real_provider_failure_then_success(caii_server: tuple[str, list[int]]) -> None:
    url, calls = caii_server
    settings = Settings(
        default_model="cml",
        caii_url=url,
        caii_model="m",
        caii_token=Secret("tok"),
        model_timeout_s=5,
    )
    router = ModelRouter(settings, StandIn("extractive", ["offline [1]"]))
    first = await router.generate("cml", REQUEST)
    assert first.provider == "extractive"
    assert first.notices == [
        "The Cloudera AI Inference model failed (HTTP 500); answered by the offline answerer."
    ]
    second = await router.generate("cml", REQUEST)
    assert second.text == "Katib is installed [1]." and second.provider == "caii"
    assert second.label == "Cloudera AI Inference (m)"
    assert len(calls) == 2
    await router.aclose()
