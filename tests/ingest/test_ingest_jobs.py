"""The two ingest jobs end to end, against the docs site served on loopback.

Scrape (Job 1) then index (Job 2): a full ingest; a re-ingest with nothing
changed embeds nothing; a changed page is re-embedded alone; a removed page
leaves the index; a broken scrape is refused by the page-loss guard and the live
index stays; the job scripts run as CML runs them (`python ingest/..._job.py`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from ingest.pipeline import IngestRequest, run_ingest
from ingest.sources import SourceSpec
from rag.index_build import PublishRefusedError
from rag.index_store import IndexStore
from rag.retrieve import Retriever
from tests.ingest.sites import SITE, needs_site
from tests.shared_dir import ROOT

pytestmark = [needs_site]


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    base = Settings.from_env({"DOCBOT_DATA_DIR": str(tmp_path / "data")}, env_file=None)
    return dataclasses.replace(base, ingest_allow_private=True, **overrides)


def _sitemap(base: str) -> IngestRequest:
    return IngestRequest(SourceSpec("sitemap", base + "/sitemap.xml"))


@pytest.mark.slow
async def test_full_site_ingest_then_unchanged_reingest_embeds_nothing(
    tmp_path: Path, serve
) -> None:
    base = serve(SITE)
    settings = _settings(tmp_path)
    first = await run_ingest(_sitemap(base), settings)
    assert first["scrape"]["pages"] == 214 and first["scrape"]["failed"] == 0
    assert (
        first["index"]["published"]
        and first["index"]["chunks_embedded"] == first["index"]["chunks"]
    )
    hits = Retriever(settings).search("how do I install katib", k=5)
    assert any("/docs/components/katib/" in h.url for h in hits)

    again = await run_ingest(_sitemap(base), settings)
    assert again["scrape"]["unchanged"] == 214 and again["scrape"]["not_modified"] == 214
    assert again["index"]["chunks_embedded"] == 0
    assert again["index"]["unchanged"] and again["index"]["version"] == first["index"]["version"]
    assert again["seconds"] < first["seconds"]


async def test_a_changed_page_is_reembedded_alone_and_a_removed_page_leaves(
    tmp_path: Path, serve, small_site: Path
) -> None:
    base = serve(small_site)
    settings = _settings(tmp_path)
    first = await run_ingest(_sitemap(base), settings)
    total = first["index"]["chunks"]

    page = small_site / "docs" / "about" / "events" / "index.html"
    html = page.read_text()
    page.write_text(
        html.replace(
            "</main>",
            "<h2 id='zebra-summit'>Zebra summit</h2><p>The zebra summit meets in Oslo every spring.</p></main>",
            1,
        )
    )
    changed = await run_ingest(_sitemap(base), settings)
    assert changed["scrape"]["changed"] == 1
    assert 0 < changed["index"]["chunks_embedded"] < total / 2
    hits = Retriever(settings).search("where does the zebra summit meet?", k=3)
    assert hits[0].url.endswith("/docs/about/events/#zebra-summit")

    shutil.rmtree(small_site / "docs" / "about" / "style-guide")
    removed = await run_ingest(_sitemap(base), settings)
    assert removed["scrape"]["removed"] == 1
    pages = {c.page_url for c in IndexStore(settings).read_chunks(IndexStore(settings).current())}
    assert not any(p.endswith("/docs/about/style-guide/") for p in pages)


async def test_a_broken_scrape_is_refused_and_the_live_index_stays(
    tmp_path: Path, serve, small_site: Path
) -> None:
    base = serve(small_site)
    settings = _settings(tmp_path)
    await run_ingest(_sitemap(base), settings)
    store = IndexStore(settings)
    live = store.current_id()
    for name in (
        "community",
        "contributing",
        "events",
        "governance",
    ):  # half the site is gone (404)
        shutil.rmtree(small_site / "docs" / "about" / name)
    with pytest.raises(PublishRefusedError, match="fewer than the live one"):
        await run_ingest(_sitemap(base), settings)
    assert store.current_id() == live
    forced = await run_ingest(dataclasses.replace(_sitemap(base), force=True), settings)
    assert forced["index"]["published"] and store.current_id() != live


def test_the_job_scripts_run_as_cml_runs_them(tmp_path: Path, serve, small_site: Path) -> None:
    base = serve(small_site)
    env = {
        **os.environ,
        "DOCBOT_DATA_DIR": str(tmp_path / "data"),
        "DOCBOT_INGEST_ALLOW_PRIVATE": "1",
        "DOCBOT_LOG_LEVEL": "warning",
        "DOCBOT_INGEST_SOURCE": f"sitemap:{base}/sitemap.xml",
    }
    scrape = subprocess.run(
        [sys.executable, "ingest/scrape_job.py"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert scrape.returncode == 0, scrape.stderr[-2000:]
    assert json.loads(scrape.stdout.strip().splitlines()[-1])["pages"] == 8
    index = subprocess.run(
        [sys.executable, "ingest/index_job.py"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert index.returncode == 0, index.stderr[-2000:]
    summary = json.loads(index.stdout.strip().splitlines()[-1])
    assert summary["index"]["published"] and summary["pages_added"] == 8, summary
    saved = json.loads((tmp_path / "data" / "ingest" / "last_summary.json").read_text())
    assert saved["index"]["version"] == summary["index"]["version"]
    # nothing to index is a clear error, not a traceback
    empty = subprocess.run(
        [sys.executable, "ingest/index_job.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**env, "DOCBOT_DATA_DIR": str(tmp_path / "empty")},
    )
    assert (
        empty.returncode == 2
        and "docbot scrape" in empty.stderr
        and "Traceback" not in empty.stderr
    )
