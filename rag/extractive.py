"""The offline answerer: the most relevant sentences of the top sources, cited.

No LLM. Sentences of the numbered sources are scored by cosine similarity to
the question (the same embedding model as retrieval), mixed with the source's
own rank so the best section leads, and the best few are returned in source
order, each followed by its `[n]` marker. It is the offline default and the
last fallback of the model router.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable

import numpy as np

from rag.embeddings import Embedder
from rag.generation import GenerationRequest, Source
from rag.multilingual import keyword_relevance, uses_keyword_evidence
from rag.tokenize import tokenize

SENTENCES_BY_LENGTH = {"short": 2, "medium": 3, "long": 5}
MAX_SENTENCES_PER_SOURCE = 3
MIN_SENTENCE_CHARS = 25
MAX_SENTENCE_CHARS = 400
MAX_CANDIDATES = 24  # sentences embedded per answer, pre-selected by shared words
_SPLIT = re.compile(r"(?<=[.!?。！？])\s+(?=[^a-z])|\n+")
_CODE_FENCE = re.compile(r"```.*?```", re.S)
_NOISE = re.compile(r"^\s*([-*|>#]|\d+\.)\s*")


def split_sentences(text: str) -> list[str]:
    """Prose sentences of a section; code blocks and table rows are left out."""
    text = _CODE_FENCE.sub("\n", text)
    out: list[str] = []
    for raw in _SPLIT.split(text):
        sentence = _NOISE.sub("", raw).strip()
        if "|" in sentence and sentence.count("|") >= 2:  # a table row
            continue
        if len(sentence) < MIN_SENTENCE_CHARS:
            continue
        if len(sentence) > MAX_SENTENCE_CHARS:
            sentence = sentence[:MAX_SENTENCE_CHARS].rsplit(" ", 1)[0] + "…"
        out.append(sentence)
    return out


def prefilter(
    question_words: set[str], candidates: list[tuple[int, int, str]], limit: int
) -> list[tuple[int, int, str]]:
    """Keep the `limit` candidates sharing the most words with the question (ties: earlier first)."""
    if len(candidates) <= limit:
        return candidates
    scored = [
        (-len(question_words & set(tokenize(c[2]))), c[0], c[1], i)
        for i, c in enumerate(candidates)
    ]
    keep = sorted(i for *_, i in sorted(scored)[:limit])
    return [candidates[i] for i in keep]


def select_sentences(
    question_words: set[str],
    question_vec: np.ndarray,
    sources: list[Source],
    embed: Callable[[list[str]], np.ndarray],
    count: int,
) -> list[tuple[int, str]]:
    """(source n, sentence) pairs, in source order, best `count` by relevance."""
    candidates: list[tuple[int, int, str]] = []  # (source index, position, sentence)
    for si, source in enumerate(sources):
        for pos, sentence in enumerate(split_sentences(source.text)):
            candidates.append((si, pos, sentence))
    if not candidates:
        return []
    candidates = prefilter(question_words, candidates, MAX_CANDIDATES)
    vectors = embed([c[2] for c in candidates])
    sims = vectors @ question_vec
    # Earlier-ranked sources and earlier sentences of a section get a small edge:
    # the opening of the best section usually states the answer.
    scores = [
        float(sim) - 0.03 * si - 0.01 * min(pos, 5)
        for (si, pos, _), sim in zip(candidates, sims.tolist(), strict=True)
    ]
    order = sorted(range(len(candidates)), key=lambda i: scores[i], reverse=True)
    chosen: list[int] = []
    per_source: dict[int, int] = {}
    seen: set[str] = set()
    for i in order:
        si, _, sentence = candidates[i]
        key = sentence.lower()[:80]
        if per_source.get(si, 0) >= MAX_SENTENCES_PER_SOURCE or key in seen:
            continue
        chosen.append(i)
        per_source[si] = per_source.get(si, 0) + 1
        seen.add(key)
        if len(chosen) >= count:
            break
    chosen.sort(key=lambda i: (candidates[i][0], candidates[i][1]))
    return [(sources[candidates[i][0]].n, candidates[i][2]) for i in chosen]


def compose(picked: list[tuple[int, str]]) -> str:
    """Sentences joined, each closed by its citation marker."""
    parts = []
    for n, sentence in picked:
        sentence = sentence.rstrip()
        if sentence.endswith(("!", "?", "…", "。", "！", "？")):
            parts.append(f"{sentence} [{n}]")
        else:
            parts.append(f"{sentence.rstrip('.:;,')} [{n}].")
    return " ".join(parts)


class ExtractiveProvider:
    """Provider protocol implementation; needs only the embedding model."""

    name = "extractive"
    label = "extractive (offline, no LLM)"

    def __init__(self, embedder: Callable[[], Embedder]) -> None:
        self._embedder = embedder

    def answer_text(self, request: GenerationRequest) -> str:
        if not request.sources:
            return ""  # nothing to extract from: the caller declines or explains
        embedder = self._embedder()
        question = request.question
        embed: Callable[[list[str]], np.ndarray] = embedder.embed_passages
        if uses_keyword_evidence(question, embedder.name):
            # an English model cannot read CJK: score sentences by the question's words they hold
            def by_keywords(texts: list[str]) -> np.ndarray:
                return np.array([[keyword_relevance(question, t)] for t in texts], dtype=np.float32)

            embed, qvec = by_keywords, np.ones(1, dtype=np.float32)
        else:
            qvec = embedder.embed_query(question)
        count = SENTENCES_BY_LENGTH.get(request.length, SENTENCES_BY_LENGTH["medium"])
        picked = select_sentences(set(tokenize(question)), qvec, request.sources, embed, count)
        if not picked:  # sections of code or tables only: point at the best one
            best = request.sources[0]
            return f"The section “{best.section or best.title}” covers this [{best.n}]."
        return compose(picked)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str]:
        yield await asyncio.to_thread(self.answer_text, request)
