"""Sources: links files, sitemaps and sitemap indexes, link extraction, source specs."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from aiohttp import web

from ingest.fetch import Fetcher, FetchPolicy
from ingest.sources import (
    DEFAULT_LINKS_FILE,
    SourceError,
    SourceSpec,
    default_source,
    extract_links,
    in_scope,
    list_urls,
    parse_links,
    parse_sitemap,
    read_sitemap,
)
from tests.local_net import start_app


def test_links_file_format_of_the_lab():
    text = """# CML docs
https://docs.example.com/a.html

   https://docs.example.com/b.html   # trailing comment
https://docs.example.com/a.html#section
ftp://docs.example.com/c
/relative/page/
"""
    assert parse_links(text) == [
        "https://docs.example.com/a.html",
        "https://docs.example.com/b.html",
    ]
    assert parse_links(text, base_url="https://docs.example.com/list.txt")[-1] == (
        "https://docs.example.com/relative/page/"
    )


def test_shipped_cml_links_file():
    urls = parse_links(DEFAULT_LINKS_FILE.read_text(encoding="utf-8"))
    assert 40 <= len(urls) <= 60
    assert all(u.startswith("https://docs.cloudera.com/machine-learning/cloud/") for u in urls)
    assert (
        "https://docs.cloudera.com/machine-learning/cloud/product/topics/ml-product-overview.html"
        in urls
    )
    assert default_source("") == SourceSpec("links", str(DEFAULT_LINKS_FILE))


def test_the_configured_publish_url_applies_to_a_folder_source_only(tmp_path) -> None:  # noqa: ANN001
    site = "https://docs.example.com/"
    assert default_source(str(tmp_path), site) == SourceSpec("path", str(tmp_path), base_url=site)
    sitemap = "https://docs.example.com/sitemap.xml"
    assert default_source(sitemap, site) == SourceSpec("sitemap", sitemap)


URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://docs.example.com/a/</loc><lastmod>2026-01-01</lastmod></url>
  <url><loc> https://docs.example.com/b/ </loc></url>
  <url><lastmod>2026-01-01</lastmod></url>
</urlset>"""


def test_sitemap_urlset_and_index():
    parsed = parse_sitemap(URLSET)
    assert parsed.urls == ["https://docs.example.com/a/", "https://docs.example.com/b/"]
    assert parsed.lastmod == {"https://docs.example.com/a/": "2026-01-01"}
    index = parse_sitemap(
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>/s1.xml</loc></sitemap></sitemapindex>",
        base_url="https://docs.example.com/sitemap.xml",
    )
    assert index.sitemaps == ["https://docs.example.com/s1.xml"] and index.urls == []
    assert parse_sitemap(gzip.compress(URLSET)).urls == parsed.urls


def test_sitemap_entities_are_not_expanded(tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<urlset><url><loc>https://e.test/&x;</loc></url></urlset>"
    ).encode()
    assert not any("TOPSECRET" in u for u in parse_sitemap(xxe).urls)
    with pytest.raises(SourceError):
        parse_sitemap(b"")


def test_extract_links_and_scope():
    html = """<html><head><base href="https://docs.example.com/ml/"></head><body>
    <a href="jobs/">Jobs</a><a href="/ml/models/#deploy">Models</a><a href="#top">Top</a>
    <a href="mailto:x@example.com">Mail</a><a href="https://other.test/">Other</a>
    <a href="jobs/" rel="nofollow">again</a><a href="guide.pdf">PDF</a></body></html>"""
    links = extract_links(html, "https://docs.example.com/ml/index.html")
    assert links == [
        "https://docs.example.com/ml/jobs/",
        "https://docs.example.com/ml/models/",
        "https://other.test/",
        "https://docs.example.com/ml/guide.pdf",
    ]
    prefix = "https://docs.example.com/ml/"
    assert [u for u in links if in_scope(u, prefix)] == links[:2]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("https://docs.example.com/sitemap.xml", "sitemap"),
        ("https://docs.example.com/sitemap_index", "sitemap"),
        ("https://docs.example.com/html_links.txt", "links"),
        ("https://docs.example.com/ml/", "crawl"),
        ("ingest/sources/cml_docs.txt", "links"),
        ("crawl:https://docs.example.com/ml/sitemap.xml", "crawl"),
    ],
)
def test_source_spec_from_one_string(text: str, kind: str):
    assert SourceSpec.parse(text).kind == kind


def test_source_spec_folder_prefix_and_errors(tmp_path: Path):
    assert SourceSpec.parse(str(tmp_path)).kind == "path"
    assert SourceSpec("crawl", "https://d.test/ml/jobs.html").crawl_prefix() == "https://d.test/ml/"
    assert (
        SourceSpec("crawl", "https://d.test/ml/", prefix="/ml/api/").crawl_prefix()
        == "https://d.test/ml/api/"
    )
    with pytest.raises(SourceError, match="unknown source kind"):
        SourceSpec("ftp", "x")  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="no ingest source"):
        SourceSpec.parse("  ")


def test_source_spec_base_url_is_for_a_folder_and_http_only():
    spec = SourceSpec("path", "docs", base_url="https://docs.example.com/")
    assert spec.describe() == "path docs (published at https://docs.example.com/)"
    assert spec.to_dict()["base_url"] == "https://docs.example.com/"
    assert SourceSpec("path", "docs").to_dict()["base_url"] == ""
    with pytest.raises(SourceError, match="http"):
        SourceSpec("path", "docs", base_url="docs.example.com/")
    with pytest.raises(SourceError, match="http"):
        SourceSpec("path", "docs", base_url="file:///srv/docs/")
    with pytest.raises(SourceError, match="local folder"):
        SourceSpec("crawl", "https://d.test/", base_url="https://d.test/")
    masked = SourceSpec("path", "docs", base_url="https://u:pw@d.test/?token=s3").describe()
    assert "pw" not in masked and "s3" not in masked


async def test_sitemap_index_and_links_file_over_http():
    async def index(request: web.Request) -> web.Response:
        return web.Response(
            text='<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            "<sitemap><loc>/one.xml</loc></sitemap><sitemap><loc>/two.xml.gz</loc></sitemap></sitemapindex>",
            content_type="application/xml",
        )

    async def one(request: web.Request) -> web.Response:
        return web.Response(
            text="<urlset><url><loc>/a/</loc></url></urlset>", content_type="application/xml"
        )

    async def two(request: web.Request) -> web.Response:
        body = gzip.compress(b"<urlset><url><loc>/b/</loc></url><url><loc>/a/</loc></url></urlset>")
        return web.Response(body=body, content_type="application/gzip")

    async def links(request: web.Request) -> web.Response:
        return web.Response(text="# pages\n/a/\n/b/\n")

    app = web.Application()
    for path, handler in {
        "/sitemap.xml": index,
        "/one.xml": one,
        "/two.xml.gz": two,
        "/links.txt": links,
    }.items():
        app.router.add_get(path, handler)
    runner, base = await start_app(app)
    try:
        async with Fetcher(FetchPolicy(allow_private=True)) as fetcher:
            sitemap = await read_sitemap(f"{base}/sitemap.xml", fetcher)
            listed = await list_urls(SourceSpec("links", f"{base}/links.txt"), fetcher)
            with pytest.raises(SourceError, match="cannot read sitemap"):
                await read_sitemap(f"{base}/missing.xml", fetcher)
    finally:
        await runner.cleanup()
    assert sitemap.urls == [f"{base}/a/", f"{base}/b/"]
    assert listed == [f"{base}/a/", f"{base}/b/"]


async def test_a_sitemap_over_the_url_limit_is_refused_without_its_secret(monkeypatch):
    # the message is shown in chat as it is: a signed sitemap URL's token must not be in it
    import ingest.sources

    async def sitemap(request: web.Request) -> web.Response:
        locs = "".join(f"<url><loc>/p{i}/</loc></url>" for i in range(3))
        return web.Response(text=f"<urlset>{locs}</urlset>", content_type="application/xml")

    monkeypatch.setattr(ingest.sources, "MAX_URLS", 2)
    app = web.Application()
    app.router.add_get("/sitemap.xml", sitemap)
    runner, base = await start_app(app)
    try:
        async with Fetcher(FetchPolicy(allow_private=True)) as fetcher:
            with pytest.raises(SourceError, match="more than 2 URLs") as refused:
                await read_sitemap(f"{base}/sitemap.xml?token=SECRET123", fetcher)
    finally:
        await runner.cleanup()
    assert "SECRET123" not in str(refused.value)
    assert "/sitemap.xml" in str(refused.value)


async def test_links_file_on_disk(tmp_path: Path):
    file = tmp_path / "html_links.txt"
    file.write_text("https://docs.example.com/a.html\n")
    async with Fetcher(FetchPolicy()) as fetcher:
        assert await list_urls(SourceSpec("links", str(file)), fetcher) == [
            "https://docs.example.com/a.html"
        ]
        with pytest.raises(SourceError, match="links file not found"):
            await list_urls(SourceSpec("links", str(tmp_path / "nope.txt")), fetcher)
        file.write_text("# nothing yet\n")
        with pytest.raises(SourceError, match="no page URLs"):
            await list_urls(SourceSpec("links", str(file)), fetcher)
