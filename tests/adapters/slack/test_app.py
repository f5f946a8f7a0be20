"""The Slack adapter end to end: real bolt app, signed HTTP requests, a local Slack stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import render
from adapters.slack.app import SlackAdapter
from adapters.slack.stand_in import SlackStandIn
from bot.config import ConfigError
from bot.core import Bot
from bot.messages import t
from bot.types import ReplyTarget
from tests.adapters.slack.support import (
    ScriptedBot,
    SlackHttp,
    answers,
    fixture_bytes,
    fixture_json,
    make_settings,
    wait_answers,
)
from tests.shared_dir import KUBEFLOW

MENTION = fixture_json("slack_app_mention.json")
DM = fixture_json("slack_dm.json")
CHANNEL = MENTION["event"]["channel"]
THREAD = MENTION["event"]["thread_ts"]


def event(base: dict[str, Any], event_id: str | None = None, **fields: Any) -> dict[str, Any]:
    payload = copy.deepcopy(base)
    if event_id:
        payload["event_id"] = event_id
    payload["event"].update(fields)
    return payload


# ---- transport ---------------------------------------------------------------------------


async def test_url_verification_is_answered_with_the_challenge(slack: SlackHttp) -> None:
    status, body, _ = await slack.post(fixture_bytes("extra_slack_url_verification.json"))
    assert status == 200
    assert json.loads(body) == {"challenge": "kP3vW9xQ2mZ7rT5yN8bH4cJ6dF1gL0sA"}


async def test_bad_signature_and_stale_timestamp_are_rejected(
    slack: SlackHttp, stand_in: SlackStandIn
) -> None:
    body = fixture_bytes("slack_app_mention.json")
    status, _, _ = await slack.post(body, headers={"X-Slack-Signature": "v0=" + "0" * 64})
    assert status == 401
    stale = int(time.time()) - 301  # outside the 5-minute replay window
    status, _, _ = await slack.post(body, timestamp=stale)
    assert status == 401
    await asyncio.sleep(0.2)
    assert not stand_in.calls_to("chat.postMessage")


def test_config_errors_name_the_missing_variable(tmp_path: Path, bot: ScriptedBot) -> None:
    from bot.config import Settings

    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        SlackAdapter(bot, Settings.from_env({}, env_file=None))
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        SlackAdapter(
            bot,
            Settings.from_env(
                {"SLACK_BOT_TOKEN": "xoxb-1", "DOCBOT_SLACK_MODE": "http"}, env_file=None
            ),
        )
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        SlackAdapter(bot, Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1"}, env_file=None))


def test_socket_mode_without_signing_secret_mounts_no_http_route(
    tmp_path: Path, bot: ScriptedBot
) -> None:
    from bot.config import Settings

    settings = Settings.from_env(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, env_file=None
    )
    assert SlackAdapter(bot, settings).routes() == []


# ---- conversations -----------------------------------------------------------------------


async def test_mention_gets_placeholder_then_answer_in_the_thread(
    scripted_slack: SlackHttp, stand_in: SlackStandIn, bot: ScriptedBot
) -> None:
    started = time.monotonic()
    status, _, _ = await scripted_slack.post(fixture_bytes("slack_app_mention.json"))
    assert status == 200
    first = (await stand_in.wait_calls("chat.postMessage"))[0]
    assert first.at - started < 1.0
    assert first.args["thread_ts"] == THREAD
    assert first.args["text"] == "Searching the docs…"
    assert first.token == "xoxb-test-not-real"

    final = (await wait_answers(stand_in))[0]
    assert final["ts"] in stand_in.messages[CHANNEL]  # the placeholder, edited
    update = stand_in.calls_to("chat.update")[-1].args
    assert update["channel"] == CHANNEL
    blocks = update["blocks"]
    assert blocks[0]["text"]["text"].startswith("Kubeflow Pipelines runs *ML workflows*")
    sources = next(b for b in blocks if b.get("block_id", "").startswith("sources:"))
    assert (
        "<http://127.0.0.1/docs/pipelines/#overview|Pipelines overview › Overview>"
        in (sources["elements"][0]["text"])
    )
    footer = next(b for b in blocks if b.get("block_id", "").startswith("footer:"))
    assert "extractive" in footer["elements"][0]["text"]
    buttons = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert [b["value"] for b in buttons] == ["up:ans-1", "down:ans-1"]

    msg = bot.handled[0]
    assert msg.text == "what is the parental leave policy for contractors?"
    assert (msg.platform, msg.workspace_id, msg.conversation_id) == ("slack", "T0AB12CDE", CHANNEL)
    assert msg.user_id == "U04KLMNOP5" and msg.thread_id == THREAD and not msg.is_direct
    assert stand_in.calls_to("conversations.replies")[0].args["ts"] == THREAD


async def test_dm_is_answered_in_place_by_the_core(
    slack: SlackHttp, stand_in: SlackStandIn, core: Bot
) -> None:
    await slack.post(fixture_bytes("slack_dm.json"))
    final = (await wait_answers(stand_in))[0]
    placeholder = stand_in.calls_to("chat.postMessage")[0].args
    assert placeholder["channel"] == "D06ABCDEF12"
    assert not placeholder.get("thread_ts")
    assert final["text"].startswith("No documentation is indexed yet.")
    [logged] = core.store.answers()
    assert logged["question"] == (
        "How do I reset my VPN token? See the VPN page (https://intranet.example.com/it/vpn)"
    )
    assert final["blocks"][-1]["block_id"] == f"feedback:{logged['id']}"


async def test_own_messages_edits_and_deletions_are_ignored(
    slack: SlackHttp, stand_in: SlackStandIn, core: Bot
) -> None:
    await slack.post(fixture_bytes("extra_slack_dm_own_bot_echo.json"))
    edited = event(DM, "EvEDIT", subtype="message_changed")
    deleted = event(DM, "EvDEL", subtype="message_deleted")
    other_bot = event(DM, "EvOTHER", bot_id="BOTHER", user="UOTHERBOT")
    for payload in (edited, deleted, other_bot):
        status, _, _ = await slack.post_event(payload)
        assert status == 200
    await asyncio.sleep(0.3)
    assert core.store.answers() == []
    assert not stand_in.calls_to("chat.postMessage")


async def test_burst_of_the_same_event_is_answered_once(
    slack: SlackHttp, stand_in: SlackStandIn, core: Bot
) -> None:
    body = fixture_bytes("slack_app_mention.json")
    results = await asyncio.gather(*(slack.post(body, retry=i or None) for i in range(4)))
    assert [r[0] for r in results] == [200] * 4
    await wait_answers(stand_in)
    await slack.adapter.drain()
    assert len(core.store.answers()) == 1
    assert len(stand_in.calls_to("chat.postMessage")) == 1


async def test_message_twin_of_a_mention_is_not_answered_twice(
    slack: SlackHttp, stand_in: SlackStandIn, core: Bot
) -> None:
    twin = copy.deepcopy(MENTION)
    twin["event_id"] = "Ev07TWIN0001"
    twin["event"]["type"] = "message"
    twin["event"]["channel_type"] = "channel"
    await asyncio.gather(slack.post_event(MENTION), slack.post_event(twin))
    await wait_answers(stand_in)
    await slack.adapter.drain()
    assert len(core.store.answers()) == 1
    assert len(stand_in.calls_to("chat.postMessage")) == 1


async def test_retry_answers_when_the_first_attempt_died(
    tmp_path: Path, stand_in: SlackStandIn, bot: ScriptedBot
) -> None:
    settings = make_settings(tmp_path, stand_in)
    bot.gate = asyncio.Event()  # the first attempt hangs mid-answer ...
    first = await SlackHttp(SlackAdapter(bot, settings, event_lease_s=0.5)).start()
    await first.post(fixture_bytes("slack_app_mention.json"))
    await stand_in.wait_calls("chat.postMessage")
    # ... an immediate retry is dropped while the first attempt holds the lease ...
    await first.post(fixture_bytes("slack_app_mention.json"), retry=1)
    await asyncio.sleep(0.1)
    assert len(bot.handled) == 1
    await first.close()  # ... then the process dies without answering.

    bot.gate.set()
    await asyncio.sleep(0.6)  # the lease runs out
    second = await SlackHttp(SlackAdapter(bot, settings, event_lease_s=0.5)).start()
    try:
        status, _, _ = await second.post(fixture_bytes("slack_app_mention.json"), retry=2)
        assert status == 200
        await wait_answers(stand_in)
        # A later redelivery of the answered event is dropped.
        await second.post(fixture_bytes("slack_app_mention.json"), retry=3)
        await second.adapter.drain()
        assert len(answers(stand_in)) == 1
        assert len(bot.handled) == 2
    finally:
        await second.close()


async def test_thread_follow_up_without_mention_uses_the_history(
    scripted_slack: SlackHttp, stand_in: SlackStandIn, bot: ScriptedBot
) -> None:
    await scripted_slack.post(fixture_bytes("slack_app_mention.json"))
    await wait_answers(stand_in)
    stand_in.add_message(
        CHANNEL, {"ts": "1730812001.000100", "user": "U04KLMNOP5", "text": "leave policy thread"}
    )
    follow_up = event(
        MENTION,
        "EvFOLLOW01",
        type="message",
        channel_type="channel",
        text="and for interns?",
        ts=f"{int(time.time()) + 5}.000001",
    )
    await scripted_slack.post_event(follow_up)
    await wait_answers(stand_in, 2)
    msg = bot.handled[-1]
    assert msg.text == "and for interns?"
    assert [t.role for t in msg.history] == ["user", "assistant"]
    # the answer as it said it: no link behind its marker, no sources, footer or buttons
    assert msg.history[1].text == "Kubeflow Pipelines runs *ML workflows* on Kubernetes [1]."


async def test_thread_without_the_bot_is_not_joined(
    slack: SlackHttp, stand_in: SlackStandIn, core: Bot
) -> None:
    for n in range(2):
        chatter = event(
            MENTION,
            f"EvCHAT0{n}",
            type="message",
            channel_type="channel",
            text="lunch?",
            ts=f"1730812400.00000{n}",
        )
        await slack.post_event(chatter)
        await asyncio.sleep(0.2)
        await slack.adapter.drain()
    assert core.store.answers() == []
    assert not stand_in.calls_to("chat.postMessage")
    # It looked once, and remembered (conversations.replies is heavily rate-limited).
    assert len(stand_in.calls_to("conversations.replies")) == 1

    # Once mentioned in that thread, later messages there are follow-ups again.
    await slack.post(fixture_bytes("slack_app_mention.json"))
    await wait_answers(stand_in)
    follow_up = event(
        MENTION,
        "EvCHAT09",
        type="message",
        channel_type="channel",
        text="and for interns?",
        ts=f"{int(time.time()) + 5}.000001",
    )
    await slack.post_event(follow_up)
    await wait_answers(stand_in, 2)
    assert [a["question"] for a in core.store.answers()][-1] == "and for interns?"


async def test_a_follow_up_in_a_long_thread_reads_the_thread_to_its_end(
    scripted_slack: SlackHttp, stand_in: SlackStandIn, bot: ScriptedBot
) -> None:
    # 30 messages between people, then the bot's answer to a mention, then a follow-up: the
    # first page (oldest first) shows neither the bot nor the latest turns
    thread = "1730813000.000100"
    for n in range(30):
        ts = f"1730813000.{100 + n:06d}"
        stand_in.add_message(
            CHANNEL, {"ts": ts, "thread_ts": thread, "user": "U04KLMNOP5", "text": f"chat {n}"}
        )
    stand_in.add_message(
        CHANNEL,
        {"ts": "1730813100.000001", "thread_ts": thread, "user": "U04KLMNOP5", "text": "katib?"},
    )
    stand_in.add_message(
        CHANNEL,
        {
            "ts": "1730813101.000001",
            "thread_ts": thread,
            "user": stand_in.bot_user_id,
            "bot_id": stand_in.bot_id,
            "text": "Katib tunes hyperparameters.",
        },
    )
    follow_up = event(
        MENTION,
        "EvLONG0001",
        type="message",
        channel_type="channel",
        text="and for notebooks?",
        thread_ts=thread,
        ts=f"{int(time.time()) + 5}.000001",
    )
    await scripted_slack.post_event(follow_up)
    await wait_answers(stand_in)
    msg = bot.handled[-1]
    assert msg.text == "and for notebooks?"
    assert [t.text for t in msg.history][-2:] == ["katib?", "Katib tunes hyperparameters."]
    pages = stand_in.calls_to("conversations.replies")
    assert [int(c.args["limit"]) for c in pages] == [20, 200]


async def test_errors_become_a_clear_message_not_silence(
    scripted_slack: SlackHttp, stand_in: SlackStandIn, bot: ScriptedBot
) -> None:
    bot.fail = True
    await scripted_slack.post(fixture_bytes("slack_dm.json"))
    update = await stand_in.wait_for(lambda s: s.calls_to("chat.update"))
    assert update[0].args["text"] == render.ERROR_TEXT
    assert "exploded" not in json.dumps(update[0].args)


async def test_long_answers_are_split_within_slack_limits(
    scripted_slack: SlackHttp, stand_in: SlackStandIn, bot: ScriptedBot
) -> None:
    bot.answer = "\n\n".join(f"Paragraph {i}: " + "lorem ipsum " * 200 for i in range(30))
    await scripted_slack.post(fixture_bytes("slack_app_mention.json"))
    await wait_answers(stand_in)
    await scripted_slack.adapter.drain()
    update = stand_in.calls_to("chat.update")[-1].args
    follow_ons = [c.args for c in stand_in.calls_to("chat.postMessage")[1:]]
    assert follow_ons, "the answer should continue in follow-on messages"
    for message in [update, *follow_ons]:
        assert len(message["blocks"]) <= 50
        assert message["thread_ts" if "thread_ts" in message else "channel"]
        for block in message["blocks"]:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= 3000
    assert all(m["thread_ts"] == THREAD for m in follow_ons)
    assert any(b["type"] == "actions" for b in follow_ons[-1]["blocks"])
    shown = "".join(
        b["text"]["text"]
        for m in [update, *follow_ons]
        for b in m["blocks"]
        if b["type"] == "section"
    )
    assert "Paragraph 29" in shown


async def test_streaming_updates_are_throttled(
    tmp_path: Path, stand_in: SlackStandIn, bot: ScriptedBot
) -> None:
    adapter = SlackAdapter(bot, make_settings(tmp_path, stand_in), update_interval_s=0.5)
    server = await SlackHttp(adapter).start()
    try:
        bot.deltas = [f"word{i} " for i in range(20)]
        bot.delta_pause = 0.06  # 20 deltas over ~1.2 s
        await server.post(fixture_bytes("slack_dm.json"))
        await wait_answers(stand_in)
        updates = stand_in.calls_to("chat.update")
        streamed = [u for u in updates if "writing" in json.dumps(u.args["blocks"])]
        assert 1 <= len(streamed) <= 4
        gaps = [b.at - a.at for a, b in zip(updates, updates[1:], strict=False)]
        assert all(g >= 0.45 for g in gaps)
        assert updates[-1].args["text"].startswith("Kubeflow")  # the final edit is last
    finally:
        await server.close()


async def test_rate_limited_calls_are_retried_after_retry_after(
    slack: SlackHttp, stand_in: SlackStandIn
) -> None:
    stand_in.rate_limit("chat.postMessage", times=1, retry_after=0)
    await slack.post(fixture_bytes("slack_dm.json"))
    await wait_answers(stand_in)
    assert len(stand_in.calls_to("chat.postMessage")) == 2  # the 429, then the retry


# ---- feedback and commands ---------------------------------------------------------------


async def test_feedback_round_trip(slack: SlackHttp, stand_in: SlackStandIn, core: Bot) -> None:
    await slack.post(fixture_bytes("slack_app_mention.json"))
    final = (await wait_answers(stand_in))[0]
    up = next(b for b in final["blocks"] if b["type"] == "actions")["elements"][0]
    click = fixture_json("slack_block_actions.json")
    click["actions"][0].update(action_id=up["action_id"], value=up["value"])
    form = urllib.parse.urlencode({"payload": json.dumps(click)}).encode()
    status, _, _ = await slack.post(form, "application/x-www-form-urlencoded")
    assert status == 200
    thanks = (await stand_in.wait_calls("chat.postEphemeral"))[0].args
    assert (thanks["user"], thanks["channel"], thanks["thread_ts"]) == (
        "U04KLMNOP5",
        CHANNEL,
        THREAD,
    )
    assert thanks["text"] == t("feedback_thanks_up")
    assert core.store.answers()[0]["feedback"] == "up"
    assert core.store.feedback_counts() == {"up": 1, "down": 0}


async def test_feedback_the_bot_cannot_store_is_answered_not_ignored(
    slack: SlackHttp, stand_in: SlackStandIn, core: Bot
) -> None:
    import sqlite3

    await slack.post(fixture_bytes("slack_app_mention.json"))
    final = (await wait_answers(stand_in))[0]
    down = next(b for b in final["blocks"] if b["type"] == "actions")["elements"][1]
    click = fixture_json("slack_block_actions.json")
    click["actions"][0].update(action_id=down["action_id"], value=down["value"])
    form = urllib.parse.urlencode({"payload": json.dumps(click)}).encode()
    locker = sqlite3.connect(core.settings.state_path, timeout=0.1, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the state database
    try:
        status, _, _ = await slack.post(form, "application/x-www-form-urlencoded")
        assert status == 200
        said = (await stand_in.wait_calls("chat.postEphemeral"))[0].args
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert said["user"] == "U04KLMNOP5" and said["text"] == t("feedback_unavailable")
    assert core.store.feedback_counts() == {"up": 0, "down": 0}


async def test_feedback_fixture_signed_form_is_verified_and_answered(
    slack: SlackHttp, stand_in: SlackStandIn
) -> None:
    # The fixture's answer id is unknown to this bot: still acknowledged, with a clear reply.
    status, _, _ = await slack.post(
        fixture_bytes("slack_block_actions.form.txt"), "application/x-www-form-urlencoded"
    )
    assert status == 200
    thanks = (await stand_in.wait_calls("chat.postEphemeral"))[0].args
    assert thanks["text"] == t("feedback_unknown")


def command_body(text: str, user: str = "U04KLMNOP5", trigger: str = "111.222.abc") -> bytes:
    form = dict(urllib.parse.parse_qsl(fixture_bytes("slack_slash_command.txt").decode()))
    form.update({"command": "/docbot", "text": text, "user_id": user, "trigger_id": trigger})
    return urllib.parse.urlencode(form).encode()


async def test_slash_command_is_answered_ephemerally_in_the_ack(slack: SlackHttp) -> None:
    status, body, _ = await slack.post(command_body("help"), "application/x-www-form-urlencoded")
    assert status == 200
    reply = json.loads(body)
    assert reply["response_type"] == "ephemeral"
    assert "docbot" in reply["text"] and "/docbot" in reply["text"]
    assert not any(b["type"] == "actions" for b in reply["blocks"])


async def test_settings_commands_are_scoped_to_the_user_in_the_channel(slack: SlackHttp) -> None:
    form = "application/x-www-form-urlencoded"
    _, body, _ = await slack.post(command_body("length short", trigger="2.1.a"), form)
    assert "short" in json.loads(body)["text"]
    _, mine, _ = await slack.post(command_body("status", trigger="2.1.b"), form)
    _, theirs, _ = await slack.post(command_body("status", user="UOTHER01", trigger="2.1.c"), form)
    assert "short" in json.loads(mine)["text"]
    assert "short" not in json.loads(theirs)["text"]


async def test_typed_command_in_a_channel_is_answered_only_to_the_asker(
    slack: SlackHttp, stand_in: SlackStandIn
) -> None:
    typed = event(MENTION, "EvTYPED01", text="<@U07HLPBOT1> docbot status")
    await slack.post_event(typed)
    posted = (await stand_in.wait_calls("chat.postEphemeral"))[0].args
    assert posted["user"] == "U04KLMNOP5" and posted["thread_ts"] == THREAD
    assert not stand_in.calls_to("chat.postMessage")  # no placeholder for a command


async def test_mention_then_command_in_a_thread_runs_the_command(
    slack: SlackHttp, stand_in: SlackStandIn, core: Bot
) -> None:
    # Slash commands cannot be used in threads; the docs say to type `@docbot help` there.
    await slack.post_event(event(MENTION, "EvHELP01", text="<@U07HLPBOT1> help"))
    posted = (await stand_in.wait_calls("chat.postEphemeral"))[0].args
    assert posted["user"] == "U04KLMNOP5" and posted["thread_ts"] == THREAD
    assert "/docbot" in posted["text"] and "reingest" in posted["text"]
    await slack.adapter.drain()
    assert not stand_in.calls_to("chat.postMessage")
    assert core.store.answers() == []  # not answered as a question about "help"


async def test_admin_commands_refuse_non_admins_politely(slack: SlackHttp) -> None:
    form = "application/x-www-form-urlencoded"
    for i, sub in enumerate(("reingest", "stats")):
        _, body, _ = await slack.post(command_body(sub, trigger=f"1.1.{i}"), form)
        assert json.loads(body)["text"] == t("admin_only", command=sub)
    _, body, _ = await slack.post(command_body("stats", user="UADMIN0001", trigger="1.1.9"), form)
    assert json.loads(body)["text"] != t("admin_only", command="stats")


@contextlib.asynccontextmanager
async def slow_command_server(
    tmp_path: Path, stand_in: SlackStandIn, bot: ScriptedBot
) -> AsyncIterator[SlackHttp]:
    """An HTTP-mode adapter that acks a command after 0.2 s, with the bot held at its gate
    (`bot.gate.set()` lets it answer)."""
    adapter = SlackAdapter(bot, make_settings(tmp_path, stand_in), command_ack_s=0.2)
    server = await SlackHttp(adapter).start()
    bot.gate = asyncio.Event()
    try:
        yield server
    finally:
        await server.close()


def slash_command_form(**changes: str) -> bytes:
    form = dict(urllib.parse.parse_qsl(fixture_bytes("slack_slash_command.txt").decode()))
    form.update(changes)
    return urllib.parse.urlencode(form).encode()


async def test_slow_command_is_acked_then_answered_by_ephemeral_post(
    tmp_path: Path, stand_in: SlackStandIn, bot: ScriptedBot
) -> None:
    async with slow_command_server(tmp_path, stand_in, bot) as server:
        _, body, _ = await server.post(slash_command_form(), "application/x-www-form-urlencoded")
        assert json.loads(body)["text"] == "Searching the docs…"
        bot.gate.set()
        posted = (await stand_in.wait_calls("chat.postEphemeral"))[0].args
        assert posted["user"] == "U04KLMNOP5"
        assert posted["text"].startswith("Kubeflow")
        assert bot.handled[0].text == "how do I request a new laptop?"


async def test_slow_command_from_a_channel_the_bot_is_not_in_is_answered_by_response_url(
    tmp_path: Path, stand_in: SlackStandIn, bot: ScriptedBot
) -> None:
    # chat.postEphemeral needs the bot in the channel; /docbot works everywhere
    async with slow_command_server(tmp_path, stand_in, bot) as server:
        stand_in.fail("chat.postEphemeral", "not_in_channel")
        form = slash_command_form(response_url=stand_in.response_url)
        await server.post(form, "application/x-www-form-urlencoded")
        bot.gate.set()
        posted = (await stand_in.wait_calls("response_url"))[0].args
        assert posted["response_type"] == "ephemeral" and posted["replace_original"] is False
        assert posted["text"].startswith("Kubeflow")


def test_a_response_url_is_only_used_where_slack_would_send_it(
    tmp_path: Path, stand_in: SlackStandIn, bot: ScriptedBot
) -> None:
    adapter = SlackAdapter(bot, make_settings(tmp_path, stand_in))
    hooks = "https://hooks.slack.com/commands/T0AB12CDE/1/aBcD"
    assert adapter._response_url({"response_url": hooks}) == hooks
    assert adapter._response_url({"response_url": stand_in.response_url}) == stand_in.response_url
    gov = "https://hooks.slack-gov.com/commands/T0AB12CDE/1/aBcD"  # GovSlack's hooks host
    assert adapter._response_url({"response_url": gov}) == gov
    for elsewhere in (
        "https://evil.example/commands/x",
        "http://hooks.slack.com/x",
        "https://hooks.slack.com.evil.example/x",
        "",
    ):
        assert adapter._response_url({"response_url": elsewhere}) == ""


async def test_admin_user_group_is_read_from_slack(
    tmp_path: Path, stand_in: SlackStandIn, core: Bot
) -> None:
    stand_in.usergroups["S0ADMINS"] = ["U0GROUPADM"]
    settings = make_settings(
        tmp_path, stand_in, DOCBOT_SLACK_ADMIN_GROUP="S0ADMINS", DOCBOT_ADMINS="UADMIN0001"
    )
    adapter = SlackAdapter(Bot.from_settings(settings), settings)
    assert await adapter.is_admin("U0GROUPADM")
    assert await adapter.is_admin("UADMIN0001")  # the DOCBOT_ADMINS allowlist, via the core
    assert not await adapter.is_admin("U04KLMNOP5")
    assert len(stand_in.calls_to("usergroups.users.list")) == 1  # cached


# ---- socket mode -------------------------------------------------------------------------


async def test_an_unreachable_socket_mode_websocket_fails_start_for_the_supervisor(
    tmp_path: Path, stand_in: SlackStandIn, bot: ScriptedBot, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack hands out a WebSocket URL that cannot be reached (a proxy, a firewall): start()
    gives up after its timeout so the supervisor backs off and asks for a fresh URL, rather
    than the SDK retrying the same URL forever with a traceback every 10 seconds."""
    from tests.local_net import free_port

    closed = f"ws://127.0.0.1:{free_port()}/socket"
    stand_in._m_apps_connections_open = lambda args: {"ok": True, "url": closed}  # type: ignore[method-assign]
    settings = make_settings(tmp_path, stand_in, DOCBOT_SLACK_MODE="socket")
    adapter = SlackAdapter(bot, settings, socket_connect_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="Socket Mode"):
        await adapter.start()
    assert time.monotonic() - started < 10
    assert not any(r.exc_info for r in caplog.records), "no traceback per reconnect attempt"
    with pytest.raises(ConnectionError):
        await adapter.start()  # a restart asks Slack for a new URL
    assert len(stand_in.calls_to("apps.connections.open")) == 2
    await adapter.close()


async def test_the_socket_mode_connection_status_follows_the_websocket(
    tmp_path: Path, stand_in: SlackStandIn, bot: ScriptedBot
) -> None:
    settings = make_settings(tmp_path, stand_in, DOCBOT_SLACK_MODE="socket")
    adapter = SlackAdapter(bot, settings)
    assert adapter.connection_status() is None  # not started: the supervisor's word stands
    await adapter.start()
    try:
        assert adapter.connection_status() == "running"
        await stand_in.close()  # Slack gone: the SDK retries on its own, unseen
        for _ in range(50):
            if adapter.connection_status() == "reconnecting":
                break
            await asyncio.sleep(0.1)
        assert adapter.connection_status() == "reconnecting"
    finally:
        await adapter.close()


async def test_socket_mode_envelopes_are_acked_and_answered(
    tmp_path: Path, stand_in: SlackStandIn, core: Bot
) -> None:
    settings = make_settings(
        tmp_path, stand_in, DOCBOT_SLACK_MODE="socket", SLACK_SIGNING_SECRET=""
    )
    adapter = SlackAdapter(Bot.from_settings(settings), settings)
    assert adapter.routes() == []
    await adapter.start()
    try:
        envelope = fixture_json("extra_slack_socket_mode_events_api.json")
        await stand_in.send_envelope(envelope)
        ack = await stand_in.wait_ack(envelope["envelope_id"])
        assert ack == {"envelope_id": envelope["envelope_id"]}
        await wait_answers(stand_in)
        assert stand_in.calls_to("apps.connections.open")[0].token == "xapp-test-not-real"

        # A redelivery over the socket (retry_attempt 1) is acked and dropped.
        again = dict(envelope, envelope_id="env-2", retry_attempt=1, retry_reason="timeout")
        await stand_in.send_envelope(again)
        await stand_in.wait_ack("env-2")

        form = dict(urllib.parse.parse_qsl(fixture_bytes("slack_slash_command.txt").decode()))
        form.update({"command": "/docbot", "text": "status"})
        command = {
            "envelope_id": "env-3",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": form,
        }
        await stand_in.send_envelope(command)
        ack = await stand_in.wait_ack("env-3")
        assert ack["payload"]["response_type"] == "ephemeral"
        assert "extractive" in ack["payload"]["text"]  # the status of this conversation
        await adapter.drain()
        assert len(answers(stand_in)) == 1
        [logged] = adapter.bot.store.answers()
        assert logged["question"] == "what is the parental leave policy for contractors?"
    finally:
        await adapter.close()


async def test_reingest_progress_is_posted_where_the_command_was_given(
    slack: SlackHttp, stand_in: SlackStandIn
) -> None:
    target = ReplyTarget("slack", {"channel": CHANNEL, "thread_ts": THREAD, "user": "UADMIN0001"})
    await slack.adapter.notify(target, "Re-ingest: 12 pages changed")
    posted = stand_in.calls_to("chat.postMessage")[0].args
    assert (posted["channel"], posted["thread_ts"]) == (CHANNEL, THREAD)
    assert posted["text"] == "Re-ingest: 12 pages changed"
    stand_in.fail("chat.postMessage", "not_in_channel")
    await slack.adapter.notify(target, "Re-ingest finished")
    assert stand_in.calls_to("chat.postEphemeral")[0].args["user"] == "UADMIN0001"


@pytest.mark.slow
async def test_a_real_answer_with_citations_end_to_end(
    tmp_path: Path, stand_in: SlackStandIn
) -> None:
    """Index three corpus pages, ask in a DM: the extractive answer cites them in Slack's form."""
    from ingest.pipeline import IngestRequest, run_ingest
    from ingest.sources import SourceSpec

    corpus = KUBEFLOW / "md" / "components" / "pipelines"
    docs = tmp_path / "docs"
    for rel in ("operator-guides/configure-object-store.md", "legacy-v1/overview/caching.md"):
        (docs / rel).parent.mkdir(parents=True, exist_ok=True)
        (docs / rel).write_bytes((corpus / rel).read_bytes())
    settings = make_settings(tmp_path / "data", stand_in)
    base = "https://www.kubeflow.org/docs/components/pipelines/"
    await run_ingest(IngestRequest(SourceSpec("path", str(docs), base_url=base)), settings)
    core = Bot.from_settings(settings)
    server = await SlackHttp(SlackAdapter(core, settings)).start()
    try:
        question = event(DM, "EvREAL0001", text="How does step caching work in pipelines?")
        await server.post_event(question)
        final = (await wait_answers(stand_in, 1))[0]
        sources = next(b for b in final["blocks"] if b.get("block_id", "").startswith("sources:"))
        assert f"*[1]* <{base}" in sources["elements"][0]["text"]
        assert "|[1]>" in final["blocks"][0]["text"]["text"]  # markers link to their source
        footer = next(b for b in final["blocks"] if b.get("block_id", "").startswith("footer:"))
        assert "answered from the docs" in footer["elements"][0]["text"]
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("env", "variable", "expected"),
    [
        (
            {"SLACK_BOT_TOKEN": "xapp-1-A111-swapped", "SLACK_APP_TOKEN": "xapp-1-A2"},
            "SLACK_BOT_TOKEN",
            "xoxb-",
        ),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2-swapped"},
            "SLACK_APP_TOKEN",
            "xapp-",
        ),
        (
            {
                "SLACK_BOT_TOKEN": "xoxp-1-user-token",
                "SLACK_SIGNING_SECRET": "s",
                "DOCBOT_SLACK_MODE": "http",
            },
            "SLACK_BOT_TOKEN",
            "xoxb-",
        ),
    ],
)
def test_a_token_of_the_wrong_kind_fails_at_start_naming_the_variable(
    bot: ScriptedBot, env: dict[str, str], variable: str, expected: str
) -> None:
    """An app token pasted as the bot token (or the other way round) is caught before any
    call to Slack, naming the variable and the prefix it needs, never echoing the value."""
    from bot.config import Settings

    with pytest.raises(ConfigError, match=variable) as info:
        SlackAdapter(bot, Settings.from_env(env, env_file=None))
    assert expected in str(info.value) and "swapped" not in str(info.value)
    assert "user-token" not in str(info.value)


def test_rotated_bot_tokens_are_accepted(bot: ScriptedBot) -> None:
    from bot.config import Settings

    env = {"SLACK_BOT_TOKEN": "xoxe.xoxb-1-rotated", "SLACK_APP_TOKEN": "xapp-1"}
    SlackAdapter(bot, Settings.from_env(env, env_file=None))


def test_start_up_logs_no_warning_about_an_unused_token(
    bot: ScriptedBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Bolt reads SLACK_BOT_TOKEN from the environment itself and then warns that the
    # client it was given wins: true, harmless, and misleading in an operator's log
    from bot.config import Settings

    env = {"SLACK_BOT_TOKEN": "xoxb-1-env", "SLACK_APP_TOKEN": "xapp-1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.WARNING):
        SlackAdapter(bot, Settings.from_env(env, env_file=None))
    assert "will be unused" not in caplog.text


@pytest.mark.parametrize(
    ("method", "variable"),
    [("auth.test", "SLACK_BOT_TOKEN"), ("apps.connections.open", "SLACK_APP_TOKEN")],
)
async def test_rejected_tokens_fail_start_with_a_clear_config_error(
    tmp_path: Path, stand_in: SlackStandIn, bot: ScriptedBot, method: str, variable: str
) -> None:
    settings = make_settings(tmp_path, stand_in, DOCBOT_SLACK_MODE="socket")
    adapter = SlackAdapter(bot, settings)
    stand_in.fail(method, "invalid_auth")
    with pytest.raises(ConfigError, match=f"{variable} was rejected by Slack") as info:
        await adapter.start()
    assert "xoxb-test" not in str(info.value) and "xapp-test" not in str(info.value)
    await adapter.close()
