"""The Kubeflow docs site the ingest tests scrape, and helpers to shape a copy of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_dir import SHARED

SITE = SHARED / "corpus" / "kubeflow" / "site"
SERVE_SITE = SHARED / "tools" / "serve_site.py"
# the eight pages under /docs/about/: small enough for fast tests, real HTML
ABOUT_PAGES = [
    "/docs/about/",
    "/docs/about/ai_policy/",
    "/docs/about/community/",
    "/docs/about/contributing/",
    "/docs/about/contributor-of-the-month/",
    "/docs/about/events/",
    "/docs/about/governance/",
    "/docs/about/style-guide/",
]

needs_site = pytest.mark.skipif(
    not (SITE.is_dir() and SERVE_SITE.is_file()), reason="shared Kubeflow site not present"
)


def write_site_lists(site: Path, paths: list[str]) -> None:
    """links.txt and sitemap.xml for the pages of a site copy (the server makes them absolute)."""
    (site / "links.txt").write_text("# test pages\n" + "\n".join(paths) + "\n", encoding="utf-8")
    entries = "\n".join(f"  <url><loc>{p}</loc><lastmod>2026-01-01</lastmod></url>" for p in paths)
    (site / "sitemap.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{entries}\n</urlset>\n",
        encoding="utf-8",
    )
