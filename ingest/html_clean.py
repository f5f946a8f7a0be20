"""A doc page's HTML to a `Page` of heading sections (pure, lxml).

What it keeps: the main content (`<main>`, `[role=main]`, `<article>`, common
content containers, else `<body>`), the title, headings h1-h4 with their ids
as section anchors and a heading path, paragraphs, lists as "- item" lines,
code blocks (fenced, whitespace intact), and tables as one "column: value; ..."
line per row. What it drops: navigation, sidebars, headers and footers,
breadcrumbs, on-page tables of contents, feedback widgets, cookie banners,
scripts and styles, hidden elements, heading self-links.

The citation URL is the page's `rel=canonical` when it has one. The
last-modified date comes from the page's metadata when present (`<meta>`,
`<time>`, a "last modified" line), else from the HTTP `Last-Modified` header.
Text is kept as Unicode: Korean and Japanese pages come through unchanged.
"""

from __future__ import annotations

import email.utils
import re
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from ingest.model import Page, Section

SECTION_TAGS = ("h1", "h2", "h3", "h4")
MINOR_HEADINGS = ("h5", "h6")
DROP_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object",
        "embed", "button", "input", "select", "textarea", "nav", "aside", "dialog",
        "link", "meta", "head",
    }
)  # fmt: skip
BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "blockquote", "dl", "dt",
        "dd", "figure", "figcaption", "details", "summary", "center", "address", "hr", "body",
        "ul", "ol", "table", "pre", "h5", "h6", "caption",
    }
)  # fmt: skip
# class/id words of page chrome. Matched as whole words within class/id tokens
# ("toc" matches "td-toc" and "toc-h2", not "stock").
_CHROME = re.compile(
    r"(?:^|[\s_-])(?:"
    r"nav|navbar|navigation|menu|sidebar|side-bar|breadcrumbs?|toc|tocs|"
    r"table-of-contents|tableofcontents|feedback|cookies?|consent|gdpr|footer|"
    r"skip-link|skiplink|share|social|edit-?page|page-meta|print-none|no-?print|"
    r"headerlink|anchor-?link|self-link|heading-link|announcement|banner|"
    r"pagination|pager|prev-next|related"
    r")(?:$|[\s_-])",
    re.IGNORECASE,
)
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
_CONTENT_HINTS = re.compile(
    r"(?:^|[\s_-])(?:td-content|main-content|content|article|markdown-body|rst-content|"
    r"document|post-content|entry-content|docs-content|page-content)(?:$|[\s_-])",
    re.IGNORECASE,
)
_LASTMOD_CLASS = re.compile(r"last-?mod|last-?updated|updated|modified", re.IGNORECASE)
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\b")
_PIPE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)+\|?\s*$", re.M)
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\[[^\]]*\]")
_WS = re.compile(r"[ \t\r\n\f\v\u00a0]+")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_TITLE_SEPARATORS = (" | ", " – ", " — ", " · ", " :: ", " - ")
_DATE_META = (
    "article:modified_time",
    "og:updated_time",
    "last-modified",
    "dcterms.modified",
    "dc.date.modified",
    "date",
    "dcterms.date",
    "article:published_time",
)


def decode_html(raw: bytes) -> str:
    """Bytes to text: BOM, then `<meta charset>`, then UTF-8 (never a lossy ASCII strip)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace")
    match = _META_CHARSET.search(raw[:4096])
    if match:
        try:
            return raw.decode(match.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    return raw.decode("utf-8", errors="replace")


def parse_html(html: str | bytes, url: str, *, last_modified: str = "") -> Page:
    """Clean one HTML document fetched from (or read at) `url` into a `Page`.

    `last_modified` is the fallback date (HTTP header or file time, any common format).
    """
    text = decode_html(html) if isinstance(html, bytes) else html
    text = _XML_DECL.sub("", text, count=1)  # lxml refuses str input with an encoding decl
    if not text.strip():
        return Page(url=url, title="", source=url, last_modified=normalize_date(last_modified))
    try:
        doc = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return Page(url=url, title="", source=url, last_modified=normalize_date(last_modified))

    base = url
    base_el = doc.find(".//base[@href]")
    if base_el is not None:
        base = urljoin(url, base_el.get("href", ""))
    canonical = _canonical(doc, base) or url
    head_title = _head_title(doc)
    language = (doc.get("lang") or doc.get("xml:lang") or "").strip()
    date = _meta_date(doc)

    root = _content_root(doc)
    if not date:
        date = _inline_date(root)
    _strip_chrome(root)

    builder = _SectionBuilder(head_title)
    builder.walk(root)
    sections, title = builder.finish()
    if not title:
        title = _url_title(canonical)
        for s in sections:
            if not s.heading_path or s.heading_path[0] == "":
                s.heading_path = [title] + s.heading_path[1:]
    return Page(
        url=canonical,
        title=title,
        sections=sections,
        source=url,
        last_modified=date or normalize_date(last_modified),
        language=language,
    )


# -- metadata ---------------------------------------------------------------------------


def normalize_date(value: str) -> str:
    """An ISO date (YYYY-MM-DD) from ISO 8601 or an HTTP date; '' when unknown."""
    value = (value or "").strip()
    if not value:
        return ""
    match = _DATE.search(value)
    if match:
        return match.group(1)
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return ""
    return parsed.date().isoformat()


def _canonical(doc: lxml.html.HtmlElement, base: str) -> str:
    for link in doc.iterfind(".//link[@href]"):
        rels = (link.get("rel") or "").lower().split()
        if "canonical" in rels:
            href = urljoin(base, link.get("href", "").strip())
            if urlsplit(href).scheme in ("http", "https"):
                return href
    return ""


def _head_title(doc: lxml.html.HtmlElement) -> str:
    for meta in doc.iterfind(".//meta[@property]"):
        if meta.get("property", "").lower() == "og:title" and meta.get("content", "").strip():
            return _WS.sub(" ", meta.get("content", "")).strip()
    title_el = doc.find(".//title")
    if title_el is None:
        return ""
    title = _WS.sub(" ", title_el.text_content()).strip()
    for sep in _TITLE_SEPARATORS:  # "Page | Site" -> "Page"
        if sep in title:
            return title.rsplit(sep, 1)[0].strip()
    return title


def _meta_date(doc: lxml.html.HtmlElement) -> str:
    found: dict[str, str] = {}
    for meta in doc.iterfind(".//meta[@content]"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key == "datemodified":
            key = "dcterms.modified"
        if key in _DATE_META and key not in found:
            found[key] = meta.get("content", "")
    for key in _DATE_META:
        if key in found and (date := normalize_date(found[key])):
            return date
    for el in doc.iterfind(".//*[@itemprop]"):
        if el.get("itemprop", "").lower() == "datemodified":
            if date := normalize_date(el.get("datetime") or el.get("content") or el.text_content()):
                return date
    return ""


def _inline_date(root: lxml.html.HtmlElement) -> str:
    """A "Last modified 2026-04-04" line or a `<time datetime>` inside the content."""
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        cls = f"{el.get('class', '')} {el.get('id', '')}"
        if cls.strip() and _LASTMOD_CLASS.search(cls):
            if date := normalize_date(el.get("datetime") or el.text_content()):
                return date
    for el in root.iterfind(".//time"):
        if date := normalize_date(el.get("datetime") or el.text_content()):
            return date
    return ""


def _url_title(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    return path.rsplit("/", 1)[-1] or urlsplit(url).netloc or url


# -- content root and chrome ------------------------------------------------------------


def _text_len(el: lxml.html.HtmlElement) -> int:
    return len(_WS.sub("", el.text_content()))


def _content_root(doc: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    body = doc.find(".//body")
    if body is None:
        body = doc
    mains = [el for el in body.iter("main")] or [
        el for el in body.iter() if isinstance(el.tag, str) and el.get("role") == "main"
    ]
    if mains:
        return max(mains, key=_text_len)
    articles = list(body.iter("article"))
    if articles:
        return max(articles, key=_text_len)
    hinted = [
        el
        for el in body.iter("div", "section")
        if _CONTENT_HINTS.search(f"{el.get('class', '')} {el.get('id', '')}")
    ]
    if hinted:
        best = max(hinted, key=_text_len)
        if _text_len(best) > 0.3 * _text_len(body):
            return best
    return body


def _is_chrome(el: lxml.html.HtmlElement) -> bool:
    tag = el.tag
    if tag in DROP_TAGS:
        return True
    if el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    style = el.get("style")
    if style and re.search(r"display\s*:\s*none|visibility\s*:\s*hidden", style, re.I):
        return True
    if el.get("role") in _CHROME_ROLES:
        return True
    if (el.get("aria-label") or "").lower() in ("breadcrumb", "breadcrumbs"):
        return True
    if tag in ("header", "footer"):
        # a header that holds the page's heading is content (<article><header><h1>)
        return tag == "footer" or el.find(".//h1") is None and el.find(".//h2") is None
    if _CHROME.search(el.get("class") or ""):
        return True
    # An id is only a hint: a heading's anchor is the slug of its text, so a section about
    # the product's own menu or cookies has a chrome-like id ("cookie-settings"). Keep an
    # id-bearing element inside a heading (<h2><a id>) and a Sphinx section wrapper
    # (<section id>/<div class="section" id> opened by its heading).
    if not _CHROME.search(el.get("id") or ""):
        return False
    return not (_in_heading(el) or _opens_with_heading(el))


def _in_heading(el: lxml.html.HtmlElement) -> bool:
    return any(a.tag in SECTION_TAGS for a in el.iterancestors())


def _opens_with_heading(el: lxml.html.HtmlElement) -> bool:
    if el.tag != "section" and not (
        el.tag == "div" and "section" in (el.get("class") or "").split()
    ):
        return False
    first = next((c for c in el if isinstance(c.tag, str)), None)
    return first is not None and first.tag in SECTION_TAGS


def _strip_chrome(root: lxml.html.HtmlElement) -> None:
    doomed = [
        el
        for el in root.iterdescendants()
        if isinstance(el.tag, str) and el.tag not in SECTION_TAGS and _is_chrome(el)
    ] + [el for el in root.iterdescendants() if not isinstance(el.tag, str)]  # comments, PIs
    for el in doomed:
        if el.getparent() is not None:
            el.drop_tree()  # keeps the tail text, which belongs to the parent


# -- walking the content into sections --------------------------------------------------


class _SectionBuilder:
    """Walks the content in document order, cutting a new section at each h1-h4."""

    def __init__(self, head_title: str) -> None:
        self.head_title = head_title
        self.title = ""
        self.sections: list[Section] = []
        self.stack: list[tuple[int, str]] = []  # (level, heading) below the title
        self.anchor = ""
        self.blocks: list[tuple[str, bool]] = []  # (text, is list item)
        self.inline: list[str] = []
        self.prefix = ""  # list marker for the next line
        self.list_depth = 0
        self.seen_h1 = False

    # text accumulation

    def add_inline(self, text: str | None) -> None:
        if text:
            self.inline.append(text)

    def end_line(self, tight: bool = False) -> None:
        raw = "".join(self.inline)
        self.inline = []
        if "|" in raw and _PIPE_SEPARATOR.search(raw):
            self._pipe_tables(raw)
            return
        line = _WS.sub(" ", raw).strip()
        if line:
            is_item = bool(self.prefix) or tight
            self.blocks.append((self.prefix + line, is_item))
            self.prefix = ""

    def _pipe_tables(self, raw: str) -> None:
        """Markdown pipe tables left unrendered in the HTML (it happens) as table rows."""
        lines = raw.split("\n")
        i = 0
        while i < len(lines):
            if (
                lines[i].strip().startswith("|")
                and i + 1 < len(lines)
                and _PIPE_SEPARATOR.match(lines[i + 1])
            ):
                j = i + 2
                while j < len(lines) and lines[j].strip().startswith("|"):
                    j += 1
                for row in pipe_table_rows(lines[i:j]):
                    self.blocks.append((row, True))
                i = j
                continue
            self.inline.append(lines[i] + "\n")
            if not lines[i].strip():
                self.end_line()
            i += 1
        self.end_line()

    def add_block(self, text: str, tight: bool = False) -> None:
        self.end_line()
        if text.strip():
            self.blocks.append((text, tight))

    # sections

    def flush(self) -> None:
        self.end_line()
        parts: list[str] = []
        prev_tight = False
        for text, tight in self.blocks:
            if parts:
                parts.append("\n" if tight and prev_tight else "\n\n")
            parts.append(text)
            prev_tight = tight
        body = "".join(parts).strip()
        self.blocks = []
        if body:
            path = [self.title or self.head_title] + [h for _, h in self.stack]
            self.sections.append(Section(anchor=self.anchor, heading_path=path, text=body))

    def heading(self, el: lxml.html.HtmlElement) -> None:
        level = int(el.tag[1])
        text = _WS.sub(" ", el.text_content()).strip().rstrip("¶#🔗").strip()
        anchor = _anchor_of(el)
        if not text:
            return
        if level == 1 and not self.seen_h1:
            # the page's h1 is its title; what follows it belongs to the top section
            self.seen_h1 = True
            self.flush()
            self.title = text
            self.stack = []
            self.anchor = anchor if self.sections else ""
            return
        self.flush()
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, text))
        self.anchor = anchor

    def finish(self) -> tuple[list[Section], str]:
        self.flush()
        title = self.title or self.head_title
        for s in self.sections:  # sections cut before the h1 was seen
            if s.heading_path and not s.heading_path[0]:
                s.heading_path[0] = title
        return self.sections, title

    # the walk

    def walk(self, el: lxml.html.HtmlElement) -> None:
        for child in el:
            self.visit(child)
            self.add_inline(child.tail)

    def visit(self, el: lxml.html.HtmlElement) -> None:
        tag = el.tag
        if not isinstance(tag, str):
            return
        if tag in SECTION_TAGS:
            self.heading(el)
            return
        if tag == "pre":
            self.add_block(_code_block(el))
            return
        if tag == "table":
            rows = table_rows(el)
            self.end_line()
            for row in rows:
                self.blocks.append((row, True))
            return
        if tag == "br":
            self.end_line()
            return
        if tag in ("ul", "ol"):
            self.end_line()
            self.list_depth += 1
            number = 0
            for child in el:
                if isinstance(child.tag, str) and child.tag == "li":
                    number += 1
                    self.end_line()
                    marker = f"{number}. " if tag == "ol" else "- "
                    self.prefix = "  " * (self.list_depth - 1) + marker
                    self.add_inline(child.text)
                    self.walk(child)
                    self.end_line(tight=True)
                else:
                    self.visit(child)
                self.add_inline(child.tail)
            self.list_depth -= 1
            self.end_line()
            return
        if tag == "code":
            inner = el.text_content()
            if inner.strip():
                self.add_inline(f"`{inner.strip()}`")
            return
        if tag == "img":
            alt = (el.get("alt") or "").strip()
            if alt:
                self.add_inline(f" {alt} ")
            return
        block = tag in BLOCK_TAGS or tag == "li"
        if block:
            self.end_line()
        if tag in MINOR_HEADINGS:
            self.add_inline("**")
        self.add_inline(el.text)
        self.walk(el)
        if tag in MINOR_HEADINGS:
            self.add_inline("**")
        if tag == "dt":
            self.add_inline(":")
        if block:
            self.end_line()


def _anchor_of(heading: lxml.html.HtmlElement) -> str:
    """The heading's id, else an id inside it (<a name>/<span id>), else its wrapping
    <section id> when the heading opens that section (Sphinx)."""
    if heading.get("id"):
        return heading.get("id", "")
    for el in heading.iterdescendants():
        if isinstance(el.tag, str) and (el.get("id") or (el.tag == "a" and el.get("name"))):
            return el.get("id") or el.get("name", "")
    parent = heading.getparent()
    if parent is not None and parent.get("id") and parent.tag in ("section", "div"):
        first = next((c for c in parent if isinstance(c.tag, str)), None)
        if first is heading:
            return parent.get("id", "")
    return ""


def _code_block(pre: lxml.html.HtmlElement) -> str:
    code = pre.text_content().strip("\n")
    lang = ""
    for el in [pre, *pre.iterdescendants("code")]:
        for cls in (el.get("class") or "").split():
            if cls.startswith(("language-", "lang-")):
                lang = cls.split("-", 1)[1]
                break
        if lang:
            break
    return f"```{lang}\n{code}\n```" if code.strip() else ""


def pipe_table_rows(lines: list[str]) -> list[str]:
    """Rows of a Markdown pipe table (header, separator, rows) as "Header: value; ..." lines."""

    def cells(line: str) -> list[str]:
        line = line.strip().removeprefix("|").removesuffix("|")
        return [
            _MD_LINK.sub(lambda m: m.group(1) or m.group(2) or "", c).strip()
            for c in line.split("|")
        ]

    headers = cells(lines[0])
    out = []
    for line in lines[2:]:
        values = cells(line)
        line_out = "; ".join(
            f"{h}: {v}" if h else v for h, v in zip(headers, values, strict=False) if v
        )
        if line_out:
            out.append(line_out)
    return out


def _cell_text(cell: lxml.html.HtmlElement) -> str:
    return _WS.sub(" ", cell.text_content()).strip()


def table_rows(table: lxml.html.HtmlElement) -> list[str]:
    """A table as readable lines: "Header: value; Header: value" per body row
    (cells joined with " | " when the table has no header row)."""
    rows = [
        r
        for r in table.iter("tr")
        if _nearest_table(r) is table  # not rows of a nested table
    ]
    headers: list[str] = []
    out: list[str] = []
    caption = table.find("caption")
    if caption is not None and _cell_text(caption):
        out.append(_cell_text(caption))
    for row in rows:
        cells = [c for c in row if isinstance(c.tag, str) and c.tag in ("td", "th")]
        if not cells:
            continue
        texts = [_cell_text(c) for c in cells]
        in_head = row.getparent() is not None and row.getparent().tag == "thead"
        if not headers and (in_head or all(c.tag == "th" for c in cells)):
            headers = texts
            continue
        if headers and len(headers) >= len(texts):
            pairs = [f"{h}: {v}" if h else v for h, v in zip(headers, texts, strict=False) if v]
            line = "; ".join(pairs)
        else:
            line = " | ".join(t for t in texts if t)
        if line:
            out.append(line)
    if not out and headers:
        out.append(" | ".join(headers))
    return out


def _nearest_table(el: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    parent = el.getparent()
    while parent is not None and parent.tag != "table":
        parent = parent.getparent()
    return parent
