"""Draft question sets from the answer log, for people to label (pure).

The decline model (`docbot train-gate`) and the thresholds (`docbot calibrate`)
are only as good as the labelled questions they learn from, and the best ones
are the questions employees really asked. `docbot stats --draft-questions FILE`
writes the logged questions in the `docbot eval` format, each with what the log
knows of it filled in: the pages it cited (`expected_urls`, the anchor of the
first section cited on the first of them), "unanswerable" when it declined.
What the log cannot know is whether the bot was right, so every line says what to check (`review`) and
carries `"reviewed": false`, which `docbot eval`, `calibrate` and `train-gate`
refuse until a person has checked the line and removed it: a draft is never
taken for a label.

Questions that got a thumbs-down come first (the bot was probably wrong: a
declined one first, since an employee says the docs do answer it), then
declined ones (a decline is right only if the docs really lack the answer),
then answered ones without feedback, then those with a thumbs-up. A reply in a
thread comes with the questions asked of docbot before it there (`history`); the
log keeps the thread as a hash and never other people's messages. A Slack user
mention in a question ("@U02ABCDEF9") is written as "@someone".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.stats import normalise_question
from rag.evaluate import REVIEW_KEY, anchor_of, page_of

# What to check, by what the log says; the order is the order of the draft.
REVIEW_HINTS = {
    "declined, down": "thumbs-down on a decline: the docs probably answer it: set kind, "
    "expected_urls and expected_anchor",
    "down": "thumbs-down: check the cited pages; if the docs lack the answer, make it "
    "unanswerable (no expected_urls)",
    "declined": "declined: if the docs do answer it, set kind, expected_urls and "
    "expected_anchor; if not, it is right as it is",
    "answered": "answered, no feedback: check the cited pages and the anchor",
    "up": "thumbs-up: check the cited pages and the anchor",
}
# Answers logged before docbot kept the thread (no `thread_hash`) may be follow-ups too.
FOLLOW_UP_HINT = "; if it was a reply in a thread, add the thread's earlier questions as history"
HISTORY_HINT = "; a reply in a thread: history holds the questions asked before it there"
MAX_HISTORY = 10  # earlier questions of a thread kept as a draft's history, the latest
FACTS_HINT = "; add answer_facts (short phrases of the page a right answer contains)"
# A Slack user mention as the chat adapter passes it on (`<@U02ABCDEF9>` -> "@U02ABCDEF9"):
# the log stores user ids hashed, and a question file goes into the project: no ids there.
_SLACK_USER_MENTION = re.compile(r"@[UW](?=[A-Z0-9]*\d)[A-Z0-9]{6,}\b")


def _without_user_ids(text: str) -> str:
    return _SLACK_USER_MENTION.sub("@someone", text)


def _status(answer: Mapping[str, Any]) -> str:
    if answer.get("feedback") == "down":
        return "declined, down" if answer["declined"] else "down"
    if answer["declined"]:
        return "declined"
    return "up" if answer.get("feedback") == "up" else "answered"


def _pages(sources: Iterable[str]) -> list[str]:
    """Distinct cited pages (as `docbot eval` matches them), in citation order."""
    return list(dict.fromkeys(page_of(url) for url in sources if url))


def draft_line(answer: Mapping[str, Any], history: Sequence[str] = ()) -> dict[str, Any]:
    """One logged answer as a draft question (the `docbot eval` fields, plus `review`);
    `history`: the questions asked before it in its thread, oldest first."""
    status = _status(answer)
    pages = [] if answer["declined"] else _pages(answer.get("sources") or [])[:2]
    # `docbot eval` looks for expected_urls[0]#expected_anchor: the first section cited on
    # that page, never one of another page
    anchor = next(
        (
            anchor_of(url)
            for url in answer.get("sources") or []
            if url and pages and page_of(url) == pages[0] and anchor_of(url)
        ),
        "",
    )
    kind = "unanswerable" if not pages else "single" if len(pages) == 1 else "two_page"
    thread_hint = HISTORY_HINT if history else "" if answer.get("thread_hash") else FOLLOW_UP_HINT
    line: dict[str, Any] = {
        "id": f"log-{answer['id']}",
        "question": _without_user_ids(answer["question"]),
        "expected_urls": pages,
        "expected_anchor": anchor if pages else "",
        "answer_facts": [],
        "kind": kind,
    }
    if history:
        line["history"] = [_without_user_ids(text) for text in history]
    line["review"] = (
        REVIEW_HINTS[status] + thread_hint + ("" if kind == "unanswerable" else FACTS_HINT)
    )
    line[REVIEW_KEY] = False
    return line


def draft_questions(answers: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The logged questions as drafts, the ones most likely wrong first (`REVIEW_HINTS`).

    A reply in a thread gets the questions asked before it there as its history (up to
    `MAX_HISTORY`). A question asked more than once (with the same history) is drafted
    once, from its latest answer (the docs as they are now), marked down if any of its
    answers got a thumbs-down."""
    latest: dict[tuple[str, ...], tuple[Mapping[str, Any], list[str]]] = {}
    down: set[tuple[str, ...]] = set()
    asked_in: dict[str, list[str]] = {}  # thread -> its questions so far
    for answer in sorted(answers, key=lambda a: a["ts"]):
        question = answer.get("question") or ""
        if not normalise_question(question):
            continue
        thread = asked_in.setdefault(answer.get("thread_hash") or "", [])
        history = thread[-MAX_HISTORY:] if answer.get("thread_hash") else []
        thread.append(question)
        if answer.get("unavailable"):  # declined unsearched: says nothing about the docs
            continue
        key = tuple(normalise_question(q) for q in (*history, question))
        latest[key] = (answer, history)
        if answer.get("feedback") == "down":
            down.add(key)
    for key in down:
        answer, history = latest[key]
        latest[key] = ({**answer, "feedback": "down"}, history)
    order = list(REVIEW_HINTS)
    ranked = sorted(latest.values(), key=lambda ah: (order.index(_status(ah[0])), ah[0]["ts"]))
    return [draft_line(answer, history) for answer, history in ranked]


__all__ = ["MAX_HISTORY", "REVIEW_HINTS", "draft_line", "draft_questions"]
