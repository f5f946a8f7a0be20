"""The bot's own sentences: languages, placeholders, language detection."""

from __future__ import annotations

import pytest

from bot.messages import MESSAGES, detect_language, resolve_language, t


def test_every_message_has_english() -> None:
    assert all("en" in texts for texts in MESSAGES.values())


def test_korean_where_available() -> None:
    assert t("decline", "ko") == MESSAGES["decline"]["ko"]
    assert "문서" in t("decline", "ko")


@pytest.mark.parametrize("lang", ["ja", "zh", "fr", ""])
def test_unknown_languages_fall_back_to_english(lang: str) -> None:
    assert t("decline", lang) == MESSAGES["decline"]["en"]


def test_placeholders_are_filled() -> None:
    assert t("too_long", "en", length=2500, limit=2000) == (
        "That question is 2500 characters long; the limit is 2000. Please shorten it."
    )
    assert "30초" in t("rate_limited", "ko", seconds=30)
    assert t("footer", "en", model="extractive", docs="from the docs", seconds=1.234).endswith(
        "1.2s"
    )


def test_messages_without_placeholders_keep_their_braces_untouched() -> None:
    assert t("placeholder") == "Searching the docs…"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("How do I install Kubeflow?", "en"),
        ("Kubeflow를 어떻게 설치하나요?", "ko"),
        ("파이프라인 실행 방법", "ko"),
        ("Kubeflowのインストール方法は？", "ja"),
        ("如何安装管道组件？", "zh"),
        ("", "en"),
        ("12345 !!!", "en"),
        ("kfp.dsl.pipeline 데코레이터는 무엇인가요", "ko"),  # mixed, mostly Hangul
        (
            "Please explain the kfp.dsl.pipeline decorator and its arguments 예",
            "en",
        ),  # mixed, mostly English
        # Korean sentences around English product names and terms: most words are Korean
        ("CML에서는 왜 HTTP Events API 말고 Socket Mode를 써?", "ko"),
        ("Kubeflow pipeline에서 Katib experiment 만드는 법", "ko"),
        ("Kubeflow 설치", "ko"),
        ("What does 설치 mean in the Kubeflow docs?", "en"),  # an English question
        # Korean ends a Korean sentence (its predicate or head noun comes last), however
        # many English terms come before it
        ("Katib early stopping 설정 방법", "ko"),
        ("KServe InferenceService YAML 예제?", "ko"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_an_explicit_setting_wins() -> None:
    assert resolve_language("en", "설치 방법", "ko-KR") == "en"
    assert resolve_language("ko", "How to install?", "en-US") == "ko"


def test_auto_follows_the_questions_script() -> None:
    assert resolve_language("auto", "설치 방법은?", "en-US") == "ko"
    assert resolve_language("auto", "How to install?", "") == "en"


def test_the_locale_decides_only_when_the_text_has_no_latin_letters() -> None:
    assert resolve_language("auto", "How to install?", "ko-KR") == "en"
    assert resolve_language("auto", "", "ko_KR") == "ko"
    assert resolve_language("auto", "???", "ko-KR") == "ko"
    assert resolve_language("auto", "", "fr-FR") == "en"
