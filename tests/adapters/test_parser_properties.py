"""Property-based tests: platform payload parsers never crash on what the network sends.

Whatever arrives (fields missing, wrong types, odd unicode), a parser returns a
classification or a message; it never raises, because an exception there would
mean silence in chat.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.slack import parse as slack_parse
from adapters.teams import parse as teams_parse
from bot.commands import Command, CommandError, parse_command
from bot.types import IncomingMessage
from tests.shared_dir import FIXTURES

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
event_fields = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["app_mention", "message", "reaction_added", 7, None]),
        "subtype": st.one_of(
            st.none(),
            st.sampled_from(["message_changed", "bot_message", "thread_broadcast"]),
            st.text(max_size=8),
        ),
        "user": st.one_of(st.text(max_size=12), st.none(), st.integers()),
        "bot_id": st.one_of(st.none(), st.text(max_size=8)),
        "channel": st.one_of(st.text(max_size=12), st.none()),
        "channel_type": st.one_of(
            st.sampled_from(["im", "channel", "group", "mpim"]), st.text(max_size=5)
        ),
        "text": st.one_of(st.text(max_size=200), st.none(), st.integers()),
        "ts": st.one_of(st.text(max_size=20), st.floats(), st.none()),
        "thread_ts": st.one_of(st.text(max_size=20), st.none()),
        "blocks": json_values,
    },
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "event": st.one_of(event_fields, json_values),
        "event_id": st.one_of(st.text(max_size=12), st.integers()),
        "team_id": st.one_of(st.text(max_size=10), st.none()),
        "team": json_values,
        "type": st.text(max_size=15),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes)
def test_slack_event_parser_classifies_anything(body: dict) -> None:
    result = slack_parse.parse_event(body, bot_user_id="UBOT", bot_id="BBOT")
    assert isinstance(result, (slack_parse.SlackEvent, slack_parse.Ignored))
    if isinstance(result, slack_parse.SlackEvent):
        assert isinstance(result.message, IncomingMessage)
        assert result.message.user_id != "UBOT"  # never answers itself


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["text", "user_id", "channel_id", "team_id", "command", "trigger_id", "channel_name"]
        ),
        st.text(max_size=80),
    )
)
def test_slack_slash_command_parser_never_raises(form: dict) -> None:
    msg = slack_parse.parse_command(form)
    assert isinstance(msg, IncomingMessage)
    assert msg.is_command == (form.get("command") == "/docbot")


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_slack_feedback_parser_returns_an_action_or_nothing(payload: object) -> None:
    body = payload if isinstance(payload, dict) else {"actions": payload}
    result = slack_parse.parse_feedback(body)
    assert result is None or result.value in ("up", "down")


def _teams_activity(overrides: dict) -> object:
    from botbuilder.schema import Activity

    base = (
        json.loads((FIXTURES / "teams_channel_mention.json").read_text())
        if FIXTURES.is_dir()
        else {}
    )
    base.update(overrides)
    try:
        return Activity().deserialize(base)
    except Exception:  # botbuilder rejects some shapes itself, before our parser sees them
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "text": st.one_of(st.text(max_size=200), st.none()),
            "entities": json_values,
            "channelData": json_values,
            "conversation": st.one_of(
                json_values, st.fixed_dictionaries({"id": st.text(max_size=40)})
            ),
            "value": json_values,
            "from": json_values,
        },
    )
)
def test_teams_activity_parser_never_raises(overrides: dict) -> None:
    activity = _teams_activity(overrides)
    if activity is None:
        return
    msg = teams_parse.to_incoming_message(activity)
    assert isinstance(msg, IncomingMessage)
    assert "<at>" not in msg.text
    teams_parse.card_feedback(activity)
    teams_parse.builtin_feedback(activity)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=120), st.booleans())
def test_command_parser_never_raises(text: str, is_command: bool) -> None:
    result = parse_command(text, is_command=is_command)
    assert result is None or isinstance(result, (Command, CommandError))


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(
            list("docbt /-_:,.0123456789 modelragtemperaturelengthhelpstatus채널")
        ),
        max_size=40,
    )
)
def test_command_parser_on_command_like_text(text: str) -> None:
    result = parse_command("/docbot " + text)
    assert isinstance(result, (Command, CommandError))
