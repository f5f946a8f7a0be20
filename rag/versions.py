"""Prefer the current docs over legacy ones, unless the question asks about the old version.

Docs sites keep old versions next to the current ones ("legacy-v1/", "archive/",
"deprecated/"), written in the same words, so retrieval often finds both. Users
mean the current version unless they say otherwise ("in old kfp v1", "legacy
sdk"). This is a small prior added to a page's score: a penalty for legacy pages
by default, a bonus when the question names an old version (pure).

A follow-up that turns to the old version in a thread about the current one ("was there
something like that in v1?" after "dsl.exithandler works, nice") is searched with the
thread's words, which all point at the current page; there the bonus is larger
(`SWITCH_BONUS`), so that the legacy counterpart can win.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

LEGACY_MARKERS = frozenset({"legacy", "archive", "archived", "deprecated", "old", "previous"})
OLD_VERSION_WORDS = frozenset(
    {"v1", "legacy", "old", "older", "deprecated", "archived", "previous"}
)
LEGACY_PENALTY = 0.1  # a legacy page needs to be clearly better to outrank a current one
LEGACY_BONUS = 0.1  # ...and is preferred when the question asks about the old version
# A follow-up switching the thread to the old version. Chosen on follow-ups 1-11: recall@1
# 235 -> 239 of 352 at 0.3 with nothing else moved; 0.5 gained one more but lost a page
# from the top 5 and wrongly declined one more question.
SWITCH_BONUS = 0.3
_SEGMENT_WORD = re.compile(r"[a-z0-9]+")


def is_legacy(url: str) -> bool:
    """Whether a page's URL path puts it in a legacy / archived / deprecated part of the docs."""
    path = url.split("://", 1)[-1].split("/", 1)[-1].lower()
    return any(word in LEGACY_MARKERS for word in _SEGMENT_WORD.findall(path))


def asks_for_legacy(question: str) -> bool:
    return any(word in OLD_VERSION_WORDS for word in _SEGMENT_WORD.findall(question.lower()))


def legacy_bonus(question: str, earlier: Sequence[str] = ()) -> float:
    """What a legacy page gains for `question`, asked after the thread's `earlier`
    questions: 0.0 when it does not ask for the old version (legacy pages are then
    penalised), `SWITCH_BONUS` when it does and none of the earlier questions did."""
    if not asks_for_legacy(question):
        return 0.0
    if earlier and not any(asks_for_legacy(text) for text in earlier):
        return SWITCH_BONUS
    return LEGACY_BONUS


def version_prior(page_url: str, bonus: float) -> float:
    """A page's prior: `bonus` (from `legacy_bonus`) for a legacy page, or the penalty
    when the bonus is 0.0; current pages 0.0."""
    if not is_legacy(page_url):
        return 0.0
    return bonus if bonus > 0 else -LEGACY_PENALTY
