"""Retry of outbound Bot Connector calls on throttling and transient gateway errors.

botbuilder's connector client does not retry. Teams answers 429 when a bot sends too fast (per
conversation: about 7 messages a second), and 412/502/504 on transient conditions; Microsoft's
guidance is exponential backoff with random jitter (reference §2.8). A `Retry-After` header, when
present, wins over the computed delay.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

T = TypeVar("T")
RETRY_STATUSES = frozenset({412, 429, 502, 504})
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # total tries, the first included
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before try number `attempt + 1` (attempt counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        # "Full jitter" keeps many conversations that were throttled together from retrying
        # in lockstep; never wait less than a tenth of the ceiling.
        return rng.uniform(ceiling / 10, ceiling)


def status_of(error: BaseException) -> int | None:
    """The HTTP status of a failed connector call (msrest `HttpOperationError`), if any."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return status if isinstance(status, int) else None


def retry_after_of(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        raw = headers.get("Retry-After")
    except AttributeError:
        return None
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" (RFC 5322: UTC, source unknown) parses as naive
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


async def with_retry(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    what: str = "send",
) -> T:
    """Run `call`, retrying it on 412/429/502/504 as `policy` says; other errors propagate."""
    rng = rng or random.Random()
    attempt = 1
    while True:
        try:
            return await call()
        except Exception as error:
            status = status_of(error)
            if status not in RETRY_STATUSES or attempt >= policy.attempts:
                raise
            delay = policy.delay(attempt, retry_after_of(error), rng)
            log.warning(
                "teams %s got HTTP %s (try %d of %d); retrying in %.2f s",
                what,
                status,
                attempt,
                policy.attempts,
                delay,
            )
            await sleep(delay)
            attempt += 1
