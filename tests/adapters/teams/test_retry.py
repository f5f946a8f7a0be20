"""Outbound retry policy: which statuses, how long, and when to give up."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from adapters.teams.retry import RetryPolicy, retry_after_of, status_of, with_retry


class HttpError(Exception):
    """Shaped like msrest's `HttpOperationError`: the response hangs off the exception."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.response = SimpleNamespace(status_code=status, headers=headers or {})


class Script:
    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


async def _run(script: Script, policy: RetryPolicy | None = None) -> tuple[object, list[float]]:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    policy = policy or RetryPolicy()
    result = await with_retry(script, policy, sleep=sleep, rng=random.Random(7))
    return result, sleeps


@pytest.mark.parametrize("status", [429, 412, 502, 504])
async def test_transient_statuses_are_retried(status: int) -> None:
    script = Script(HttpError(status), HttpError(status), "ok")
    result, sleeps = await _run(script)
    assert result == "ok" and script.calls == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 500])
async def test_other_failures_are_not_retried(status: int) -> None:
    script = Script(HttpError(status), "ok")
    with pytest.raises(HttpError):
        await _run(script)
    assert script.calls == 1


async def test_gives_up_after_the_last_attempt() -> None:
    script = Script(*[HttpError(429)] * 3)
    with pytest.raises(HttpError):
        await _run(script, RetryPolicy(attempts=3))
    assert script.calls == 3


async def test_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(attempts=8, base_delay_s=1.0, max_delay_s=5.0)
    rng = random.Random(1)
    for attempt in range(1, 8):
        ceiling = min(5.0, 2 ** (attempt - 1))
        delays = {policy.delay(attempt, None, rng) for _ in range(20)}
        assert all(ceiling / 10 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered, not lockstep


async def test_retry_after_header_wins() -> None:
    script = Script(HttpError(429, {"Retry-After": "2"}), "ok")
    _, sleeps = await _run(script)
    assert sleeps == [2.0]


def test_status_and_retry_after_extraction() -> None:
    assert status_of(HttpError(429)) == 429
    assert status_of(ValueError()) is None
    assert retry_after_of(HttpError(429, {"Retry-After": "1.5"})) == 1.5
    assert retry_after_of(HttpError(429, {"Retry-After": "soon"})) is None
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after_of(HttpError(429, {"Retry-After": past})) == 0.0


def test_a_retry_after_date_in_utc_written_minus_0000_is_read_as_utc() -> None:
    # RFC 5322's "-0000" parses as a naive datetime; it must not replace the 429 by a TypeError
    soon = (datetime.now(timezone.utc) + timedelta(seconds=30)).strftime(
        "%a, %d %b %Y %H:%M:%S -0000"
    )
    waited = retry_after_of(HttpError(429, {"Retry-After": soon}))
    assert waited is not None and 25.0 < waited <= 30.0
