"""The fetcher against small aiohttp servers on loopback that misbehave on purpose."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from ingest.fetch import USER_AGENT, Fetcher, FetchPolicy, backoff_delay, parse_retry_after
from ingest.robots import parse_robots, rules_for_response
from tests.local_net import start_app

PAGE = b"<html><body><main><h1>Hello</h1><p>World</p></main></body></html>"
HTML = "text/html; charset=utf-8"

Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def serve_app() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner, url = await start_app(app)
        runners.append(runner)
        return url

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


async def test_a_redirect_to_a_section_records_the_page_url_without_the_fragment(serve_app):
    # a moved page redirected to a section of another one: the final URL becomes the
    # citation URL (no rel=canonical) and citations append "#<heading id>" to it
    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/new/#install")

    base = await serve_app(app_with({"/old": moved, "/new/": html_page}))
    async with Fetcher(policy()) as fetcher:
        result = await fetcher.fetch(f"{base}/old")

    assert result.status == "ok" and result.final_url == f"{base}/new/"


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

    # not fetched, and reported as a failure (an outage), not as a refusal that stands
    assert refused.status == "failed" and "robots.txt HTTP 500" in refused.error
    assert allowed.status == "ok"


def timed_site(robots_txt: str, arrivals: list[tuple[str, float]]) -> web.Application:
    """robots.txt plus /p/{n} pages; each request's path and arrival time is recorded."""

    async def robots(request: web.Request) -> web.Response:
        arrivals.append((request.path, time.monotonic()))
        return web.Response(text=robots_txt)

    async def page(request: web.Request) -> web.Response:
        arrivals.append((request.path, time.monotonic()))
        return await html_page(request)

    app = web.Application()
    app.router.add_get("/robots.txt", robots)
    app.router.add_get("/p/{n}", page)
    return app


# Spacing is enforced on request *starts*; arrival at the server lags each start by a
# slightly different amount (a reused connection vs a new one, a busy event loop).
ARRIVAL_JITTER_S = 0.02


def gaps(arrivals: list[tuple[str, float]]) -> list[float]:
    times = sorted(t for _, t in arrivals)
    return [b - a for a, b in zip(times, times[1:], strict=False)]


async def test_crawl_delay_spaces_the_request_starts_to_that_host(serve_app, caplog):
    caplog.set_level(logging.INFO, logger="ingest.fetch")
    arrivals: list[tuple[str, float]] = []
    # our own group's delay wins over the `*` group's
    robots_txt = (
        "User-agent: *\nCrawl-delay: 5\n\nUser-agent: docbot-ingest\nCrawl-delay: 0.2\nAllow: /\n"
    )
    base = await serve_app(timed_site(robots_txt, arrivals))
    other_arrivals: list[tuple[str, float]] = []
    other = await serve_app(timed_site("User-agent: *\nAllow: /\n", other_arrivals))
    async with Fetcher(policy()) as fetcher:
        started = time.monotonic()
        paced, free = await asyncio.gather(
            fetcher.fetch_many([f"{base}/p/{n}" for n in range(4)]),
            fetcher.fetch_many([f"{other}/p/{n}" for n in range(4)]),
        )
        free_done = max(t for _, t in other_arrivals) - started
        assert fetcher.crawl_delay(base) == 0.2 and fetcher.crawl_delay(other) == 0.0

    assert all(r.status == "ok" for r in paced + free)
    assert [path for path, _ in arrivals][0] == "/robots.txt" and len(arrivals) == 5
    robots_to_first, *between_pages = gaps(arrivals)
    assert (
        min(between_pages) >= 0.2 - ARRIVAL_JITTER_S
    )  # each page request starts 0.2 s after the one before
    # robots.txt opened the connection the first page reuses: its arrival lags its start
    assert robots_to_first >= 0.2 - ARRIVAL_JITTER_S
    assert free_done < 0.5  # a host without a Crawl-delay is not held up meanwhile
    said = [r.getMessage() for r in caplog.records if "Crawl-delay" in r.getMessage()]
    assert len(said) == 1 and "Crawl-delay of 0.2s" in said[0]  # once per host


async def test_a_huge_crawl_delay_is_capped(serve_app, caplog):
    arrivals: list[tuple[str, float]] = []
    base = await serve_app(timed_site("User-agent: *\nCrawl-delay: 86400\n", arrivals))
    async with Fetcher(policy(max_crawl_delay_s=0.3)) as fetcher:
        started = time.monotonic()
        results = await fetcher.fetch_many([f"{base}/p/{n}" for n in range(3)])
        elapsed = time.monotonic() - started

    assert all(r.status == "ok" for r in results)
    assert (
        min(gaps(arrivals)[1:]) >= 0.3 - ARRIVAL_JITTER_S and elapsed < 3.0
    )  # 0.3 s apart, not a day
    warned = [r.getMessage() for r in caplog.records if "Crawl-delay" in r.getMessage()]
    assert len(warned) == 1 and "Crawl-delay of 86400s; capped at 0.3s" in warned[0]


async def test_a_max_crawl_delay_of_zero_ignores_it(serve_app):
    arrivals: list[tuple[str, float]] = []
    base = await serve_app(timed_site("User-agent: *\nCrawl-delay: 30\n", arrivals))
    async with Fetcher(policy(max_crawl_delay_s=0)) as fetcher:
        results = await asyncio.wait_for(fetcher.fetch_many([f"{base}/p/{n}" for n in range(3)]), 5)
        assert fetcher.crawl_delay(base) == 0.0
    assert all(r.status == "ok" for r in results)


def test_crawl_delay_parsing():
    rules = parse_robots(
        "Sitemap: https://d.test/sitemap.xml\n"
        "User-agent: *\nDisallow: /x\nCrawl-delay: 2\n\n"
        "User-agent: googlebot\nUser-agent: docbot-ingest\nCrawl-delay: 0.5\n\n"
        "User-agent: slowbot\nCrawl-delay: soon\n"
        "User-agent: nanbot\nCrawl-delay: nan\n"
    )
    assert rules.crawl_delay(USER_AGENT) == 0.5  # fractional: urllib.robotparser drops it
    assert rules.crawl_delay("otherbot/1.0") == 2.0  # no group of its own: `*`
    assert rules.crawl_delay("slowbot") is None  # its group asks nothing valid: no delay
    assert rules.crawl_delay("nanbot") is None
    assert parse_robots("User-agent: *\nDisallow:\n").crawl_delay(USER_AGENT) is None
    assert rules_for_response(404, "").crawl_delay(USER_AGENT) is None


def test_max_crawl_delay_setting():
    from bot.config import Settings

    assert FetchPolicy.from_settings(Settings()).max_crawl_delay_s == 10.0
    settings = Settings.from_env({"DOCBOT_INGEST_MAX_CRAWL_DELAY": "2.5"}, env_file=None)
    assert FetchPolicy.from_settings(settings).max_crawl_delay_s == 2.5


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
