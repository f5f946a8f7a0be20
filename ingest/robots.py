"""robots.txt rules, per RFC 9309 (pure; fetching is `ingest.fetch`'s job).

A 2xx robots.txt is parsed; a 4xx means "no rules" (everything allowed); a
5xx or a network failure after retries means "unreachable" and the whole host
is treated as disallowed, as the RFC asks, so a flaky server never gets crawled
against its owner's wishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

MAX_ROBOTS_BYTES = 500 * 1024  # RFC 9309: parse at least 500 KiB


@dataclass
class RobotsRules:
    """What one host allows. `reason` explains a blanket disallow."""

    parser: RobotFileParser | None = None
    allow_all: bool = False
    reason: str = ""
    _cache: dict[str, bool] = field(default_factory=dict, repr=False)

    def allowed(self, url: str, user_agent: str) -> bool:
        if self.allow_all:
            return True
        if self.parser is None:
            return False
        if url not in self._cache:
            self._cache[url] = self.parser.can_fetch(user_agent, url)
        return self._cache[url]


def robots_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


def parse_robots(text: str) -> RobotsRules:
    parser = RobotFileParser()
    parser.parse(text[:MAX_ROBOTS_BYTES].splitlines())
    return RobotsRules(parser=parser)


def rules_for_response(status: int | None, text: str) -> RobotsRules:
    """Rules from a robots.txt answer; `status` None when it could not be fetched at all."""
    if status is not None and 200 <= status < 300:
        return parse_robots(text)
    if status is not None and 400 <= status < 500:
        return RobotsRules(allow_all=True)
    what = f"HTTP {status}" if status is not None else "unreachable"
    return RobotsRules(reason=f"robots.txt {what}: host treated as disallowed (RFC 9309)")
