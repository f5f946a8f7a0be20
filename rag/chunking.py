"""Pages to chunks that fit the embedding model's window (pure).

A chunk never crosses a section boundary. Long sections are split at paragraph,
then sentence, boundaries into windows of at most `max_tokens` tokens (measured
with the model's tokenizer when given), with a small overlap. A fenced code
block is one unit, blank lines inside it included; one longer than the window
is cut between lines into pieces that are each a complete fenced block, so no
chunk starts or ends inside code a reader (the extractive answerer, a language
model) would take for prose. Every chunk's embedded text starts with the page
title and heading path, so a chunk about "Installation" under "Katib" knows it
is about Katib.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bot.types import SECTION_SEP
from ingest.markdown import FENCE
from ingest.model import Page

_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n")
# Sections that only point elsewhere: their items are links, not answers.
_NAVIGATION = re.compile(
    r"^(next steps?|what'?s next|see also|further reading|learn more|more information|"
    r"related( (links|docs|documentation|topics|resources|pages))?|feedback)$",
    re.I,
)


def is_navigation(section: str) -> bool:
    """Whether a section (its heading path) only points elsewhere: "Next steps", "See also"."""
    return bool(_NAVIGATION.match(section.rsplit(SECTION_SEP, 1)[-1].strip()))


def fence_end(lines: list[str], start: int) -> int | None:
    """Index of the fence closing the block opened at `lines[start]`; None if it stays open."""
    return next((j for j in range(start + 1, len(lines)) if FENCE.match(lines[j])), None)


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate (WordPiece averages ~1.3 tokens per English word)."""
    words = len(text.split())
    cjk = sum(1 for ch in text if ord(ch) >= 0x2E80)
    return int(words * 1.3) + cjk


@dataclass
class Chunk:
    id: str
    page_url: str
    anchor: str
    title: str
    section: str  # heading path joined with SECTION_SEP, title first
    text: str  # the body of this piece of the section
    embed_text: str  # what gets embedded: header + body
    last_updated: str = ""
    language: str = ""

    @property
    def url(self) -> str:
        return f"{self.page_url}#{self.anchor}" if self.anchor else self.page_url

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.embed_text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Chunk:
        return cls(**{k: obj.get(k, "") for k in cls.__dataclass_fields__})


def _split_units(text: str) -> list[str]:
    """Paragraphs; a fenced code block is one unit, blank lines inside it included.

    A fence left open (the page ended inside code) runs to the end of the text.
    """
    units: list[str] = []
    para: list[str] = []
    lines = text.splitlines()

    def flush() -> None:
        joined = "\n".join(para).strip()
        if joined:
            units.append(joined)
        para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if FENCE.match(line):
            flush()
            end = fence_end(lines, i)
            stop = end if end is not None else len(lines) - 1
            block = lines[i : stop + 1]
            if end is None:
                block.append(line.strip()[:3])
            units.append("\n".join(block).strip("\n"))
            i = stop + 1
            continue
        if line.strip():
            para.append(line)
        else:
            flush()
        i += 1
    flush()
    return units


def _cut_chars(word: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """One word over `budget` (a base64 blob, a signed URL) cut into consecutive pieces
    within it: each the longest prefix of what is left that the counter accepts."""
    pieces: list[str] = []
    while word:
        lo, hi = 1, len(word)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(word[:mid]) <= budget:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(word[:lo])
        word = word[lo:]
    return pieces


def _cut_words(text: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """Text with no line or sentence break to cut at, cut by words into pieces within
    `budget`: ~1.5 tokens a word to start, fewer words while the counter disagrees
    (URLs and identifiers run to many tokens a word); a word over budget on its own
    is cut by characters."""
    words = text.split()
    pieces: list[str] = []
    start = 0
    while start < len(words):
        take = max(1, int(budget / 1.5))
        piece = " ".join(words[start : start + take])
        while take > 1 and (n := count(piece)) > budget:
            take = max(1, min(take - 1, take * budget // n))
            piece = " ".join(words[start : start + take])
        if take == 1 and count(piece) > budget:
            pieces.extend(_cut_chars(piece, budget, count))
        else:
            pieces.append(piece)
        start += take
    return pieces


def _code_pieces(block: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """A fenced block over `budget` as consecutive fenced blocks within it, cut between
    lines; a single line too long for one (a minified blob) is cut by words."""
    lines = block.split("\n")
    opening, closing = lines[0].strip(), lines[-1].strip()
    frame = count(f"{opening}\n{closing}")
    room = max(1, budget - frame - 1)
    body: list[str] = []
    for line in lines[1:-1]:
        if count(line) <= room:
            body.append(line)
        else:
            body.extend(_cut_words(line, room, count))
    pieces: list[str] = []
    current: list[str] = []
    size = frame
    for line in body:
        n = count(line) + 1
        if current and size + n > budget:
            pieces.append("\n".join([opening, *current, closing]))
            current, size = [], frame
        current.append(line)
        size += n
    if current:
        pieces.append("\n".join([opening, *current, closing]))
    return pieces


def _windows(units: list[str], budget: int, overlap: int, count: Callable[[str], int]) -> list[str]:
    pieces: list[str] = []
    for unit in units:
        if count(unit) <= budget:
            pieces.append(unit)
            continue
        if FENCE.match(unit):
            pieces.extend(_code_pieces(unit, budget, count))
            continue
        sentences = [
            s
            for line in unit.split("\n")
            # a table row (any line with a '|') is not cut at a sentence end: its cells
            # belong together; only a row over budget on its own is cut, by words
            for s in ([line] if "|" in line else _SENTENCE.split(line))
            if s.strip()
        ]
        for sentence in sentences:
            if count(sentence) <= budget:
                pieces.append(sentence)
            else:  # one enormous line (a table row, a minified blob): cut by words
                pieces.extend(_cut_words(sentence, budget, count))
    windows: list[str] = []
    current: list[str] = []
    size = 0
    for piece in pieces:
        n = count(piece)
        if current and size + n > budget:
            windows.append("\n\n".join(current))
            # carry the tail of the previous window as overlap
            tail: list[str] = []
            tail_size = 0
            for prev in reversed(current):
                t = count(prev)
                if tail_size + t > overlap:
                    break
                tail.insert(0, prev)
                tail_size += t
            # the overlap gives way to the next piece: a window over budget is truncated
            # by the encoder, and its end is then not searchable
            while tail and tail_size + n > budget:
                tail_size -= count(tail.pop(0))
            current, size = tail, tail_size
        current.append(piece)
        size += n
    if current:
        windows.append("\n\n".join(current))
    return windows


def chunk_page(
    page: Page,
    *,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
    count_tokens: Callable[[str], int] = approx_tokens,
) -> list[Chunk]:
    chunks: list[Chunk] = []
    for position, section in enumerate(page.sections):
        path = section.heading_path or [page.title]
        if path[0] != page.title:
            path = [page.title, *path]
        section_name = SECTION_SEP.join(path)
        header = section_name + "\n"
        budget = max(32, max_tokens - count_tokens(header) - 2)  # 2: [CLS]/[SEP]
        for i, body in enumerate(
            _windows(_split_units(section.text), budget, overlap_tokens, count_tokens)
        ):
            embed_text = header + body
            ident = hashlib.sha1(
                f"{page.url}\0{section.anchor}\0{position}\0{i}\0{embed_text}".encode()
            ).hexdigest()[:20]
            chunks.append(
                Chunk(
                    id=ident,
                    page_url=page.url,
                    anchor=section.anchor,
                    title=page.title,
                    section=section_name,
                    text=body,
                    embed_text=embed_text,
                    last_updated=page.last_modified,
                    language=page.language,
                )
            )
    return chunks


def chunk_pages(pages: list[Page], **kwargs: Any) -> list[Chunk]:
    out: list[Chunk] = []
    for page in pages:
        out.extend(chunk_page(page, **kwargs))
    return out
