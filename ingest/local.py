"""A local folder of HTML, Markdown or text files as pages.

Citation URLs: an HTML page's rel=canonical when present; otherwise, with a
`base_url`, the URL a static-site generator would give the file
(`a/b.md` -> `<base>a/b/`, `a/_index.md` -> `<base>a/`); otherwise the file's
path relative to the folder's parent (`docs/install.md`).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterator
from pathlib import Path

from bot.messages import detect_language
from ingest.markdown import parse_markdown, parse_text
from ingest.model import Page

log = logging.getLogger(__name__)

MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdx"}
HTML_SUFFIXES = {".html", ".htm"}
TEXT_SUFFIXES = {".txt", ".rst"}
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | HTML_SUFFIXES | TEXT_SUFFIXES
MAX_FILE_BYTES = 5 * 1024 * 1024


IGNORE_FILE = ".docbotignore"


def ignore_patterns(root: Path) -> tuple[str, ...]:
    """Patterns from `<root>/.docbotignore`: one a line, `#` comments, globs relative to root."""
    try:
        lines = (root / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return ()
    return tuple(
        line.strip() for line in lines if line.strip() and not line.strip().startswith("#")
    )


def iter_files(root: Path, *, exclude: tuple[str, ...] = ()) -> Iterator[Path]:
    exclude = (*exclude, *ignore_patterns(root))
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if any(
            rel == e or rel.startswith(e.rstrip("/") + "/") or fnmatch.fnmatch(rel, e)
            for e in exclude
        ):
            continue
        yield path


def url_for(path: Path, root: Path, base_url: str = "") -> str:
    rel = path.relative_to(root).as_posix()
    if not base_url:
        return f"{root.name}/{rel}" if root.name else rel
    base = base_url if base_url.endswith("/") else base_url + "/"
    stem, _, suffix = rel.rpartition(".")
    if f".{suffix}".lower() in HTML_SUFFIXES:
        if stem == "index" or stem.endswith("/index"):
            return base + stem[: -len("index")]
        return base + rel
    if stem in ("_index", "index"):
        return base
    for tail in ("/_index", "/index"):
        if stem.endswith(tail):
            return base + stem[: -len(tail)] + "/"
    return base + stem + "/"


def read_page(path: Path, root: Path, base_url: str = "") -> Page | None:
    """Parse one file; None when it is too big, unreadable or empty."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            log.warning("skipping %s: larger than %d bytes", path, MAX_FILE_BYTES)
            return None
        raw = path.read_bytes()
    except OSError as exc:
        log.warning("skipping %s: %s", path, exc)
        return None
    url = url_for(path, root, base_url)
    # A file's mtime is not the page's date (a fresh clone stamps every file "today"):
    # only dates the page states (front matter, <meta>, <time>) are shown.
    mtime = ""
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        from ingest.html_clean import parse_html  # the web cleaner serves local HTML too

        page = parse_html(raw, url, last_modified=mtime)
    else:
        text = raw.decode("utf-8", errors="replace")
        if suffix in MARKDOWN_SUFFIXES:
            page = parse_markdown(text, url, source=str(path), last_modified=mtime)
        else:
            page = parse_text(text, url, source=str(path), last_modified=mtime)
    page.source = str(path)
    if not page.language:
        page.language = detect_language(page.text[:4000])
    return page if page.sections else None


def read_folder(
    root: str | Path, *, base_url: str = "", exclude: tuple[str, ...] = ()
) -> list[Page]:
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"not a folder: {root}")
    pages = [p for f in iter_files(root, exclude=exclude) if (p := read_page(f, root, base_url))]
    log.info("read %d pages from %s", len(pages), root)
    return pages
