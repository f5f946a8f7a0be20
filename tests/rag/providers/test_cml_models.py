"""The CML Models endpoint provider against a local stand-in of modelservice."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from bot.config import Secret
from rag.generation import GenerationRequest, ProviderError, Source
from rag.providers.cml_models import CMLModelProvider, extract_text, model_url, strip_echo

KEY = "mkey-secret-123"


async def no_sleep(_: float) -> None:
    """Backoff without waiting, so retry tests stay fast."""


REQUEST = GenerationRequest(
    question="How do I create a pipeline?",
    sources=[Source(1, "Pipelines", "https://docs/p#a", "Create", "Use the SDK.")],
    temperature=0.1,
    length="short",
)


async def collect(provider: CMLModelProvider, request: GenerationRequest = REQUEST) -> list[str]:
    try:
        return [delta async for delta in provider.generate(request)]
    finally:
        await provider.aclose()


def provider(url: str, **kwargs) -> CMLModelProvider:
    kwargs.setdefault("sleep", no_sleep)
    return CMLModelProvider(f"{url}/model", Secret(KEY), **kwargs)


async def test_success_sends_the_lab_payload_and_strips_the_echoed_prompt(serve) -> None:
    seen: list[dict] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        prompt = body["request"]["prompt"]
        # The lab's model returns the decoded text including the prompt (minus <s>),
        # nested under prediction when metrics are on.
        answer = prompt.removeprefix("<s>") + " Use the SDK [1]."
        return web.json_response(
            {"success": True, "response": {"prediction": {"response": answer}}}
        )

    url = await serve(handler)
    assert await collect(provider(url)) == ["Use the SDK [1]."]
    sent = seen[0]
    assert sent["accessKey"] == KEY
    assert sent["request"]["temperature"] == 0.1
    assert sent["request"]["max_new_tokens"] == REQUEST.max_tokens
    assert sent["request"]["prompt"].startswith("<s>[INST] ")
    assert "[1] Pipelines › Create" in sent["request"]["prompt"]


async def test_key_already_in_the_url_is_not_repeated(serve) -> None:
    seen: list[tuple[str, dict]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.query_string, await request.json()))
        return web.json_response({"response": {"result": "ok"}})

    url = await serve(handler)
    p = CMLModelProvider(f"{url}/model?accessKey=abc", Secret(""))
    assert p.configured
    assert await collect(p) == ["ok"]
    assert seen[0][0] == "accessKey=abc" and "accessKey" not in seen[0][1]


async def test_429_model_busy_is_retried(serve) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            return web.json_response({"errors": ["model.busy"]}, status=429)
        return web.json_response({"response": {"response": "fine"}})

    url = await serve(handler)
    assert await collect(provider(url)) == ["fine"]
    assert calls == 3


async def test_429_that_persists_fails_as_busy(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"errors": ["model.busy"]}, status=429)

    url = await serve(handler)
    with pytest.raises(ProviderError) as err:
        await collect(provider(url, max_attempts=2))
    assert err.value.reason == "is busy (HTTP 429)" and err.value.retryable


async def test_5xx_fails_without_leaking_the_body_or_key(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=500, text=f"boom {KEY}")

    url = await serve(handler)
    with pytest.raises(ProviderError) as err:
        await collect(provider(url, max_attempts=1))
    assert err.value.reason == "failed (HTTP 500)"
    assert KEY not in str(err.value)


async def test_timeout(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"response": "late"})

    url = await serve(handler)
    with pytest.raises(ProviderError) as err:
        await collect(provider(url, timeout_s=0.2))
    assert err.value.reason == "timed out"


async def test_malformed_json(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text='{"response": ', content_type="application/json")

    url = await serve(handler)
    with pytest.raises(ProviderError) as err:
        await collect(provider(url))
    assert err.value.reason == "returned an unreadable response"


async def test_unexpected_shape_and_failure_flag(serve) -> None:
    replies = iter([{"response": {"numbers": [1, 2]}}, {"success": False, "response": {}}])

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(next(replies))

    url = await serve(handler)
    p = provider(url)
    with pytest.raises(ProviderError, match="unreadable"):
        await collect(p)
    with pytest.raises(ProviderError, match="reported an error"):
        await collect(p)


async def test_unreachable() -> None:
    p = CMLModelProvider("http://127.0.0.1:9/model", Secret(KEY), timeout_s=2)
    with pytest.raises(ProviderError) as err:
        await collect(p)
    assert err.value.reason in ("is unreachable", "timed out")


async def test_not_configured() -> None:
    p = CMLModelProvider("", Secret(""))
    assert not p.configured
    with pytest.raises(ProviderError, match="not configured"):
        await collect(p)


def test_model_url_from_domain() -> None:
    assert (
        model_url("", "ml-1234.cloudera.site") == "https://modelservice.ml-1234.cloudera.site/model"
    )
    assert model_url("https://x/model", "ignored") == "https://x/model"
    assert model_url("", "") == ""


def test_extract_text_shapes() -> None:
    assert extract_text({"prediction": {"response": "a"}}) == "a"
    assert extract_text({"result": "b"}) == "b"
    assert extract_text("c") == "c"
    assert extract_text({"outputs": [{"text": "d"}]}) == "d"
    assert extract_text({"choices": [{"message": {"content": "e"}}]}) == "e"
    assert extract_text({"nothing": 1}) is None
    assert extract_text(json.loads("[]")) is None


def test_strip_echo_variants() -> None:
    prompt = "<s>[INST] q [/INST]"
    assert strip_echo("[INST] q [/INST] answer", prompt) == "answer"
    assert strip_echo("  [INST] q [/INST]answer", prompt) == "answer"
    assert strip_echo("[INST] other [/INST] tail</s>", prompt) == "tail"
    assert strip_echo("just an answer", prompt) == "just an answer"
