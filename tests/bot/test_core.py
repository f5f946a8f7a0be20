"""The bot core end to end in-process: commands, questions, feedback, failures, re-ingest."""

from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path
from typing import Any

import pytest

from adapters.console import chat_loop
from bot.config import Settings
from bot.core import Bot
from bot.messages import t
from bot.state import hash_id
from bot.types import IncomingMessage, Reply, Turn
from rag.index_store import IndexStore

ADMIN = "UADMIN"


@pytest.fixture
def settings(tmp_path: Path, built_settings: Settings) -> Settings:
    """The shared index, with this test's own state database."""
    return dataclasses.replace(
        built_settings, state_url=str(tmp_path / "state.sqlite3"), admins=(ADMIN,)
    )


@pytest.fixture
def bot(settings: Settings) -> Bot:
    return Bot.from_settings(settings)


def msg(
    text: str, *, user: str = "U1", direct: bool = True, is_command: bool = False, locale: str = ""
) -> IncomingMessage:
    return IncomingMessage(
        platform="slack",
        conversation_id="C1",
        workspace_id="T1",
        user_id=user,
        text=text,
        is_direct=direct,
        is_command=is_command,
        locale=locale,
    )


async def ask(bot: Bot, text: str, **kw: object) -> Reply:
    return await bot.handle(msg(text, **kw))  # type: ignore[arg-type]


# commands --------------------------------------------------------------------------------
async def test_help_lists_the_models(bot: Bot) -> None:
    reply = await ask(bot, "/docbot help")
    assert reply.is_command and reply.ephemeral
    assert "extractive" in reply.text and "bedrock" in reply.text
    assert "`status`" in reply.text


async def test_status_shows_settings_index_and_model_health(bot: Bot, settings: Settings) -> None:
    reply = await ask(bot, "docbot status")
    live = IndexStore(settings).current()
    assert live is not None
    assert live.id in reply.text and "5 pages" in reply.text
    assert "model `extractive`" in reply.text and "RAG on" in reply.text
    assert "extractive: ok" in reply.text
    retriever = bot.answerer.retriever
    thresholds = f"{round(retriever.min_relevance, 3)} / {round(retriever.llm_min_relevance, 3)}"
    assert f"*Declines*: thresholds {thresholds}; no trained decline model" in reply.text


async def test_status_without_an_index_says_so(tmp_path: Path, make_settings) -> None:  # noqa: ANN001
    reply = await ask(Bot.from_settings(make_settings(tmp_path / "empty")), "docbot status")
    assert "*Index*: none yet" in reply.text and "*Last ingest*: none yet" in reply.text


async def test_model_set_and_unknown(bot: Bot) -> None:
    reply = await ask(bot, "docbot model Bedrock")
    assert reply.text == t("set_model", "en", value="bedrock")
    assert bot.conversation_settings(msg("")).model == "bedrock"
    unknown = await ask(bot, "docbot model gpt-9")
    assert "gpt-9" in unknown.text and "extractive" in unknown.text
    listing = await ask(bot, "docbot model")
    assert "bedrock" in listing.text and "extractive" in listing.text


async def test_model_without_a_name_lists_the_models_instead_of_refusing(bot: Bot) -> None:
    listing = await ask(bot, "docbot model")
    assert listing.text == t("models", "en", models="bedrock, extractive")
    assert "don't know" not in listing.text and "`?`" not in listing.text
    await ask(bot, "docbot language ko")
    korean = await ask(bot, "docbot model")
    assert korean.text == t("models", "ko", models="bedrock, extractive")


async def test_settings_are_per_user_unless_channel_wide(bot: Bot) -> None:
    await ask(bot, "docbot length short")
    assert bot.conversation_settings(msg("", user="U1")).length == "short"
    assert bot.conversation_settings(msg("", user="U2")).length == "medium"


async def test_the_answer_log_hashes_users_with_the_configured_salt(settings: Settings) -> None:
    from bot.config import Secret
    from bot.state import hash_id

    bot = Bot.from_settings(dataclasses.replace(settings, hash_salt=Secret("pepper-4242")))
    await ask(bot, "How do I install widgetron?")
    [logged] = bot.store.answers()
    assert logged["user_hash"] == hash_id("U1", "pepper-4242")


async def test_a_question_without_an_index_is_logged_as_not_searched(
    tmp_path: Path,
    make_settings,  # noqa: ANN001
) -> None:
    bot = Bot.from_settings(make_settings(tmp_path / "empty"))
    reply = await ask(bot, "How do I install widgetron?")
    assert reply.text.startswith(t("no_index", "en")[:20]) and reply.declined
    [logged] = bot.store.answers()
    assert logged["declined"] and logged["unavailable"]
    assert reply.answer_id == logged["id"]  # its feedback buttons still work


@pytest.mark.parametrize("text", ["thanks!", "ok thx", "👍", ":pray:", "감사합니다"])
async def test_a_thank_you_gets_a_short_reply_not_a_search(bot: Bot, text: str) -> None:
    # in a thread the bot takes part in, "thanks!" was searched for (a model call with a
    # language model) and answered with a decline, and logged as a doc gap
    reply = await ask(bot, text)
    assert reply.ephemeral and not reply.declined and not reply.citations
    assert reply.text == t("acknowledged", reply.language)
    assert bot.store.answers() == []


async def test_rag_off_then_a_question_explains_the_offline_answerer_cannot(bot: Bot) -> None:
    assert (await ask(bot, "docbot rag off")).text == t("set_rag_off", "en")
    reply = await ask(bot, "How do I install widgetron?")
    assert reply.text == t("no_rag_extractive", "en")
    # the docs were not searched: no doc gap in the answer log
    [logged] = bot.store.answers()
    assert logged["declined"] and logged["unavailable"]
    assert (await ask(bot, "docbot rag on")).text == t("set_rag_on", "en")
    assert not (await ask(bot, "How do I install widgetron?")).declined


async def test_temperature_length_language_and_reset(bot: Bot) -> None:
    assert (await ask(bot, "docbot temp 0.7")).text == "Temperature set to 0.7."
    assert (await ask(bot, "docbot length long")).text == t("set_length", "en", value="long")
    reply = await ask(bot, "docbot language ko")
    assert reply.text == t("set_language", "ko", value="ko") and reply.language == "ko"
    conv = bot.conversation_settings(msg(""))
    assert (conv.temperature, conv.length, conv.language) == (0.7, "long", "ko")
    assert (await ask(bot, "docbot status")).text.startswith("*현재 설정*")  # now in Korean
    assert (await ask(bot, "docbot reset")).text == t("reset", "ko")
    assert bot.conversation_settings(msg("")) == bot.store.defaults


async def test_a_bad_value_gets_a_clear_message(bot: Bot) -> None:
    reply = await ask(bot, "docbot temperature 5")
    assert reply.ephemeral and "a number from 0 to 1" in reply.text and "`5`" in reply.text
    assert "I don't know the command `frob`" in (await ask(bot, "/docbot frob")).text


async def test_admin_commands_are_refused_for_others(bot: Bot) -> None:
    for command in ("reingest", "stats"):
        reply = await ask(bot, f"docbot {command}", user="U1")
        assert reply.text == t("admin_only", "en", command=command)


async def test_channel_wide_settings_need_an_admin_outside_dms(bot: Bot) -> None:
    reply = await ask(bot, "docbot model bedrock channel", direct=False)
    assert "admins only" in reply.text
    assert (await ask(bot, "docbot model bedrock channel", direct=False, user=ADMIN)).text == t(
        "set_model", "en", value="bedrock"
    )
    assert (
        bot.conversation_settings(msg("", user="U7")).model == "bedrock"
    )  # everyone's default now


async def test_channel_on_status_or_help_is_ignored_not_refused_as_admin_only(bot: Bot) -> None:
    for command in ("status", "help"):
        reply = await ask(bot, f"docbot {command} channel", direct=False, user="U1")
        assert reply.text == (await ask(bot, f"docbot {command}", direct=False, user="U1")).text


async def test_admins_get_stats(bot: Bot) -> None:
    assert (
        bot.is_admin("slack", ADMIN)
        and not bot.is_admin("slack", "U1")
        and not bot.is_admin("slack", "")
    )
    await ask(bot, "How do I restore a backup?")
    await ask(bot, "What is the capital of Australia?")
    reply = await ask(bot, "docbot stats", user=ADMIN)
    assert (
        "docbot usage" in reply.text and "Answers: 2" in reply.text and "declined: 1" in reply.text
    )


async def test_stats_in_the_admins_language(bot: Bot) -> None:
    await ask(bot, "휴가 신청은 어떻게 하나요?")
    await ask(bot, "docbot language ko", user=ADMIN)
    reply = await ask(bot, "docbot stats", user=ADMIN)
    assert reply.text.startswith("*docbot 사용 현황, 최근 30일*\n답변: 1 · 거절: 1 (100%)")


async def test_reingest_without_a_source_says_how_to_set_one(bot: Bot) -> None:
    assert (await ask(bot, "docbot reingest", user=ADMIN)).text == t("reingest_unavailable", "en")


# questions -------------------------------------------------------------------------------
async def test_a_question_is_answered_cited_and_logged(bot: Bot) -> None:
    reply = await ask(bot, "How do I restore a backup?")
    assert not reply.declined and reply.citations
    assert reply.citations[0].url == "https://docs.example.com/backup/#restore"
    assert reply.answer_id
    [logged] = bot.store.answers()
    assert logged["id"] == reply.answer_id and logged["question"] == "How do I restore a backup?"
    assert logged["sources"] == [c.url for c in reply.citations]
    assert logged["thread_hash"] is None  # a direct message outside any thread


async def test_a_secret_pasted_into_a_question_is_not_kept_in_the_answer_log(
    settings: Settings,
) -> None:
    """The state database never holds a token: not even one pasted into a question, which
    `/docbot stats` would show in chat and `--draft-questions` would write into a file."""
    from bot.config import Secret

    bot = Bot.from_settings(
        dataclasses.replace(settings, teams_app_password=Secret("hunter2-teams-password"))
    )
    await ask(bot, "How do I restore a backup? my token is xoxb-1234567890-abcdefghijkl")
    await ask(bot, "is hunter2-teams-password the right password for backups?")
    questions = [a["question"] for a in bot.store.answers()]
    assert questions == [
        "How do I restore a backup? my token is [redacted]",
        "is [redacted] the right password for backups?",
    ]


async def test_a_reply_in_a_thread_is_logged_with_its_thread(bot: Bot) -> None:
    in_thread = dataclasses.replace(msg("How do I restore a backup?"), thread_id="1700.01")
    await bot.handle(in_thread)
    [logged] = bot.store.answers()
    assert logged["thread_hash"] == hash_id("C1:1700.01")


async def test_a_follow_up_is_answered_with_the_thread_that_asked_something(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread goes to rag without the messages that asked nothing (a typed command, a
    thank-you, an emoji) and the bot's replies to them (`bot.history`)."""
    seen: list[list[Turn]] = []
    answer = bot.answerer.answer

    async def recording(question: str, **kwargs: Any) -> Reply:
        seen.append(list(kwargs["history"]))
        return await answer(question, **kwargs)

    monkeypatch.setattr(bot.answerer, "answer", recording)
    asked = [Turn("user", "How do I restore a backup?"), Turn("assistant", "Run restore [1].")]
    thread = [
        *asked,
        Turn("user", "docbot length short"),
        Turn("assistant", "Answer length set to short."),
        Turn("user", "thanks!"),
        Turn("assistant", "I couldn't find this in the docs."),
        Turn("user", ":+1:"),
    ]
    follow_up = dataclasses.replace(msg("and from the CLI?"), thread_id="1700.01", history=thread)
    await bot.handle(follow_up)
    assert seen == [asked]
    assert follow_up.history == thread  # the adapter's message is left as it came


async def test_feedback_round_trip(bot: Bot) -> None:
    reply = await ask(bot, "How do I restore a backup?")
    assert await bot.record_feedback(reply.answer_id, "slack", "U1", "up") == t(
        "feedback_thanks_up", "en"
    )
    assert await bot.record_feedback(reply.answer_id, "slack", "U1", "down") == t(
        "feedback_thanks_down", "en"
    )
    assert bot.store.feedback_counts() == {"up": 0, "down": 1}
    assert await bot.record_feedback("no-such-answer", "slack", "U1", "up") == t(
        "feedback_unknown", "en"
    )
    assert await bot.record_feedback(reply.answer_id, "slack", "U1", "sideways") == t(
        "feedback_unknown", "en"
    )


async def test_feedback_thanks_in_the_answers_language(bot: Bot) -> None:
    reply = await ask(bot, "백업을 복원하려면 어떻게 하나요? restore backup")
    assert reply.language == "ko"
    assert await bot.record_feedback(reply.answer_id, "slack", "U1", "up") == t(
        "feedback_thanks_up", "ko"
    )


async def test_feedback_while_the_state_database_is_locked_gets_a_clear_reply(
    bot: Bot, settings: Settings
) -> None:
    """A click the bot cannot store gets a reply saying so, in the answer's language: never
    silence (Slack) nor a generic error (Teams)."""
    import sqlite3

    reply = await ask(bot, "백업을 복원하려면 어떻게 하나요? restore backup")
    locker = sqlite3.connect(settings.state_url, timeout=0.1, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        said = await bot.record_feedback(reply.answer_id, "slack", "U1", "down")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert said == t("feedback_unavailable", "ko")
    assert bot.store.feedback_counts() == {"up": 0, "down": 0}
    assert await bot.record_feedback(reply.answer_id, "slack", "U1", "down") == t(
        "feedback_thanks_down", "ko"
    )


async def test_an_empty_question_gets_a_hint(bot: Bot) -> None:
    reply = await ask(bot, "   ")
    assert reply.text == t("empty_question", "en") and reply.ephemeral


def metric(name: str, **labels: str) -> float:
    from bot.metrics import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_answers_declines_and_feedback_clicks(bot: Bot) -> None:
    """docbot_answers_total counts answers given: a bare mention's hint is not one."""
    before = {
        "answers": metric("docbot_answers_total", platform="slack", model="none"),
        "declines": metric("docbot_declines_total", platform="slack"),
        "down": metric("docbot_feedback_total", value="down"),
    }
    await ask(bot, "   ")  # a hint, neither an answer nor a decline
    assert metric("docbot_answers_total", platform="slack", model="none") == before["answers"]
    assert metric("docbot_declines_total", platform="slack") == before["declines"]
    declined = await ask(bot, "What is the capital of Australia?")
    assert declined.declined
    assert metric("docbot_declines_total", platform="slack") == before["declines"] + 1
    await bot.record_feedback(declined.answer_id, "slack", "U1", "down")
    await bot.record_feedback("no-such-answer", "slack", "U1", "down")  # not stored: not counted
    assert metric("docbot_feedback_total", value="down") == before["down"] + 1


async def test_a_too_long_question_is_refused_with_the_numbers(
    bot: Bot, settings: Settings
) -> None:
    reply = await ask(bot, "x" * (settings.max_question_chars + 1))
    assert reply.declined and str(settings.max_question_chars) in reply.text
    assert bot.store.answers() == []


async def test_the_rate_limit_answers_with_a_wait(settings: Settings) -> None:
    bot = Bot.from_settings(dataclasses.replace(settings, rate_limit_per_minute=1))
    assert not (await ask(bot, "How do I restore a backup?")).declined
    reply = await ask(bot, "How do I install widgetron?")
    assert reply.declined and "Please wait" in reply.text
    assert not (
        await ask(bot, "How do I install widgetron?", user="U2")
    ).declined  # others are not affected


async def test_an_off_topic_question_is_declined(bot: Bot) -> None:
    reply = await ask(bot, "What is the capital of Australia?")
    assert reply.declined and reply.citations == [] and reply.text == t("decline", "en")


async def test_a_korean_question_gets_korean_bot_messages(bot: Bot) -> None:
    reply = await ask(bot, "호주의 수도는 어디인가요?")
    assert reply.language == "ko" and reply.text == t("decline", "ko")
    assert (
        await ask(bot, "docbot 도움")
    ).language == "ko"  # an unknown word after docbot: a question


async def test_the_locale_decides_when_the_text_cannot(bot: Bot) -> None:
    bare = await bot.handle(msg("", is_command=True, locale="ko-KR"))  # a bare /docbot
    assert bare.language == "ko" and bare.text.startswith("*docbot*은")
    typed = await bot.handle(msg("help", is_command=True, locale="ko-KR"))
    assert typed.language == "en"  # Latin text: the text wins over the locale


async def test_a_failure_inside_the_answerer_is_a_clear_reply(
    tmp_path: Path, settings: Settings
) -> None:
    broken = dataclasses.replace(settings, data_dir=tmp_path / "broken")
    shutil.copytree(
        settings.index_dir, broken.index_dir, ignore=shutil.ignore_patterns(".ingest.lock")
    )
    live = IndexStore(broken).current()
    assert live is not None
    (live.path / "chunks.jsonl").write_text("{not json\n")  # a corrupted index on disk
    bot = Bot.from_settings(broken)
    reply = await ask(bot, "How do I restore a backup?")
    assert reply.declined and reply.citations == []
    # a short, plain reason: the index is unreachable, or the generic error line
    assert reply.text == t("index_unavailable", "en") or reply.text.startswith(
        "Something went wrong while answering ("
    )
    assert "Traceback" not in reply.text and 'File "' not in reply.text
    assert (await ask(bot, "docbot help")).is_command  # commands still work


# re-ingest from chat -------------------------------------------------------------------------
async def test_reingest_from_the_console_end_to_end(
    tmp_path: Path, corpus_dir: Path, make_settings
) -> None:  # noqa: ANN001
    settings = make_settings(
        tmp_path / "data", DOCBOT_ADMINS=ADMIN, DOCBOT_INGEST_SOURCE=f"path:{corpus_dir}"
    )
    bot = Bot.from_settings(settings)
    out = io.StringIO()
    lines = iter(["How do I restore a backup?", "docbot reingest", "docbot reingest"])

    def read_line() -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    assert (
        await chat_loop(bot, read_line=read_line, out=out, user=ADMIN) == 0
    )  # waits for the re-ingest
    text = out.getvalue()
    assert t("no_index", "en") in text  # before: nothing indexed
    assert t("reingest_started", "en") in text
    assert t("reingest_running", "en") in text  # the second one while the first runs
    assert f"docbot> Reading {corpus_dir}…" in text  # progress reaches the conversation
    assert "docbot> Read: 5 pages: 5 new" in text
    assert "docbot> Ingest finished:" in text  # and the summary
    assert IndexStore(settings).current() is not None
    reply = await ask(bot, "How do I restore a backup?")
    assert not reply.declined and reply.citations


async def test_a_failed_reingest_is_reported_and_the_docs_stay_live(
    tmp_path: Path, settings: Settings
) -> None:
    broken = dataclasses.replace(
        settings, data_dir=tmp_path / "d", ingest_source=f"path:{tmp_path / 'missing'}"
    )
    shutil.copytree(
        settings.index_dir, broken.index_dir, ignore=shutil.ignore_patterns(".ingest.lock")
    )
    live = IndexStore(broken).current_id()
    bot = Bot.from_settings(broken)
    said: list[str] = []

    async def notify(_target: object, text: str) -> None:
        said.append(text)

    bot.register_notifier("slack", notify)
    assert (await ask(bot, "docbot reingest", user=ADMIN)).text == t("reingest_started", "en")
    await bot.wait_reingest()
    # the reason, as written to be shown (no exception class names, no traceback)
    assert said and said[-1].startswith("Re-ingest failed, the current docs stay live: ")
    assert "missing" in said[-1] and "Error" not in said[-1]
    assert IndexStore(broken).current_id() == live


def test_the_reingest_plan_follows_the_settings(tmp_path: Path, make_settings) -> None:  # noqa: ANN001
    from bot.reingest import on_cml, plan_reingest

    assert plan_reingest(make_settings(tmp_path)) is None  # nothing configured
    assert plan_reingest(make_settings(tmp_path, DOCBOT_INGEST_SOURCE=str(tmp_path))) is not None
    cml = make_settings(
        tmp_path,
        CDSW_DOMAIN="ml.example.com",
        CDSW_PROJECT_ID="p1",
        CDSW_APIV2_KEY="key-value-123",
    )
    assert on_cml(cml) and plan_reingest(cml) is not None  # the CML Jobs, even without a source
    assert not on_cml(make_settings(tmp_path, CDSW_DOMAIN="ml.example.com"))
