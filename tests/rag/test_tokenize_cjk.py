"""Keyword tokens for Korean, Japanese and Chinese text, mixed text, and English unchanged.

Hangul, Han and Kana runs have no spaces between words, so they become
overlapping character bigrams: a question shares bigrams with every doc that
uses its words, whatever particles or endings are glued to them.
"""

from __future__ import annotations

import pytest

from rag.tokenize import is_cjk, tokenize


def shared(a: str, b: str) -> set[str]:
    return set(tokenize(a)) & set(tokenize(b))


# Korean --------------------------------------------------------------------------------
def test_korean_words_become_bigrams_and_particles_single_characters() -> None:
    assert tokenize("Slack에 docbot을 어떻게 연결하나요?") == [
        "slack", "에", "docbot", "을", "어떻", "떻게", "연결", "결하", "하나", "나요",
    ]  # fmt: skip


def test_a_korean_question_matches_the_korean_doc_sentence_despite_other_endings() -> None:
    question = "답변 로그는 며칠 동안 보관돼?"
    doc = "답변 로그와 그에 딸린 피드백은 90일이 지나면 삭제됩니다. 보관 기간은 설정할 수 있습니다."
    assert {"답변", "로그", "보관"} <= shared(question, doc)


def test_spacing_differences_still_share_bigrams() -> None:
    # Korean spacing varies between writers ("설치 방법" / "설치방법")
    assert {"설치", "방법"} <= shared("설치 방법", "설치방법")


def test_hangul_compatibility_jamo_are_cjk() -> None:
    assert is_cjk("ㅋ") and is_cjk("한") and not is_cjk("a") and not is_cjk("é")


# Japanese and Chinese -------------------------------------------------------------------
def test_japanese_mixes_kana_and_kanji_into_one_run_of_bigrams() -> None:
    assert tokenize("パイプラインを実行") == [
        "パイ",
        "イプ",
        "プラ",
        "ライ",
        "イン",
        "ンを",
        "を実",
        "実行",
    ]


def test_japanese_question_matches_japanese_doc() -> None:
    question = "パイプラインの実行方法は？"
    doc = "パイプラインを実行するには、kfp クライアントを使います。"
    assert {"パイ", "イプ", "プラ", "ライ", "イン", "実行"} <= shared(question, doc)


def test_half_width_katakana_is_cjk() -> None:
    assert tokenize("ｶﾀｶﾅ") == ["ｶﾀ", "ﾀｶ", "ｶﾅ"]


def test_chinese_becomes_bigrams_and_keeps_the_english_word() -> None:
    assert tokenize("我想安装kubeflow pipelines") == [
        "我想",
        "想安",
        "安装",
        "kubeflow",
        "pipeline",
    ]


def test_chinese_question_matches_chinese_doc() -> None:
    assert {"安装", "流水", "水线"} <= shared(
        "如何安装流水线？", "安装流水线组件之前，请先准备集群。"
    )


def test_a_single_cjk_character_is_its_own_token() -> None:
    assert tokenize("집") == ["집"]
    assert tokenize("水") == ["水"]


# mixed text ----------------------------------------------------------------------------
def test_mixed_text_keeps_product_names_commands_and_versions() -> None:
    tokens = tokenize("Kubeflow v1.9를 설치하려면 kfp.dsl이 필요해")
    assert {"kubeflow", "v1.9", "kfp.dsl", "kfp", "dsl"} <= set(tokens)
    assert {"설치", "필요"} <= set(tokens)


def test_a_mixed_question_matches_an_english_doc_on_its_english_words() -> None:
    question = "Socket Mode랑 HTTP 방식 중에 뭘 써야 돼?"
    doc = "Socket Mode opens a WebSocket; the HTTP Events API needs a public URL."
    assert {"socket", "mode", "http"} <= shared(question, doc)


def test_a_mixed_question_matches_a_korean_doc_on_both_scripts() -> None:
    question = "CML에서는 왜 Socket Mode를 써?"
    doc = "CML Application은 CML 인증 뒤에 있으므로 Socket Mode를 씁니다."
    assert {"cml", "socket", "mode"} <= shared(question, doc)


def test_version_numbers_inside_korean_sentences() -> None:
    assert {"python", "3.11", "이상"} <= set(tokenize("Python 3.11 이상이 필요합니다"))


# English unchanged ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("How do I install the Server?", ["install", "server"]),
        ("pipelines", ["pipeline"]),
        ("use kfp.dsl", ["use", "kfp.dsl", "kfp", "dsl"]),
        ("Installing the pipelines", ["install", "pipeline"]),
    ],
)
def test_english_tokenization_is_unchanged(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_latin_with_diacritics_is_not_split_into_bigrams() -> None:
    assert tokenize("café résumé") == ["café", "résumé"]
