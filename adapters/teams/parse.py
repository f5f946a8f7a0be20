"""Pure translation of Bot Framework activities (Teams) into docbot's core types.

Nothing here talks to the network or mutates the activity it is given. The rules follow
`shared/reference/slack_and_teams.md` section 2:

- the tenant comes from `channelData.tenant.id`, because botbuilder's schema maps
  `conversation.tenant_id` to the JSON key `tenantID` and drops Teams' `tenantId`;
- a channel thread is the `;messageid=<root>` suffix of `conversation.id`; the part before `;`
  is the stable conversation key;
- users are identified by their Entra (AAD) object id, falling back to the opaque `29:` id;
- the bot's own `<at>` mention is removed using the mention entities, not by guessing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount

from bot.commands import addressed_command
from bot.types import IncomingMessage, ReplyTarget

PLATFORM = "teams"
THREAD_MARKER = ";messageid="
# Action.Submit data keys our feedback buttons carry (see cards.feedback_actions).
FEEDBACK_KEY = "docbot_feedback"
ANSWER_ID_KEY = "answer_id"

FeedbackValue = Literal["up", "down"]

_AT_TAG = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"[ \t\u00a0]+")


@dataclass(frozen=True)
class Feedback:
    """A 👍/👎 click, from our card buttons or from Teams' built-in feedback control."""

    value: FeedbackValue
    user_id: str
    answer_id: str = ""  # set for our card buttons
    reply_to_id: str = ""  # set for the built-in control: the id of the message rated
    comment: str = ""


def split_conversation_id(conversation_id: str) -> tuple[str, str | None]:
    """`19:x@thread.tacv2;messageid=123` -> (`19:x@thread.tacv2`, `123`); no suffix -> (id, None)."""
    base, sep, rest = conversation_id.partition(";")
    if not sep:
        return conversation_id, None
    for part in rest.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "messageid" and value.strip():
            return base, value.strip()
    return base, None


def _channel_data(activity: Activity) -> dict[str, Any]:
    data = activity.channel_data
    if data is None:
        return {}
    if isinstance(data, dict):
        return data
    # botbuilder sometimes hands over a TeamsChannelData model instead of a dict
    serialize = getattr(data, "serialize", None)
    return serialize() if callable(serialize) else {}


def tenant_id(activity: Activity) -> str:
    """The Entra tenant of the activity, from `channelData.tenant.id` (always present in Teams)."""
    tenant = _channel_data(activity).get("tenant") or {}
    value = tenant.get("id") if isinstance(tenant, dict) else None
    if value:
        return str(value)
    conversation = activity.conversation
    if conversation is not None:
        # botbuilder keeps unknown JSON keys here; `tenantId` lands in it (gotcha 7).
        extra = getattr(conversation, "additional_properties", None) or {}
        return str(conversation.tenant_id or extra.get("tenantId") or "")
    return ""


def user_id(account: ChannelAccount | None) -> str:
    """Entra object id when present (stable across chats and the admin allowlist), else `29:` id."""
    if account is None:
        return ""
    return str(account.aad_object_id or account.id or "")


def _entity_dict(entity: Any) -> dict[str, Any]:
    if isinstance(entity, dict):
        return entity
    # A deserialized `Entity` keeps only `type` as an attribute; `text` and `mentioned`
    # live in `additional_properties` (and `serialize()` would drop them).
    data = dict(getattr(entity, "additional_properties", None) or {})
    data["type"] = getattr(entity, "type", None)
    mentioned = getattr(entity, "mentioned", None)  # a real `Mention` model
    if mentioned is not None:
        data["mentioned"] = {"id": mentioned.id, "name": mentioned.name}
        data["text"] = getattr(entity, "text", None)
    return data


def strip_bot_mention(activity: Activity) -> str:
    """The message text without the bot's own `<at>…</at>` mention, whitespace tidied.

    Mirrors `TurnContext.remove_recipient_mention` (match mention entities whose `mentioned.id`
    is the recipient) without mutating the activity. Other people's mentions keep their names
    (tags dropped) because they can be part of the question ("ask <at>Ana</at> about...").
    """
    text = activity.text or ""
    for mention_text in _bot_mentions(activity):
        text = text.replace(mention_text, " ")
    text = _AT_TAG.sub(lambda m: m.group(1), text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


def _bot_mentions(activity: Activity) -> list[str]:
    """The `<at>…</at>` texts of the mention entities that name the bot itself."""
    bot_id = activity.recipient.id if activity.recipient else None
    found = []
    for entity in activity.entities or []:
        data = _entity_dict(entity)
        if data.get("type") != "mention":
            continue
        mentioned, mention_text = data.get("mentioned"), data.get("text")
        # a client's malformed entity is not the bot's mention (and no reason to fail the turn)
        if not isinstance(mentioned, dict) or not isinstance(mention_text, str):
            continue
        if bot_id and mentioned.get("id") == bot_id and mention_text:
            found.append(mention_text)
    return found


def message_text(activity: Activity) -> str:
    """The question or command the message carries: the text without the bot's mention,
    and `@docbot help` read as the typed command `docbot help` when the mention leads
    (`bot.commands.addressed_command`)."""
    text = strip_bot_mention(activity)
    raw = (activity.text or "").lstrip()
    if any(raw.startswith(mention) for mention in _bot_mentions(activity)):
        return addressed_command(text)
    return text


def conversation_key(activity: Activity) -> str:
    conversation_id = activity.conversation.id if activity.conversation else ""
    return split_conversation_id(conversation_id or "")[0]


def event_key(activity: Activity) -> str:
    """Dedupe key for a delivery: the Bot Connector redelivers the same activity id on retry."""
    return f"{PLATFORM}:{conversation_key(activity)}:{activity.id or ''}"


def reply_target(activity: Activity) -> ReplyTarget:
    """A serialisable conversation reference (keeps `serviceUrl` and the `;messageid=` thread)."""
    reference = TurnContext.get_conversation_reference(activity).serialize()
    return ReplyTarget(
        platform=PLATFORM,
        data={"reference": reference, "tenant_id": tenant_id(activity)},
    )


def is_direct(activity: Activity) -> bool:
    conversation = activity.conversation
    if conversation is None:
        return False
    if conversation.conversation_type:
        return conversation.conversation_type == "personal"
    return not conversation.is_group


def to_incoming_message(activity: Activity) -> IncomingMessage:
    """Normalise a Teams `message` activity addressed to the bot."""
    conversation_id = activity.conversation.id if activity.conversation else ""
    base_id, thread_id = split_conversation_id(conversation_id or "")
    sender = activity.from_property
    return IncomingMessage(
        platform=PLATFORM,
        conversation_id=base_id,
        user_id=user_id(sender),
        text=message_text(activity),
        workspace_id=tenant_id(activity),
        thread_id=thread_id,
        message_id=activity.id or "",
        event_id=event_key(activity),
        user_name=(sender.name or "") if sender else "",
        is_direct=is_direct(activity),
        is_command=False,  # Teams has no slash commands for bots: the core parses typed text
        locale=activity.locale or "",
        reply_target=reply_target(activity),
        raw=activity,
    )


def card_feedback(activity: Activity) -> Feedback | None:
    """Our Adaptive Card `Action.Submit`: a message activity whose `value` holds the button data."""
    value = activity.value
    if activity.type != ActivityTypes.message or not isinstance(value, dict):
        return None
    raw = value.get(FEEDBACK_KEY)
    answer_id = value.get(ANSWER_ID_KEY)
    if raw not in ("up", "down") or not isinstance(answer_id, str) or not answer_id:
        return None
    return Feedback(value=raw, user_id=user_id(activity.from_property), answer_id=answer_id)


def builtin_feedback(activity: Activity) -> Feedback | None:
    """Teams' built-in 👍/👎 (`invoke` named `message/submitAction`, `actionName: feedback`)."""
    if activity.type != ActivityTypes.invoke or activity.name != "message/submitAction":
        return None
    value = activity.value if isinstance(activity.value, dict) else {}
    if value.get("actionName") != "feedback":
        return None
    action = value.get("actionValue") or {}
    reaction = action.get("reaction") if isinstance(action, dict) else None
    mapped: dict[str, FeedbackValue] = {"like": "up", "dislike": "down"}
    if reaction not in mapped:
        return None
    return Feedback(
        value=mapped[reaction],
        user_id=user_id(activity.from_property),
        reply_to_id=activity.reply_to_id or "",
        comment=_feedback_comment(action.get("feedback")),
    )


def _feedback_comment(raw: Any) -> str:
    """The free text a user typed in the built-in feedback form (a JSON string, by the docs)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return raw.strip()
    if isinstance(raw, dict):
        return str(raw.get("feedbackText") or "").strip()
    return ""


def bot_was_added(activity: Activity) -> bool:
    """A `conversationUpdate` that adds the bot itself (installed in a chat, team or 1:1)."""
    if activity.type != ActivityTypes.conversation_update or not activity.recipient:
        return False
    bot_id = activity.recipient.id
    return any(member.id == bot_id for member in activity.members_added or [])
