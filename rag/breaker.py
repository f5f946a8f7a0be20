"""A circuit breaker per model provider.

A provider that keeps failing is skipped for a cool-down instead of making
every question wait for its timeout. After the cool-down one request is let
through as a probe (half-open): success closes the breaker, failure opens it
again for another cool-down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Consecutive-failure breaker with a fixed cool-down and a single probe.

    Not thread-safe; the router uses it from the event loop only.
    """

    def __init__(
        self,
        failure_threshold: int = 3,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    @property
    def failures(self) -> int:
        """Consecutive failures since the last success."""
        return self._failures

    def remaining_s(self) -> float:
        """Seconds of cool-down left (0 unless open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """May a request go through now? In half-open state only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return False
        if self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failure_threshold:
            # A failed probe restarts the full cool-down.
            self._opened_at = self._clock()
        self._probing = False

    def release_probe(self) -> None:
        """Forget an in-flight probe that ended neither way (e.g. cancelled)."""
        self._probing = False

    def describe(self) -> str:
        """Short health text for `status`: "ok", "open (cooling down 25s)", ..."""
        state = self.state
        if state == "open":
            return f"open (cooling down {max(1, round(self.remaining_s()))}s)"
        if state == "half-open":
            return "half-open (next request is a probe)"
        if self._failures:
            noun = "failure" if self._failures == 1 else "failures"
            return f"ok ({self._failures} recent {noun})"
        return "ok"
