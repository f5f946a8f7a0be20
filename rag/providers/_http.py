"""Shared HTTP plumbing for the CML providers: sessions, retries, SSE parsing.

Error texts built here are user-presentable and never contain secrets or
response bodies (a body may echo the prompt or a token).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from rag.generation import ProviderError

Sleep = Callable[[float], Awaitable[None]]

# Statuses worth another try after a pause: busy / throttled / briefly unavailable.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


def backoff_delay(attempt: int, base_s: float = 0.5, cap_s: float = 8.0) -> float:
    """Full-jitter exponential backoff for retry number `attempt` (1-based)."""
    return random.uniform(0, min(cap_s, base_s * (2 ** (attempt - 1))))


def retry_after_s(headers: Any, default: float) -> float:
    """The Retry-After header in seconds when it is a number, else `default`."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


def status_error(provider: str, status: int) -> ProviderError:
    """A ProviderError for an HTTP status, worded for chat."""
    if status == 429:
        return ProviderError(provider, "is busy (HTTP 429)")
    if status in (401, 403):
        return ProviderError(provider, f"rejected the credentials (HTTP {status})", retryable=False)
    if status == 404:
        return ProviderError(provider, "endpoint was not found (HTTP 404)", retryable=False)
    if status == 413:
        return ProviderError(provider, "rejected the request as too large", retryable=False)
    if 400 <= status < 500:
        return ProviderError(provider, f"rejected the request (HTTP {status})", retryable=False)
    return ProviderError(provider, f"failed (HTTP {status})")


class SessionHolder:
    """One aiohttp session per event loop, created on first use.

    Tests and CLI commands run their own loops; a session is bound to the
    loop that created it, so a new loop gets a new session.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(raise_for_status=False)
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
        self._loop = None


def parse_json(provider: str, raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ProviderError(provider, "returned an unreadable response") from None


class SSEDecoder:
    """Incremental Server-Sent Events decoder yielding each event's `data`.

    Handles CRLF, multi-line data fields, comments and events split across
    network chunks.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes | str) -> list[str]:
        self._buffer += (
            chunk.decode("utf-8", errors="replace") if isinstance(chunk, bytes) else chunk
        )
        events: list[str] = []
        while True:
            newline = self._buffer.find("\n")
            if newline < 0:
                break
            line = self._buffer[:newline].rstrip("\r")
            self._buffer = self._buffer[newline + 1 :]
            if not line:
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
                continue
            if line.startswith(":"):
                continue  # comment / keep-alive
            field, _, value = line.partition(":")
            if field == "data":
                self._data.append(value[1:] if value.startswith(" ") else value)
        return events

    def flush(self) -> list[str]:
        """Events pending at the end of the stream (a final event without a blank line)."""
        events = self.feed("\n\n") if self._buffer else []
        if self._data:
            events.append("\n".join(self._data))
            self._data = []
        return events
