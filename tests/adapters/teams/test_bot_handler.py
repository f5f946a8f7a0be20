"""Conversation flows through botbuilder's `TestAdapter` with the real docbot core.

The core runs with an empty index, which answers every question with a clear "nothing is indexed
yet" decline: a real answer path (answer id, feedback, answer log) without loading a model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity

from adapters.teams.bot_handler import DocbotTeamsHandler
from bot.config import Settings
from bot.core import Bot

from .payloads import activity_from

AAD_USER = "8e7d6c5b-4a39-4281-b706-f5e4d3c2b1a0"
BOT_ACCOUNT = {"id": "28:6b1f0e2d-3c4a-4b5e-8f7a-9d0c1b2a3e4f", "name": "HelpDesk Bot"}


def make_bot(data_dir: Path, **env: str) -> Bot:
    return Bot.from_settings(
        Settings.from_env({"DOCBOT_DATA_DIR": str(data_dir), **env}, env_file=None)
    )


@pytest.fixture
def docbot(tmp_path: Path) -> Iterator[Bot]:
    bot = make_bot(tmp_path)
    yield bot
    bot.store.close()


def adapter_for(handler: DocbotTeamsHandler, template: Activity) -> TestAdapter:
    return TestAdapter(handler.on_turn, template_or_conversation=template)


def sent(adapter: TestAdapter, kind: str = "message") -> list[Activity]:
    return [a for a in adapter.activity_buffer if a.type == kind]


def card_of(activity: Activity) -> dict:
    return activity.attachments[0].content


async def test_personal_question_gets_typing_then_answer_and_sources_card(
    docbot: Bot, personal: Activity
) -> None:
    adapter = adapter_for(DocbotTeamsHandler(docbot), personal)
    await adapter.receive_activity(personal)

    kinds = [a.type for a in adapter.activity_buffer]
    assert kinds[0] == "typing"  # shown before the core starts working
    text, card = sent(adapter)
    assert "No documentation is indexed yet" in text.text
    assert text.conversation.id == personal.conversation.id
    assert text.reply_to_id == personal.id
    buttons = card_of(card)["actions"]
    assert [b["data"]["docbot_feedback"] for b in buttons] == ["up", "down"]
    assert buttons[0]["data"]["answer_id"]
    (logged,) = docbot.store.answers()
    assert logged["question"] == "How do I reset my VPN token?"


async def test_channel_mention_is_answered_in_the_same_thread(
    docbot: Bot, channel_mention: Activity
) -> None:
    adapter = adapter_for(DocbotTeamsHandler(docbot), channel_mention)
    await adapter.receive_activity(channel_mention)

    replies = sent(adapter)
    assert replies
    for reply in replies:
        assert reply.conversation.id.endswith(";messageid=1730812001234")
        assert reply.reply_to_id == channel_mention.id
    (logged,) = docbot.store.answers()
    assert logged["question"] == "what is the parental leave policy for contractors?"


@pytest.mark.parametrize(
    "typed", ["/docbot help", "docbot help", "<at>HelpDesk Bot</at> docbot help"]
)
async def test_help_command_typed_as_text(
    docbot: Bot, channel_mention: Activity, typed: str
) -> None:
    adapter = adapter_for(DocbotTeamsHandler(docbot), channel_mention)
    await adapter.receive_activity(activity_from("teams_channel_mention.json", text=typed))

    (reply,) = sent(adapter)  # a command reply: text only, no card, no feedback
    assert "**Commands**" in reply.text  # the core's Slack-style *bold* rendered for Teams
    assert "reingest" in reply.text
    assert not reply.attachments
    assert docbot.store.answers() == []


async def test_admin_commands_check_the_aad_object_id(tmp_path: Path, personal: Activity) -> None:
    outsider = make_bot(tmp_path / "a")
    admin = make_bot(tmp_path / "b", DOCBOT_ADMINS=f"U0SLACK,{AAD_USER}")
    try:
        for bot, expected in ((outsider, "admin"), (admin, "")):
            adapter = adapter_for(DocbotTeamsHandler(bot), personal)
            await adapter.receive_activity(
                activity_from("teams_personal_message.json", text="docbot stats")
            )
            (reply,) = sent(adapter)
            assert ("admin" in reply.text.lower()) == bool(expected), reply.text
    finally:
        outsider.store.close()
        admin.store.close()


async def test_welcome_when_the_bot_is_added(docbot: Bot, channel_mention: Activity) -> None:
    adapter = adapter_for(DocbotTeamsHandler(docbot), channel_mention)
    update = activity_from(
        "teams_channel_mention.json",
        type="conversationUpdate",
        text=None,
        entities=None,
        membersAdded=[BOT_ACCOUNT],
    )
    await adapter.receive_activity(update)

    (welcome,) = sent(adapter)
    assert "HelpDesk Bot" in welcome.text and "/docbot help" in welcome.text


async def test_no_welcome_when_someone_else_joins(docbot: Bot, channel_mention: Activity) -> None:
    adapter = adapter_for(DocbotTeamsHandler(docbot), channel_mention)
    update = activity_from(
        "teams_channel_mention.json",
        type="conversationUpdate",
        text=None,
        membersAdded=[{"id": "29:new-colleague"}],
    )
    await adapter.receive_activity(update)
    assert adapter.activity_buffer == []


async def test_card_feedback_is_stored_and_thanked(docbot: Bot, personal: Activity) -> None:
    adapter = adapter_for(DocbotTeamsHandler(docbot), personal)
    await adapter.receive_activity(personal)
    down = card_of(sent(adapter)[-1])["actions"][1]["data"]

    adapter.activity_buffer.clear()
    submit = activity_from("teams_personal_message.json", id="submit-1", text="", value=down)
    await adapter.receive_activity(submit)

    (thanks,) = sent(adapter)
    assert thanks.text.startswith("Thanks")
    assert docbot.store.answers()[0]["feedback"] == "down"


async def test_builtin_feedback_invoke_is_stored_and_answered_200(
    docbot: Bot, personal: Activity
) -> None:
    adapter = adapter_for(DocbotTeamsHandler(docbot), personal)
    await adapter.receive_activity(personal)
    # TestAdapter numbers sent activities 1, 2, 3...: typing, answer text, card
    answer_text_id = str(adapter.activity_buffer.index(sent(adapter)[0]) + 1)

    adapter.activity_buffer.clear()
    invoke = activity_from("extra_teams_feedback_submit_action.json", replyToId=answer_text_id)
    await adapter.receive_activity(invoke)

    (response,) = adapter.activity_buffer
    assert response.type == "invokeResponse"
    assert response.value.status == 200 and response.value.body == {}
    assert docbot.store.answers()[0]["feedback"] == "down"


async def test_builtin_feedback_for_an_unknown_message_still_answers_200(
    docbot: Bot, builtin_feedback: Activity
) -> None:
    adapter = adapter_for(DocbotTeamsHandler(docbot), builtin_feedback)
    await adapter.receive_activity(builtin_feedback)
    (response,) = adapter.activity_buffer
    assert response.value.status == 200
    assert not docbot.store.feedback_counts().get("down")


async def test_a_redelivered_message_is_answered_once(docbot: Bot, personal: Activity) -> None:
    adapter = adapter_for(DocbotTeamsHandler(docbot), personal)
    await adapter.receive_activity(activity_from("teams_personal_message.json"))
    first = len(adapter.activity_buffer)
    await adapter.receive_activity(activity_from("teams_personal_message.json"))

    assert first > 0 and len(adapter.activity_buffer) == first
    assert len(docbot.store.answers()) == 1


async def test_a_bare_mention_gets_a_hint_not_silence(
    docbot: Bot, channel_mention: Activity
) -> None:
    adapter = adapter_for(DocbotTeamsHandler(docbot), channel_mention)
    await adapter.receive_activity(
        activity_from("teams_channel_mention.json", text="<at>HelpDesk Bot</at>")
    )
    (reply,) = sent(adapter)
    assert "/docbot help" in reply.text


async def test_a_stale_card_submit_gets_a_reason(docbot: Bot, personal: Activity) -> None:
    adapter = adapter_for(DocbotTeamsHandler(docbot), personal)
    await adapter.receive_activity(
        activity_from("teams_personal_message.json", text="", value={"old_button": 1})
    )
    (reply,) = sent(adapter)
    assert "isn't active anymore" in reply.text


async def test_a_failing_core_still_gets_a_reason(personal: Activity) -> None:
    class BrokenBot:
        def __init__(self, store) -> None:
            self.store = store

        async def handle(self, msg, on_delta=None):
            raise RuntimeError("boom")

        async def record_feedback(self, *args):  # pragma: no cover - not used here
            return ""

    from bot.state import StateStore

    store = StateStore(":memory:")
    adapter = adapter_for(DocbotTeamsHandler(BrokenBot(store)), personal)
    await adapter.receive_activity(personal)
    (reply,) = sent(adapter)
    assert "something went wrong" in reply.text and "boom" not in reply.text


async def test_typing_is_renewed_while_a_slow_answer_is_worked_on(
    docbot: Bot, personal: Activity
) -> None:
    class SlowBot:
        """The real core behind a slow model: answers after 0.3 s."""

        store = docbot.store

        async def handle(self, msg, on_delta=None):
            await asyncio.sleep(0.3)
            return await docbot.handle(msg, on_delta)

        async def record_feedback(self, *args):  # pragma: no cover - not used here
            return ""

    adapter = adapter_for(DocbotTeamsHandler(SlowBot(), typing_interval_s=0.05), personal)
    await adapter.receive_activity(personal)

    kinds = [a.type for a in adapter.activity_buffer]
    assert kinds.count("typing") >= 3
    # the indicator stops once the answer is out
    assert kinds[-2:] == ["message", "message"]


class HistoryRecordingBot:
    """The real core, as if the docs had answered (the test index is empty); records the
    thread history each question arrives with, as (role, text) pairs."""

    def __init__(self, docbot: Bot) -> None:
        self.docbot = docbot
        self.store = docbot.store
        self.seen: list[list[tuple[str, str]]] = []

    async def handle(self, msg, on_delta=None):  # noqa: ANN001, ANN201
        self.seen.append([(turn.role, turn.text) for turn in msg.history])
        reply = await self.docbot.handle(msg, on_delta)
        reply.declined = False
        return reply

    async def record_feedback(self, *args):  # noqa: ANN002, ANN201  # pragma: no cover
        return ""


async def test_follow_ups_in_a_channel_thread_carry_the_earlier_turns(
    docbot: Bot, channel_mention: Activity
) -> None:
    recording = HistoryRecordingBot(docbot)
    seen = recording.seen
    adapter = adapter_for(DocbotTeamsHandler(recording), channel_mention)
    await adapter.receive_activity(activity_from("teams_channel_mention.json", id="q1"))
    await adapter.receive_activity(
        activity_from(
            "teams_channel_mention.json", id="q2", text="<at>HelpDesk Bot</at> and interns?"
        )
    )

    assert seen[0] == []
    assert [role for role, _ in seen[1]] == ["user", "assistant"]
    assert seen[1][0][1] == "what is the parental leave policy for contractors?"


async def test_a_thread_keeps_its_question_through_thanks_and_bare_mentions(
    docbot: Bot, channel_mention: Activity
) -> None:
    """Only the last few turns of a thread are kept: messages that ask nothing (a bare
    mention, a thank-you, an emoji) must not push its question out (`bot.history`)."""
    recording = HistoryRecordingBot(docbot)
    seen = recording.seen
    adapter = adapter_for(DocbotTeamsHandler(recording), channel_mention)
    await adapter.receive_activity(activity_from("teams_channel_mention.json", id="q1"))
    for n, said in enumerate(("", "thanks!", "👍", "docbot status")):
        text = f"<at>HelpDesk Bot</at> {said}"
        await adapter.receive_activity(
            activity_from("teams_channel_mention.json", id=f"ack{n}", text=text)
        )
    await adapter.receive_activity(
        activity_from(
            "teams_channel_mention.json", id="q2", text="<at>HelpDesk Bot</at> and interns?"
        )
    )
    assert [role for role, _ in seen[-1]] == ["user", "assistant"]
    assert seen[-1][0][1] == "what is the parental leave policy for contractors?"


async def test_a_token_pasted_into_a_thread_is_not_kept_in_its_history(
    docbot: Bot, channel_mention: Activity
) -> None:
    """A channel thread's turns are kept in the shared store for a week: a token pasted into
    a question is kept there redacted, as the logs and the answer log keep it."""
    recording = HistoryRecordingBot(docbot)
    token = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
    adapter = adapter_for(DocbotTeamsHandler(recording), channel_mention)
    await adapter.receive_activity(
        activity_from(
            "teams_channel_mention.json",
            id="q1",
            text=f"<at>HelpDesk Bot</at> why does {token} get invalid_auth?",
        )
    )
    await adapter.receive_activity(
        activity_from("teams_channel_mention.json", id="q2", text="<at>HelpDesk Bot</at> and now?")
    )
    [(_, asked), _] = recording.seen[-1]
    assert "invalid_auth" in asked and token not in asked and "[redacted]" in asked


async def test_personal_chats_have_no_thread_history(docbot: Bot, personal: Activity) -> None:
    seen: list[int] = []

    class RecordingBot:
        store = docbot.store

        async def handle(self, msg, on_delta=None):
            seen.append(len(msg.history))
            return await docbot.handle(msg, on_delta)

        async def record_feedback(self, *args):  # pragma: no cover - not used here
            return ""

    adapter = adapter_for(DocbotTeamsHandler(RecordingBot()), personal)
    await adapter.receive_activity(activity_from("teams_personal_message.json", id="p1"))
    await adapter.receive_activity(activity_from("teams_personal_message.json", id="p2"))
    assert seen == [0, 0]


async def test_builtin_feedback_reaches_another_replica_through_the_state_store(
    docbot: Bot, personal: Activity
) -> None:
    """The message -> answer mapping lives in the shared store, not in one process's memory."""
    adapter = adapter_for(DocbotTeamsHandler(docbot), personal)
    await adapter.receive_activity(personal)
    answer_text_id = str(adapter.activity_buffer.index(sent(adapter)[0]) + 1)

    other_replica = adapter_for(DocbotTeamsHandler(docbot), personal)  # a fresh handler, same store
    invoke = activity_from("extra_teams_feedback_submit_action.json", replyToId=answer_text_id)
    await other_replica.receive_activity(invoke)
    assert docbot.store.answers()[0]["feedback"] == "down"
