"""Fixtures for ingest tests: the Kubeflow docs site served on loopback by
`shared/tools/serve_site.py` (a real static-docs server: ETag, Last-Modified,
304s, robots.txt, --fail-every, --delay-ms), whole or as a small copy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from ingest.fetch import FetchPolicy
from tests.ingest.sites import ABOUT_PAGES, SERVE_SITE, SITE, write_site_lists

Serve = Callable[..., str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """`serve(site_dir, "--fail-every", "3")` -> base URL; servers stop after the test."""
    procs: list[subprocess.Popen[str]] = []

    def start(site: Path, *args: str) -> str:
        proc = subprocess.Popen(
            [sys.executable, str(SERVE_SITE), str(site), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # connection resets on purpose are not news
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("serving http://127.0.0.1:"), line
        return line.split()[1]

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def small_site(tmp_path: Path) -> Path:
    """A writable copy of the /docs/about/ pages, with its own links.txt and sitemap.xml."""
    if not SITE.is_dir():
        pytest.skip("shared Kubeflow site not present")
    site = tmp_path / "site"
    for path in ABOUT_PAGES:
        src = SITE / path.strip("/") / "index.html"
        dst = site / path.strip("/") / "index.html"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    write_site_lists(site, ABOUT_PAGES)
    return site


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", ingest_allow_private=True)


@pytest.fixture
def fast_policy() -> FetchPolicy:
    """Loopback allowed, short waits: the server's `Retry-After: 1` is capped to 50 ms."""
    return FetchPolicy(allow_private=True, backoff_s=0.01, max_backoff_s=0.05, timeout_s=10.0)
