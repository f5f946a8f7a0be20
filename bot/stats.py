"""Usage analytics from the answer log (pure over the rows the store returns).

Doc gaps: declined questions grouped by their most telling keyword, so doc
owners see which topics people ask about and the docs don't cover.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from bot.messages import t
from rag.multilingual import salient_words
from rag.tokenize import is_cjk, tokenize


def normalise_question(question: str) -> str:
    """A question as counted: case, spacing and closing punctuation set aside."""
    return " ".join(question.lower().split()).rstrip("?!. ")


def _gap_words(question: str) -> list[str]:
    """A declined question's candidate topics, each once, in the order the question has them
    (so that ties between topics go the same way on every run): its English words of three
    letters or more, and its CJK content words. Korean tokens are all two-syllable bigrams,
    so the length rule alone would drop every one; `salient_words` leaves out particles,
    endings and question words (어떻게, 하나요) instead, which every question has. A long
    word's overlapping bigrams (쿠버 버네 네티 티스) are joined back into it (쿠버네티스)."""
    words = [w for w in tokenize(question) if len(w) > 2]
    for tokens in salient_words(question):
        if tokens and is_cjk(tokens[0][0]):
            words.append(tokens[0] + "".join(token[-1] for token in tokens[1:]))
    return list(dict.fromkeys(words))


def _nearest_rank(n: int, percent: int) -> int:
    """The 1-based nearest rank, ceil(percent / 100 * n), in integers: floor + 1 (as before)
    is one rank too high whenever percent / 100 * n is whole (n a multiple of 20 for p95),
    and a float product may land just above or below a whole number."""
    return -(-percent * n // 100)


def compute_stats(
    answers: list[dict[str, Any]], feedback: dict[str, int], *, top: int = 5
) -> dict[str, Any]:
    total = len(answers)
    # declined without searching the docs (no index, RAG off offline): no gap in the docs
    unavailable = sum(bool(a.get("unavailable")) for a in answers)
    declined = [a for a in answers if a["declined"] and not a.get("unavailable")]
    searched = total - unavailable
    latencies = sorted(a["latency_ms"] for a in answers)
    questions = Counter(normalise_question(a["question"]) for a in answers if a["question"])
    # keyword document frequency across declined questions; each question counts once per word
    gap_words: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    for a in declined:
        words = _gap_words(a["question"])
        for w in words:
            gap_words[w] += 1
            examples.setdefault(w, [])
            if len(examples[w]) < 3 and a["question"] not in examples[w]:
                examples[w].append(a["question"])
    gaps = []
    covered: set[str] = set()
    for word, n in gap_words.most_common():
        qs = [q for q in examples[word] if q not in covered]
        if not qs:
            continue
        covered.update(examples[word])
        gaps.append({"topic": word, "questions": n, "examples": qs})
        if len(gaps) >= top:
            break
    up, down = feedback.get("up", 0), feedback.get("down", 0)
    models = Counter(a["model"] or "none" for a in answers)
    return {
        "answers": total,
        "declined": len(declined),
        "decline_rate": round(len(declined) / searched, 3) if searched else 0.0,
        "unavailable": unavailable,
        "feedback_up": up,
        "feedback_down": down,
        "up_ratio": round(up / (up + down), 3) if up + down else None,
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_p95": round(latencies[_nearest_rank(len(latencies), 95) - 1], 1)
        if latencies
        else None,
        "top_questions": [{"question": q, "count": n} for q, n in questions.most_common(top)],
        "doc_gaps": gaps,
        "models": dict(models),
    }


REPORT_QUESTION_CHARS = 120  # a question as the report quotes it (up to 2000 may be logged)


def _clip(question: str) -> str:
    return (
        question
        if len(question) <= REPORT_QUESTION_CHARS
        else question[:REPORT_QUESTION_CHARS].rstrip() + "…"
    )


def format_stats(stats: dict[str, Any], *, days: int, lang: str = "en") -> str:
    """The report as chat text (Slack mrkdwn), in `lang` ('en' or 'ko')."""
    lines = [
        t("stats_title", lang, days=days),
        t(
            "stats_answers",
            lang,
            answers=stats["answers"],
            declined=stats["declined"],
            rate=f"{stats['decline_rate']:.0%}",
        ),
    ]
    if stats.get("unavailable"):
        lines.append(t("stats_unavailable", lang, count=stats["unavailable"]))
    if stats["up_ratio"] is None:
        lines.append(t("stats_no_feedback", lang))
    else:
        lines.append(
            t(
                "stats_feedback",
                lang,
                up=stats["feedback_up"],
                down=stats["feedback_down"],
                ratio=f"{stats['up_ratio']:.0%}",
            )
        )
    if stats["latency_ms_p50"] is not None:
        lines.append(
            t(
                "stats_latency",
                lang,
                p50=stats["latency_ms_p50"] / 1000,
                p95=stats["latency_ms_p95"] / 1000,
            )
        )
    if stats["top_questions"]:
        lines.append(t("stats_top_questions", lang))
        lines.extend(f"• {_clip(q['question'])} ({q['count']})" for q in stats["top_questions"])
    if stats["doc_gaps"]:
        lines.append(t("stats_doc_gaps", lang))
        lines.extend(
            t(
                "stats_doc_gap",
                lang,
                topic=g["topic"],
                questions=g["questions"],
                example=_clip(g["examples"][0]),
            )
            for g in stats["doc_gaps"]
        )
    return "\n".join(lines)
