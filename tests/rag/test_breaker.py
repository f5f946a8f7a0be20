"""The circuit breaker: closed -> open after repeated failures -> half-open probe -> closed/open."""

from __future__ import annotations

import pytest

from rag.breaker import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_stays_closed_below_threshold_and_success_resets(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=30, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    assert breaker.describe() == "ok (2 recent failures)"
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_opens_after_threshold_and_rejects_during_cooldown(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=30, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.now += 5
    assert breaker.describe() == "open (cooling down 25s)"
    assert not breaker.allow()


def test_half_open_lets_exactly_one_probe_through(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.state == "half-open"
    assert breaker.allow()
    assert not breaker.allow()  # a second request while the probe is in flight


def test_successful_probe_closes(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=10, clock=clock)
    breaker.record_failure()
    clock.now += 11
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.describe() == "ok"
    assert breaker.allow() and breaker.allow()


def test_failed_probe_reopens_for_a_full_cooldown(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=10, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert breaker.remaining_s() == pytest.approx(10)
    clock.now += 9.5
    assert not breaker.allow()


def test_released_probe_can_be_retried(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=1, clock=clock)
    breaker.record_failure()
    clock.now += 1
    assert breaker.allow()
    breaker.release_probe()
    assert breaker.allow()


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
