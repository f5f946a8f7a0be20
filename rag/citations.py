"""After generation: `[n]` markers checked against the sources and renumbered.

Pure functions. Markers are renumbered 1..k in order of first use, numbers
that match no source are removed, and only cited sources become citations.
An answer that cites nothing while retrieval was weak becomes a decline, and
so does a model's own "the sources do not answer this" (`rag.prompt.NOT_COVERED`).
Markers inside code (fenced blocks, inline code) are left alone: `arr[0]` is
not a citation.
"""

from __future__ import annotations

import re

from bot.messages import t
from bot.types import Citation, link_target, section_label
from rag.generation import Source
from rag.prompt import NOT_COVERED

SNIPPET_CHARS = 240

# `[1]`, `[1, 2]`, `[1,2,3]`, a range `[1-3]`; not `[1](url)` (a Markdown link) nor `[[1]]`.
_ITEM = r"\d{1,3}(?:\s*[-–]\s*\d{1,3})?"
_MARKER = re.compile(rf"(?<!\[)\[({_ITEM}(?:\s*[,;]\s*{_ITEM})*)\](?![(\]])")
_RANGE = re.compile(r"(\d+)\s*[-–]\s*(\d+)")
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)
# Wrapping a model may put around the marker: "**NOT_IN_DOCS**", "`NOT_IN_DOCS`", quotes.
_WRAPPING = " \t\r\n*_`'\">"


def _opening(text: str) -> str:
    return text.lstrip(_WRAPPING)[: len(NOT_COVERED)].upper()


def says_not_covered(text: str) -> bool:
    """Whether a model's reply is its "the sources do not answer this" marker.

    Only at the start: a model that answers and then mentions the word has answered.
    """
    return _opening(text) == NOT_COVERED


def may_say_not_covered(text_so_far: str) -> bool:
    """Whether a streamed reply could still turn out to be the marker: hold it back until not.

    Once False it stays False as the reply grows: only its opening letters decide."""
    return NOT_COVERED.startswith(_opening(text_so_far))


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit * 0.6 else cut).rstrip(" ,;:") + "…"


NEAREST_PAGES = 3  # links under a near-miss decline


def nearest_links(sources: list[Source], limit: int = NEAREST_PAGES) -> str:
    """The best section of the first `limit` pages, as Markdown links (pure).

    Shown under a decline the offline answerer had to make on a near miss: it cannot tell
    whether these sections answer the question, so they are offered as pointers, not as
    an answer's sources. Brackets in labels are dropped and parentheses in addresses
    encoded, so that no link breaks."""
    links: list[str] = []
    pages: set[str] = set()
    for source in sources:
        page = source.url.split("#", 1)[0]
        if page in pages:
            continue
        pages.add(page)
        label = re.sub(r"[\[\]]", "", section_label(source.title, source.section) or source.url)
        links.append(
            f"[{label}]({link_target(source.url)})" if source.url.startswith("http") else label
        )
        if len(links) >= limit:
            break
    return " · ".join(links)


def _tidy(text: str) -> str:
    """Spaces left behind by removed markers: "word  ." -> "word.", doubled spaces."""
    text = re.sub(r"[ \t]+([.,;:!?)])", r"\1", text)
    text = re.sub(r"(\S)[ \t]{2,}", r"\1 ", text)
    return re.sub(r"[ \t]+\n", "\n", text)


def _renumber(segment: str, by_n: dict[int, Source], order: dict[int, int]) -> str:
    """Markers of one prose segment (no code in it) renumbered, tidied."""

    def replace(match: re.Match[str]) -> str:
        numbers: list[int] = []
        for raw in re.split(r"\s*[,;]\s*", match.group(1)):
            span = _RANGE.fullmatch(raw)
            if span is None:
                numbers.append(int(raw))
                continue
            first, last = int(span.group(1)), int(span.group(2))
            if not (first < last and first in by_n and last in by_n):
                return match.group(0)  # not a range of sources: `[0-9]` in prose is text
            # the model's numbers: left as written they would name other sources than the
            # renumbered citations do
            numbers.extend(range(first, last + 1))
        out = []
        for n in numbers:
            if n not in by_n:
                continue  # an invented number
            if n not in order:
                order[n] = len(order) + 1
            marker = f"[{order[n]}]"
            if marker not in out:
                out.append(marker)
        return "".join(out)

    return _tidy(_MARKER.sub(replace, segment))


def _map_markers(text: str, by_n: dict[int, Source]) -> tuple[str, dict[int, int]]:
    order: dict[int, int] = {}
    pieces: list[str] = []
    last = 0
    for code in _CODE.finditer(text):
        pieces.append(_renumber(text[last : code.start()], by_n, order))
        pieces.append(code.group(0))
        last = code.end()
    pieces.append(_renumber(text[last:], by_n, order))
    return "".join(pieces), order


def finalize(
    text: str,
    sources: list[Source],
    *,
    retrieval_weak: bool,
    use_docs: bool,
    language: str = "en",
) -> tuple[str, list[Citation], bool]:
    """(answer text, citations of the sources it uses, declined).

    - markers renumbered 1..k in order of first use; numbers matching no source removed;
    - without docs (`rag off`) every marker is removed and there are no citations;
    - an empty answer, or one that cites nothing while retrieval was weak, is declined;
    - so is a model's "the sources do not answer this" marker (`says_not_covered`).
    """
    if use_docs and says_not_covered(text):
        return t("decline", language), [], True
    if not text.strip():
        key = "decline" if use_docs and (retrieval_weak or not sources) else "empty"
        return t(key, language), [], True
    by_n = {s.n: s for s in sources} if use_docs else {}
    mapped, order = _map_markers(text, by_n)
    mapped = mapped.strip()
    if use_docs and not order and (retrieval_weak or not sources):
        return t("decline", language), [], True
    citations = [
        Citation(
            n=new,
            title=by_n[old].title,
            url=by_n[old].url,
            section=by_n[old].section,
            snippet=snippet(by_n[old].text),
            score=by_n[old].score,
            last_updated=by_n[old].last_updated,
        )
        for old, new in sorted(order.items(), key=lambda item: item[1])
    ]
    return mapped, citations, False
