"""Slack payloads -> core types: which events are addressed to the bot, and how."""

from __future__ import annotations

import copy
import dataclasses
import json
import urllib.parse
from typing import Any

from adapters.slack import render
from adapters.slack.parse import (
    Ignored,
    SlackEvent,
    bot_in_thread,
    parse_command,
    parse_event,
    parse_feedback,
    thread_history,
)
from bot.types import Citation, Reply
from tests.adapters.slack.support import fixture_bytes, fixture_json

BOT = "U07HLPBOT1"
BOT_ID = "B07HLPBOT9"


def with_event(name: str, **fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(fixture_json(name))
    body["event"].update(fields)
    for key in [k for k, v in fields.items() if v is None]:
        del body["event"][key]
    return body


def test_app_mention_in_a_thread() -> None:
    ev = parse_event(fixture_json("slack_app_mention.json"), BOT, BOT_ID)
    assert isinstance(ev, SlackEvent)
    assert ev.kind == "mention"
    assert ev.event_id == "Ev07Q2MENT01"
    assert ev.reply_thread_ts == "1730812001.000100"
    assert ev.history_thread_ts == "1730812001.000100"
    msg = ev.message
    assert msg.text == "what is the parental leave policy for contractors?"
    assert msg.settings_scope == "slack:T0AB12CDE:C05PQRS6TU"
    assert msg.reply_target is not None
    assert msg.reply_target.data == {
        "team": "T0AB12CDE",
        "channel": "C05PQRS6TU",
        "thread_ts": "1730812001.000100",
        "user": "U04KLMNOP5",
    }
    json.loads(msg.reply_target.to_json())  # serialisable


def test_top_level_mention_starts_a_thread_on_the_message() -> None:
    ev = parse_event(with_event("slack_app_mention.json", thread_ts=None), BOT)
    assert isinstance(ev, SlackEvent)
    assert ev.reply_thread_ts == "1730812345.123456"
    assert ev.history_thread_ts is None


def test_dm_is_answered_in_place() -> None:
    ev = parse_event(fixture_json("slack_dm.json"), BOT, BOT_ID)
    assert isinstance(ev, SlackEvent)
    assert ev.kind == "dm" and ev.message.is_direct
    assert ev.reply_thread_ts is None
    assert ev.message.text.startswith("How do I reset my VPN token?")


def test_own_and_other_bots_edits_and_joins_are_ignored() -> None:
    assert isinstance(parse_event(fixture_json("extra_slack_dm_own_bot_echo.json"), BOT), Ignored)
    for fields in (
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"bot_id": "B0OTHER"},
        {"user": BOT},
        {"user": None},
    ):
        result = parse_event(with_event("slack_dm.json", **fields), BOT, BOT_ID)
        assert isinstance(result, Ignored), fields


def test_message_twin_of_a_mention_is_ignored() -> None:
    twin = with_event("slack_app_mention.json", type="message", channel_type="channel")
    assert parse_event(twin, BOT) == Ignored("message twin of an app_mention")


def test_thread_message_without_mention_is_a_follow_up_candidate() -> None:
    body = with_event(
        "slack_app_mention.json", type="message", channel_type="channel", text="and interns?"
    )
    ev = parse_event(body, BOT)
    assert isinstance(ev, SlackEvent) and ev.kind == "thread"
    top_level = with_event("slack_dm.json", channel="C1", channel_type="channel")
    assert isinstance(parse_event(top_level, BOT), Ignored)


def test_slash_command_docbot_and_question_commands() -> None:
    form = dict(urllib.parse.parse_qsl(fixture_bytes("slack_slash_command.txt").decode()))
    ask = parse_command(form)
    assert ask.text == "how do I request a new laptop?" and not ask.is_command
    assert ask.event_id.startswith("cmd:7812345678901.")
    assert "response_url" not in json.dumps(ask.reply_target.data if ask.reply_target else {})
    docbot = parse_command({**form, "command": "/docbot", "text": "model bedrock"})
    assert docbot.text == "/docbot model bedrock" and docbot.is_command
    assert docbot.conversation_id == "C05PQRS6TU" and docbot.user_id == "U04KLMNOP5"
    assert parse_command({**form, "command": "/docbot", "text": ""}).text == "/docbot"


def test_docbot_slash_command_text_is_unescaped_like_ask() -> None:
    # Slack HTML-escapes `&`, `<`, `>` in a slash command's text; `&amp;` is undone last,
    # so a literal "&lt;" typed by the user (sent as "&amp;lt;") stays "&lt;".
    form = dict(urllib.parse.parse_qsl(fixture_bytes("slack_slash_command.txt").decode()))
    docbot = parse_command(
        {**form, "command": "/docbot", "text": "model r&amp;d &lt;new&gt; &amp;lt;"}
    )
    assert docbot.text == "/docbot model r&d <new> &lt;"


def test_feedback_action() -> None:
    action = parse_feedback(fixture_json("slack_block_actions.json"))
    assert action is not None
    assert (action.answer_id, action.value, action.user_id) == ("ans-7f3c", "down", "U04KLMNOP5")
    assert (action.channel, action.message_ts, action.thread_ts) == (
        "C05PQRS6TU",
        "1730812350.000300",
        "1730812001.000100",
    )
    form = fixture_bytes("slack_block_actions.form.txt").decode()
    from_form = json.loads(urllib.parse.parse_qs(form)["payload"][0])
    assert parse_feedback(from_form) == action
    bad = copy.deepcopy(fixture_json("slack_block_actions.json"))
    bad["actions"][0]["value"] = "sideways:ans-1"
    assert parse_feedback(bad) is None


def test_thread_history_roles_order_and_placeholder() -> None:
    replies = [
        {"ts": "100.000001", "user": "U1", "text": "<@U07HLPBOT1> what is KFP?"},
        {"ts": "100.000002", "user": BOT, "bot_id": BOT_ID, "text": "Searching the docs…"},
        {"ts": "100.000003", "user": BOT, "bot_id": BOT_ID, "text": "KFP is *Pipelines*."},
        {"ts": "100.000004", "bot_id": "B0OTHER", "text": "other bot noise"},
        {"ts": "100.000005", "user": "U2", "text": "edited", "subtype": "message_changed"},
        {"ts": "100.000010", "user": "U1", "text": "and caching?"},
    ]
    turns = thread_history(replies, bot_user_id=BOT, bot_id=BOT_ID, before_ts="100.000010")
    assert [(t.role, t.text) for t in turns] == [
        ("user", "what is KFP?"),
        ("assistant", "KFP is *Pipelines*."),
    ]
    assert bot_in_thread(replies, BOT, BOT_ID)
    assert not bot_in_thread(replies[:1], BOT, BOT_ID)
    # ts compares numerically by parts: "100.000010" is after "100.000009" and "99.9".
    assert len(thread_history(replies, bot_user_id=BOT, before_ts="100.000002")) == 1


def _posted(messages: list[render.SlackMessage], first_ts: int) -> list[dict[str, Any]]:
    """Rendered messages as `conversations.replies` gives them back (text, blocks, bot ids)."""
    return [
        {"ts": f"{first_ts + n}.000001", "user": BOT, "bot_id": BOT_ID, **m.kwargs()}
        for n, m in enumerate(messages)
    ]


def test_thread_history_reads_an_answer_without_its_links_sources_footer_or_buttons() -> None:
    """An answer comes back as what it said, with its `[n]` markers: the links behind them,
    the sources list, the footer and the feedback buttons are the message's furniture."""
    source = Citation(
        1, "Notebooks", "https://docs.example.com/notebooks/#install", section="Install"
    )
    answer = Reply(
        text="Install the **notebook controller** first [1].",
        citations=[source],
        model="extractive",
        used_docs=True,
        answer_id="ans-1",
        timings_ms={"total": 1200.0},
    )
    # An answer too long for one message: its sources, footer and buttons come last, alone.
    steps = "\n\n".join(f"Step {n}: " + "configure the notebook server " * 90 for n in range(4))
    long = dataclasses.replace(answer, text=steps + " Done [1].")
    long_messages = render.render_reply(long)
    assert not any(b["type"] == "section" for b in long_messages[-1].blocks)
    replies = [
        {"ts": "100.000001", "user": "U1", "text": "<@U07HLPBOT1> how do I install notebooks?"},
        *_posted(render.render_reply(answer), 101),
        {"ts": "110.000001", "user": "U1", "text": "and the long version?"},
        *_posted(long_messages, 111),
    ]
    turns = thread_history(replies, bot_user_id=BOT, bot_id=BOT_ID, before_ts="200.000001")
    assert [t.role for t in turns] == ["user", "assistant", "user"] + ["assistant"] * (
        len(long_messages) - 1
    )
    assert turns[1].text == "Install the *notebook controller* first [1]."
    said = "\n".join(t.text for t in turns)
    for furniture in ("https://", "Sources", "Model:", "Helpful", "1.2 s"):
        assert furniture not in said
    # a long answer reads as much as its notification text holds
    assert turns[-1].text.startswith("Step 0: configure the notebook server")
    assert len(turns[-1].text) <= render.FALLBACK_CHARS


def test_thread_history_reads_an_answer_split_over_messages_as_one_turn() -> None:
    """Turns are counted (the last 10 here, the last 6 in a prompt): the parts of one long
    answer are one turn, and do not push the thread's questions out."""
    steps = "\n\n".join(f"Step {n}: " + "configure the notebook server " * 95 for n in range(4))
    parts = render.render_reply(Reply(text=steps, model="extractive", answer_id="ans-2"))
    assert sum(any(b["type"] == "section" for b in m.blocks) for m in parts) == 2
    replies: list[dict[str, Any]] = []
    for n in range(4):
        replies.append({"ts": f"{100 + 10 * n}.000001", "user": "U1", "text": f"question {n}?"})
        replies.extend(_posted(parts, 101 + 10 * n))
    turns = thread_history(replies, bot_user_id=BOT, bot_id=BOT_ID, before_ts="200.000001")
    assert [t.role for t in turns] == ["user", "assistant"] * 4
    assert turns[1].text.startswith("Step 0:") and "Step 3:" in turns[1].text


def test_thread_history_counts_only_turns_that_asked_something() -> None:
    """The last 10 turns are read: thanks, okays and emoji (each answered by the bot, which
    answers every message of its threads) must not push the thread's question out."""
    replies: list[dict[str, Any]] = [
        {"ts": "100.000001", "user": "U1", "text": "<@U07HLPBOT1> how do I install katib?"},
        {"ts": "100.000002", "user": BOT, "bot_id": BOT_ID, "text": "Apply the manifest [1]."},
    ]
    for n, said in enumerate(["thanks!", "ok", ":+1:", "<@U0ALICE>", "great, thx"]):
        replies.append({"ts": f"{101 + n}.000001", "user": "U2", "text": said})
        replies.append({"ts": f"{101 + n}.000002", "user": BOT, "bot_id": BOT_ID, "text": "Hm?"})
    turns = thread_history(replies, bot_user_id=BOT, bot_id=BOT_ID, before_ts="200.000001")
    assert [(t.role, t.text) for t in turns] == [
        ("user", "how do I install katib?"),
        ("assistant", "Apply the manifest [1]."),
    ]


def test_thread_history_leaves_out_a_command_and_its_reply() -> None:
    """`@docbot rag off` in a thread is the typed command `docbot rag off`, no question; a
    mention with a question that starts with a command word stays a question."""
    replies = [
        {"ts": "100.000001", "user": "U1", "text": "<@U07HLPBOT1> rag off"},
        {"ts": "100.000002", "user": BOT, "bot_id": BOT_ID, "text": "RAG is now off."},
        {"ts": "100.000003", "user": "U1", "text": "<@U07HLPBOT1> help me install katib"},
    ]
    turns = thread_history(replies, bot_user_id=BOT, bot_id=BOT_ID, before_ts="100.000004")
    assert [t.text for t in turns] == ["help me install katib"]


def test_thread_history_keeps_a_parent_another_bot_posted() -> None:
    """A thread under an alert or a workflow's message is about that message: it is the
    thread's first turn. Other bots' replies inside the thread stay out."""
    root = "200.000001"
    replies = [
        {
            "ts": root,
            "thread_ts": root,
            "subtype": "bot_message",
            "bot_id": "B0ALERTS",
            "text": "Pipeline run *nightly-train* failed: `ImagePullBackOff` &amp; retries exhausted",
        },
        {"ts": "200.000002", "thread_ts": root, "bot_id": "B0ALERTS", "text": "Retrying in 5 min"},
        {"ts": "200.000003", "thread_ts": root, "user": "U1", "text": "<@U07HLPBOT1> why?"},
    ]
    turns = thread_history(replies, bot_user_id=BOT, bot_id=BOT_ID, before_ts="200.000004")
    assert [(t.role, t.text) for t in turns] == [
        (
            "user",
            "Pipeline run *nightly-train* failed: `ImagePullBackOff` & retries exhausted",
        ),
        ("user", "why?"),
    ]


def test_thread_history_skips_deleted_and_textless_messages() -> None:
    root = "300.000001"
    replies = [
        # a deleted parent that has replies stays as a tombstone
        {
            "ts": root,
            "thread_ts": root,
            "subtype": "tombstone",
            "text": "This message was deleted.",
        },
        {
            "ts": "300.000002",
            "thread_ts": root,
            "user": "U1",
            "subtype": "file_share",
            "text": "",
            "files": [{"id": "F1", "name": "trace.png"}],
        },
        {
            "ts": "300.000003",
            "thread_ts": root,
            "user": "U1",
            "text": "how do I install katib?",
            "edited": {"user": "U1", "ts": "300.000009"},
        },
    ]
    turns = thread_history(replies, bot_user_id=BOT, bot_id=BOT_ID, before_ts="300.000010")
    assert [(t.role, t.text) for t in turns] == [("user", "how do I install katib?")]


def test_mention_followed_by_a_command_is_the_typed_command() -> None:
    """`@docbot help` in a thread is how the docs say to run a command where `/docbot` can't go."""
    for said, typed in (
        ("<@U07HLPBOT1> help", "docbot help"),
        ("<@U07HLPBOT1|docbot>  STATUS", "docbot STATUS"),
        ("<@U07HLPBOT1> rag off", "docbot rag off"),
        ("<@U07HLPBOT1> model bedrock channel", "docbot model bedrock channel"),
        ("<@U07HLPBOT1> docbot status", "docbot status"),  # the long form still works
    ):
        ev = parse_event(with_event("slack_app_mention.json", text=said), BOT, BOT_ID)
        assert isinstance(ev, SlackEvent)
        assert ev.message.text == typed, said


def test_mention_with_a_question_that_starts_with_a_command_word_stays_a_question() -> None:
    for said in (
        "<@U07HLPBOT1> help me configure the object store",
        "<@U07HLPBOT1> status of the v2 migration?",
        "<@U07HLPBOT1> length limits for pipeline names?",
        "<@U07HLPBOT1> model registry: how do I register a model?",
        "what does <@U07HLPBOT1> help with?",  # the mention is not in front
    ):
        ev = parse_event(with_event("slack_app_mention.json", text=said), BOT, BOT_ID)
        assert isinstance(ev, SlackEvent)
        assert not ev.message.text.startswith("docbot"), said
    bare = parse_event(with_event("slack_app_mention.json", text="<@U07HLPBOT1>"), BOT, BOT_ID)
    assert isinstance(bare, SlackEvent) and bare.message.text == ""
