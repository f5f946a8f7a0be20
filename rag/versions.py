"""Prefer the current docs over legacy ones, unless the question asks about the old version.

Docs sites keep old versions next to the current ones ("legacy-v1/", "archive/",
"deprecated/"), written in the same words, so retrieval often finds both. Users
mean the current version unless they say otherwise ("in old kfp v1", "legacy
sdk"). This is a small prior added to a page's score: a penalty for legacy pages
by default, a bonus when the question names an old version (pure).

A follow-up that turns to the old version in a thread about the current one ("was there
something like that in v1?" after "dsl.exithandler works, nice") is searched with the
thread's words, which all point at the current page; there the bonus is larger
(`SWITCH_BONUS`), so that the legacy counterpart can win. The other way round, a
follow-up in a thread about the old version keeps to it unless it names the current one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

LEGACY_MARKERS = frozenset({"legacy", "archive", "archived", "deprecated", "old", "previous"})
OLD_VERSION_WORDS = frozenset(
    {"v1", "legacy", "old", "older", "deprecated", "archived", "previous"}
)
# ...and the words that take a follow-up back to the current version ("same knob in v2?")
CURRENT_VERSION_WORDS = frozenset({"v2", "v3", "current", "latest", "newer"})
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


def asks_for_current(question: str) -> bool:
    return any(word in CURRENT_VERSION_WORDS for word in _SEGMENT_WORD.findall(question.lower()))


def legacy_bonus(question: str, earlier: Sequence[str] = (), *, followup: bool = False) -> float:
    """What a legacy page gains for `question`, asked after the thread's `earlier`
    questions (oldest first); `followup`: a short message that continues the thread.

    `SWITCH_BONUS` when the question asks for the old version and no earlier question
    did; `LEGACY_BONUS` when it asks for it, or when it is a follow-up in a thread whose
    last question did ("and uploading a new one from yaml?" after "... with the kfp v1
    client?") and it does not ask for the current version itself; else 0.0 (legacy pages
    are then penalised). A thread about v1 stays on v1: on follow-ups 1-14 that took
    recall@1 from 299 to 307 of 448, nothing worse."""
    if asks_for_legacy(question):
        if earlier and not any(asks_for_legacy(text) for text in earlier):
            return SWITCH_BONUS
        return LEGACY_BONUS
    if followup and earlier and asks_for_legacy(earlier[-1]) and not asks_for_current(question):
        return LEGACY_BONUS
    return 0.0


def version_prior(page_url: str, bonus: float) -> float:
    """A page's prior: `bonus` (from `legacy_bonus`) for a legacy page, or the penalty
    when the bonus is 0.0; current pages 0.0."""
    if not is_legacy(page_url):
        return 0.0
    return bonus if bonus > 0 else -LEGACY_PENALTY
