"""Draft question sets from the answer log (pure): what the log knows filled in,
what a person must check said on every line, the likeliest mistakes first."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.drafts import REVIEW_HINTS, draft_line, draft_questions
from rag.evaluate import parse_questions

BASE = "https://docs.example.com/"


def logged(
    answer_id: str,
    question: str,
    *,
    sources: tuple[str, ...] = (),
    declined: bool = False,
    feedback: str | None = None,
    ts: float = 0.0,
    thread: str | None = None,
) -> dict[str, Any]:
    return {
        "thread_hash": thread,
        "id": answer_id,
        "ts": ts,
        "question": question,
        "sources": list(sources),
        "declined": declined,
        "feedback": feedback,
    }


def test_an_answer_becomes_a_question_on_the_pages_it_cited() -> None:
    line = draft_line(
        logged("a1", "how do i install katib", sources=(BASE + "katib/#install", BASE + "katib/"))
    )
    assert line["id"] == "log-a1" and line["question"] == "how do i install katib"
    assert line["kind"] == "single" and line["expected_urls"] == [BASE + "katib/"]
    assert line["expected_anchor"] == "install" and line["answer_facts"] == []
    assert line["reviewed"] is False and "answer_facts" in line["review"]


def test_two_cited_pages_make_a_two_page_question_and_a_third_is_dropped() -> None:
    sources = (BASE + "a/#x", BASE + "b/#y", BASE + "c/#z")
    line = draft_line(logged("a2", "q", sources=sources))
    assert line["kind"] == "two_page" and line["expected_urls"] == [BASE + "a/", BASE + "b/"]
    assert line["expected_anchor"] == "x"


def test_a_decline_is_drafted_unanswerable_and_says_to_check_the_docs() -> None:
    line = draft_line(logged("a3", "is there a mobile app", declined=True))
    assert line["kind"] == "unanswerable" and line["expected_urls"] == []
    assert line["expected_anchor"] == "" and line["review"].startswith("declined")


def test_likeliest_mistakes_come_first() -> None:
    answers = [
        logged("up", "q up", sources=(BASE + "a/#x",), feedback="up", ts=1),
        logged("plain", "q plain", sources=(BASE + "a/#x",), ts=2),
        logged("declined", "q declined", declined=True, ts=3),
        logged("down", "q down", sources=(BASE + "a/#x",), feedback="down", ts=4),
        logged("wrong decline", "q wrong decline", declined=True, feedback="down", ts=5),
    ]
    assert [d["id"] for d in draft_questions(answers)] == [
        "log-wrong decline",
        "log-down",
        "log-declined",
        "log-plain",
        "log-up",
    ]
    assert list(REVIEW_HINTS) == ["declined, down", "down", "declined", "answered", "up"]
    assert draft_questions(answers)[0]["review"].startswith("thumbs-down on a decline")


def test_a_question_asked_again_is_drafted_once_from_its_latest_answer() -> None:
    answers = [
        logged("old", "How do I install Katib?", declined=True, feedback="down", ts=1),
        logged("new", "how do i  install katib", sources=(BASE + "katib/#install",), ts=2),
        logged("blank", "   ", ts=3),
    ]
    [draft] = draft_questions(answers)
    assert draft["id"] == "log-new" and draft["kind"] == "single"
    assert draft["review"].startswith("thumbs-down")  # any thumbs-down flags it


def test_a_reply_in_a_thread_carries_the_questions_asked_before_it_there() -> None:
    answers = [
        logged("n1", "how do i mount a volume in a notebook", sources=(BASE + "nb/#v",), ts=1),
        logged("o1", "something else entirely", sources=(BASE + "x/#y",), ts=2, thread="t2"),
        logged("n2", "and for katib?", sources=(BASE + "katib/#v",), ts=3, thread="t1"),
        logged("p1", "is there a mobile app", declined=True, ts=4, thread="t3"),
        logged("p2", "and for katib?", sources=(BASE + "katib/#x",), ts=5, thread="t3"),
    ]
    answers[0]["thread_hash"] = "t1"
    drafts = {d["id"]: d for d in draft_questions(answers)}
    assert drafts["log-n2"]["history"] == ["how do i mount a volume in a notebook"]
    assert "history holds the questions" in drafts["log-n2"]["review"]
    assert "history" not in drafts["log-n1"] and "history" not in drafts["log-o1"]
    # the same words after another question are another question
    assert drafts["log-p2"]["history"] == ["is there a mobile app"]
    [question] = parse_questions(
        [json.dumps({k: v for k, v in drafts["log-n2"].items() if k != "reviewed"})]
    )
    assert question.history == ["how do i mount a volume in a notebook"]


def test_only_answers_logged_without_their_thread_are_flagged_as_possible_replies() -> None:
    before = draft_line(logged("a", "q", sources=(BASE + "a/#x",)))
    since = draft_line(logged("b", "q", sources=(BASE + "a/#x",), thread="t1"))
    assert "if it was a reply in a thread" in before["review"]
    assert "thread" not in since["review"]


def test_a_draft_is_refused_as_a_label_until_reviewed() -> None:
    line = draft_line(logged("a4", "q", sources=(BASE + "a/#x",)))
    with pytest.raises(ValueError, match=r"drafts.jsonl:1: a draft .* not reviewed yet"):
        parse_questions([json.dumps(line)], source="drafts.jsonl")
    del line["reviewed"]
    [question] = parse_questions([json.dumps(line)], source="drafts.jsonl")
    assert question.expected_urls == [BASE + "a/"] and question.expected_anchor == "x"


def test_the_anchor_is_a_section_of_the_first_expected_page() -> None:
    # `docbot eval` scores the section as expected_urls[0]#expected_anchor: an anchor cited
    # on another page would name a section that page does not have
    line = draft_line(logged("a5", "q", sources=(BASE + "a/", BASE + "b/#y", BASE + "a/#x")))
    assert line["expected_urls"] == [BASE + "a/", BASE + "b/"]
    assert line["expected_anchor"] == "x"
    line = draft_line(logged("a6", "q", sources=(BASE + "a/", BASE + "b/", BASE + "c/#z")))
    assert line["expected_anchor"] == ""


def test_slack_user_ids_mentioned_in_questions_stay_out_of_the_drafts() -> None:
    # the chat adapter turns `<@U02ABCDEF9>` into "@U02ABCDEF9"; a question file goes into
    # the project, where a person's id has no place (the log keeps ids only as hashes)
    answers = [
        logged("t1", "can @U02ABCDEF9 approve katib access?", declined=True, ts=1, thread="t"),
        logged("t2", "and W0123ABCD too? ask @W0123ABCD", declined=True, ts=2, thread="t"),
    ]
    drafts = draft_questions(answers)
    text = json.dumps(drafts)
    assert "U02ABCDEF9" not in text and "@W0123ABCD" not in text
    by_id = {d["id"]: d for d in drafts}
    assert by_id["log-t1"]["question"] == "can @someone approve katib access?"
    assert by_id["log-t2"]["history"] == ["can @someone approve katib access?"]
    assert by_id["log-t2"]["question"] == "and W0123ABCD too? ask @someone"


def test_a_question_the_docs_were_not_searched_for_is_not_drafted() -> None:
    # "no documentation is indexed yet" says nothing about the docs: it is no "unanswerable"
    not_searched = {
        **logged("a1", "widgetron backup schedule?", declined=True),
        "unavailable": True,
    }
    assert draft_questions([not_searched]) == []
