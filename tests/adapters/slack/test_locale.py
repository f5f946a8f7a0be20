"""The reply language follows the Slack user's locale (users.info) when the text doesn't say."""

from __future__ import annotations

import json

from adapters.slack.stand_in import SlackStandIn
from bot.core import Bot
from tests.adapters.slack.support import SlackHttp, fixture_bytes, wait_answers


async def test_a_korean_locale_user_gets_korean_bot_messages(
    slack: SlackHttp, stand_in: SlackStandIn, core: Bot
) -> None:
    body = json.loads(fixture_bytes("slack_dm.json"))
    stand_in.user_locales[body["event"]["user"]] = "ko-KR"
    body["event"]["text"] = "12345"  # no script to go by: the locale decides
    await slack.post(json.dumps(body).encode())
    final = (await wait_answers(stand_in))[0]
    placeholder = stand_in.calls_to("chat.postMessage")[0].args
    assert placeholder["text"] == "문서를 찾아보는 중입니다…"
    assert "색인된 문서가 없습니다" in final["text"]
    assert stand_in.calls_to("users.info")[0].args.get("include_locale") in (True, "true", "1", 1)


async def test_the_locale_is_looked_up_once_per_user(
    slack: SlackHttp, stand_in: SlackStandIn
) -> None:
    for i in range(2):
        body = json.loads(fixture_bytes("slack_dm.json"))
        body["event_id"] = f"EvLOCALE{i}"
        body["event"]["ts"] = f"1700000000.00010{i}"
        await slack.post(json.dumps(body).encode())
        await wait_answers(stand_in, count=i + 1)
    assert len(stand_in.calls_to("users.info")) == 1


async def test_an_english_question_from_a_korean_locale_user_stays_english(
    slack: SlackHttp, stand_in: SlackStandIn
) -> None:
    body = json.loads(fixture_bytes("slack_dm.json"))
    stand_in.user_locales[body["event"]["user"]] = "ko-KR"
    await slack.post(json.dumps(body).encode())
    final = (await wait_answers(stand_in))[0]
    assert final["text"].startswith("No documentation is indexed yet.")
