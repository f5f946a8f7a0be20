"""Usage analytics over the answer log (pure)."""

from __future__ import annotations

from typing import Any

from bot.stats import compute_stats, format_stats


def row(
    question: str, *, declined: bool = False, latency_ms: float = 1000.0, model: str = "extractive"
) -> dict[str, Any]:
    return {"question": question, "declined": declined, "latency_ms": latency_ms, "model": model}


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
