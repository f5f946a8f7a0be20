"""Markdown pages to sections (pure).

Handles the front matter of static-site generators (YAML `---` or TOML `+++`),
Hugo shortcodes, fenced code blocks (a `#` inside a fence is not a heading) and
heading ids the way Hugo/GitHub derive them, so that a section's anchor matches
the `id` of the heading on the rendered site.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

from ingest.model import Page, Section

_FRONT_MATTER = re.compile(r"\A(?:---|\+\+\+)\s*\n(.*?)\n(?:---|\+\+\+)\s*(?:\n|\Z)", re.S)
_FM_FIELD = re.compile(
    r"^\s*(title|linkTitle|description|lastmod|date|draft)\s*[:=]\s*(.+?)\s*$", re.M
)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_CUSTOM_ID = re.compile(r"\s*\{#([^}]+)\}\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")  # a code fence line (also rag.chunking, rag.extractive)
_SHORTCODE = re.compile(r"\{\{[<%].*?[>%]\}\}", re.S)
_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)(?:\s+\"[^\"]*\")?\)")
_REF_LINK = re.compile(r"!?\[([^\]]+)\]\[([^\]]*)\]")  # [text][ref], [text][]
# A link reference definition line, `[ref]: url "title"`: not rendered on the site.
_LINK_DEF = re.compile(
    r"^ {0,3}\[([^\]]+)\]:\s*<?\S+>?(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*$"
)
# Lines after which a definition may follow (it cannot interrupt a paragraph): a closed
# HTML comment, a thematic break or setext underline (ATX headings are matched apart).
_PARAGRAPH_END = re.compile(r"-->\s*$|^ {0,3}(?:=+|-{3,}|\*{3,}|_{3,})\s*$")
_CODE_SPAN = re.compile(r"(`+).+?\1")  # inline code, within one line
_HELD = re.compile(r"\x00(\d+)\x00")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_MULTI_BLANK = re.compile(r"\n{3,}")
MAX_SECTION_LEVEL = 4  # h5/h6 carry no anchor on rendered docs sites
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def slugify(heading: str) -> str:
    """Heading text to an anchor id, as the docs site renders it.

    Lower-case; every run of characters that are not letters or digits (any
    script) becomes one '-'; no '-' at either end. `dsl.ExitHandler` ->
    `dsl-exithandler`, `packages_to_install` -> `packages-to-install`,
    `Standalone KFP - outside the cluster` -> `standalone-kfp-outside-the-cluster`.
    """
    text = _LINK.sub(r"\1", heading)
    text = unicodedata.normalize("NFC", text).lower()
    return _NON_WORD.sub("-", text).strip("-")


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    fields: dict[str, str] = {}
    for key, value in _FM_FIELD.findall(match.group(1)):
        fields.setdefault(key, value.strip().strip("'\""))
    return fields, text[match.end() :]


_TABLE_DELIM = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)+\|?\s*$")  # --- | :-:


def _table_lines(lines: list[str]) -> set[int]:
    """Indices of the lines of GFM tables: header, delimiter row and body rows, which
    need not start with '|' (`a | b` over `--- | ---`)."""
    rows: set[int] = set()
    for i in range(1, len(lines)):
        if "|" in lines[i - 1] and _TABLE_DELIM.match(lines[i]):
            end = i + 1
            while end < len(lines) and lines[end].strip() and "|" in lines[end]:
                end += 1
            rows.update(range(i - 1, end))
    return rows


_BLOCK_START = re.compile(r"^\s*(?:[-*+]\s|\d+[.)]\s|[|>]|#{1,6}\s|<|\{\{)")


def unwrap(lines: list[str]) -> list[str]:
    """Join soft-wrapped prose lines into one line per paragraph (or list item).

    Markdown sources are often hard-wrapped at ~80 columns; a line break inside a
    paragraph is not a sentence boundary. Code fences, tables, list starts,
    quotes and blank lines keep their own lines.
    """
    out: list[str] = []
    in_fence = False
    joinable = False  # whether the previous output line is prose that may continue
    table = _table_lines(lines)
    for i, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
            out.append(line)
            joinable = False
            continue
        if in_fence:
            out.append(line)
            continue
        stripped = line.strip()
        if not stripped:
            out.append("")
            joinable = False
        elif (
            joinable
            and i not in table
            and not _BLOCK_START.match(line)
            and not line.startswith("    ")
        ):
            out[-1] = out[-1].rstrip() + " " + stripped
        else:
            out.append(line.rstrip())
            joinable = i not in table and not stripped.startswith(("|", "<", "{{"))
    return out


def _label(text: str) -> str:
    """A link label as CommonMark matches them: case-folded, whitespace collapsed."""
    return " ".join(text.split()).casefold()


def _link_definitions(lines: list[str]) -> tuple[set[int], set[str]]:
    """The indices of the lines that are link reference definitions, and their labels.

    A definition cannot interrupt a paragraph: `[key]: value` right after a line of
    text is text, and the site shows it.
    """
    indices: set[int] = set()
    labels: set[str] = set()
    in_fence = False
    in_paragraph = False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
            in_paragraph = False
            continue
        if in_fence:
            continue
        match = _LINK_DEF.match(line)
        if match and match.group(1).strip() and not in_paragraph:
            indices.add(i)
            labels.add(_label(match.group(1)))
            continue
        in_paragraph = bool(
            line.strip() and not _HEADING.match(line) and not _PARAGRAPH_END.search(line)
        )
    return indices, labels


def clean_inline(text: str, labels: Collection[str] = ()) -> str:
    """Markdown/HTML inline noise removed, words and code kept.

    Inline code spans are kept as written: the site shows `<namespace>` in code
    literally, so it is a placeholder the reader needs, not an HTML tag. A reference
    link, `[text][ref]` or `[text][]`, is reduced to its text only when its label is
    among the page's `labels`; otherwise the site shows it as written (`a[0][1]`).
    """
    text = _SHORTCODE.sub("", text)
    held: list[str] = []

    def hold(match: re.Match[str]) -> str:
        held.append(match.group())
        return f"\x00{len(held) - 1}\x00"

    text = _CODE_SPAN.sub(hold, text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(
        lambda m: m.group(1) if _label(m.group(2) or m.group(1)) in labels else m.group(),
        text,
    )
    text = _HTML_TAG.sub("", text)
    return _HELD.sub(lambda m: held[int(m.group(1))], text)


def _clean_body(lines: list[str], labels: Collection[str] = ()) -> str:
    """`clean_inline` for prose; fenced code keeps its text (only shortcodes go, as Hugo
    expands them there too): `kubectl -n <ns>` or `x[0](y)` are code, not tags or links."""
    segments: list[tuple[bool, list[str]]] = []  # (is code, lines)
    in_fence = False
    for line in lines:
        fence_line = bool(FENCE.match(line))
        code = in_fence or fence_line
        if segments and segments[-1][0] == code:
            segments[-1][1].append(line)
        else:
            segments.append((code, [line]))
        if fence_line:
            in_fence = not in_fence
    return "\n".join(
        _SHORTCODE.sub("", "\n".join(block)) if code else clean_inline("\n".join(block), labels)
        for code, block in segments
    )


def parse_markdown(text: str, url: str, *, source: str = "", last_modified: str = "") -> Page:
    """Split a Markdown document into a `Page` of heading sections."""
    fields, body = _front_matter(text.replace("\r\n", "\n"))
    title = fields.get("title") or fields.get("linkTitle") or ""
    date = fields.get("lastmod") or fields.get("date") or last_modified
    sections: list[Section] = []
    path: list[tuple[int, str]] = []  # (level, heading) stack
    anchor = ""
    lines: list[str] = []
    in_fence = False
    source_lines = body.split("\n")
    definitions, labels = _link_definitions(source_lines)

    def flush() -> None:
        body_text = _MULTI_BLANK.sub("\n\n", _clean_body(unwrap(lines), labels)).strip()
        heading_path = [title] + [h for _, h in path] if title else [h for _, h in path]
        if body_text or path:
            sections.append(Section(anchor=anchor, heading_path=heading_path, text=body_text))

    for number, line in enumerate(source_lines):
        if FENCE.match(line):
            in_fence = not in_fence
            lines.append(line)
            continue
        if number in definitions:
            continue  # a link reference definition renders as nothing
        match = None if in_fence else _HEADING.match(line)
        if not match:
            lines.append(line)
            continue
        level, raw = len(match.group(1)), match.group(2)
        custom = _CUSTOM_ID.search(raw)
        heading = clean_inline(_CUSTOM_ID.sub("", raw), labels).strip()
        if level == 1 and not title and not sections and not lines and not path:
            title = heading  # a leading H1 is the page title
            continue
        if level > MAX_SECTION_LEVEL:
            lines.append(heading)  # minor headings stay inside their section, as on the site
            continue
        flush()
        lines = []
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, heading))
        # The site repeats an id when two headings slugify alike; so do we.
        anchor = custom.group(1) if custom else slugify(heading)
    flush()
    if not title:
        title = url.rstrip("/").rsplit("/", 1)[-1] or url
    description = fields.get("description", "")
    if description and sections and sections[0].anchor == "":
        sections[0].text = (description + "\n\n" + sections[0].text).strip()
    elif description:
        sections.insert(0, Section(anchor="", heading_path=[title], text=description))
    # Drop empty sections that only carried a heading with nothing under it and no children text.
    sections = [s for s in sections if s.text or s.anchor == ""] or sections
    sections = [s for s in sections if s.text]
    if fields.get("draft", "").lower() == "true":
        sections = []  # Hugo does not publish drafts: there is no page to cite
    return Page(
        url=url,
        title=title,
        sections=sections,
        source=source or url,
        last_modified=date[:10] if date else "",
    )


def parse_text(
    text: str, url: str, *, title: str = "", source: str = "", last_modified: str = ""
) -> Page:
    """A plain-text file: one section, paragraphs kept."""
    body = text.replace("\r\n", "\n").strip()
    if not title:
        first = body.split("\n", 1)[0].strip()
        title = first[:120] if first else url
    return Page(
        url=url,
        title=title,
        sections=[Section(anchor="", heading_path=[title], text=body)] if body else [],
        source=source or url,
        last_modified=last_modified,
    )
