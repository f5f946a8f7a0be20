"""The fetcher against small aiohttp servers on loopback that misbehave on purpose."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from ingest.fetch import Fetcher, FetchPolicy, backoff_delay, parse_retry_after

PAGE = b"<html><body><main><h1>Hello</h1><p>World</p></main></body></html>"
HTML = "text/html; charset=utf-8"

Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def serve_app() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def policy(**overrides: object) -> FetchPolicy:
    base = {"allow_private": True, "backoff_s": 0.01, "max_backoff_s": 2.0, "timeout_s": 5.0}
    base.update(overrides)
    return FetchPolicy(**base)  # type: ignore[arg-type]


def app_with(
    routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]],
) -> web.Application:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    return app


async def html_page(_: web.Request) -> web.Response:
    return web.Response(body=PAGE, content_type="text/html", charset="utf-8")


async def test_retries_a_503_after_the_retry_after_delay(serve_app):
    calls: list[float] = []

    async def flaky(_: web.Request) -> web.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return web.Response(status=503, text="busy", headers={"Retry-After": "1"})
        return await html_page(_)

    base = await serve_app(app_with({"/p": flaky}))
    async with Fetcher(policy()) as fetcher:
        result = await fetcher.fetch(f"{base}/p")

    assert result.status == "ok" and result.body == PAGE and result.attempts == 2
    assert calls[1] - calls[0] >= 0.9  # Retry-After: 1 honoured
    assert fetcher.stats.retries == 1


async def test_retries_429_with_backoff_then_gives_up_reporting_the_last_error(serve_app):
    calls = 0

    async def throttled(_: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=429, text="slow down")

    base = await serve_app(app_with({"/p": throttled}))
    async with Fetcher(policy(retries=2)) as fetcher:
        result = await fetcher.fetch(f"{base}/p")

    assert result.status == "failed" and result.http_status == 429
    assert result.error == "HTTP 429 (after 3 attempts)" and calls == 3


async def test_404_and_410_are_gone_and_403_is_a_failure(serve_app):
    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="no")

    app = web.Application()
    app.router.add_get("/s/{code}", status)
    base = await serve_app(app)
    async with Fetcher(policy()) as fetcher:
        results = await fetcher.fetch_many([f"{base}/s/404", f"{base}/s/410", f"{base}/s/403"])

    assert [r.status for r in results] == ["gone", "gone", "failed"]
    assert results[2].error == "HTTP 403" and results[2].attempts == 1  # not retried


async def test_conditional_get_gets_a_304_and_keeps_the_validators(serve_app):
    seen: list[dict[str, str]] = []

    async def conditional(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304)
        return web.Response(
            body=PAGE,
            content_type="text/html",
            headers={"ETag": '"v1"', "Last-Modified": "Wed, 21 Oct 2025 07:28:00 GMT"},
        )

    base = await serve_app(app_with({"/p": conditional}))
    async with Fetcher(policy()) as fetcher:
        first = await fetcher.fetch(f"{base}/p")
        second = await fetcher.fetch(
            f"{base}/p", etag=first.etag, last_modified=first.last_modified
        )

    assert first.status == "ok" and first.etag == '"v1"'
    assert second.status == "not_modified" and second.body == b""
    assert second.etag == '"v1"' and second.last_modified == "Wed, 21 Oct 2025 07:28:00 GMT"
    assert seen[1]["If-Modified-Since"] == "Wed, 21 Oct 2025 07:28:00 GMT"
    assert fetcher.stats.not_modified == 1


async def test_redirects_are_followed_and_the_final_url_recorded(serve_app):
    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/new/")

    async def loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    base = await serve_app(app_with({"/old": moved, "/new/": html_page, "/loop": loop}))
    async with Fetcher(policy()) as fetcher:
        moved_result = await fetcher.fetch(f"{base}/old")
        loop_result = await fetcher.fetch(f"{base}/loop")

    assert moved_result.status == "ok" and moved_result.final_url == f"{base}/new/"
    assert moved_result.url == f"{base}/old"
    assert loop_result.status == "failed" and loop_result.error == "too many redirects"


async def test_size_cap_by_content_length_and_while_streaming(serve_app):
    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000, content_type="text/html")

    async def streamed(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(10):
            await resp.write(b"y" * 1000)
        await resp.write_eof()
        return resp

    base = await serve_app(app_with({"/big": big, "/stream": streamed}))
    async with Fetcher(policy(max_bytes=4096)) as fetcher:
        results = await fetcher.fetch_many([f"{base}/big", f"{base}/stream"])

    assert [r.status for r in results] == ["failed", "failed"]
    assert all("4096 byte limit" in r.error for r in results)


async def test_content_type_check_skips_non_documents_but_not_for_lists(serve_app):
    async def image(_: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG", content_type="image/png")

    base = await serve_app(app_with({"/logo.png": image}))
    async with Fetcher(policy()) as fetcher:
        page = await fetcher.fetch(f"{base}/logo.png")
        raw = await fetcher.fetch(f"{base}/logo.png", document=False)

    assert page.status == "skipped" and page.error == "not a document: image/png"
    assert raw.status == "ok"


async def test_a_slow_page_times_out_and_fails(serve_app):
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return await html_page(_)

    base = await serve_app(app_with({"/slow": slow}))
    async with Fetcher(policy(timeout_s=0.2, retries=1)) as fetcher:
        result = await fetcher.fetch(f"{base}/slow")

    assert result.status == "failed" and result.attempts == 2
    assert result.error == "timed out after 0.2s (after 2 attempts)"


async def test_robots_txt_is_honoured(serve_app):
    async def robots(_: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nDisallow: /private/\n")

    base = await serve_app(
        app_with({"/robots.txt": robots, "/private/x": html_page, "/public": html_page})
    )
    async with Fetcher(policy()) as fetcher:
        private, public = await fetcher.fetch_many([f"{base}/private/x", f"{base}/public"])

    assert private.status == "skipped" and private.error == "disallowed by robots.txt"
    assert public.status == "ok"


async def test_unreachable_robots_txt_disallows_the_host_and_a_missing_one_allows_it(serve_app):
    async def down(_: web.Request) -> web.Response:
        return web.Response(status=500)

    failing = await serve_app(app_with({"/robots.txt": down, "/p": html_page}))
    missing = await serve_app(app_with({"/p": html_page}))  # robots.txt is a 404
    async with Fetcher(policy(retries=0)) as fetcher:
        refused = await fetcher.fetch(f"{failing}/p")
        allowed = await fetcher.fetch(f"{missing}/p")

    assert refused.status == "skipped" and "robots.txt HTTP 500" in refused.error
    assert allowed.status == "ok"


async def test_loopback_is_refused_unless_allowed(serve_app):
    base = await serve_app(app_with({"/p": html_page}))
    async with Fetcher(policy(allow_private=False)) as fetcher:
        result = await fetcher.fetch(f"{base}/p")

    assert result.status == "skipped"
    assert "private or loopback" in result.error and "DOCBOT_INGEST_ALLOW_PRIVATE" in result.error
    assert fetcher.stats.requests == 0  # refused before any connection


async def test_a_redirect_to_an_internal_address_is_refused(serve_app):
    async def to_metadata(_: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    base = await serve_app(app_with({"/p": to_metadata}))
    # loopback allowed for the test server itself, so use a guard that only refuses link-local
    async with Fetcher(policy(allow_private=True, respect_robots=False)) as fetcher:
        fetcher.guard.allow_private = False
        fetcher.guard._verdicts[("127.0.0.1", int(base.rsplit(":", 1)[1]))] = ""
        result = await fetcher.fetch(f"{base}/p")

    assert result.status == "skipped" and "169.254.169.254" in result.error


def test_retry_after_parsing_and_backoff_caps():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    capped = FetchPolicy(max_backoff_s=5.0)
    assert backoff_delay(1, capped, 120.0) == 5.0
    assert all(
        0.25 <= backoff_delay(1, FetchPolicy(backoff_s=0.5), None) <= 0.75 for _ in range(20)
    )
