"""Polite, bounded, conditional HTTP fetching for ingest (aiohttp).

One `Fetcher` per scrape: a shared connection pool with a global concurrency
limit and a per-host limit, and a host's robots.txt `Crawl-delay` (capped) kept
between the starts of its requests; per request a timeout, a size cap, a content-type
check, redirects followed by hand (so each hop is checked against robots.txt
and the SSRF guard), retries with exponential backoff on 429/5xx/timeouts
honouring Retry-After, and conditional GET (If-None-Match / If-Modified-Since)
so an unchanged page costs one 304.

Every URL gets exactly one `FetchResult`; nothing raises for a bad page.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timezone
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urldefrag, urlencode, urljoin, urlsplit, urlunsplit

import aiohttp

from bot.config import is_secret_param
from ingest.robots import RobotsRules, robots_url, rules_for_response
from ingest.ssrf import BlockedURL, Guard, PublicOnlyResolver

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

Status = Literal["ok", "not_modified", "gone", "failed", "skipped"]
# ok: 2xx with a body. not_modified: 304 to a conditional GET. gone: 404/410.
# failed: timeouts, 5xx/429 after retries, an unreachable robots.txt, other errors (keep the
# old content). skipped: refused by policy (robots.txt, SSRF guard, not a document type).

PAGE_TYPES = (
    "text/html",
    "application/xhtml+xml",
    "text/plain",
    "text/markdown",
    "text/x-markdown",
)
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "docbot-ingest/0.1 (documentation assistant)"


@dataclass
class FetchResult:
    url: str  # as requested
    status: Status
    http_status: int | None = None
    final_url: str = ""  # after redirects
    body: bytes = b""
    content_type: str = ""  # media type, lower-case, no parameters
    charset: str = ""
    etag: str = ""
    last_modified: str = ""  # the Last-Modified header, verbatim (sent back as If-Modified-Since)
    error: str = ""
    attempts: int = 0
    seconds: float = 0.0

    def text(self) -> str:
        """The body decoded with the declared charset (UTF-8 when none or unknown)."""
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class FetchPolicy:
    concurrency: int = 16
    per_host: int = 8
    timeout_s: float = 20.0
    connect_timeout_s: float = 10.0
    retries: int = 3  # extra attempts after the first
    backoff_s: float = 0.5  # first backoff; doubles each retry, with jitter
    max_backoff_s: float = 30.0  # cap on any wait, Retry-After included
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    allow_private: bool = False
    respect_robots: bool = True
    max_crawl_delay_s: float = 10.0  # a robots.txt Crawl-delay above this is capped; 0: ignored
    user_agent: str = USER_AGENT
    page_types: tuple[str, ...] = PAGE_TYPES

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> FetchPolicy:
        base = cls(
            concurrency=settings.ingest_concurrency,
            per_host=settings.ingest_per_host,
            allow_private=settings.ingest_allow_private,
            max_crawl_delay_s=settings.ingest_max_crawl_delay,
        )
        return replace(base, **overrides) if overrides else base  # type: ignore[arg-type]


@dataclass
class FetchStats:
    requests: int = 0
    retries: int = 0
    not_modified: int = 0
    bytes: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now_ts = time.time() if now is None else now
    return max(0.0, when.timestamp() - now_ts)


def backoff_delay(attempt: int, policy: FetchPolicy, retry_after: float | None) -> float:
    """Wait before retry number `attempt` (1-based)."""
    if retry_after is not None:
        return min(retry_after, policy.max_backoff_s)
    base = policy.backoff_s * (2 ** (attempt - 1))
    return min(base * (0.5 + random.random()), policy.max_backoff_s)  # jitter: no thundering herd


def _media_type(header: str) -> tuple[str, str]:
    media, _, params = header.partition(";")
    charset = ""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower()
    return media.strip().lower(), charset


def redact_url(url: str) -> str:
    """A URL fit for logs and chat: no user:password@, secret-looking query values masked."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, "***" if is_secret_param(k) else v) for k, v in pairs], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparseable URL>"


class _Retry(Exception):
    def __init__(
        self, error: str, http_status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(error)
        self.error = error
        self.http_status = http_status
        self.retry_after = retry_after


class Fetcher:
    """Use as `async with Fetcher(policy) as fetcher: await fetcher.fetch_many(urls)`."""

    def __init__(self, policy: FetchPolicy | None = None) -> None:
        self.policy = policy or FetchPolicy()
        self.stats = FetchStats()
        self.guard = Guard(self.policy.allow_private)
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(self.policy.concurrency)
        self._robots: dict[str, RobotsRules] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        # per host (robots.txt URL): seconds between request starts, when it asks for a
        # Crawl-delay; when its last request started; a lock that makes its requests queue
        self._delays: dict[str, float] = {}
        self._last_start: dict[str, float] = {}
        self._pace_locks: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> Fetcher:
        connector = aiohttp.TCPConnector(
            limit=self.policy.concurrency,
            limit_per_host=self.policy.per_host,
            resolver=None if self.policy.allow_private else PublicOnlyResolver(),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=self.policy.timeout_s, sock_connect=self.policy.connect_timeout_s
            ),
            headers={"User-Agent": self.policy.user_agent},
            auto_decompress=True,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- public -------------------------------------------------------------------------

    async def fetch(
        self, url: str, *, etag: str = "", last_modified: str = "", document: bool = True
    ) -> FetchResult:
        """Fetch one URL. `document=False` skips the content-type check (sitemaps, lists)."""
        started = time.monotonic()
        result = await self._fetch(url, etag=etag, last_modified=last_modified, document=document)
        result.seconds = time.monotonic() - started
        self.stats.by_status[result.status] = self.stats.by_status.get(result.status, 0) + 1
        if result.status == "failed":
            log.warning("fetch failed: %s: %s", redact_url(url), result.error)
        return result

    async def fetch_many(
        self,
        urls: Iterable[str],
        validators: Mapping[str, tuple[str, str]] | None = None,
        on_result: Callable[[FetchResult], None] | None = None,
    ) -> list[FetchResult]:
        """Fetch all URLs concurrently; results in input order. `validators` maps a URL to
        the (etag, last_modified) of the copy we already have."""
        validators = validators or {}

        async def one(url: str) -> FetchResult:
            etag, last_modified = validators.get(url, ("", ""))
            result = await self.fetch(url, etag=etag, last_modified=last_modified)
            if on_result is not None:
                on_result(result)
            return result

        return list(await asyncio.gather(*(one(u) for u in urls)))

    async def robots_for(self, url: str) -> RobotsRules:
        """The robots.txt rules of the URL's host, fetched once per scrape."""
        key = robots_url(url)
        if key in self._robots:
            return self._robots[key]
        lock = self._robots_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._robots:
                res = await self._fetch(key, document=False, check_robots=False)
                if res.status in ("ok", "gone"):
                    rules = rules_for_response(res.http_status, res.text())
                elif res.status == "failed" and res.http_status is not None:
                    rules = rules_for_response(res.http_status, "")
                elif res.status == "skipped":  # robots.txt itself refused (SSRF): same verdict
                    rules = RobotsRules(reason=res.error)
                else:
                    rules = rules_for_response(None, "")
                if rules.reason:
                    log.warning("%s: %s", redact_url(key), rules.reason)
                self._set_crawl_delay(key, rules)
                self._robots[key] = rules
        return self._robots[key]

    def crawl_delay(self, url: str) -> float:
        """Seconds kept between request starts to the URL's host (0: none)."""
        return self._delays.get(robots_url(url), 0.0)

    # -- internals ----------------------------------------------------------------------

    def _set_crawl_delay(self, key: str, rules: RobotsRules) -> None:
        asked = rules.crawl_delay(self.policy.user_agent)
        if not asked or self.policy.max_crawl_delay_s <= 0:
            return
        delay = min(asked, self.policy.max_crawl_delay_s)
        self._delays[key] = delay
        host = urlsplit(key).netloc.rsplit("@", 1)[-1]
        if delay < asked:
            log.warning(
                "%s asks for a Crawl-delay of %gs; capped at %gs (DOCBOT_INGEST_MAX_CRAWL_DELAY)",
                host,
                asked,
                delay,
            )
        else:
            log.info(
                "%s asks for a Crawl-delay of %gs: its requests start %gs apart", host, asked, delay
            )

    async def _start_request(self, url: str) -> None:
        """Take a concurrency slot (the caller releases it) once the host's Crawl-delay since
        its last request start has passed. Waiting for the delay holds no slot, so other
        hosts go on meanwhile."""
        key = robots_url(url)
        delay = self._delays.get(key, 0.0)
        if not delay:
            await self._slots.acquire()
            # noted even without a delay: the robots.txt request itself starts here, before
            # the host's delay is known, and its first page is spaced from it
            self._last_start[key] = time.monotonic()
            return
        async with self._pace_locks.setdefault(key, asyncio.Lock()):
            wait = self._last_start.get(key, -math.inf) + delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._slots.acquire()
            self._last_start[key] = time.monotonic()

    async def _fetch(
        self,
        url: str,
        *,
        etag: str = "",
        last_modified: str = "",
        document: bool = True,
        check_robots: bool = True,
    ) -> FetchResult:
        if self._session is None:
            raise RuntimeError("use Fetcher as an async context manager")
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        attempts = 0
        for _hop in range(self.policy.max_redirects + 1):
            refusal, refused = await self._refusal(current, check_robots)
            if refused:
                return FetchResult(
                    url, refusal, final_url=current, error=refused, attempts=attempts
                )
            outcome = await self._with_retries(url, current, headers, document, attempts)
            if isinstance(outcome, FetchResult):
                return outcome
            attempts, location = outcome
            current = location
        return FetchResult(
            url, "failed", final_url=current, error="too many redirects", attempts=attempts
        )

    async def _refusal(self, url: str, check_robots: bool) -> tuple[Status, str]:
        """Why the URL must not be fetched ("" when it may), and the status that gives:
        "skipped" for a refusal that stands, "failed" while the host's robots.txt is
        unreachable (an outage, after which the page is still there)."""
        try:
            await self.guard.check(url)
        except BlockedURL as exc:
            return "skipped", str(exc)
        if check_robots and self.policy.respect_robots:
            rules = await self.robots_for(url)
            if not rules.allowed(url, self.policy.user_agent):
                status: Status = "failed" if rules.unreachable else "skipped"
                return status, rules.reason or "disallowed by robots.txt"
        return "skipped", ""

    async def _with_retries(
        self, url: str, current: str, headers: dict[str, str], document: bool, attempts: int
    ) -> FetchResult | tuple[int, str]:
        """Attempts on one hop: a final result, or (attempts so far, redirect location)."""
        last: _Retry | None = None
        for retry in range(self.policy.retries + 1):
            if retry:
                self.stats.retries += 1
                await asyncio.sleep(
                    backoff_delay(retry, self.policy, last.retry_after if last else None)
                )
            attempts += 1
            await self._start_request(current)
            try:
                return await self._attempt(url, current, headers, document, attempts)
            except _Retry as exc:
                last = exc
            finally:
                self._slots.release()
        assert last is not None
        return FetchResult(
            url,
            "failed",
            http_status=last.http_status,
            final_url=current,
            error=f"{last.error} (after {attempts} attempts)",
            attempts=attempts,
        )

    async def _attempt(
        self, url: str, current: str, headers: dict[str, str], document: bool, attempts: int
    ) -> FetchResult | tuple[int, str]:
        """One request: a final result, (attempts, location) for a redirect, or `_Retry`."""
        assert self._session is not None
        self.stats.requests += 1
        try:
            async with self._session.get(current, headers=headers, allow_redirects=False) as resp:
                status = resp.status

                def done(outcome: Status, **extra: Any) -> FetchResult:
                    return FetchResult(
                        url,
                        outcome,
                        http_status=status,
                        final_url=current,
                        etag=extra.pop("etag", resp.headers.get("ETag", "")),
                        last_modified=extra.pop(
                            "last_modified", resp.headers.get("Last-Modified", "")
                        ),
                        attempts=attempts,
                        **extra,
                    )

                if status in REDIRECT_STATUSES:
                    location = resp.headers.get("Location", "")
                    if not location:
                        return done("failed", error=f"HTTP {status} without Location")
                    # a fragment is never sent and would end up in the citation URL,
                    # which gets "#<heading id>" appended: "/new/#install#setup"
                    return attempts, urldefrag(urljoin(current, location))[0]
                if status in RETRY_STATUSES or status >= 500:
                    await _drain(resp)
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                    raise _Retry(f"HTTP {status}", status, retry_after)
                if status == 304:
                    self.stats.not_modified += 1
                    if not headers:
                        return done("failed", error="HTTP 304 to an unconditional request")
                    # a 304 may omit validators: keep the ones we sent
                    return done(
                        "not_modified",
                        etag=resp.headers.get("ETag") or headers.get("If-None-Match", ""),
                        last_modified=resp.headers.get("Last-Modified")
                        or headers.get("If-Modified-Since", ""),
                    )
                if status in (404, 410):
                    return done("gone", error=f"HTTP {status}")
                if not 200 <= status < 300:
                    return done("failed", error=f"HTTP {status}")
                media, charset = _media_type(resp.headers.get("Content-Type", ""))
                if document and media and media not in self.policy.page_types:
                    return done("skipped", content_type=media, error=f"not a document: {media}")
                too_large = f"larger than the {self.policy.max_bytes} byte limit"
                declared = resp.content_length
                if declared is not None and declared > self.policy.max_bytes:
                    return done("failed", content_type=media, error=too_large)
                body = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > self.policy.max_bytes:  # also bounds a decompression bomb
                        return done("failed", content_type=media, error=too_large)
                self.stats.bytes += len(body)
                return done("ok", body=bytes(body), content_type=media, charset=charset)
        except (TimeoutError, asyncio.TimeoutError):
            raise _Retry(f"timed out after {self.policy.timeout_s:g}s") from None
        except aiohttp.ClientError as exc:
            raise _Retry(_describe(exc)) from None
        except OSError as exc:
            raise _Retry(exc.strerror or type(exc).__name__) from None


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read a small error body so the connection can be reused (not reset under the server)."""
    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
        await resp.content.read(64 * 1024)


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _describe(exc: aiohttp.ClientError) -> str:
    """A short error text; aiohttp messages can be long and quote the URL (redacted here)."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group()), str(exc) or type(exc).__name__)
    return text if len(text) <= 200 else text[:200] + "..."
