"""The docs snapshot on disk: what scrape (CML Job 1) hands to index (CML Job 2).

Layout under the data dir::

    snapshots/<id>/pages.jsonl     one Page.to_dict() per line
    snapshots/<id>/manifest.json   source, started/finished, counts, and per fetched
                                   URL: citation url, status, etag, last_modified,
                                   content hash, error (and a crawl's links)
    snapshots/current              the id of the last complete snapshot

A snapshot directory is written in full before `current` is flipped to it
(temp file + `os.replace`, atomic on POSIX), so a reader never sees half a
snapshot, and a scrape that dies leaves the previous one live. The last few
snapshots are kept; older ones are pruned.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ingest.model import Page

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1


class SnapshotError(RuntimeError):
    """The snapshot store is unusable (another scrape holds the lock, corrupt files)."""


def snapshots_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "snapshots"


def new_snapshot_id(now: datetime | None = None) -> str:
    """Sortable by time, unique across processes: 20261125T010400Z-1a2b3c."""
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_snapshot(
    data_dir: str | Path, snapshot_id: str, pages: Iterable[Page], manifest: dict[str, Any]
) -> Path:
    """Write a snapshot's files (not yet current). Returns its directory."""
    folder = snapshots_dir(data_dir) / snapshot_id
    folder.mkdir(parents=True, exist_ok=False)
    lines = [json.dumps(p.to_dict(), ensure_ascii=False) for p in pages]
    _atomic_write(
        folder / "pages.jsonl", ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")
    )
    manifest = {"version": MANIFEST_VERSION, "id": snapshot_id, **manifest}
    _atomic_write(
        folder / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
    )
    return folder


def publish(data_dir: str | Path, snapshot_id: str) -> None:
    """Make a fully written snapshot the current one (atomic pointer flip)."""
    folder = snapshots_dir(data_dir) / snapshot_id
    if not (folder / "manifest.json").is_file() or not (folder / "pages.jsonl").is_file():
        raise SnapshotError(f"snapshot {snapshot_id} is incomplete; not publishing it")
    _atomic_write(snapshots_dir(data_dir) / "current", (snapshot_id + "\n").encode())


def current_id(data_dir: str | Path) -> str | None:
    try:
        value = (snapshots_dir(data_dir) / "current").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return value or None


def load_snapshot(data_dir: str | Path, snapshot_id: str) -> tuple[list[Page], dict[str, Any]]:
    folder = snapshots_dir(data_dir) / snapshot_id
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        pages = []
        with open(folder / "pages.jsonl", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    pages.append(Page.from_dict(json.loads(line)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"snapshot {snapshot_id} is unreadable: {exc}") from None
    return pages, manifest


def load_current(data_dir: str | Path) -> tuple[list[Page], dict[str, Any]] | None:
    """Pages and manifest of the current snapshot; None when no scrape has completed."""
    snapshot_id = current_id(data_dir)
    if snapshot_id is None:
        return None
    return load_snapshot(data_dir, snapshot_id)


def prune(data_dir: str | Path, keep: int = 3) -> list[str]:
    """Delete all but the newest `keep` snapshots (never the current one, never unfinished
    ones of a running scrape: only directories older than the current are candidates)."""
    current = current_id(data_dir)
    root = snapshots_dir(data_dir)
    if current is None or not root.is_dir():
        return []
    ids = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    older = [i for i in ids if i < current]
    doomed = older[: max(0, len(older) - max(0, keep - 1))]
    for snapshot_id in doomed:
        shutil.rmtree(root / snapshot_id, ignore_errors=True)
    return doomed


@contextlib.contextmanager
def scrape_lock(data_dir: str | Path) -> Iterator[None]:
    """One scrape at a time per data dir (a second one fails fast with a clear message)."""
    root = snapshots_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SnapshotError("another scrape is running on this data dir") from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
