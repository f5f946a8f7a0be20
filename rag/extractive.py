"""The offline answerer: the most relevant sentences of the top sources, cited.

No LLM. Sentences of the numbered sources are scored by cosine similarity to
the question (the same embedding model as retrieval), plus the share of the
question's words they contain, weighted by how rare each word is in the docs
(`term_share`), mixed with the source's own rank so the best section leads. The
best few are returned in source order, each followed by its `[n]` marker. It is
the offline default and the last fallback of the model router.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np

from ingest.markdown import FENCE
from rag.chunking import fence_end, is_navigation
from rag.embeddings import Embedder
from rag.generation import GenerationRequest, Source
from rag.multilingual import keyword_relevance, uses_keyword_evidence
from rag.tokenize import tokenize

SENTENCES_BY_LENGTH = {"short": 2, "medium": 3, "long": 5}
# How many picked sentences may bring the list, code or table they introduce.
DETAILS_BY_LENGTH = {"short": 1, "medium": 2, "long": 3}
MAX_SENTENCES_PER_SOURCE = 3
MIN_SENTENCE_CHARS = 25
MAX_SENTENCE_CHARS = 400
MIN_LEAD_CHARS = 60  # a shorter lead-in is joined to the sentence before it
MAX_CANDIDATES = 24  # sentences embedded per answer, pre-selected by shared words
MAX_DETAIL_LINES = 12  # of a list, code block or table a sentence introduces
MAX_DETAIL_CHARS = 700
DETAIL_SCORED_CHARS = 200  # of the detail, embedded with its lead-in sentence
_SPLIT = re.compile(r"(?<=[.!?。！？])\s+(?=[^a-z])")
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s+")
# A table row as the page cleaner flattens it: "Variable: DB_USER; Default Value: root".
_FLAT_ROW = re.compile(r"^[^:;]{1,40}: [^;]*(; [^:;]{1,40}: [^;]*)+$")
# Sentences about the page rather than the subject: "Follow this guide to…", "This page shows…".
_ABOUT_THE_PAGE = re.compile(
    r"^(follow|see|learn|read|refer|check out|visit|click|how to|an? overview|overview|"
    r"this (page|guide|section|document|doc|tutorial|sub-?section|diagram))\b",
    re.I,
)
ABOUT_THE_PAGE_PENALTY = 0.1
# Weight of `term_share` next to the cosine. The cosine alone favours sentences *about*
# the topic; the one that answers often repeats the question's rare words ("createpvc",
# "port-forward"). Kept small on purpose: on nineteen seen sets answer fact coverage rose
# with the weight (0 -> 0.3 / 1.0: 0.456 -> 0.471 / 0.494), but on three sets first run
# after it was chosen (held-out 17-19) 1.0 quoted more facts for 7 questions and fewer for
# 10 (facts 89 -> 86 of 217), 0.3 more for 5 and fewer for 3 (89 -> 92); see
# docs/benchmarks.md, "First landing of 2026-12-04".
QUESTION_TERMS_WEIGHT = 0.3
# A one-line paragraph this short with no sentence end is an image's alt text, a caption or
# the page's description line ("Trials view with early stopping"), not a statement.
CAPTION_MAX_WORDS = 12
_SENTENCE_END = (".", "!", "?", ":", ";", "…", ")", '"', "'", "`", "。", "！", "？")
# Leading Markdown that is no part of a sentence: heading marks, a quote, a table pipe, a "* "
# bullet; never the "*" or "**" that opens emphasis ("**Slack:** type /docbot help").
_NOISE = re.compile(r"^\s*(#+|>|\||\*(?=\s))\s*")


@dataclass(frozen=True)
class Block:
    """A run of a section's text: "prose", "list", "code" (fenced, as written) or "rows"."""

    kind: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Passage:
    """A prose sentence, with the list, code or table it introduces (its `detail`)."""

    sentence: str
    detail: str = ""


def _line_kind(line: str) -> str:
    if _LIST_ITEM.match(line):
        return "list"
    if ("|" in line and line.count("|") >= 2) or _FLAT_ROW.match(line.strip()):
        return "rows"
    return "prose"


def split_blocks(text: str) -> list[Block]:
    """A section's text as blocks. A fence left open (a chunk of an older index) runs to the end.

    Blank lines end prose paragraphs but not lists or tables, whose items the
    page cleaner often separates by blank lines.
    """
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if FENCE.match(line):
            end = fence_end(lines, i)
            body = lines[i + 1 : end if end is not None else len(lines)]
            blocks.append(Block("code", (line.strip(), *body)))
            i = (end if end is not None else len(lines)) + 1
            continue
        kind = _line_kind(line)
        run = [line]
        i += 1
        while i < len(lines) and not FENCE.match(lines[i]):
            nxt = lines[i]
            if not nxt.strip():
                if kind == "prose":
                    break
                ahead = next((x for x in lines[i + 1 :] if x.strip()), "")
                if FENCE.match(ahead) or _line_kind(ahead) != kind:
                    break
                i += 1
                continue
            nxt_kind = _line_kind(nxt)
            # an indented line continues a list item; any other change of kind ends the run
            if nxt_kind != kind and not (kind == "list" and nxt.startswith((" ", "\t"))):
                break
            run.append(nxt)
            i += 1
        blocks.append(Block(kind, tuple(run)))
    return blocks


def render_detail(block: Block) -> str:
    """A list, code block or table as Markdown, cut to MAX_DETAIL_LINES / MAX_DETAIL_CHARS."""
    if block.kind == "code":
        fence, body = block.lines[0], list(block.lines[1:])
        while body and not body[-1].strip():
            body.pop()
        kept = _fit(body)
        if len(kept) < len(body):
            kept.append("…")
        return "\n".join([fence, *kept, "```"])
    items = [ln.strip() if block.kind == "list" else f"- {ln.strip()}" for ln in block.lines]
    if block.kind == "rows":
        items = [i for i in items if not set(i) <= set("-|: ")]  # drop |---|---| rules
    kept = _fit(items)
    if len(kept) < len(items):
        kept.append("- …")
    return "\n".join(kept)


def _fit(lines: list[str]) -> list[str]:
    kept: list[str] = []
    size = 0
    for line in lines[:MAX_DETAIL_LINES]:
        size += len(line) + 1
        if kept and size > MAX_DETAIL_CHARS:
            break
        kept.append(line)
    return kept


def _clean(raw: str) -> str:
    sentence = _NOISE.sub("", _LIST_ITEM.sub("", raw)).strip()
    if len(sentence) > MAX_SENTENCE_CHARS:
        sentence = sentence[:MAX_SENTENCE_CHARS].rsplit(" ", 1)[0] + "…"
    return sentence


def is_caption(block: Block) -> bool:
    """A lone short line with no sentence end: alt text, a caption, a description line."""
    if block.kind != "prose" or len(block.lines) != 1:
        return False
    line = block.lines[0].strip()
    return not line.endswith(_SENTENCE_END) and len(line.split()) <= CAPTION_MAX_WORDS


def split_passages(text: str) -> list[Passage]:
    """Prose sentences and list items of a section, in order; code and tables are left
    out, except as the detail of the sentence that introduces them, and so are captions
    (`is_caption`).

    A paragraph's closing sentence that ends in ":" right before a list, code
    block or table is its lead-in; a short lead-in ("For that, port-forward the
    service:", "Example:") is joined to the sentence before it, which it refers to.
    """
    blocks = split_blocks(text)
    out: list[Passage] = []
    for b, block in enumerate(blocks):
        if block.kind == "code" or is_caption(block):
            continue
        if block.kind in ("list", "rows"):
            # a flattened table row reads as a sentence ("Dependency: Istio; Version: 1.16");
            # a Markdown one ("| a | b |") does not
            raws = [ln for ln in block.lines if ln.count("|") < 2]
        else:
            raws = _SPLIT.split(" ".join(ln.strip() for ln in block.lines))
        sentences = [_clean(raw) for raw in raws]
        introduces = (
            block.kind == "prose"
            and sentences[-1].endswith(":")
            and b + 1 < len(blocks)
            and blocks[b + 1].kind != "prose"
        )
        for r, sentence in enumerate(sentences):
            if introduces and r == len(sentences) - 1:
                if len(sentence) < MIN_LEAD_CHARS and r > 0:
                    sentence = f"{sentences[r - 1]} {sentence}"
                out.append(Passage(sentence, render_detail(blocks[b + 1])))
            elif len(sentence) >= MIN_SENTENCE_CHARS and sentence.count("|") < 2:
                out.append(Passage(sentence))
    return out


def split_sentences(text: str) -> list[str]:
    """Prose sentences of a section; code blocks and table rows are left out."""
    return [p.sentence for p in split_passages(text)]


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


def term_share(
    question_words: set[str], text_words: set[str], weight: Callable[[str], float]
) -> float:
    """The share of the question words' weight (0..1) that a passage's words hold."""
    total = sum(weight(w) for w in question_words)
    if total <= 0:
        return 0.0
    return sum(weight(w) for w in question_words & text_words) / total


def _flat(_word: str) -> float:
    return 1.0


def _scored_text(p: Passage) -> str:
    """What a passage is judged by: a lead-in sentence together with the start of its detail."""
    return f"{p.sentence} {p.detail[:DETAIL_SCORED_CHARS]}" if p.detail else p.sentence


def select_passages(
    question_words: set[str],
    question_vec: np.ndarray,
    sources: list[Source],
    embed: Callable[[list[str]], np.ndarray],
    count: int,
    details: int = 0,
    term_weight: Callable[[str], float] | None = None,
) -> list[tuple[int, Passage]]:
    """(source n, passage) pairs, in source order, best `count` by relevance.

    Relevance is the cosine plus `QUESTION_TERMS_WEIGHT` times `term_share`, the
    question's words weighted by `term_weight` (the index's IDF; every word alike
    without one), less a little per source rank and sentence position.

    Sections that only point elsewhere (`is_navigation`) are skipped. At most
    `details` lead-ins are picked, each with its detail; a lead-in
    beyond that is skipped, as is any sentence ending in ":" that has nothing
    to introduce (it would promise a list the answer doesn't show). A passage
    already shown inside another (a list item of a picked list, the sentence a
    short lead-in was joined to) is not shown twice.
    """
    passages: list[Passage] = []
    candidates: list[tuple[int, int, str]] = []  # (source index, passage index, scored text)
    for si, source in enumerate(sources):
        if is_navigation(source.section):
            continue
        for passage in split_passages(source.text):
            if passage.sentence.endswith(":") and not passage.detail:
                continue
            candidates.append((si, len(passages), _scored_text(passage)))
            passages.append(passage)
    if not candidates:
        return []
    candidates = prefilter(question_words, candidates, MAX_CANDIDATES)
    vectors = embed([c[2] for c in candidates])
    sims = vectors @ question_vec
    # Earlier-ranked sources and earlier sentences of a section get a small edge:
    # the opening of the best section usually states the answer.
    first: dict[int, int] = {}
    for si, pi, _ in candidates:
        first.setdefault(si, pi)
    weight = term_weight or _flat
    scores = [
        float(sim)
        + QUESTION_TERMS_WEIGHT * term_share(question_words, set(tokenize(text)), weight)
        - 0.03 * si
        - 0.01 * min(pi - first[si], 5)
        - (ABOUT_THE_PAGE_PENALTY if _ABOUT_THE_PAGE.match(passages[pi].sentence) else 0.0)
        for (si, pi, text), sim in zip(candidates, sims.tolist(), strict=True)
    ]
    source_of = {pi: si for si, pi, _ in candidates}
    chosen: dict[int, Passage] = {}  # passage index -> passage
    for i in sorted(range(len(candidates)), key=lambda i: scores[i], reverse=True):
        si, pi, _ = candidates[i]
        passage = passages[pi]
        if passage.detail:
            if details <= 0:
                continue
        shown = [f"{p.sentence}\n{p.detail}" for p in chosen.values()]
        if any(passage.sentence in text for text in shown):
            continue
        if sum(1 for c in chosen if source_of[c] == si) >= MAX_SENTENCES_PER_SOURCE:
            continue
        if passage.detail:
            details -= 1
            whole = f"{passage.sentence}\n{passage.detail}"
            for c in [c for c, p in chosen.items() if p.sentence in whole]:
                del chosen[c]  # now part of this passage
        chosen[pi] = passage
        if len(chosen) >= count:
            break
    return [(sources[source_of[pi]].n, chosen[pi]) for pi in sorted(chosen)]


def select_sentences(
    question_words: set[str],
    question_vec: np.ndarray,
    sources: list[Source],
    embed: Callable[[list[str]], np.ndarray],
    count: int,
) -> list[tuple[int, str]]:
    """(source n, sentence) pairs, in source order, best `count` by relevance."""
    picked = select_passages(question_words, question_vec, sources, embed, count)
    return [(n, p.sentence) for n, p in picked]


# Markdown a docs site left unrendered, shown as it reads: "[compiled][compile]" is a
# reference-style link, "--- ##### " a rule and heading marks glued before a sentence.
# Never after a name or inside inline code: `m[0][1]` indexes, it links nothing.
_REFERENCE_LINK = re.compile(r"(?<![\w\]\[])\[([^\[\]\n]*)\]\[[\w-]+\]")
_LEADING_RULE = re.compile(r"^\s*-{3,}\s*(#{1,6}\s+)?")


def _readable(sentence: str) -> str:
    """A quoted sentence without raw Markdown syntax; only what is shown, not what is scored."""

    def label(m: re.Match[str]) -> str:
        in_code = sentence.count("`", 0, m.start()) % 2 == 1
        return m.group(0) if in_code else m.group(1)

    return _LEADING_RULE.sub("", _REFERENCE_LINK.sub(label, sentence))


# Code the page cleaner flattened onto its fence lines: "```shell epoch 1: loss=0.3" opens
# a block with code on the fence line, "epoch 2: loss=0.1 ```" closes it after code.
_FENCE_WITH_CODE = re.compile(r"^([ \t]*)(```+|~~~+)([\w+#.-]*)[ \t]+(\S.*)$")
_CLOSED_AFTER_CODE = re.compile(r"^(.*\S)[ \t]*(?:```+|~~~+)[ \t]*$")


def _code_detail(detail: str) -> str:
    """A code detail whose first line holds code as a block with the code inside it, cut at
    the fence that closes it on a code line (what follows it there is no code). Shown, not
    scored: Markdown reads text on an opening fence line as its info string and hides it."""
    lines = detail.split("\n")
    opened = _FENCE_WITH_CODE.match(lines[0])
    if opened is None or len(lines) < 2 or not FENCE.match(lines[-1]):
        return detail
    indent, fence, lang, code = opened.groups()
    body = [code, *lines[1:-1]]
    for i, line in enumerate(body):
        closed = _CLOSED_AFTER_CODE.match(line)
        if closed:
            body = [*body[:i], closed.group(1)]
            break
    return "\n".join([f"{indent}{fence}{lang}", *body, lines[-1]])


def _cited(sentence: str, n: int, introduces: bool = False) -> str:
    sentence = _readable(sentence).rstrip()
    if introduces:
        return f"{sentence.rstrip(':').rstrip()} [{n}]:"
    if sentence.endswith(("!", "?", "…", "。", "！", "？")):
        return f"{sentence} [{n}]"
    return f"{sentence.rstrip('.:;,')} [{n}]."


def compose(picked: list[tuple[int, str]] | list[tuple[int, Passage]]) -> str:
    """Sentences joined, each closed by its citation marker; a detail follows its
    sentence as a paragraph of its own."""
    paragraphs: list[str] = []
    line: list[str] = []
    for n, item in picked:
        passage = item if isinstance(item, Passage) else Passage(item)
        line.append(_cited(passage.sentence, n, bool(passage.detail)))
        if passage.detail:
            paragraphs.append(" ".join(line) + "\n" + _code_detail(passage.detail))
            line = []
    if line:
        paragraphs.append(" ".join(line))
    return "\n\n".join(paragraphs)


class ExtractiveProvider:
    """Provider protocol implementation; needs only the embedding model."""

    name = "extractive"
    label = "extractive (offline, no LLM)"

    def __init__(
        self,
        embedder: Callable[[], Embedder],
        term_weight: Callable[[str], float] | None = None,
    ) -> None:
        self._embedder = embedder
        self._term_weight = term_weight  # a word's weight in the docs (IDF); flat without

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
        details = DETAILS_BY_LENGTH.get(request.length, DETAILS_BY_LENGTH["medium"])
        words = set(tokenize(question))
        picked = select_passages(
            words, qvec, request.sources, embed, count, details, self._term_weight
        )
        if not picked:  # sections of code or tables only: point at the best one
            best = request.sources[0]
            return f"The section “{best.section or best.title}” covers this [{best.n}]."
        return compose(picked)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str]:
        yield await asyncio.to_thread(self.answer_text, request)
