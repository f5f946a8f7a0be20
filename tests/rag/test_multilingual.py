"""Retrieval for CJK questions with an English embedding model (`rag.multilingual`).

The packaged MiniLM cannot read Korean, so for Korean questions the retriever
leans on keyword search and declines on keyword evidence. These tests pin the
pure functions it calls, the Korean question set they are calibrated on, and,
end to end over the Korean docs, that Korean questions find the right section
and that an uncovered one falls below the keyword threshold.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from bot.config import PACKAGED_EMBEDDING_MODEL, Settings
from ingest.markdown import slugify
from rag.evaluate import load_questions
from rag.multilingual import (
    CJK_DOMINANT_SHARE,
    KEYWORD_MIN_RELEVANCE,
    best_keyword_relevance,
    fusion_weights,
    is_multilingual_model,
    keyword_relevance,
    salient_tokens,
    salient_words,
    script_profile,
    strip_ko_suffix,
    uses_keyword_evidence,
)
from rag.retrieve import Retriever

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
KO_QUESTIONS = ROOT / "tests" / "data" / "ko_questions.jsonl"
EN_QUESTIONS = ROOT / "tests" / "data" / "docs_en_questions.jsonl"
MINILM = PACKAGED_EMBEDDING_MODEL
DEMO = "Slack에 docbot을 어떻게 연결하나요?"


# script profile --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "dominant"),
    [
        ("Slack에 docbot을 어떻게 연결하나요?", "hangul"),
        ("パイプラインの実行方法は？", "kana"),
        ("如何安装流水线？", "han"),
        ("how do I connect docbot to Slack?", "latin"),
        ("Как подключить docbot?", "other"),
        ("1.2.3 !!", ""),
    ],
)
def test_the_dominant_script(text: str, dominant: str) -> None:
    assert script_profile(text).dominant == dominant


def test_counts_by_script() -> None:
    p = script_profile("Kubeflow 설치 東京 カナ 1.9")
    assert (p.latin, p.hangul, p.han, p.kana, p.other) == (8, 2, 2, 2, 0)


def test_a_korean_syllable_weighs_more_than_a_latin_letter() -> None:
    # 10 syllables against 11 Latin letters: the question is still mostly Korean
    assert script_profile(DEMO).cjk_share > CJK_DOMINANT_SHARE
    assert script_profile("How do I install Kubeflow on 서버?").cjk_share < CJK_DOMINANT_SHARE
    assert script_profile("").cjk_share == 0.0


# model registry --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        "paraphrase-multilingual-mpnet-base-v2",
        "intfloat/multilingual-e5-base",
        "BAAI/bge-m3",
        "sentence-transformers/LaBSE",
        "sentence-transformers/distiluse-base-multilingual-cased-v2",
        "/home/cdsw/models/BGE-M3",
        "jhgan/ko-sroberta-multitask",
    ],
)
def test_multilingual_models_are_recognised(name: str) -> None:
    assert is_multilingual_model(name)


@pytest.mark.parametrize(
    "name",
    [
        MINILM,
        "all-MiniLM-L6-v2",
        "intfloat/e5-base-v2",
        "BAAI/bge-small-en-v1.5",
        "all-mpnet-base-v2",
    ],
)
def test_english_models_are_not(name: str) -> None:
    assert not is_multilingual_model(name)


# fusion weights ----------------------------------------------------------------------------
def test_english_questions_keep_the_usual_weights() -> None:
    assert fusion_weights("how do I connect docbot to slack", MINILM) == (1.0, 1.0)
    assert fusion_weights("how do I connect docbot to slack", MINILM, 0.7, 1.3) == (0.7, 1.3)


def test_a_korean_question_with_the_english_model_is_ranked_by_keywords() -> None:
    assert fusion_weights("답변 로그는 며칠 동안 보관돼?", MINILM) == (0.0, 1.0)


def test_a_mixed_question_keeps_some_dense_weight_for_its_english_words() -> None:
    dense, keyword = fusion_weights(DEMO, MINILM)
    assert 0.0 < dense < 0.5 and keyword == 1.0
    dense2, _ = fusion_weights(DEMO, MINILM, dense=2.0)
    assert dense2 == pytest.approx(2 * dense)


def test_a_multilingual_model_keeps_the_usual_weights_for_korean() -> None:
    assert fusion_weights("답변 로그는 며칠 동안 보관돼?", "BAAI/bge-m3", 1.0, 1.0) == (1.0, 1.0)


def test_keyword_evidence_decides_only_for_cjk_questions_and_english_models() -> None:
    assert uses_keyword_evidence(DEMO, MINILM)
    assert uses_keyword_evidence("東京都のパイプラインを実行する", MINILM)
    assert not uses_keyword_evidence("how do I connect docbot to slack", MINILM)
    assert not uses_keyword_evidence(DEMO, "intfloat/multilingual-e5-small")


# salient words and keyword relevance ---------------------------------------------------------
@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("권한을", "권한"),
        ("연결하나요", "연결"),
        ("설치하려면", "설치"),
        ("앱에서는", "앱"),
        ("메트릭은", "메트릭"),
        ("추가", "추가"),  # 가 ends nouns too: a cut must leave two syllables
        ("경로", "경로"),
        ("봇을", "봇"),
    ],
)
def test_korean_particles_and_endings_are_cut(word: str, stem: str) -> None:
    assert strip_ko_suffix(word) == stem


def test_salient_words_of_the_demo_question() -> None:
    assert salient_words(DEMO) == [("slack",), ("docbot",), ("연결",)]


def test_a_long_korean_word_is_one_word_of_several_bigrams() -> None:
    assert salient_words("비밀번호가 뭐야?") == [("비밀", "밀번", "번호")]
    assert salient_tokens("비밀번호가 뭐야?") == ["비밀", "밀번", "번호"]


def test_japanese_words_are_cut_at_their_particles() -> None:
    assert salient_words("パイプラインの実行方法は？") == [
        ("パイ", "イプ", "プラ", "ライ", "イン"),
        ("実行", "行方", "方法"),
    ]
    assert salient_words("kfpでパイプラインを実行する")[0] == ("kfp",)


def test_chinese_is_one_word_of_bigrams() -> None:
    assert salient_words("如何安装流水线？") == [("如何", "何安", "安装", "装流", "流水", "水线")]


def test_japanese_and_chinese_questions_match_their_sections() -> None:
    ja_doc = "パイプラインを実行するには、kfp クライアントの run メソッドを使います。"
    assert keyword_relevance("パイプラインの実行方法は？", ja_doc) >= 0.5
    assert keyword_relevance("パイプラインの実行方法は？", "ノートブックの作成") == 0.0
    zh_doc = "安装流水线组件之前，请先准备集群。"
    assert keyword_relevance("如何安装流水线？", zh_doc) > keyword_relevance(
        "如何安装流水线？", "集群"
    )


def test_a_question_of_only_question_words_keeps_its_tokens() -> None:
    assert salient_tokens("무엇인가요?")


def test_keyword_relevance_is_the_share_of_words_found() -> None:
    section = "Slack 연결하기: 매니페스트로 앱을 만들고 docbot을 채널에 초대합니다. 연결 방법은 간단합니다."
    assert keyword_relevance(DEMO, section) == pytest.approx(1.0)
    assert keyword_relevance(DEMO, "Teams에 docbot을 추가합니다.") == pytest.approx(1 / 3)
    assert keyword_relevance(DEMO, "") == 0.0
    assert keyword_relevance("?", "anything") == 1.0


def test_keyword_relevance_accepts_tokens() -> None:
    assert keyword_relevance(DEMO, ["slack", "docbot", "연결", "결하"]) == pytest.approx(1.0)


def test_rare_words_weigh_more_with_idf() -> None:
    idf = {"docbot": 0.1, "slack": 1.0, "연결": 1.0}.get
    missing_common = keyword_relevance(DEMO, ["slack", "연결"], lambda t: idf(t) or 5.0)
    missing_rare = keyword_relevance(DEMO, ["docbot", "slack"], lambda t: idf(t) or 5.0)
    assert missing_common > 0.9 > missing_rare


def test_best_keyword_relevance_takes_the_best_section() -> None:
    sections = ["Teams에 docbot을 추가합니다.", "Slack에 docbot을 연결합니다."]
    assert best_keyword_relevance(DEMO, sections) == pytest.approx(1.0)
    assert best_keyword_relevance(DEMO, []) == 0.0


# the question sets ----------------------------------------------------------------------------
def anchors(page: Path) -> set[str]:
    """Section anchors of a Markdown page (h2-h4 outside code fences), as ingest makes them."""
    found: set[str] = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{2,4}\s+(.+?)\s*#*\s*$", line)):
            found.add(slugify(m.group(1)))
    return found


@pytest.mark.parametrize("path", [KO_QUESTIONS, EN_QUESTIONS], ids=["ko", "en"])
def test_question_sets_point_at_real_sections_and_facts(path: Path) -> None:
    for q in load_questions(path):
        if not q.answerable:
            continue
        page = ROOT / q.expected_urls[0]
        assert page.is_file(), q.id
        assert q.expected_anchor in anchors(page), (q.id, q.expected_anchor)
        text = page.read_text(encoding="utf-8").lower()
        for fact in q.answer_facts:
            assert fact in text, (q.id, fact)


def test_the_korean_set_has_the_intended_mix() -> None:
    questions = load_questions(KO_QUESTIONS)
    assert len(questions) >= 30
    assert sum(not q.answerable for q in questions) >= 8
    assert all(script_profile(q.question).hangul for q in questions)
    mixed = [q for q in questions if script_profile(q.question).latin >= 4]
    assert len(mixed) >= 5  # product names and commands inside Korean sentences
    assert all(u.startswith("docs/ko/") for q in questions for u in q.expected_urls)
    ids = [json.loads(line)["id"] for line in KO_QUESTIONS.read_text("utf-8").splitlines() if line]
    assert len(ids) == len(set(ids))


# end to end over the Korean docs ----------------------------------------------------------------
@pytest.fixture(scope="module")
def ko_settings(tmp_path_factory: pytest.TempPathFactory, embedder) -> Settings:  # noqa: ANN001
    """docs/ko ingested once for this module, the way `docbot ingest --path` reads a folder."""
    from ingest.pipeline import IngestRequest, run_ingest
    from ingest.sources import SourceSpec

    data = tmp_path_factory.mktemp("ko-index")
    settings = Settings.from_env({"DOCBOT_DATA_DIR": str(data / "data")}, env_file=None)
    # citation URLs of docs/ as `docbot ingest --path docs` gives them (docs/ko/slack.md#...)
    corpus = data / "docs" / "ko"
    corpus.mkdir(parents=True)
    for page in (DOCS / "ko").glob("*.md"):
        (corpus / page.name).write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    asyncio.run(run_ingest(IngestRequest(SourceSpec("path", str(data / "docs"))), settings))
    return settings


def keyword_judgement(settings: Settings, question: str) -> tuple[list[str], float]:
    """Top result URLs and the keyword relevance of the sections the pipeline would use."""
    from rag.keyword import keyword_text
    from rag.retrieve import Retriever

    retriever = Retriever(settings)
    hits = retriever.search(question, k=10)
    index = retriever.index
    assert index is not None
    used = hits[: settings.top_k]
    score = best_keyword_relevance(
        question, (keyword_text(index.chunks[h.row]) for h in used), index.keyword.idf
    )
    return [h.url for h in hits], score


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "section"),
    [
        (DEMO, "slack.md#slack에-docbot을-어떻게-연결하나요"),
        ("답변 로그는 며칠 동안 보관돼?", "operations.md#답변-로그는-얼마나-보관하나요"),
        ("Bedrock에서 Claude 모델을 쓰고 싶어요", "models.md#bedrock에서-claude를-쓰려면"),
        (
            "Prometheus 메트릭은 어느 경로에서 수집하나요?",
            "operations.md#prometheus-메트릭은-어디에서-보나요",
        ),
    ],
)
def test_korean_questions_find_their_section_and_pass_the_keyword_threshold(
    ko_settings: Settings, question: str, section: str
) -> None:
    urls, score = keyword_judgement(ko_settings, question)
    assert any(u.endswith(section) for u in urls[:5]), urls[:5]
    assert score >= KEYWORD_MIN_RELEVANCE


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "휴가 신청은 어디서 하나요?",
        "법인카드 경비 정산은 어떻게 해?",
        "카카오톡에서도 docbot을 쓸 수 있어?",
    ],
)
def test_a_korean_question_the_docs_do_not_cover_falls_below_the_keyword_threshold(
    ko_settings: Settings, question: str
) -> None:
    _, score = keyword_judgement(ko_settings, question)
    assert score < KEYWORD_MIN_RELEVANCE


@pytest.mark.slow
def test_the_retriever_declines_korean_questions_on_keyword_evidence(
    ko_settings: Settings,
) -> None:
    retriever = Retriever(ko_settings)
    k = ko_settings.top_k
    for question in (
        DEMO,
        "답변 로그는 며칠 동안 보관돼?",
        "Teams 연결에 필요한 앱 ID랑 암호 환경 변수는?",
    ):
        hits = retriever.search(question, k=k)
        assert retriever.is_relevant(hits), question
        assert all(h.keyword_relevance is not None for h in hits)
    for question in ("휴가 신청은 어디서 하나요?", "회의실 예약하는 방법 알려줘"):
        hits = retriever.search(question, k=k)
        assert not retriever.is_relevant(hits), question
        # one threshold for keyword-judged questions: no language model is asked either
        assert retriever.gate(hits).value == "decline", question


@pytest.mark.slow
def test_the_retriever_ranks_korean_questions_by_keywords(ko_settings: Settings) -> None:
    retriever = Retriever(ko_settings)
    hits = retriever.search(DEMO, k=5)
    assert hits[0].url == "docs/ko/slack.md#slack에-docbot을-어떻게-연결하나요"


@pytest.mark.slow
def test_english_questions_do_not_take_the_keyword_path(ko_settings: Settings) -> None:
    hits = Retriever(ko_settings).search(
        "how do I roll back the index with docbot index --rollback?", k=5
    )
    assert hits and all(h.keyword_relevance is None for h in hits)


@pytest.mark.parametrize("name", ["dev_questions.jsonl", "dev2_questions.jsonl"])
def test_no_english_development_question_takes_the_cjk_path(name: str) -> None:
    """The English dev sets are unaffected: same fusion weights, cosine-based declining."""
    path = ROOT / "tests" / "data" / name
    if not path.is_file():
        pytest.skip(f"{name} is not in this checkout")
    for q in load_questions(path):
        assert fusion_weights(q.question, MINILM) == (1.0, 1.0), q.id
        assert not uses_keyword_evidence(q.question, MINILM), q.id


@pytest.mark.slow
async def test_the_demo_question_is_answered_from_the_korean_docs(ko_settings: Settings) -> None:
    """`docbot ask "Slack에 docbot을 어떻게 연결하나요?"` over the bundled docs, offline."""
    from bot.core import Bot
    from bot.types import IncomingMessage

    bot = Bot.from_settings(ko_settings)
    reply = await bot.handle(
        IncomingMessage(platform="console", conversation_id="c", user_id="u", text=DEMO)
    )
    assert reply.language == "ko" and not reply.declined
    assert reply.citations and all(c.url.startswith("docs/ko/") for c in reply.citations)
    assert any(c.url.startswith("docs/ko/slack.md") for c in reply.citations)
