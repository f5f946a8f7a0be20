"""The bot speaks the asker's language: English and Korean messages, chosen per question.

Order of precedence: `/docbot language ko|en` (or DOCBOT_LANGUAGE), else the
question's script, else the platform's locale (Slack `users.info` locale,
Teams `activity.locale`, passed as `IncomingMessage.locale`) when the text
itself gives no hint. Checked on the message table and end to end through
`bot.core.Bot.handle`.
"""

from __future__ import annotations

import dataclasses
import string
from pathlib import Path

import pytest

from bot.config import Settings
from bot.core import Bot
from bot.messages import MESSAGES, SUPPORTED, detect_language, resolve_language, t
from bot.types import IncomingMessage, Reply
from rag.generation import GenerationRequest
from rag.prompt import system_prompt

KO_QUESTION = "위젯 카탈로그는 어떻게 백업하나요?"  # the test corpus is English: declined
EN_QUESTION = "how do I back up the widget catalog?"


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# the message table ----------------------------------------------------------------------
@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_exists_in_english_and_korean_with_the_same_placeholders(key: str) -> None:
    texts = MESSAGES[key]
    assert set(SUPPORTED) <= set(texts)
    assert fields(texts["ko"]) == fields(texts["en"])
    assert texts["ko"] != texts["en"] or key in ("footer",)


@pytest.mark.parametrize(
    "key",
    ["placeholder", "decline", "help", "set_language", "error", "feedback_thanks_up",
     "feedback_thanks_down", "rate_limited", "too_long", "admin_only", "empty_question"],
)  # fmt: skip
def test_the_korean_messages_are_written_in_hangul(key: str) -> None:
    values = {"models": "extractive", "value": "ko", "reason": "Timeout", "seconds": 3,
              "length": 3000, "limit": 2000, "command": "stats"}  # fmt: skip
    text = t(key, "ko", **{k: v for k, v in values.items() if k in fields(MESSAGES[key]["ko"])})
    assert detect_language(text) == "ko", text


def test_a_language_without_messages_falls_back_to_english() -> None:
    assert t("decline", "ja") == t("decline", "en")
    assert t("placeholder", "zh") == t("placeholder", "en")


# choosing the language ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("setting", "text", "locale", "lang"),
    [
        ("auto", KO_QUESTION, "", "ko"),
        ("auto", "Slack에 docbot을 어떻게 연결하나요?", "en-US", "ko"),  # mixed, mostly Korean
        ("auto", EN_QUESTION, "", "en"),
        ("auto", EN_QUESTION, "ko-KR", "en"),  # the text wins over the locale
        ("auto", "?", "ko-KR", "ko"),  # no words: the locale decides (Slack users.info)
        ("auto", "", "ko_KR", "ko"),  # Teams activity.locale spelling variants
        ("auto", "👍", "ko", "ko"),
        ("auto", "?", "fr-FR", "en"),  # an unsupported locale: English
        ("en", KO_QUESTION, "ko-KR", "en"),  # /docbot language en wins over everything
        ("ko", EN_QUESTION, "en-US", "ko"),
        ("auto", "パイプラインの実行方法は？", "", "ja"),  # answered in Japanese by an LLM
        ("auto", "如何安装流水线？", "", "zh"),
    ],
)
def test_resolve_language(setting: str, text: str, locale: str, lang: str) -> None:
    assert resolve_language(setting, text, locale) == lang


def test_the_llm_prompt_asks_for_the_questions_language() -> None:
    assert "Answer in Korean" in system_prompt(GenerationRequest(KO_QUESTION, language="ko"))
    assert "Answer in English" in system_prompt(GenerationRequest(EN_QUESTION, language="en"))


# through the bot -------------------------------------------------------------------------
@pytest.fixture
def settings(tmp_path: Path, built_settings: Settings) -> Settings:
    """The shared (English) test index, with this test's own state database."""
    return dataclasses.replace(built_settings, state_url=str(tmp_path / "state.sqlite3"))


@pytest.fixture
def bot(settings: Settings) -> Bot:
    return Bot.from_settings(settings)


def msg(
    text: str, *, platform: str = "slack", locale: str = "", is_command: bool = False
) -> IncomingMessage:
    return IncomingMessage(
        platform=platform, conversation_id="C1", workspace_id="T1", user_id="U1", text=text,
        is_direct=True, is_command=is_command, locale=locale,
    )  # fmt: skip


async def ask(bot: Bot, text: str, **kw: object) -> Reply:
    return await bot.handle(msg(text, **kw))  # type: ignore[arg-type]


async def test_a_korean_question_gets_a_korean_decline(bot: Bot) -> None:
    reply = await ask(bot, KO_QUESTION)
    assert reply.language == "ko"
    assert reply.declined and reply.text == t("decline", "ko")


async def test_an_english_question_is_answered_in_english(bot: Bot) -> None:
    reply = await ask(bot, EN_QUESTION, locale="ko-KR")
    assert reply.language == "en" and not reply.declined
    assert any("backup" in c.url for c in reply.citations)


async def test_a_korean_slack_user_gets_korean_help_from_the_slash_command(bot: Bot) -> None:
    # `/docbot help` is Latin text, so the locale alone does not switch; the setting does
    await ask(bot, "/docbot language ko", is_command=True)
    reply = await ask(bot, "help", is_command=True, locale="ko-KR")
    assert reply.language == "ko" and reply.text == t("help", "ko", models=_models(bot))


async def test_language_override_en_wins_over_a_korean_question(bot: Bot) -> None:
    set_reply = await ask(bot, "docbot language en")
    assert set_reply.is_command and set_reply.ephemeral
    assert set_reply.text == t("set_language", "en", value="en")
    reply = await ask(bot, KO_QUESTION)
    assert reply.language == "en" and reply.text == t("decline", "en")


async def test_language_override_ko_makes_english_questions_korean(bot: Bot) -> None:
    assert (await ask(bot, "docbot language ko")).text == t("set_language", "ko", value="ko")
    reply = await ask(bot, "how do I install the Widgetron server?")
    assert reply.language == "ko"
    status = await ask(bot, "docbot status")
    assert status.language == "ko" and "언어 ko" in status.text


async def test_language_auto_goes_back_to_the_questions_script(bot: Bot) -> None:
    await ask(bot, "docbot language en")
    reply = await ask(bot, "docbot language auto")
    assert reply.text == t("set_language", "en", value="auto")
    assert (await ask(bot, KO_QUESTION)).language == "ko"
    assert (await ask(bot, EN_QUESTION)).language == "en"


async def test_a_bad_language_value_is_explained_in_the_askers_language(bot: Bot) -> None:
    reply = await ask(bot, "/docbot language fr", is_command=True, locale="ko-KR")
    assert reply.is_command and "fr" in reply.text
    assert reply.language == "en"  # Latin command text, no setting: English


async def test_a_bad_value_is_explained_in_korean_without_english_fragments(bot: Bot) -> None:
    await ask(bot, "docbot language ko")
    temperature = await ask(bot, "docbot temperature 5")
    assert temperature.language == "ko"
    assert temperature.text == "`temperature`에는 0에서 1 사이의 숫자 값이 필요합니다. 입력값: `5`"
    rag = await ask(bot, "docbot rag")
    assert rag.text == "`rag`에는 `on`, `off` 중 하나의 값이 필요합니다. 입력값: `(없음)`"


async def test_the_teams_locale_picks_korean_when_the_text_has_no_words(bot: Bot) -> None:
    reply = await bot.handle(msg("", platform="teams", locale="ko-KR"))
    assert reply.language == "ko" and reply.text == t("empty_question", "ko")


async def test_the_setting_is_per_platform_conversation(bot: Bot) -> None:
    await ask(bot, "docbot language ko")
    teams = await bot.handle(msg("docbot status", platform="teams"))
    assert teams.language == "en"


async def test_feedback_thanks_follow_the_answers_language(bot: Bot) -> None:
    ko = await ask(bot, KO_QUESTION)
    en = await ask(bot, EN_QUESTION)
    assert await bot.record_feedback(ko.answer_id, "slack", "U1", "down") == t(
        "feedback_thanks_down", "ko"
    )
    assert await bot.record_feedback(en.answer_id, "slack", "U1", "up") == t(
        "feedback_thanks_up", "en"
    )


async def test_limits_are_explained_in_korean(settings: Settings) -> None:
    bot = Bot.from_settings(
        dataclasses.replace(settings, rate_limit_per_minute=1, max_question_chars=40)
    )
    long = "위젯 " * 30
    too_long = await ask(bot, long)
    assert too_long.text == t("too_long", "ko", length=len(long.strip()), limit=40)
    await ask(bot, KO_QUESTION)
    limited = await ask(bot, KO_QUESTION)
    assert limited.language == "ko" and limited.declined
    assert limited.text.startswith(t("rate_limited", "ko", seconds=0).split("0")[0])


async def test_a_japanese_question_is_marked_japanese_with_english_bot_messages(bot: Bot) -> None:
    reply = await ask(bot, "ウィジェットのバックアップ方法は？")
    assert reply.language == "ja"
    assert reply.text == t("decline", "en")


def _models(bot: Bot) -> str:
    return ", ".join(bot.answerer.router.names())
