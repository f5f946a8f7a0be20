"""Where the offline answer's missed facts are: not retrieved, or retrieved but not quoted.

    DOCBOT_DATA_DIR=/tmp/q_site3 python bench/fact_locations.py tests/data/dev_questions.jsonl …

For every answerable question that the retriever's gate lets the offline answerer answer,
the sources are built as the pipeline builds them and the extractive answer is composed;
each expected fact is then counted as quoted, absent from every source, or present in a
source (the first or a later one) as part of a prose sentence, of a list / code / table
detail, or of text the answerer never considers (headings, fragments, table rows in
Markdown). Facts in unquoted prose sentences are the ones a better sentence scorer could
add without retrieving anything new. Single questions only (threads are skipped).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live import live_retriever, question_sets_load  # noqa: E402
from bot.config import Settings  # noqa: E402
from rag.evaluate import EvalQuestion, facts_found, load_questions  # noqa: E402
from rag.extractive import ExtractiveProvider, split_passages  # noqa: E402
from rag.generation import GenerationRequest, Source  # noqa: E402
from rag.pipeline import Answerer, hits_to_sources  # noqa: E402
from rag.retrieve import Gate, Retriever  # noqa: E402


def fact_location(fact: str, answer: str, sources: Sequence[Source]) -> str:
    """Where one fact is: "quoted", "not in sources", or "<source> / <part>"."""

    def holds(text: str) -> bool:  # matched as `docbot eval` matches facts
        return bool(facts_found(text, [fact]))

    if holds(answer):
        return "quoted"
    for i, source in enumerate(sources):
        if not holds(source.text):
            continue
        where = "first source" if i == 0 else "later source"
        passages = split_passages(source.text)
        if any(holds(p.sentence) for p in passages):
            return f"{where} / prose sentence"
        if any(holds(p.detail) for p in passages):
            return f"{where} / list, code or table"
        return f"{where} / text not considered"
    return "not in sources"


def locate(
    retriever: Retriever, provider: ExtractiveProvider, questions: Sequence[EvalQuestion], k: int
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for q in questions:
        if not q.answerable or not q.answer_facts or q.history:
            continue
        hits = retriever.search(q.question, k=k)
        if retriever.gate(hits) is not Gate.ANSWER:
            counts["(question declined)"] += 1
            continue
        sources = hits_to_sources(hits)
        answer = provider.answer_text(GenerationRequest(question=q.question, sources=sources))
        counts.update(fact_location(f, answer, sources) for f in q.answer_facts)
    return counts


def format_counts(counts: Counter[str]) -> str:
    facts = sum(v for key, v in counts.items() if not key.startswith("("))
    lines = [f"{'where the fact is':<40} {'facts':>6} {'share':>6}"]
    for key, value in sorted(counts.items(), key=lambda kv: -kv[1]):
        share = f"{value / facts:.3f}" if facts and not key.startswith("(") else ""
        lines.append(f"{key:<40} {value:>6} {share:>6}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("questions", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if not question_sets_load(args.questions):
        return 2
    settings = Settings.from_env()
    retriever = live_retriever(settings)
    if retriever is None:
        return 2
    retriever.embedder.accelerate()
    provider = Answerer(settings, retriever).extractive  # as the pipeline builds it
    counts: Counter[str] = Counter()
    for path in args.questions:
        counts += locate(retriever, provider, load_questions(path), settings.top_k)
    print(format_counts(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
