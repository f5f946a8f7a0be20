"""Teams activity -> IncomingMessage: the mapping of reference §2.10, on the shared fixtures."""

from __future__ import annotations

import json

from botbuilder.schema import Activity, ChannelAccount

from adapters.teams import parse
from bot.types import ReplyTarget

from .payloads import activity_from

TENANT = "4d1c2b3a-9e8f-4a7b-8c6d-5e4f3a2b1c0d"
AAD_USER = "8e7d6c5b-4a39-4281-b706-f5e4d3c2b1a0"


def test_personal_message_maps_to_a_direct_message(personal: Activity) -> None:
    msg = parse.to_incoming_message(personal)

    assert msg.platform == "teams"
    assert msg.text == "How do I reset my VPN token?"
    assert msg.is_direct is True
    assert msg.conversation_id == personal.conversation.id
    assert msg.thread_id is None
    assert msg.user_id == AAD_USER  # the Entra object id, what DOCBOT_ADMINS lists
    assert msg.user_name == "Dana Lee"
    assert msg.workspace_id == TENANT
    assert msg.message_id == "1730813000512"
    assert msg.locale == "en-US"
    assert msg.event_id == f"teams:{personal.conversation.id}:1730813000512"


def test_tenant_comes_from_channel_data_because_the_schema_drops_tenant_id(
    personal: Activity,
) -> None:
    assert personal.conversation.tenant_id is None  # botbuilder's schema quirk (gotcha 7)
    assert parse.tenant_id(personal) == TENANT


def test_tenant_falls_back_to_the_raw_conversation_field() -> None:
    activity = activity_from("teams_personal_message.json", channelData={})
    assert parse.tenant_id(activity) == TENANT


def test_channel_mention_is_stripped_and_thread_kept(channel_mention: Activity) -> None:
    msg = parse.to_incoming_message(channel_mention)

    assert msg.text == "what is the parental leave policy for contractors?"
    assert msg.is_direct is False
    assert msg.conversation_id == "19:3a9f1c7e5b2d4f6a8c0e1b3d5f7a9c2e@thread.tacv2"
    assert msg.thread_id == "1730812001234"
    assert msg.settings_scope == f"teams:{TENANT}:{msg.conversation_id}"


def test_parsing_does_not_mutate_the_activity(channel_mention: Activity) -> None:
    before = json.dumps(channel_mention.serialize(), sort_keys=True)
    parse.to_incoming_message(channel_mention)
    assert json.dumps(channel_mention.serialize(), sort_keys=True) == before


def test_other_peoples_mentions_keep_their_names() -> None:
    activity = activity_from(
        "teams_channel_mention.json",
        text="<at>HelpDesk Bot</at> does <at>Ana Kim</at> own the  VPN docs?",
    )
    assert parse.strip_bot_mention(activity) == "does Ana Kim own the VPN docs?"


def test_a_bare_mention_leaves_empty_text() -> None:
    activity = activity_from("teams_channel_mention.json", text="<at>HelpDesk Bot</at>&nbsp;")
    activity.text = "<at>HelpDesk Bot</at>\u00a0 "
    assert parse.strip_bot_mention(activity) == ""


def test_command_text_survives_mention_stripping() -> None:
    activity = activity_from(
        "teams_channel_mention.json", text="<at>HelpDesk Bot</at> /docbot help"
    )
    assert parse.to_incoming_message(activity).text == "/docbot help"


def test_a_mention_followed_by_a_command_is_the_typed_command() -> None:
    # Teams has no slash commands for bots: "@docbot help" in a channel runs help
    for said, typed in (
        ("<at>HelpDesk Bot</at> help", "docbot help"),
        ("<at>HelpDesk Bot</at> rag off channel", "docbot rag off channel"),
        ("<at>HelpDesk Bot</at> help me with the VPN docs", "help me with the VPN docs"),
        ("<at>HelpDesk Bot</at> model registry?", "model registry?"),
        ("who can <at>HelpDesk Bot</at> help?", "who can help?"),  # the mention is not in front
    ):
        activity = activity_from("teams_channel_mention.json", text=said)
        assert parse.to_incoming_message(activity).text == typed, said


def test_a_malformed_mention_entity_is_ignored_not_fatal() -> None:
    activity = activity_from("teams_channel_mention.json", text="<at>HelpDesk Bot</at> vpn?")
    activity.entities = [{"type": "mention", "mentioned": "HelpDesk Bot", "text": 7}]
    assert parse.to_incoming_message(activity).text == "HelpDesk Bot vpn?"


def test_split_conversation_id() -> None:
    assert parse.split_conversation_id("19:a@thread.tacv2;messageid=42") == (
        "19:a@thread.tacv2",
        "42",
    )
    assert parse.split_conversation_id("a:1pQ9") == ("a:1pQ9", None)
    assert parse.split_conversation_id("19:a@thread.v2;other=1") == ("19:a@thread.v2", None)


def test_reply_target_is_a_serialisable_conversation_reference(channel_mention: Activity) -> None:
    target = parse.reply_target(channel_mention)
    again = ReplyTarget.from_json(target.to_json())

    reference = again.data["reference"]
    assert again.platform == "teams"
    assert reference["serviceUrl"] == "https://smba.trafficmanager.net/amer/"
    assert reference["conversation"]["id"].endswith(";messageid=1730812001234")
    assert reference["activityId"] == "1730812345987"
    assert again.data["tenant_id"] == TENANT


def test_user_id_falls_back_to_the_teams_id_without_aad() -> None:
    assert parse.user_id(ChannelAccount(id="29:abc")) == "29:abc"
    assert parse.user_id(ChannelAccount(id="29:abc", aad_object_id="obj")) == "obj"
    assert parse.user_id(None) == ""


def test_card_submit_is_feedback() -> None:
    activity = activity_from(
        "teams_personal_message.json",
        text=None,
        value={"docbot_feedback": "down", "answer_id": "ans-1"},
    )
    feedback = parse.card_feedback(activity)
    assert feedback == parse.Feedback(value="down", user_id=AAD_USER, answer_id="ans-1")


def test_other_card_values_are_not_feedback() -> None:
    for value in ({"docbot_feedback": "meh", "answer_id": "a"}, {"docbot_feedback": "up"}, "x"):
        activity = activity_from("teams_personal_message.json", value=value)
        assert parse.card_feedback(activity) is None


def test_builtin_feedback_invoke(builtin_feedback: Activity) -> None:
    feedback = parse.builtin_feedback(builtin_feedback)
    assert feedback is not None
    assert feedback.value == "down"
    assert feedback.reply_to_id == "1730813004777"
    assert feedback.user_id == AAD_USER
    assert feedback.comment == "The link points to last year's policy."


def test_builtin_feedback_like_and_unknown_actions() -> None:
    like = activity_from(
        "extra_teams_feedback_submit_action.json",
        value={"actionName": "feedback", "actionValue": {"reaction": "like", "feedback": "{}"}},
    )
    assert parse.builtin_feedback(like).value == "up"
    other = activity_from("extra_teams_feedback_submit_action.json", value={"actionName": "x"})
    assert parse.builtin_feedback(other) is None


def test_bot_added_only_when_the_bot_itself_joins() -> None:
    bot = {"id": "28:6b1f0e2d-3c4a-4b5e-8f7a-9d0c1b2a3e4f", "name": "HelpDesk Bot"}
    added = activity_from(
        "teams_channel_mention.json",
        type="conversationUpdate",
        text=None,
        membersAdded=[bot],
    )
    someone = activity_from(
        "teams_channel_mention.json",
        type="conversationUpdate",
        text=None,
        membersAdded=[{"id": "29:someone-else"}],
    )
    assert parse.bot_was_added(added) is True
    assert parse.bot_was_added(someone) is False
