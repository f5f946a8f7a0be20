"""Slack payloads -> core types. Pure functions, no I/O.

Which events are addressed to the bot:
- `app_mention` in a channel: answered in its thread (`thread_ts` or the message's `ts`);
- `message` in a DM (`channel_type: im`): answered in place (in its thread if it has one);
- `message` in a thread of a channel without a mention: a follow-up *candidate*; the
  adapter answers only when the bot has already posted in that thread.
Everything else is ignored with a reason (own and other bots' messages, edits,
deletions, joins, and the `message` twin of an `app_mention`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from adapters.slack import mrkdwn
from bot.commands import addressed_command
from bot.history import question_history
from bot.messages import MESSAGES
from bot.types import IncomingMessage, ReplyTarget, Turn

PLATFORM = "slack"
DOCBOT_COMMAND = "/docbot"
PLACEHOLDER_TEXT = MESSAGES["placeholder"]["en"]  # "Searching the docs…"
_PLACEHOLDERS = frozenset(MESSAGES["placeholder"].values())

# Message subtypes that are still a person writing something new.
_HANDLED_SUBTYPES = {None, "", "thread_broadcast", "file_share"}
_DIRECT_CHANNEL_TYPES = {"im"}

EventKind = Literal["mention", "dm", "thread"]


@dataclass(frozen=True)
class Ignored:
    """An event the bot does not answer, and why (for debug logs)."""

    reason: str


@dataclass(frozen=True)
class SlackEvent:
    """A message event addressed to the bot (or a thread follow-up candidate)."""

    kind: EventKind
    message: IncomingMessage
    event_id: str
    channel: str
    ts: str
    reply_thread_ts: str | None  # None: reply in place (a top-level DM)
    history_thread_ts: str | None  # thread to read earlier turns from, if any

    @property
    def message_key(self) -> str:
        """Dedupe key of the message itself: an `app_mention` and its `message` twin share it."""
        return f"slack:msg:{self.channel}:{self.ts}"


@dataclass(frozen=True)
class FeedbackAction:
    """A click on one of the 👍/👎 buttons under an answer."""

    answer_id: str
    value: Literal["up", "down"]
    user_id: str
    team_id: str
    channel: str
    message_ts: str
    thread_ts: str | None
    action_ts: str


def team_of(body: Mapping[str, Any]) -> str:
    event = body.get("event") or {}
    team = body.get("team_id") or event.get("team") or ""
    if not team and isinstance(body.get("team"), Mapping):
        team = body["team"].get("id", "")
    return str(team or "")


def parse_event(
    body: Mapping[str, Any], bot_user_id: str, bot_id: str = ""
) -> SlackEvent | Ignored:
    """Classify an Events API `event_callback` body."""
    event = body.get("event")
    if not isinstance(event, Mapping):
        return Ignored("no event")
    etype = event.get("type")
    if etype not in {"app_mention", "message"}:
        return Ignored(f"event type {etype!r}")
    subtype = event.get("subtype")
    if subtype not in _HANDLED_SUBTYPES:
        return Ignored(f"subtype {subtype!r}")
    user = str(event.get("user") or "")
    if event.get("bot_id") or event.get("bot_profile"):
        return Ignored("own message" if event.get("bot_id") == bot_id else "bot message")
    if not user or (bot_user_id and user == bot_user_id):
        return Ignored("own message" if user else "no user")
    channel = str(event.get("channel") or "")
    ts = str(event.get("ts") or "")
    if not channel or not ts:
        return Ignored("no channel or ts")
    raw_text = str(event.get("text") or "")
    thread_ts = event.get("thread_ts") or None
    is_direct = event.get("channel_type") in _DIRECT_CHANNEL_TYPES or (
        etype == "message" and not event.get("channel_type") and channel.startswith("D")
    )

    kind: EventKind
    if etype == "app_mention":
        kind, reply_ts = "mention", thread_ts or ts
    elif is_direct:
        kind, reply_ts = "dm", thread_ts
    elif mrkdwn.mentions(raw_text, bot_user_id):
        return Ignored("message twin of an app_mention")
    elif thread_ts and thread_ts != ts:
        kind, reply_ts = "thread", thread_ts
    else:
        return Ignored("channel message not addressed to the bot")

    text = mrkdwn.to_plain(raw_text, bot_user_id)
    if kind == "mention":
        text = _mention_command(raw_text, text, bot_user_id)
    team = team_of(body)
    event_id = str(body.get("event_id") or "")
    message = IncomingMessage(
        platform=PLATFORM,
        conversation_id=channel,
        user_id=user,
        text=text,
        workspace_id=team,
        thread_id=reply_ts if not is_direct else thread_ts,
        message_id=ts,
        event_id=event_id,
        is_direct=is_direct,
        reply_target=ReplyTarget(
            PLATFORM, {"team": team, "channel": channel, "thread_ts": reply_ts, "user": user}
        ),
        raw=dict(event),
    )
    return SlackEvent(
        kind=kind,
        message=message,
        event_id=event_id,
        channel=channel,
        ts=ts,
        reply_thread_ts=reply_ts,
        history_thread_ts=thread_ts if thread_ts and thread_ts != ts else None,
    )


def _mention_command(raw_text: str, text: str, bot_user_id: str) -> str:
    """`@docbot help` as the typed command `docbot help` (`bot.commands.addressed_command`),
    when the mention leads the message; any other text unchanged."""
    leading = rf"\s*<@{re.escape(bot_user_id)}(?:\|[^>]*)?>"
    if not text or not bot_user_id or not re.match(leading, raw_text):
        return text  # a bare mention keeps its "ask me a question" reply
    return addressed_command(text)


def parse_command(body: Mapping[str, Any], docbot_command: str = DOCBOT_COMMAND) -> IncomingMessage:
    """A slash command form body -> IncomingMessage.

    `/docbot ...` goes to the core's command grammar (`is_command`); any other
    command of the app (such as `/ask`) carries a question.
    """
    command = str(body.get("command") or "")
    text = str(body.get("text") or "").strip()
    is_docbot = command == docbot_command
    channel = str(body.get("channel_id") or "")
    user = str(body.get("user_id") or "")
    team = str(body.get("team_id") or "")
    return IncomingMessage(
        platform=PLATFORM,
        conversation_id=channel,
        user_id=user,
        # Slack escapes `&`, `<`, `>` in `text`: `/docbot` takes it unescaped but otherwise
        # verbatim (the command grammar reads it); a question is read like a message.
        text=f"{docbot_command} {mrkdwn.unescape(text)}".strip()
        if is_docbot
        else mrkdwn.to_plain(text),
        workspace_id=team,
        message_id=str(body.get("trigger_id") or ""),
        event_id=f"cmd:{body.get('trigger_id') or ''}",
        user_name=str(body.get("user_name") or ""),
        is_direct=str(body.get("channel_name") or "") == "directmessage" or channel.startswith("D"),
        is_command=is_docbot,
        # response_url is a capability URL: kept out of anything serialised or logged.
        reply_target=ReplyTarget(PLATFORM, {"team": team, "channel": channel, "user": user}),
    )


def parse_feedback(body: Mapping[str, Any]) -> FeedbackAction | None:
    """A `block_actions` payload of a feedback button -> FeedbackAction (None if it isn't one)."""
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], Mapping):
        return None
    action = actions[0]
    value, _, answer_id = str(action.get("value") or "").partition(":")
    if value not in {"up", "down"} or not answer_id:
        return None
    container = _mapping(body.get("container"))
    channel = container.get("channel_id") or _mapping(body.get("channel")).get("id") or ""
    message = _mapping(body.get("message"))
    user = _mapping(body.get("user"))
    return FeedbackAction(
        answer_id=answer_id,
        value=value,  # type: ignore[arg-type]  # checked above
        user_id=str(user.get("id") or ""),
        team_id=str(user.get("team_id") or _mapping(body.get("team")).get("id") or ""),
        channel=str(channel),
        message_ts=str(container.get("message_ts") or message.get("ts") or ""),
        thread_ts=container.get("thread_ts") or message.get("thread_ts") or None,
        action_ts=str(action.get("action_ts") or ""),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    """Payload fields that should be objects, defensively: anything else reads as empty."""
    return value if isinstance(value, Mapping) else {}


def _is_bot_message(message: Mapping[str, Any], bot_user_id: str, bot_id: str) -> bool:
    return bool(
        (bot_user_id and message.get("user") == bot_user_id)
        or (bot_id and message.get("bot_id") == bot_id)
    )


def bot_in_thread(
    messages: Iterable[Mapping[str, Any]], bot_user_id: str, bot_id: str = ""
) -> bool:
    """Whether the bot has posted in a thread (`conversations.replies` messages)."""
    return any(_is_bot_message(m, bot_user_id, bot_id) for m in messages)


def thread_history(
    messages: Iterable[Mapping[str, Any]],
    *,
    bot_user_id: str,
    bot_id: str = "",
    before_ts: str,
    max_turns: int = 10,
) -> list[Turn]:
    """Earlier turns of a thread, oldest first, for a follow-up question.

    The bot's messages are `assistant` turns (placeholders skipped), read as the answer
    said it: its `[n]` markers without the links behind them, without the sources,
    footer and buttons (`_answer_text`); the messages of one long answer are one turn.
    People's messages are `user` turns with the bot mention removed. Messages that ask
    nothing (a command, `@docbot rag off` included, a thank-you, an emoji or a mention)
    and the bot's replies to them are left out before the last `max_turns` are taken
    (`bot.history.question_history`). Other bots are left out, except when one posted
    the thread's parent (an alert, a workflow's form): the thread is about it.
    """
    turns: list[Turn] = []
    for m in messages:
        ts = str(m.get("ts") or "")
        if not ts or _ts_key(ts) >= _ts_key(before_ts):
            continue
        if m.get("subtype") not in _HANDLED_SUBTYPES and m.get("subtype") != "bot_message":
            continue
        if _is_bot_message(m, bot_user_id, bot_id):
            text = _answer_text(m, bot_user_id)
            if not text or text in _PLACEHOLDERS:
                continue
            if turns and turns[-1].role == "assistant":  # the next part of a long answer
                text = f"{turns.pop().text}\n\n{text}"
            turns.append(Turn("assistant", text))
            continue
        raw = str(m.get("text") or "")
        text = mrkdwn.to_plain(raw, bot_user_id)
        is_parent = m.get("thread_ts") == ts  # a thread's parent has its own ts as thread_ts
        if not text or (m.get("bot_id") and not is_parent):
            continue
        turns.append(Turn("user", _mention_command(raw, text, bot_user_id)))
    return question_history(turns)[-max_turns:]


# A citation marker the renderer made a link to its source (`mrkdwn.to_mrkdwn`).
_CITATION_LINK = re.compile(r"<[^<>|\n]+\|(\[\d{1,3}\])>")


def _answer_text(message: Mapping[str, Any], bot_user_id: str) -> str:
    """What one of the bot's messages said, as plain text: its section blocks (the answer;
    the sources, footer and feedback buttons are context and actions blocks), or its
    `text` when it has no blocks. A message holding only the sources and footer (the last
    of a long answer) says nothing."""
    blocks = message.get("blocks")
    if isinstance(blocks, list) and blocks:
        sections = [
            str(b["text"].get("text") or "")
            for b in blocks
            if isinstance(b, Mapping)
            and b.get("type") == "section"
            and isinstance(b.get("text"), Mapping)
        ]
        raw = "\n\n".join(sections)
    else:
        raw = str(message.get("text") or "")
    # as much as its notification text holds; the prompt fits the rest by tokens
    raw = mrkdwn.truncate(_CITATION_LINK.sub(r"\1", raw), mrkdwn.FALLBACK_CHARS)
    return mrkdwn.to_plain(raw, bot_user_id)


def _ts_key(ts: str) -> tuple[int, int]:
    """Slack `ts` values compare as (seconds, micro-sequence), not as floats or strings."""
    seconds, _, seq = ts.partition(".")
    try:
        return int(seconds), int(seq or 0)
    except ValueError:
        return (0, 0)
