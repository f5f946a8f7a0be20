"""Where the doc pages come from: a links file, a sitemap, a crawl, or a local folder.

`SourceSpec` names a source; the pure parsers here turn a links file or a
sitemap into URLs, and `extract_links` finds the links on a page for a crawl.
The async `list_urls` resolves links files and sitemaps (fetching them through
the scrape's `Fetcher`); `crawl` walks from a start URL, limited to a path
prefix and a depth, and hands back the fetch results it made on the way so no
page is fetched twice.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree

from ingest.fetch import Fetcher, FetchResult, redact_url

log = logging.getLogger(__name__)

Kind = Literal["links", "sitemap", "crawl", "path"]
KINDS: tuple[str, ...] = ("links", "sitemap", "crawl", "path")
DEFAULT_LINKS_FILE = Path(__file__).resolve().parent / "sources" / "cml_docs.txt"
MAX_SITEMAPS = 500  # a sitemap index fan-out bound
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit, uncompressed
MAX_URLS = 50_000
# Links a crawl never follows: not documents.
_SKIP_EXTENSIONS = re.compile(
    r"\.(?:png|jpe?g|gif|svg|webp|ico|bmp|pdf|zip|gz|tgz|tar|whl|exe|dmg|mp4|mp3|webm|"
    r"woff2?|ttf|eot|css|js|json|xml|rss|atom|ics|csv|ipynb)$",
    re.IGNORECASE,
)


class SourceError(ValueError):
    """The source cannot be read (missing file, sitemap unreachable...). Clear message, no trace."""


@dataclass(frozen=True)
class SourceSpec:
    kind: Kind
    value: str
    prefix: str = ""  # crawl: only follow URLs starting with this (default: the start URL's folder)
    depth: int = 2  # crawl: link hops from the start URL
    base_url: str = ""  # path: the URL the folder is published under (citation links)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SourceError(f"unknown source kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if not self.value.strip():
            raise SourceError(f"empty {self.kind} source")
        if self.depth < 0:
            raise SourceError("crawl depth must be 0 or more")
        if self.base_url:
            if self.kind != "path":
                raise SourceError("a base URL applies to a local folder (path) source only")
            if not _is_http(self.base_url):
                raise SourceError(
                    f"the base URL must be an http(s) URL, not {redact_url(self.base_url)!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """For logs and chat (credentials in the URL masked)."""
        value = redact_url(self.value) if _is_http(self.value) else self.value
        if self.kind == "crawl":
            prefix = redact_url(self.crawl_prefix())
            return f"crawl {value} (prefix {prefix}, depth {self.depth})"
        if self.base_url:
            return f"{self.kind} {value} (published at {redact_url(self.base_url)})"
        return f"{self.kind} {value}"

    def crawl_prefix(self) -> str:
        if self.prefix:
            return urljoin(self.value, self.prefix)
        parts = urlsplit(self.value)
        folder = parts.path if parts.path.endswith("/") else parts.path.rsplit("/", 1)[0] + "/"
        return urlunsplit((parts.scheme, parts.netloc, folder, "", ""))

    @classmethod
    def parse(cls, text: str, *, prefix: str = "", depth: int = 2) -> SourceSpec:
        """A spec from one string, as in DOCBOT_INGEST_SOURCE: `kind:value` explicitly
        (`crawl:https://docs.example.com/ml/`), or guessed: a folder is a path, an
        `.xml`/sitemap URL or file is a sitemap, any other file or `.txt` URL a links
        file, any other http(s) URL a crawl start."""
        text = text.strip()
        if not text:
            raise SourceError("no ingest source given")
        kind, sep, rest = text.partition(":")
        if sep and kind in KINDS and not rest.startswith("//"):
            return cls(kind, rest.strip(), prefix, depth)  # type: ignore[arg-type]
        lowered = text.lower().split("?", 1)[0]
        if lowered.startswith(("http://", "https://")):
            if lowered.endswith((".xml", ".xml.gz")) or "sitemap" in lowered.rsplit("/", 1)[-1]:
                return cls("sitemap", text, prefix, depth)
            if lowered.endswith(".txt"):
                return cls("links", text, prefix, depth)
            return cls("crawl", text, prefix, depth)
        path = Path(text).expanduser()
        if path.is_dir():
            return cls("path", text, prefix, depth)
        if lowered.endswith((".xml", ".xml.gz")):
            return cls("sitemap", text, prefix, depth)
        return cls("links", text, prefix, depth)


def default_source(settings_source: str = "", base_url: str = "") -> SourceSpec:
    """The configured source, else the shipped CML docs links file. `base_url`
    (DOCBOT_INGEST_BASE_URL) is where a folder source is published, for citations;
    it is ignored for web sources, which carry their own URLs."""
    if not settings_source:
        return SourceSpec("links", str(DEFAULT_LINKS_FILE))
    spec = SourceSpec.parse(settings_source)
    return replace(spec, base_url=base_url) if base_url and spec.kind == "path" else spec


# -- pure parsers -----------------------------------------------------------------------


def normalize_url(url: str) -> str:
    """Fragment dropped, scheme and host lower-cased; path and query as they are."""
    url, _ = urldefrag(url.strip())
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, "")
    )


def _is_http(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https") and bool(urlsplit(url).netloc)


def parse_links(text: str, base_url: str = "") -> list[str]:
    """The lab's `html_links.txt` format: one URL a line, `#` starts a comment, blank
    lines ignored. Relative lines resolve against `base_url`. Order kept, duplicates
    and non-http lines dropped (with a warning)."""
    out: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        url = urljoin(base_url, line) if base_url else line
        if not _is_http(url):
            log.warning("links file line %d is not an http(s) URL, skipped: %r", number, line[:200])
            continue
        url = normalize_url(url)
        if url not in seen:
            seen.add(url)
            out.append(url)
    return out


def _xml_root(data: bytes) -> etree._Element:
    if data[:2] == b"\x1f\x8b":  # sitemap.xml.gz
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            data = fh.read(MAX_SITEMAP_BYTES + 1)
        if len(data) > MAX_SITEMAP_BYTES:
            raise SourceError("sitemap larger than 50 MB uncompressed")
    # no entities, no network, no huge trees: a sitemap is untrusted input
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)
    root = etree.fromstring(data, parser=parser)
    if root is None:
        raise SourceError("sitemap is not XML")
    return root


@dataclass
class Sitemap:
    urls: list[str] = field(default_factory=list)
    lastmod: dict[str, str] = field(default_factory=dict)
    sitemaps: list[str] = field(default_factory=list)  # children, for a sitemap index


def parse_sitemap(data: bytes, base_url: str = "") -> Sitemap:
    """A sitemap (`<urlset>`) or sitemap index (`<sitemapindex>`), any namespace."""
    try:
        root = _xml_root(data)
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"sitemap is not valid XML: {exc}") from None
    out = Sitemap()
    tag = etree.QName(root).localname.lower()
    for entry in root:
        if not isinstance(entry.tag, str):
            continue
        loc = lastmod = ""
        for child in entry:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname.lower()
            if name == "loc":
                loc = (child.text or "").strip()
            elif name == "lastmod":
                lastmod = (child.text or "").strip()
        if not loc:
            continue
        url = urljoin(base_url, loc) if base_url else loc
        if not _is_http(url):
            continue
        url = normalize_url(url)
        if tag == "sitemapindex":
            out.sitemaps.append(url)
        else:
            out.urls.append(url)
            if lastmod:
                out.lastmod[url] = lastmod
    return out


def extract_links(html: str | bytes, base_url: str) -> list[str]:
    """Absolute http(s) links on a page (`<a href>`), fragments dropped, `<base>` honoured,
    `rel=nofollow` skipped, in page order without duplicates."""
    try:
        doc = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    base = base_url
    base_el = doc.find(".//base[@href]")
    if base_el is not None:
        base = urljoin(base_url, base_el.get("href", ""))
    out: list[str] = []
    seen: set[str] = set()
    for a in doc.iter("a"):
        href = (a.get("href") or "").strip()
        if not href or href.startswith(("#", "mailto:", "javascript:", "tel:")):
            continue
        if "nofollow" in (a.get("rel") or "").lower().split():
            continue
        url = urljoin(base, href)
        if not _is_http(url):
            continue
        url = normalize_url(url)
        if url not in seen:
            seen.add(url)
            out.append(url)
    return out


def in_scope(url: str, prefix: str) -> bool:
    """A crawl follows a URL when it starts with the prefix and is a document link."""
    return url.startswith(prefix) and not _SKIP_EXTENSIONS.search(urlsplit(url).path)


# -- resolving sources -------------------------------------------------------------------


def _read_text(path: str) -> str:
    return Path(path).expanduser().read_text(encoding="utf-8")


def _read_bytes(path: str) -> bytes:
    return Path(path).expanduser().read_bytes()


async def _read_text_source(value: str, fetcher: Fetcher) -> tuple[str, str]:
    """(text, base URL) of a links file given as a path or URL."""
    if _is_http(value):
        res = await fetcher.fetch(value, document=False)
        if res.status != "ok":
            raise SourceError(
                f"cannot read links file {redact_url(value)}: {res.error or res.status}"
            )
        return res.text(), res.final_url or value
    try:
        return await asyncio.to_thread(_read_text, value), ""
    except FileNotFoundError:
        raise SourceError(f"links file not found: {value}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read links file {value}: {exc}") from None


async def read_sitemap(value: str, fetcher: Fetcher) -> Sitemap:
    """All page URLs of a sitemap, following a sitemap index (breadth-first, bounded)."""
    out = Sitemap()
    queue, seen = [value], set()
    listed: set[str] = set()  # out.urls as a set: a list lookup made 50,000 URLs take 12 s
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        if len(seen) > MAX_SITEMAPS:
            raise SourceError(f"more than {MAX_SITEMAPS} sitemaps under {redact_url(value)}")
        if _is_http(current):
            res = await fetcher.fetch(current, document=False)
            if res.status != "ok":
                raise SourceError(
                    f"cannot read sitemap {redact_url(current)}: {res.error or res.status}"
                )
            data, base = res.body, res.final_url or current
        else:
            try:
                data, base = await asyncio.to_thread(_read_bytes, current), ""
            except OSError as exc:
                raise SourceError(f"cannot read sitemap {current}: {exc.strerror or exc}") from None
        parsed = parse_sitemap(data, base)
        queue.extend(parsed.sitemaps)
        for url in parsed.urls:
            if url not in listed:
                listed.add(url)
                out.urls.append(url)
        out.lastmod.update(parsed.lastmod)
        if len(out.urls) > MAX_URLS:
            raise SourceError(f"more than {MAX_URLS} URLs in sitemap {redact_url(value)}")
    return out


async def list_urls(spec: SourceSpec, fetcher: Fetcher) -> list[str]:
    """The page URLs of a links or sitemap source."""
    return (await list_pages(spec, fetcher)).urls


async def list_pages(spec: SourceSpec, fetcher: Fetcher) -> Sitemap:
    """The page URLs of a links or sitemap source, with a sitemap's `<lastmod>` dates."""
    if spec.kind == "links":
        text, base = await _read_text_source(spec.value, fetcher)
        listed = Sitemap(urls=parse_links(text, base))
    elif spec.kind == "sitemap":
        listed = await read_sitemap(spec.value, fetcher)
    else:
        raise SourceError(f"list_urls does not handle {spec.kind} sources")
    if not listed.urls:
        raise SourceError(f"no page URLs in {spec.describe()}")
    listed.urls = listed.urls[:MAX_URLS]
    return listed


async def crawl(
    spec: SourceSpec,
    fetcher: Fetcher,
    *,
    validators: Mapping[str, tuple[str, str]] | None = None,
    known_links: Mapping[str, list[str]] | None = None,
    on_result: Callable[[FetchResult], None] | None = None,
    on_discovered: Callable[[int], None] | None = None,
    max_pages: int = 5_000,
) -> tuple[list[FetchResult], dict[str, list[str]]]:
    """Breadth-first crawl from `spec.value`, following links under the prefix up to
    `spec.depth` hops. Returns the fetch results (each URL once, in discovery order) and
    the in-scope links of every page, which the snapshot keeps: a page that answers 304
    next time has no body to read its links from, so they come from `known_links`
    (conditional GETs are only sent for URLs found there)."""
    prefix = spec.crawl_prefix()
    start = normalize_url(spec.value)
    validators = validators or {}
    known_links = known_links or {}
    seen = {start}
    level = [start]
    results: list[FetchResult] = []
    links: dict[str, list[str]] = {}
    depth = 0
    while level:
        usable = {u: validators[u] for u in level if u in validators and u in known_links}
        batch = await fetcher.fetch_many(level, usable, on_result)
        results.extend(batch)
        next_level: list[str] = []
        for res in batch:
            if res.status == "ok" and res.content_type in (
                "",
                "text/html",
                "application/xhtml+xml",
            ):
                found = [
                    u
                    for u in extract_links(res.body, res.final_url or res.url)
                    if in_scope(u, prefix)
                ]
            elif res.status in ("not_modified", "failed"):
                found = list(known_links.get(res.url, []))  # keep following what we knew
            else:
                found = []
            links[res.url] = found
            if depth >= spec.depth:
                continue
            for url in found:
                if url not in seen and len(seen) < max_pages:
                    seen.add(url)
                    next_level.append(url)
        if next_level and on_discovered is not None:
            on_discovered(len(next_level))
        level = next_level
        depth += 1
    return results, links
