"""Usage analytics over the answer log (pure)."""

from __future__ import annotations

from typing import Any

from bot.stats import compute_stats, format_stats


def row(
    question: str,
    *,
    declined: bool = False,
    latency_ms: float = 1000.0,
    model: str = "extractive",
    unavailable: bool = False,
) -> dict[str, Any]:
    return {
        "question": question,
        "declined": declined,
        "latency_ms": latency_ms,
        "model": model,
        "unavailable": unavailable,
    }


def test_empty_log() -> None:
    stats = compute_stats([], {})
    assert stats["answers"] == 0 and stats["decline_rate"] == 0.0
    assert stats["up_ratio"] is None and stats["latency_ms_p50"] is None
    assert "Feedback: none yet" in format_stats(stats, days=30)


def test_counts_rates_and_latency() -> None:
    answers = [
        row("a?", latency_ms=100),
        row("b?", latency_ms=300),
        row("c?", declined=True, latency_ms=200, model=""),
    ]
    stats = compute_stats(answers, {"up": 3, "down": 1})
    assert stats["answers"] == 3 and stats["declined"] == 1
    assert stats["decline_rate"] == 0.333
    assert stats["up_ratio"] == 0.75
    assert stats["latency_ms_p50"] == 200
    assert stats["models"] == {"extractive": 2, "none": 1}


def test_p95_latency_is_the_nearest_rank_even_for_a_multiple_of_twenty_answers() -> None:
    """Nearest rank: the ceil(0.95 * n)-th smallest. Of 20 answers that is the 19th, not
    the slowest one, which would make a single outlier the p95."""
    answers = [row(f"q{i}?", latency_ms=float(i)) for i in range(1, 21)]
    assert compute_stats(answers, {})["latency_ms_p95"] == 19
    answers = [row(f"q{i}?", latency_ms=float(i)) for i in range(1, 41)]
    assert compute_stats(answers, {})["latency_ms_p95"] == 38
    answers = [row(f"q{i}?", latency_ms=float(i)) for i in range(1, 22)]  # ceil(19.95) = 20
    assert compute_stats(answers, {})["latency_ms_p95"] == 20


def test_top_questions_ignore_case_spacing_and_punctuation() -> None:
    answers = [
        row("How do I install?"),
        row("how do  I install"),
        row("HOW DO I INSTALL!"),
        row("other"),
    ]
    stats = compute_stats(answers, {})
    assert stats["top_questions"][0] == {"question": "how do i install", "count": 3}


def test_doc_gaps_group_declined_questions_by_topic() -> None:
    answers = [
        row("How do I configure the firewall?", declined=True),
        row("firewall port list", declined=True),
        row("Does the firewall block SSO?", declined=True),
        row("What is the GPU quota?", declined=True),
        row("How do I install?"),  # answered: never a gap
    ]
    gaps = compute_stats(answers, {})["doc_gaps"]
    assert gaps[0]["topic"] == "firewall"
    assert gaps[0]["questions"] == 3
    assert len(gaps[0]["examples"]) == 3
    topics = [g["topic"] for g in gaps]
    assert any(t in ("gpu", "quota") for t in topics)
    assert "install" not in topics


def test_format_shows_the_numbers() -> None:
    answers = [
        row("firewall setup?", declined=True, latency_ms=1500),
        row("install?", latency_ms=500),
    ]
    text = format_stats(compute_stats(answers, {"up": 1, "down": 1}), days=7)
    assert "last 7 days" in text
    assert "Answers: 2" in text and "declined: 1 (50%)" in text
    assert "👍 1" in text and "50% positive" in text
    assert "Doc gaps" in text and "firewall" in text


def test_declined_korean_questions_show_up_as_doc_gaps_by_their_topic_word() -> None:
    # Korean keyword tokens are two-syllable bigrams: a length filter meant for English
    # must not drop them all, and question endings (어떻게, 하나요) are no topic
    answers = [
        row("휴가 신청은 어떻게 하나요?", declined=True),
        row("휴가는 며칠인가요?", declined=True),
        row("휴가 일수 알려줘", declined=True),
    ]
    gaps = compute_stats(answers, {})["doc_gaps"]
    assert gaps and gaps[0]["topic"] == "휴가" and gaps[0]["questions"] == 3
    assert not {"어떻", "떻게", "하나", "나요"} & {g["topic"] for g in gaps}


def test_a_korean_doc_gap_is_named_by_the_whole_word_the_same_on_every_run() -> None:
    # a long Korean word is several bigram tokens (쿠버 버네 네티 티스): the topic is the word,
    # not whichever fragment a set happened to list first (which changed from run to run)
    answers = [
        row("쿠버네티스 클러스터에 설치하려면?", declined=True),
        row("쿠버네티스 버전은?", declined=True),
        row("모바일 앱이 있나요?", declined=True),
    ]
    gaps = compute_stats(answers, {})["doc_gaps"]
    assert [(g["topic"], g["questions"]) for g in gaps] == [("쿠버네티스", 2), ("모바일", 1)]


def test_doc_gap_ties_go_to_the_earlier_word_whatever_the_hash_seed() -> None:
    import json
    import os
    import subprocess
    import sys

    script = (
        "import json; from bot.stats import compute_stats; "
        "rows = [{'question': q, 'declined': True, 'latency_ms': 1.0, 'model': 'm'} "
        "for q in ('widget quota limits?', 'gadget backup schedule?')]; "
        "print(json.dumps([g['topic'] for g in compute_stats(rows, {})['doc_gaps']]))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(6)
    }
    assert [json.loads(out) for out in runs] == [["widget", "gadget"]]


def test_a_very_long_question_is_shortened_in_the_report_but_counted_whole() -> None:
    long = "How do I configure the firewall " + "and the proxy " * 150 + "?"
    answers = [row(long, declined=True), row(long, declined=True)]
    stats = compute_stats(answers, {})
    assert stats["top_questions"][0]["count"] == 2
    text = format_stats(stats, days=30)
    assert max(len(line) for line in text.splitlines()) <= 200
    assert "• how do i configure the firewall and the proxy and the proxy" in text
    assert "… (2)" in text


def test_the_report_speaks_korean_to_a_korean_admin() -> None:
    answers = [
        row("휴가 신청은 어떻게 하나요?", declined=True, latency_ms=1500),
        row("install?", latency_ms=500),
    ]
    text = format_stats(compute_stats(answers, {"up": 1, "down": 1}), days=7, lang="ko")
    assert text.splitlines() == [
        "*docbot 사용 현황, 최근 7일*",
        "답변: 2 · 거절: 1 (50%)",
        "피드백: 👍 1 · 👎 1 (긍정 50%)",
        "응답 시간: p50 1.0초 · p95 1.5초",
        "*자주 묻는 질문*",
        "• 휴가 신청은 어떻게 하나요 (1)",
        "• install (1)",
        "*문서 공백* (답하지 못한 질문, 주제별)",
        "• 휴가: 1 — 예: “휴가 신청은 어떻게 하나요?”",
    ]
    empty = format_stats(compute_stats([], {}), days=30, lang="ko")
    assert empty.splitlines() == [
        "*docbot 사용 현황, 최근 30일*",
        "답변: 0 · 거절: 0 (0%)",
        "피드백: 아직 없음",
    ]


def test_a_question_the_docs_could_not_be_searched_for_is_no_decline_and_no_doc_gap() -> None:
    # no index yet, the index unreadable, RAG off with the offline model: the bot declined,
    # but the docs were never asked, so it says nothing about what they cover
    answers = [
        row("how do i rotate the widgetron keys?"),
        row("widgetron quota limits?", declined=True),
        row("widgetron backup schedule?", declined=True, unavailable=True, model=""),
        row("widgetron backup retention?", declined=True, unavailable=True, model=""),
    ]
    stats = compute_stats(answers, {})
    assert stats["answers"] == 4 and stats["unavailable"] == 2
    assert stats["declined"] == 1 and stats["decline_rate"] == 0.5  # of the 2 searched
    assert [g["examples"] for g in stats["doc_gaps"]] == [["widgetron quota limits?"]]
    text = format_stats(stats, days=30)
    assert "declined: 1 (50%)" in text and "not searched" in text.lower()
    assert "검색하지" in format_stats(stats, days=30, lang="ko")


def test_a_log_without_unsearched_questions_does_not_mention_them() -> None:
    stats = compute_stats([row("a?"), row("b?", declined=True)], {})
    assert stats["unavailable"] == 0
    assert "not searched" not in format_stats(stats, days=30).lower()
