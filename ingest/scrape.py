"""Scrape: a source -> fetched, cleaned pages -> a new docs snapshot (CML Job 1's work).

    summary = await scrape(SourceSpec("sitemap", "https://docs.example.com/sitemap.xml"), settings)

Against the previous snapshot: URLs we already hold are fetched conditionally
(an unchanged page costs one 304); a page whose fetch fails (timeouts, 5xx
after retries) keeps its previous content and is reported; a page that is gone
(404/410, refused by robots.txt, or no longer in the source) is removed. The
new snapshot becomes current only once it is completely written.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from ingest import snapshot as snap
from ingest.fetch import Fetcher, FetchPolicy, FetchResult, redact_url
from ingest.html_clean import normalize_date, parse_html
from ingest.model import Page
from ingest.sources import SourceError, SourceSpec, crawl, list_pages
from ingest.ssrf import BlockedURL

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

PARSE_TIMEOUT_S = 20.0  # one page; lxml is linear in size and pages are size-capped
MAX_LISTED = 50  # failures / removals listed by URL in the summary


@dataclass
class ScrapeSummary:
    snapshot_id: str = ""
    source: str = ""
    published: bool = False
    pages: int = 0  # pages in the new snapshot
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0  # fetch or parse failed; previous content kept where there was one
    skipped: int = 0  # refused (robots.txt, SSRF guard, not a document) or a dead link
    duplicates: int = 0  # fetched URLs whose canonical URL another page already had
    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    bytes: int = 0
    seconds: float = 0.0
    pages_per_s: float = 0.0
    failures: list[dict[str, str]] = field(default_factory=list)  # {"url", "error", "kept"}
    removed_urls: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        """One line for logs and chat."""
        line = (
            f"{self.pages} pages: {self.new} new, {self.changed} changed, "
            f"{self.unchanged} unchanged, {self.removed} removed, {self.failed} failed"
        )
        if self.skipped:
            line += f", {self.skipped} skipped"
        line += f" in {self.seconds:.1f}s"
        if self.requests:  # a local folder is read, not fetched
            line += f" ({self.requests} requests, {self.not_modified} not modified)"
        return line


def make_current(settings: Settings, snapshot_id: str) -> None:
    """Make a written snapshot the current one and prune the oldest beyond
    DOCBOT_KEEP_VERSIONS. The caller holds the scrape lock (`snapshot.scrape_lock`)."""
    snap.publish(settings.data_dir, snapshot_id)
    pruned = snap.prune(settings.data_dir, keep=settings.keep_versions)
    if pruned:
        log.info("pruned old snapshots: %s", ", ".join(pruned))


async def scrape(
    source: SourceSpec,
    settings: Settings,
    *,
    progress: bool = True,
    policy: FetchPolicy | None = None,
    publish: bool = True,
) -> ScrapeSummary:
    """Run one scrape and (with `publish`) make it the current snapshot.

    Raises `SourceError` when the source itself cannot be read (nothing is
    published then, so the previous snapshot stays) and `SnapshotError` when
    another scrape holds the data dir.
    """
    started_wall = snap.utc_now()
    started = time.monotonic()
    data_dir = settings.data_dir
    policy = policy or FetchPolicy.from_settings(settings)
    with snap.scrape_lock(data_dir):
        # a folder is read first: a missing or empty one fails with one clear error
        folder = await _read_folder(source) if source.kind == "path" else None
        previous = await asyncio.to_thread(snap.load_current, data_dir)
        prev_pages: dict[str, Page] = {}
        prev_entries: dict[str, dict[str, Any]] = {}
        if previous is not None:
            pages, manifest = previous
            prev_pages = {p.source: p for p in pages}
            prev_entries = manifest.get("pages", {})
        log.info("scrape %s (previous snapshot: %d pages)", source.describe(), len(prev_pages))

        summary = ScrapeSummary(source=source.describe())
        if folder is not None:
            outcomes = folder
            links: dict[str, list[str]] = {}
        else:
            outcomes, links = await _fetch_source(
                source, policy, prev_pages, prev_entries, progress, summary
            )

        pages, entries = _merge(outcomes, prev_pages, prev_entries, summary)
        for url, found in links.items():
            if url in entries:
                entries[url]["links"] = found
        summary.pages = len(pages)
        summary.seconds = round(time.monotonic() - started, 3)
        fetched = sum(1 for o in outcomes if o.result is not None)
        summary.pages_per_s = round(fetched / summary.seconds, 1) if summary.seconds else 0.0

        snapshot_id = snap.new_snapshot_id()
        summary.snapshot_id = snapshot_id
        manifest = {
            "source": source.to_dict(),
            "started": started_wall,
            "finished": snap.utc_now(),
            "counts": {
                k: getattr(summary, k)
                for k in (
                    "pages",
                    "new",
                    "changed",
                    "unchanged",
                    "removed",
                    "failed",
                    "skipped",
                    "duplicates",
                )
            },
            "stats": {
                k: getattr(summary, k)
                for k in ("requests", "not_modified", "retries", "bytes", "seconds", "pages_per_s")
            },
            "pages": entries,
        }
        await asyncio.to_thread(snap.write_snapshot, data_dir, snapshot_id, pages, manifest)
        if publish:
            make_current(settings, snapshot_id)
            summary.published = True
    log.info("scrape done: %s", summary.format())
    for failure in summary.failures[:10]:
        log.warning("failed: %s: %s", failure["url"], failure["error"])
    return summary


# -- fetching and parsing ---------------------------------------------------------------


@dataclass
class _Outcome:
    """One source URL (or file): its fetch result and the parsed page or parse error."""

    key: str  # fetched URL, or file path for a folder
    result: FetchResult | None
    page: Page | None = None
    error: str = ""


def _progress_bar(total: int | None, desc: str, enabled: bool) -> tqdm:
    return tqdm(
        total=total,
        desc=desc,
        unit="page",
        file=sys.stderr,
        disable=not (enabled and sys.stderr.isatty()),
        leave=False,
    )


async def _fetch_source(
    source: SourceSpec,
    policy: FetchPolicy,
    prev_pages: dict[str, Page],
    prev_entries: dict[str, dict[str, Any]],
    progress: bool,
    summary: ScrapeSummary,
) -> tuple[list[_Outcome], dict[str, list[str]]]:
    # only ask "changed since?" for pages whose content we still hold
    validators = {
        url: (e.get("etag", ""), e.get("last_modified", ""))
        for url, e in prev_entries.items()
        if url in prev_pages and (e.get("etag") or e.get("last_modified"))
    }
    links: dict[str, list[str]] = {}
    async with Fetcher(policy) as fetcher:
        bar = _progress_bar(None, "fetch", progress)
        done = 0

        parsing: dict[str, asyncio.Task[_Outcome]] = {}
        lastmod: dict[str, str] = {}  # a sitemap's <lastmod> per URL

        def tick(result: FetchResult) -> None:
            nonlocal done
            done += 1
            # clean each page as it arrives, while the rest are still downloading
            date = lastmod.get(result.url, "")
            parsing.setdefault(result.url, asyncio.ensure_future(_parse(result, date)))
            bar.update(1)
            if done % 100 == 0:
                log.info("fetched %d pages", done)

        try:
            if source.kind == "crawl":
                try:
                    await fetcher.guard.check(source.value)
                except BlockedURL as exc:
                    raise SourceError(str(exc)) from None
                bar.total = 1
                known = {u: e.get("links", []) for u, e in prev_entries.items() if "links" in e}

                def grow(n: int) -> None:
                    bar.total = (bar.total or 0) + n
                    bar.refresh()

                results, links = await crawl(
                    source,
                    fetcher,
                    validators=validators,
                    known_links=known,
                    on_result=tick,
                    on_discovered=grow,
                )
                if results and results[0].status not in ("ok", "not_modified"):
                    raise SourceError(
                        f"crawl start {redact_url(source.value)} could not be fetched: "
                        f"{results[0].error or results[0].status}"
                    )
            else:
                try:
                    listed = await list_pages(source, fetcher)
                except BlockedURL as exc:
                    raise SourceError(str(exc)) from None
                urls = listed.urls
                lastmod.update(listed.lastmod)
                bar.total = len(urls)
                bar.refresh()
                log.info("fetching %d pages from %s", len(urls), source.describe())
                results = await fetcher.fetch_many(urls, validators, tick)
        except BaseException:
            for task in parsing.values():
                task.cancel()
            raise
        finally:
            bar.close()
        stats = fetcher.stats
        summary.requests = stats.requests
        summary.not_modified = stats.not_modified
        summary.retries = stats.retries
        summary.bytes = stats.bytes
    outcomes = await asyncio.gather(
        *(parsing.get(r.url) or _parse(r, lastmod.get(r.url, "")) for r in results)
    )
    return list(outcomes), links


def _parse_body(result: FetchResult, listed_date: str = "") -> Page:
    """The page; its date from its own metadata, else the sitemap's <lastmod>, else the
    Last-Modified header (often just the deploy time)."""
    url = result.final_url or result.url
    header_date = normalize_date(listed_date) or normalize_date(result.last_modified)
    if result.content_type in ("text/markdown", "text/x-markdown") or (
        result.content_type == "text/plain" and url.lower().endswith((".md", ".markdown"))
    ):
        from ingest.markdown import parse_markdown

        return parse_markdown(result.text(), url, source=result.url, last_modified=header_date)
    if result.content_type == "text/plain":
        from ingest.markdown import parse_text

        return parse_text(result.text(), url, source=result.url, last_modified=header_date)
    # a declared charset wins over <meta>; without one the cleaner sniffs the bytes
    html: str | bytes = result.text() if result.charset else result.body
    return parse_html(html, url, last_modified=header_date)


async def _parse(result: FetchResult, listed_date: str = "") -> _Outcome:
    if result.status != "ok":
        return _Outcome(result.url, result)
    try:
        page = await asyncio.wait_for(
            asyncio.to_thread(_parse_body, result, listed_date), PARSE_TIMEOUT_S
        )
    except asyncio.TimeoutError:
        return _Outcome(result.url, result, error=f"parsing took longer than {PARSE_TIMEOUT_S:g}s")
    except Exception as exc:  # a parser bug on one page must not sink the scrape
        log.exception("parse failed: %s", redact_url(result.url))
        return _Outcome(result.url, result, error=f"parse error: {type(exc).__name__}")
    page.source = result.url
    return _Outcome(result.url, result, page=page)


async def _read_folder(source: SourceSpec) -> list[_Outcome]:
    from ingest.local import read_folder

    try:
        pages = await asyncio.to_thread(read_folder, source.value, base_url=source.base_url)
    except FileNotFoundError as exc:
        raise SourceError(str(exc)) from None
    if not pages:
        raise SourceError(f"no HTML, Markdown or text files in {source.value}")
    return [_Outcome(p.source, None, page=p) for p in pages]


# -- comparing with the previous snapshot -----------------------------------------------


def _merge(
    outcomes: list[_Outcome],
    prev_pages: dict[str, Page],
    prev_entries: dict[str, dict[str, Any]],
    summary: ScrapeSummary,
) -> tuple[list[Page], dict[str, dict[str, Any]]]:
    """Decide each URL's fate; count it. Pure apart from logging."""
    pages: list[Page] = []
    entries: dict[str, dict[str, Any]] = {}
    by_canonical: dict[str, str] = {}
    listed: set[str] = set()

    def fail(key: str, error: str, res: FetchResult | None) -> None:
        summary.failed += 1
        old = prev_pages.get(key)
        if len(summary.failures) < MAX_LISTED:
            summary.failures.append(
                {"url": redact_url(key), "error": error, "kept": "yes" if old else "no"}
            )
        entry = dict(prev_entries.get(key, {}))
        entry.update(status="failed", error=error, http_status=res.http_status if res else None)
        if old is not None:
            keep(key, old, entry)
        else:
            entries[key] = entry

    def keep(key: str, page: Page, entry: dict[str, Any]) -> bool:
        """Add the page; False when its canonical URL is already held (a duplicate, which
        the caller must not count as new/changed/unchanged: those add up to `pages`)."""
        first = by_canonical.setdefault(page.url, key)
        if first != key:
            summary.duplicates += 1
            entry["status"] = "duplicate"
            entry["duplicate_of"] = first
            entries[key] = entry
            return False
        pages.append(page)
        entry["url"] = page.url
        entry["content_hash"] = page.content_hash()
        entries[key] = entry
        return True

    def gone(key: str, why: str) -> None:
        if key in prev_pages:
            summary.removed += 1
            if len(summary.removed_urls) < MAX_LISTED:
                summary.removed_urls.append(redact_url(key))
        else:
            summary.skipped += 1
        entries[key] = {"status": "removed" if key in prev_pages else "skipped", "error": why}

    for outcome in outcomes:
        key, res = outcome.key, outcome.result
        if key in listed:
            continue
        listed.add(key)
        old = prev_pages.get(key)
        if res is not None and res.status == "not_modified":
            if old is None:  # cannot happen: validators are only sent for pages we hold
                fail(key, "HTTP 304 without a stored copy", res)
                continue
            entry = dict(prev_entries.get(key, {}))
            entry.update(status="unchanged", http_status=304, error="")
            entry["etag"] = res.etag or entry.get("etag", "")
            entry["last_modified"] = res.last_modified or entry.get("last_modified", "")
            if keep(key, old, entry):
                summary.unchanged += 1
            continue
        if res is not None and res.status == "gone":
            gone(key, res.error)
            continue
        if res is not None and res.status == "skipped":
            gone(key, res.error)
            continue
        if res is not None and res.status == "failed":
            fail(key, res.error, res)
            continue
        if outcome.error or outcome.page is None:
            fail(key, outcome.error or "no content", res)
            continue
        page = outcome.page
        if not page.sections:
            gone(key, "no text content")
            continue
        entry = {
            "status": "new",
            "http_status": res.http_status if res else None,
            "etag": res.etag if res else "",
            "last_modified": res.last_modified if res else "",
            "final_url": res.final_url if res else "",
            "error": "",
        }
        if old is None:
            status = "new"
        elif old.content_hash() == page.content_hash():
            status = "unchanged"
        else:
            status = "changed"
        entry["status"] = status
        if keep(key, page, entry):
            setattr(summary, status, getattr(summary, status) + 1)

    # pages that are no longer in the source at all
    for key in prev_pages:
        if key not in listed:
            gone(key, "no longer in the source")
    return pages, entries


def run_sync(source: SourceSpec, settings: Settings, **kwargs: Any) -> ScrapeSummary:
    """`scrape` for synchronous callers (CML job script, CLI)."""
    return asyncio.run(scrape(source, settings, **kwargs))
