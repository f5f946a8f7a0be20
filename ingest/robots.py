"""robots.txt rules, per RFC 9309 (pure; fetching is `ingest.fetch`'s job).

A 2xx robots.txt is parsed; a 4xx means "no rules" (everything allowed); a
5xx or a network failure after retries means "unreachable" and the whole host
is treated as disallowed, as the RFC asks, so a flaky server never gets crawled
against its owner's wishes; its pages count as failed fetches, not as removed ones. `Crawl-delay` (not in the RFC, but widely used) is
read for our user agent's group, else the `*` group; the fetcher spaces its
requests to the host by it, up to a cap.
"""

from __future__ import annotations

import math
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
    # robots.txt could not be read (5xx, network): the host is off limits for now, but its
    # pages are not gone - a scrape keeps their previous copies, as for any failed fetch
    unreachable: bool = False
    # (user agents of a group, lower-case; its Crawl-delay in seconds or None), in file order
    delays: list[tuple[tuple[str, ...], float | None]] = field(default_factory=list)
    _cache: dict[str, bool] = field(default_factory=dict, repr=False)

    def crawl_delay(self, user_agent: str) -> float | None:
        """Seconds between requests the host asks of this user agent: from the groups
        naming it (matched as urllib.robotparser matches for `allowed`), else from `*`.
        None when it asks nothing."""
        product = user_agent.split("/")[0].lower()
        specific = [
            d for agents, d in self.delays if any(a != "*" and a in product for a in agents)
        ]
        chosen = specific or [d for agents, d in self.delays if "*" in agents]
        found = [d for d in chosen if d is not None]
        return max(found) if found else None

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
    lines = text[:MAX_ROBOTS_BYTES].splitlines()
    parser = RobotFileParser()
    parser.parse(lines)
    return RobotsRules(parser=parser, delays=parse_crawl_delays(lines))


def parse_crawl_delays(lines: list[str]) -> list[tuple[tuple[str, ...], float | None]]:
    """Each group's user agents and Crawl-delay. urllib.robotparser reads whole seconds
    only (`Crawl-delay: 0.5` is lost there), so the groups are read here: consecutive
    `User-agent` lines open a group, which runs until the next `User-agent` after a rule."""
    agents: list[list[str]] = []
    delays: list[float | None] = []
    in_rules = True
    for raw in lines:
        key, sep, value = raw.split("#", 1)[0].partition(":")
        key, value = key.strip().lower(), value.strip()
        if not sep or key == "sitemap":  # a sitemap line belongs to no group
            continue
        if key == "user-agent":
            if in_rules:
                agents.append([])
                delays.append(None)
                in_rules = False
            if value:
                agents[-1].append(value.lower())
            continue
        in_rules = True
        if key in ("crawl-delay", "crawl_delay") and delays:
            try:
                delay = float(value)
            except ValueError:
                continue
            if math.isfinite(delay) and delay >= 0:
                delays[-1] = delay
    return [(tuple(a), d) for a, d in zip(agents, delays, strict=True) if a]


def rules_for_response(status: int | None, text: str) -> RobotsRules:
    """Rules from a robots.txt answer; `status` None when it could not be fetched at all."""
    if status is not None and 200 <= status < 300:
        return parse_robots(text)
    if status is not None and 400 <= status < 500:
        return RobotsRules(allow_all=True)
    what = f"HTTP {status}" if status is not None else "unreachable"
    return RobotsRules(
        reason=f"robots.txt {what}: host treated as disallowed (RFC 9309)", unreachable=True
    )
