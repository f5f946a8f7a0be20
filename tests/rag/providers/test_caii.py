"""Cloudera AI Inference (OpenAI-compatible) against a local stand-in, streaming over SSE."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import Secret
from rag.generation import GenerationRequest, ProviderError, Source
from rag.providers.caii import CAIIProvider, completions_url, read_jwt

TOKEN = "jwt-secret-abc"
REQUEST = GenerationRequest(
    question="What is Katib?",
    sources=[
        Source(1, "Katib", "https://docs/katib#intro", "Intro", "Katib tunes hyperparameters.")
    ],
    temperature=0.3,
    length="long",
)


async def no_sleep(_: float) -> None:
    """Backoff without waiting, so retry tests stay fast."""


def chunk(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    payload = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(payload)}\n\n".encode()


async def sse(
    request: web.Request, parts: list[bytes], *, delay: float = 0.0
) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for part in parts:
        await resp.write(part)
        if delay:
            await asyncio.sleep(delay)
    return resp


def provider(url: str, **kwargs) -> CAIIProvider:
    kwargs.setdefault("sleep", no_sleep)
    kwargs.setdefault("token", Secret(TOKEN))
    return CAIIProvider(
        f"{url}/namespaces/serving-default/endpoints/llama/v1", "meta/llama-3.1-8b", **kwargs
    )


async def collect(p: CAIIProvider, got: list[str] | None = None) -> list[str]:
    out = got if got is not None else []
    try:
        async for delta in p.generate(REQUEST):
            out.append(delta)
    finally:
        await p.aclose()
    return out


async def test_streams_deltas_with_bearer_token_and_openai_body(serve) -> None:
    seen: list[tuple[str, str, dict]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append((request.path, request.headers["Authorization"], await request.json()))
        return await sse(
            request,
            [
                chunk(""),
                chunk("Katib "),
                chunk("tunes [1]."),
                chunk(finish="stop"),
                b"data: [DONE]\n\n",
            ],
        )

    url = await serve(handler)
    assert await collect(provider(url)) == ["Katib ", "tunes [1]."]
    path, auth, body = seen[0]
    assert path == "/namespaces/serving-default/endpoints/llama/v1/chat/completions"
    assert auth == f"Bearer {TOKEN}"
    assert body["model"] == "meta/llama-3.1-8b" and body["stream"] is True
    assert body["max_tokens"] == REQUEST.max_tokens and body["temperature"] == 0.3
    assert body["messages"][0]["role"] == "system"
    assert "[1] Katib › Intro" in body["messages"][-1]["content"]


async def test_token_from_the_cml_jwt_file(serve, tmp_path: Path) -> None:
    jwt = tmp_path / "jwt"
    jwt.write_text(json.dumps({"access_token": "from-file"}))
    seen: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers["Authorization"])
        return await sse(request, [chunk("hi", finish="stop"), b"data: [DONE]\n\n"])

    url = await serve(handler)
    assert await collect(provider(url, token=Secret(""), jwt_path=jwt)) == ["hi"]
    assert seen == ["Bearer from-file"]


async def test_no_token_anywhere(tmp_path: Path) -> None:
    p = CAIIProvider("http://127.0.0.1:9/v1", "m", Secret(""), jwt_path=tmp_path / "missing")
    with pytest.raises(ProviderError, match="has no token") as err:
        await collect(p)
    assert not err.value.retryable


async def test_non_streaming_json_reply(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(
            {"choices": [{"message": {"role": "assistant", "content": "whole"}}]}
        )

    url = await serve(handler)
    assert await collect(provider(url, stream=False)) == ["whole"]


async def test_429_is_retried_then_succeeds(serve) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.json_response(
                {"error": "rate limited"}, status=429, headers={"Retry-After": "0"}
            )
        return await sse(request, [chunk("ok", finish="stop"), b"data: [DONE]\n\n"])

    url = await serve(handler)
    assert await collect(provider(url)) == ["ok"]
    assert calls == 2


async def test_a_model_without_a_system_role_is_retried_folded_and_remembered(serve) -> None:
    # e.g. a Mistral or Gemma chat template behind vLLM: HTTP 400 "System role not supported"
    bodies: list[dict] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        bodies.append(body)
        if any(m["role"] == "system" for m in body["messages"]):
            error = {"object": "error", "message": "System role not supported", "code": 400}
            return web.json_response(error, status=400)
        return await sse(request, [chunk("ok", finish="stop"), b"data: [DONE]\n\n"])

    url = await serve(handler)
    p = provider(url, max_attempts=1)  # the fallback is not one of the retries
    assert await collect(p) == ["ok"]
    assert len(bodies) == 2
    folded = bodies[1]["messages"]
    assert folded[0]["role"] == "user" and folded[0]["content"].startswith("You are docbot")
    assert folded[0]["content"].endswith(bodies[0]["messages"][1]["content"])
    assert await collect(p) == ["ok"] and len(bodies) == 3  # remembered: folded at once


async def test_another_400_is_not_retried_without_the_system_role(serve) -> None:
    bodies: list[dict] = []

    async def handler(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.json_response({"message": "max_tokens is too large", "code": 400}, status=400)

    url = await serve(handler)
    with pytest.raises(ProviderError, match=r"rejected the request \(HTTP 400\)"):
        await collect(provider(url))
    assert len(bodies) == 1 and bodies[0]["messages"][0]["role"] == "system"


async def test_401_expired_token(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=401, text="token expired")

    url = await serve(handler)
    with pytest.raises(ProviderError) as err:
        await collect(provider(url))
    assert err.value.reason == "rejected the token (expired?)"
    assert TOKEN not in str(err.value)


async def test_5xx(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=500, text="oops")

    url = await serve(handler)
    with pytest.raises(ProviderError, match=r"failed \(HTTP 500\)"):
        await collect(provider(url))


async def test_timeout_before_the_first_byte(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    url = await serve(handler)
    with pytest.raises(ProviderError, match="timed out"):
        await collect(provider(url, timeout_s=0.2))


async def test_stall_in_the_middle_of_a_stream_times_out(serve) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await sse(request, [chunk("part"), chunk(" more")], delay=2)

    url = await serve(handler)
    got: list[str] = []
    with pytest.raises(ProviderError, match="timed out"):
        await collect(provider(url, timeout_s=0.3), got)
    assert got == ["part"]


async def test_malformed_json_event(serve) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await sse(request, [chunk("a"), b"data: {not json\n\n"])

    url = await serve(handler)
    with pytest.raises(ProviderError, match="unreadable"):
        await collect(provider(url))


async def test_malformed_json_body(serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="{", content_type="application/json")

    url = await serve(handler)
    with pytest.raises(ProviderError, match="unreadable"):
        await collect(provider(url, stream=False))


async def test_stream_that_ends_without_done_is_cut_off(serve) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await sse(request, [chunk("half an ")])  # closes cleanly, but no finish/[DONE]

    url = await serve(handler)
    got: list[str] = []
    with pytest.raises(ProviderError) as err:
        await collect(provider(url), got)
    assert err.value.reason == "stopped mid-answer"
    assert got == ["half an "]


async def test_connection_dropped_mid_stream(serve) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(chunk("start"))
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.close()  # the server goes away mid-answer
        return resp

    url = await serve(handler)
    got: list[str] = []
    with pytest.raises(ProviderError) as err:
        await collect(provider(url), got)
    assert err.value.reason in ("stopped mid-answer", "is unreachable")
    assert got == ["start"]


async def test_error_event_in_stream(serve) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await sse(request, [b'data: {"error": {"message": "overloaded"}}\n\n'])

    url = await serve(handler)
    with pytest.raises(ProviderError, match="reported an error"):
        await collect(provider(url))


async def test_finish_reason_without_done_is_complete(serve) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await sse(request, [chunk("all", finish="stop")])

    url = await serve(handler)
    assert await collect(provider(url)) == ["all"]


def test_completions_url_and_jwt_reading(tmp_path: Path) -> None:
    assert completions_url("https://h/v1/") == "https://h/v1/chat/completions"
    assert completions_url("https://h/v1/chat/completions") == "https://h/v1/chat/completions"
    bad = tmp_path / "jwt"
    bad.write_text("not json")
    assert read_jwt(bad) == ""
    assert read_jwt(tmp_path / "absent") == ""
    assert not CAIIProvider("", "").configured
