"""The per-user sliding-window rate limiter, with an injected clock."""

from __future__ import annotations

from bot.limits import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_allows_up_to_the_limit_then_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(3, clock=clock)
    assert [limiter.check("u") for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 10
    wait = limiter.check("u")
    assert 49 <= wait <= 50


def test_the_window_slides() -> None:
    clock = Clock()
    limiter = RateLimiter(2, clock=clock)
    limiter.check("u")
    clock.now += 30
    limiter.check("u")
    clock.now += 31  # the first hit is now older than 60 s
    assert limiter.check("u") == 0.0
    assert limiter.check("u") > 0


def test_users_are_limited_separately() -> None:
    limiter = RateLimiter(1, clock=Clock())
    assert limiter.check("a") == 0.0
    assert limiter.check("b") == 0.0
    assert limiter.check("a") > 0


def test_refused_calls_do_not_count() -> None:
    clock = Clock()
    limiter = RateLimiter(1, clock=clock)
    limiter.check("u")
    for _ in range(5):
        assert limiter.check("u") > 0
    clock.now += 60
    assert limiter.check("u") == 0.0


def test_zero_disables_the_limit() -> None:
    limiter = RateLimiter(0, clock=Clock())
    assert all(limiter.check("u") == 0.0 for _ in range(1000))


def test_the_wait_is_never_zero_when_refused() -> None:
    clock = Clock()
    limiter = RateLimiter(1, clock=clock)
    limiter.check("u")
    clock.now += 59.99
    assert limiter.check("u") >= 0.1
