"""Scrape end to end against the Kubeflow docs site served on loopback."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import datetime, timezone

import pytest
from aiohttp import web

from bot.config import Settings
from ingest import snapshot
from ingest.fetch import FetchPolicy
from ingest.scrape import scrape
from ingest.sources import SourceError, SourceSpec
from tests.ingest.sites import ABOUT_PAGES, SITE, needs_site, write_site_lists
from tests.local_net import start_app

pytestmark = needs_site

KUBEFLOW = "https://www.kubeflow.org"


def links(base: str) -> SourceSpec:
    return SourceSpec("links", f"{base}/links.txt")


async def test_first_scrape_writes_and_publishes_a_snapshot(
    small_site, serve, settings, fast_policy
):
    base = serve(small_site)
    summary = await scrape(links(base), settings, progress=False, policy=fast_policy)

    assert (summary.new, summary.changed, summary.unchanged, summary.removed, summary.failed) == (
        8,
        0,
        0,
        0,
        0,
    )
    assert summary.published and summary.pages == 8
    json.dumps(summary.to_dict())  # JSON-serialisable as promised
    pages, manifest = snapshot.load_current(settings.data_dir)
    assert snapshot.current_id(settings.data_dir) == summary.snapshot_id
    # citations use rel=canonical, not the loopback address the page was fetched from
    assert {p.url for p in pages} == {KUBEFLOW + path for path in ABOUT_PAGES}
    assert all(p.source.startswith(base) for p in pages)
    entry = manifest["pages"][f"{base}/docs/about/community/"]
    assert entry["status"] == "new" and entry["etag"] and entry["last_modified"]
    assert (
        entry["content_hash"]
        == next(p for p in pages if p.url.endswith("/community/")).content_hash()
    )
    assert manifest["counts"]["new"] == 8 and manifest["started"] and manifest["finished"]


async def test_rescrape_with_nothing_changed_costs_one_304_per_page(
    small_site, serve, settings, fast_policy
):
    base = serve(small_site)
    first = await scrape(links(base), settings, progress=False, policy=fast_policy)
    second = await scrape(links(base), settings, progress=False, policy=fast_policy)

    assert second.unchanged == 8 and second.new == second.changed == second.removed == 0
    assert second.not_modified == 8
    assert second.requests == 8 + 2  # the pages, links.txt, robots.txt
    assert second.bytes < first.bytes / 10
    old_pages, _ = snapshot.load_snapshot(settings.data_dir, first.snapshot_id)
    new_pages, _ = snapshot.load_current(settings.data_dir)
    assert [p.to_dict() for p in old_pages] == [p.to_dict() for p in new_pages]


async def test_a_url_whose_canonical_page_is_already_held_counts_only_as_a_duplicate(
    small_site, serve, settings, fast_policy
):
    # /community/ and /community/index.html are one page (same rel=canonical): the
    # summary's new/changed/unchanged add up to the pages in the snapshot
    listed = (small_site / "links.txt").read_text(encoding="utf-8")
    (small_site / "links.txt").write_text(listed + "/docs/about/community/index.html\n")
    base = serve(small_site)

    first = await scrape(links(base), settings, progress=False, policy=fast_policy)
    assert (first.pages, first.new, first.duplicates) == (8, 8, 1)

    second = await scrape(links(base), settings, progress=False, policy=fast_policy)
    assert (second.pages, second.new, second.unchanged, second.duplicates) == (8, 0, 8, 1)
    _, manifest = snapshot.load_current(settings.data_dir)
    assert manifest["counts"]["new"] == 0 and manifest["counts"]["unchanged"] == 8


async def test_one_changed_page_is_refetched_and_updated(small_site, serve, settings, fast_policy):
    base = serve(small_site)
    await scrape(links(base), settings, progress=False, policy=fast_policy)
    page = small_site / "docs/about/governance/index.html"
    page.write_text(
        page.read_text(encoding="utf-8").replace(
            "</main>", "<p>Steering committee moved to Fridays.</p></main>"
        ),
        encoding="utf-8",
    )

    summary = await scrape(links(base), settings, progress=False, policy=fast_policy)

    assert (summary.changed, summary.unchanged, summary.not_modified) == (1, 7, 7)
    pages, manifest = snapshot.load_current(settings.data_dir)
    governance = next(p for p in pages if p.url.endswith("/governance/"))
    assert "Steering committee moved to Fridays." in governance.text
    assert manifest["pages"][f"{base}/docs/about/governance/"]["status"] == "changed"


async def test_a_page_that_is_gone_is_removed(small_site, serve, settings, fast_policy):
    base = serve(small_site)
    await scrape(links(base), settings, progress=False, policy=fast_policy)
    shutil.rmtree(small_site / "docs/about/events")  # now a 404

    summary = await scrape(links(base), settings, progress=False, policy=fast_policy)

    assert summary.removed == 1 and summary.unchanged == 7 and summary.pages == 7
    assert summary.removed_urls == [f"{base}/docs/about/events/"]
    pages, manifest = snapshot.load_current(settings.data_dir)
    assert not any(p.url.endswith("/events/") for p in pages)
    assert manifest["pages"][f"{base}/docs/about/events/"]["status"] == "removed"


async def test_a_page_dropped_from_the_source_is_removed(small_site, serve, settings, fast_policy):
    base = serve(small_site)
    await scrape(links(base), settings, progress=False, policy=fast_policy)
    listed = (small_site / "links.txt").read_text().replace("/docs/about/style-guide/\n", "")
    (small_site / "links.txt").write_text(listed)

    summary = await scrape(links(base), settings, progress=False, policy=fast_policy)

    assert summary.removed == 1 and summary.pages == 7
    assert summary.removed_urls == [f"{base}/docs/about/style-guide/"]


async def test_retries_recover_from_a_server_failing_every_third_request(
    small_site, serve, settings, fast_policy
):
    base = serve(small_site, "--fail-every", "3")
    summary = await scrape(links(base), settings, progress=False, policy=fast_policy)

    assert summary.new == 8 and summary.failed == 0
    assert summary.retries >= 2  # 8 page requests, every 3rd answered 503 Retry-After: 1


async def test_failed_pages_keep_their_previous_content_and_are_reported(
    small_site, serve, settings, fast_policy
):
    good = serve(small_site)
    first = await scrape(links(good), settings, progress=False, policy=fast_policy)
    before, _ = snapshot.load_current(settings.data_dir)

    # the same pages, now on a server slower than our timeout: every fetch times out
    slow = serve(small_site, "--delay-ms", "400")
    await _move_snapshot_to(settings, first.snapshot_id, good, slow)
    strict = dataclasses.replace(fast_policy, timeout_s=0.15, retries=1)
    summary = await scrape(links(slow), settings, progress=False, policy=strict)

    assert summary.failed == 8 and summary.pages == 8 and summary.removed == 0
    assert all(f["kept"] == "yes" and "timed out" in f["error"] for f in summary.failures)
    after, manifest = snapshot.load_current(settings.data_dir)
    assert sorted(p.text for p in after) == sorted(p.text for p in before)
    assert {e["status"] for e in manifest["pages"].values()} == {"failed"}

    # the kept validators still make the next scrape a cheap one once the server recovers
    patient = dataclasses.replace(fast_policy, timeout_s=10.0)
    recovered = await scrape(links(slow), settings, progress=False, policy=patient)
    assert recovered.unchanged == 8 and recovered.not_modified == 8 and recovered.failed == 0


async def _move_snapshot_to(
    settings: Settings, snapshot_id: str, old_base: str, new_base: str
) -> None:
    """Rewrite the stored fetch URLs from one loopback port to another (same site, new port)."""
    folder = snapshot.snapshots_dir(settings.data_dir) / snapshot_id
    for name in ("pages.jsonl", "manifest.json"):
        path = folder / name
        path.write_text(
            path.read_text(encoding="utf-8").replace(old_base, new_base), encoding="utf-8"
        )


async def test_slow_server_within_the_timeout_still_succeeds(
    small_site, serve, settings, fast_policy
):
    base = serve(small_site, "--delay-ms", "100")
    summary = await scrape(links(base), settings, progress=False, policy=fast_policy)
    assert summary.new == 8 and summary.failed == 0


async def test_robots_txt_disallow_is_honoured(small_site, serve, settings, fast_policy):
    private = small_site / "private" / "handbook" / "index.html"
    private.parent.mkdir(parents=True)
    private.write_text(
        "<html><body><main><h1>Secret</h1><p>Internal only.</p></main></body></html>"
    )
    write_site_lists(small_site, [*ABOUT_PAGES, "/private/handbook/"])
    base = serve(small_site)

    summary = await scrape(links(base), settings, progress=False, policy=fast_policy)

    assert summary.new == 8 and summary.skipped == 1
    pages, manifest = snapshot.load_current(settings.data_dir)
    assert not any("Internal only." in p.text for p in pages)
    assert "robots.txt" in manifest["pages"][f"{base}/private/handbook/"]["error"]


async def test_an_unreachable_robots_txt_fails_the_pages_and_keeps_them(
    settings, fast_policy, tmp_path
):
    # RFC 9309: while robots.txt answers 5xx the host is off limits - but its pages are not
    # gone. They count as failed fetches and keep their previous copies, so one outage does
    # not empty the snapshot (nor force the next scrape to download every page again).
    robots_down = False

    async def robots(_: web.Request) -> web.Response:
        return web.Response(status=503) if robots_down else web.Response(text="User-agent: *\n")

    async def page(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = f"<html><body><main><h1>Page {name}</h1><p>About {name}.</p></main></body></html>"
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/robots.txt", robots)
    app.router.add_get("/docs/{name}", page)
    runner, base = await start_app(app)
    # the list lives elsewhere (a file here): with it on the docs host, the outage would stop
    # the scrape at the list, before any page, and publish nothing
    listed = tmp_path / "links.txt"
    listed.write_text(f"{base}/docs/a\n{base}/docs/b\n", encoding="utf-8")
    source = SourceSpec("links", str(listed))
    try:
        first = await scrape(source, settings, progress=False, policy=fast_policy)
        robots_down = True
        outage = await scrape(
            source,
            settings,
            progress=False,
            policy=dataclasses.replace(fast_policy, retries=0),
        )
    finally:
        await runner.cleanup()

    assert first.new == 2
    assert (outage.failed, outage.removed, outage.skipped, outage.pages) == (2, 0, 0, 2)
    assert all("robots.txt HTTP 503" in f["error"] and f["kept"] == "yes" for f in outage.failures)
    pages, _ = snapshot.load_current(settings.data_dir)
    assert sorted(p.title for p in pages) == ["Page a", "Page b"]


async def test_loopback_source_is_refused_unless_private_addresses_are_allowed(
    small_site, serve, tmp_path
):
    base = serve(small_site)
    settings = Settings(data_dir=tmp_path / "data")  # DOCBOT_INGEST_ALLOW_PRIVATE unset
    with pytest.raises(SourceError, match="DOCBOT_INGEST_ALLOW_PRIVATE"):
        await scrape(links(base), settings, progress=False)
    assert snapshot.current_id(settings.data_dir) is None


async def test_an_unreadable_source_publishes_nothing(small_site, serve, settings, fast_policy):
    base = serve(small_site)
    first = await scrape(links(base), settings, progress=False, policy=fast_policy)
    with pytest.raises(SourceError, match="cannot read links file"):
        await scrape(
            SourceSpec("links", f"{base}/missing.txt"), settings, progress=False, policy=fast_policy
        )
    assert snapshot.current_id(settings.data_dir) == first.snapshot_id


async def test_sitemap_source(small_site, serve, settings, fast_policy):
    base = serve(small_site)
    summary = await scrape(
        SourceSpec("sitemap", f"{base}/sitemap.xml"), settings, progress=False, policy=fast_policy
    )
    assert summary.new == 8


async def test_crawl_stays_under_the_prefix_and_within_the_depth(serve, settings, fast_policy):
    base = serve(SITE)
    shallow = await scrape(
        SourceSpec("crawl", f"{base}/docs/about/", depth=0),
        settings,
        progress=False,
        policy=fast_policy,
    )
    assert shallow.pages == 1

    summary = await scrape(
        SourceSpec("crawl", f"{base}/docs/about/", depth=1),
        settings,
        progress=False,
        policy=fast_policy,
    )
    pages, manifest = snapshot.load_current(settings.data_dir)
    # the sidebar links every docs page; only the eight under /docs/about/ are in scope
    assert sorted(p.url for p in pages) == sorted(KUBEFLOW + path for path in ABOUT_PAGES)
    assert summary.new == 7 and summary.unchanged == 1
    assert f"{base}/docs/about/community/" in manifest["pages"][f"{base}/docs/about/"]["links"]

    # a re-crawl answers from 304s and follows the links it kept
    again = await scrape(
        SourceSpec("crawl", f"{base}/docs/about/", depth=1),
        settings,
        progress=False,
        policy=fast_policy,
    )
    assert again.pages == 8 and again.not_modified == 8


async def test_korean_page_survives_the_scrape(small_site, serve, settings, fast_policy):
    page = small_site / "docs" / "ko" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        '<html lang="ko"><head><meta charset="utf-8"><title>노트북 만들기 | 문서</title></head>'
        "<body><nav>메뉴</nav><main><h1>노트북 만들기</h1><p>쿠브플로우에서 노트북 서버를 만드는 방법입니다.</p>"
        '<h2 id="요구-사항">요구 사항</h2><p>클러스터 관리자 권한이 필요합니다.</p></main></body></html>',
        encoding="utf-8",
    )
    write_site_lists(small_site, ["/docs/ko/"])
    base = serve(small_site)

    await scrape(links(base), settings, progress=False, policy=fast_policy)

    (ko,), _ = snapshot.load_current(settings.data_dir)
    assert ko.title == "노트북 만들기" and ko.language == "ko"
    assert "쿠브플로우에서 노트북 서버를 만드는 방법입니다." in ko.text
    assert ko.sections[-1].anchor == "요구-사항" and "메뉴" not in ko.text


async def test_path_source_reads_a_local_folder(tmp_path, settings):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "setup.md").write_text(
        "# Setup\n\nInstall the CLI.\n\n## Login\n\nRun `cdswctl login`.\n"
    )
    summary = await scrape(SourceSpec("path", str(docs)), settings, progress=False)
    assert summary.new == 1
    (docs / "setup.md").unlink()
    (docs / "other.md").write_text("# Other\n\nText.\n")
    summary = await scrape(SourceSpec("path", str(docs)), settings, progress=False)
    assert summary.new == 1 and summary.removed == 1


@pytest.mark.slow
async def test_full_site_scrape_and_unchanged_rescrape(serve, settings):
    base = serve(SITE)
    policy = FetchPolicy(allow_private=True)
    summary = await scrape(
        SourceSpec("sitemap", f"{base}/sitemap.xml"), settings, progress=False, policy=policy
    )

    assert summary.new == 214 and summary.pages == 214 and summary.failed == 0
    pages, _ = snapshot.load_current(settings.data_dir)
    assert all(p.url.startswith(KUBEFLOW) and p.title and p.sections for p in pages)
    assert all(p.last_modified for p in pages)
    print(f"full scrape: {summary.pages_per_s} pages/s")

    again = await scrape(
        SourceSpec("sitemap", f"{base}/sitemap.xml"), settings, progress=False, policy=policy
    )
    assert again.unchanged == 214 and again.not_modified == 214


@pytest.mark.slow
async def test_full_site_scrape_from_a_server_failing_every_tenth_request(serve, settings):
    base = serve(SITE, "--fail-every", "10")
    policy = FetchPolicy(allow_private=True)  # real backoff: Retry-After: 1 honoured
    summary = await scrape(
        SourceSpec("links", f"{base}/links.txt"), settings, progress=False, policy=policy
    )
    assert summary.new == 214 and summary.failed == 0 and summary.retries >= 21


async def test_page_date_falls_back_to_the_sitemap_lastmod_then_the_http_header(
    small_site, serve, settings, fast_policy
):
    page = small_site / "docs" / "undated" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        "<html><body><main><h1>Undated</h1><p>No date on the page.</p></main></body></html>"
    )
    write_site_lists(small_site, ["/docs/undated/"])  # <lastmod>2026-01-01</lastmod>
    base = serve(small_site)

    await scrape(
        SourceSpec("sitemap", f"{base}/sitemap.xml"), settings, progress=False, policy=fast_policy
    )
    (from_sitemap,), _ = snapshot.load_current(settings.data_dir)
    assert from_sitemap.last_modified == "2026-01-01"

    other = dataclasses.replace(settings, data_dir=settings.data_dir.parent / "other")
    await scrape(links(base), other, progress=False, policy=fast_policy)
    (from_header,), _ = snapshot.load_current(other.data_dir)
    assert from_header.last_modified == datetime.now(timezone.utc).date().isoformat()  # file mtime
