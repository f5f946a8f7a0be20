"""Prefer the current docs over legacy ones, unless the question asks about the old version.

Docs sites keep old versions next to the current ones ("legacy-v1/", "archive/",
"deprecated/"), written in the same words, so retrieval often finds both. Users
mean the current version unless they say otherwise ("in old kfp v1", "legacy
sdk"). This is a small prior added to a page's score: a penalty for legacy pages
by default, a bonus when the question names an old version (pure).
"""

from __future__ import annotations

import re

LEGACY_MARKERS = frozenset({"legacy", "archive", "archived", "deprecated", "old", "previous"})
OLD_VERSION_WORDS = frozenset(
    {"v1", "legacy", "old", "older", "deprecated", "archived", "previous"}
)
LEGACY_PENALTY = 0.1  # a legacy page needs to be clearly better to outrank a current one
LEGACY_BONUS = 0.1  # ...and is preferred when the question asks about the old version
_SEGMENT_WORD = re.compile(r"[a-z0-9]+")


def is_legacy(url: str) -> bool:
    """Whether a page's URL path puts it in a legacy / archived / deprecated part of the docs."""
    path = url.split("://", 1)[-1].split("/", 1)[-1].lower()
    return any(word in LEGACY_MARKERS for word in _SEGMENT_WORD.findall(path))


def asks_for_legacy(question: str) -> bool:
    return any(word in OLD_VERSION_WORDS for word in _SEGMENT_WORD.findall(question.lower()))


def version_prior(page_url: str, wants_legacy: bool) -> float:
    if not is_legacy(page_url):
        return 0.0
    return LEGACY_BONUS if wants_legacy else -LEGACY_PENALTY
