"""`docbot scrape` options and the CML Job 1 script."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from ingest import snapshot
from ingest.cli import register, run_scrape, source_from_args
from ingest.sources import DEFAULT_LINKS_FILE, SourceError, SourceSpec
from tests.ingest.sites import needs_site
from tests.shared_dir import ROOT


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="docbot")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["scrape", *argv])


def test_scrape_options_name_the_source():
    settings = Settings()
    assert source_from_args(
        parse("--sitemap", "https://d.test/sitemap.xml"), settings
    ) == SourceSpec("sitemap", "https://d.test/sitemap.xml")
    crawl = source_from_args(
        parse("--url", "https://d.test/ml/", "--prefix", "/ml/api/", "--depth", "3"), settings
    )
    assert crawl == SourceSpec("crawl", "https://d.test/ml/", prefix="/ml/api/", depth=3)
    assert source_from_args(parse("--path", "docs"), settings) == SourceSpec("path", "docs")
    # nothing given: DOCBOT_INGEST_SOURCE, else the shipped CML list
    assert source_from_args(parse(), settings) == SourceSpec("links", str(DEFAULT_LINKS_FILE))
    configured = Settings(ingest_source="https://d.test/sitemap.xml")
    assert source_from_args(parse(), configured).kind == "sitemap"
    with pytest.raises(SystemExit):
        parse("--path", "docs", "--url", "https://d.test/")  # one source at a time


def test_base_url_goes_with_a_folder_source():
    settings = Settings()
    spec = source_from_args(parse("--path", "docs", "--base-url", "https://d.test/"), settings)
    assert spec == SourceSpec("path", "docs", base_url="https://d.test/")
    # a folder named by DOCBOT_INGEST_SOURCE takes it too
    configured = Settings(ingest_source="path:docs")
    assert source_from_args(parse("--base-url", "https://d.test/"), configured).base_url == (
        "https://d.test/"
    )
    with pytest.raises(SourceError, match=r"\(--path\) only"):
        source_from_args(
            parse("--url", "https://d.test/", "--base-url", "https://d.test/"), settings
        )
    with pytest.raises(SourceError, match="http"):
        source_from_args(parse("--path", "docs", "--base-url", "d.test/docs"), settings)


def test_scrape_of_a_folder_takes_the_base_url(corpus_dir, tmp_path, capsys):
    """`docbot scrape --path DIR --base-url URL` writes the pages under their published URLs."""
    settings = Settings(data_dir=tmp_path / "data")
    code = run_scrape(
        parse("--path", str(corpus_dir), "--base-url", "https://d.test/", "--json"), settings
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["new"] == 5 and summary["requests"] == 0
    pages, manifest = snapshot.load_current(settings.data_dir)
    assert all(p.url.startswith("https://d.test/") for p in pages)
    assert manifest["source"]["base_url"] == "https://d.test/"


@needs_site
def test_run_scrape_prints_a_json_summary(small_site, serve, tmp_path, capsys):
    base = serve(small_site)
    settings = Settings(data_dir=tmp_path / "data")  # loopback allowed by the flag below
    code = run_scrape(parse("--links", f"{base}/links.txt", "--json", "--allow-private"), settings)
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["new"] == 8 and summary["published"] is True


def test_run_scrape_reports_a_bad_source_without_a_traceback(tmp_path, capsys):
    settings = Settings(data_dir=tmp_path / "data")
    code = run_scrape(parse("--links", str(tmp_path / "missing.txt")), settings)
    captured = capsys.readouterr()
    assert code == 2
    assert "links file not found" in captured.err and "Traceback" not in captured.err


@needs_site
def test_scrape_job_script_runs_from_the_project_root(small_site, serve, tmp_path):
    base = serve(small_site)
    env = {
        **os.environ,
        "DOCBOT_DATA_DIR": str(tmp_path / "data"),
        "DOCBOT_INGEST_ALLOW_PRIVATE": "true",
        "DOCBOT_INGEST_SOURCE": f"{base}/sitemap.xml",
    }
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "ingest/scrape_job.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["new"] == 8
    assert snapshot.current_id(Path(tmp_path / "data")) == summary["snapshot_id"]
