"""Usage analytics from the answer log (pure over the rows the store returns).

Doc gaps: declined questions grouped by their most telling keyword, so doc
owners see which topics people ask about and the docs don't cover.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from rag.multilingual import salient_tokens
from rag.tokenize import is_cjk, tokenize


def normalise_question(question: str) -> str:
    """A question as counted: case, spacing and closing punctuation set aside."""
    return " ".join(question.lower().split()).rstrip("?!. ")


def _gap_words(question: str) -> set[str]:
    """A declined question's candidate topics: its English words of three letters or more,
    and its CJK content bigrams. Korean tokens are all two-syllable bigrams, so the length
    rule alone would drop every one; `salient_tokens` leaves out particles, endings and
    question words (어떻게, 하나요) instead, which every question has."""
    words = {w for w in tokenize(question) if len(w) > 2}
    return words | {w for w in salient_tokens(question) if is_cjk(w[0])}


def _nearest_rank(n: int, percent: int) -> int:
    """The 1-based nearest rank, ceil(percent / 100 * n), in integers: floor + 1 (as before)
    is one rank too high whenever percent / 100 * n is whole (n a multiple of 20 for p95),
    and a float product may land just above or below a whole number."""
    return -(-percent * n // 100)


def compute_stats(
    answers: list[dict[str, Any]], feedback: dict[str, int], *, top: int = 5
) -> dict[str, Any]:
    total = len(answers)
    declined = [a for a in answers if a["declined"]]
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
        "decline_rate": round(len(declined) / total, 3) if total else 0.0,
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


def format_stats(stats: dict[str, Any], *, days: int) -> str:
    lines = [
        f"*docbot usage, last {days} days*",
        f"Answers: {stats['answers']} · declined: {stats['declined']} ({stats['decline_rate']:.0%})",
    ]
    if stats["up_ratio"] is None:
        lines.append("Feedback: none yet")
    else:
        lines.append(
            f"Feedback: 👍 {stats['feedback_up']} · 👎 {stats['feedback_down']} ({stats['up_ratio']:.0%} positive)"
        )
    if stats["latency_ms_p50"] is not None:
        lines.append(
            f"Latency: p50 {stats['latency_ms_p50'] / 1000:.1f}s · p95 {stats['latency_ms_p95'] / 1000:.1f}s"
        )
    if stats["top_questions"]:
        lines.append("*Top questions*")
        lines.extend(f"• {q['question']} ({q['count']})" for q in stats["top_questions"])
    if stats["doc_gaps"]:
        lines.append("*Doc gaps* (declined questions by topic)")
        lines.extend(
            f"• {g['topic']}: {g['questions']} — e.g. “{g['examples'][0]}”"
            for g in stats["doc_gaps"]
        )
    return "\n".join(lines)
