"""Index versions on disk: build aside, check, publish atomically, keep a few.

Layout under `<data_dir>/index/`:

    current                   the live version id (replaced atomically)
    versions/<id>/            one complete version
        manifest.json         counts, embedding model, page hashes, checks
        chunks.jsonl          one Chunk per line (text for keyword search, reuse)
        embeddings.npy        float32 vectors, row i = line i of chunks.jsonl
        bm25/                 the keyword index
        chroma/               the embedded Chroma database (embedded mode)
    building/<id>/            a version being written; never read by the bot

Against a Chroma server the vectors live in the collection `docbot_<id>`
instead of `chroma/`; the rest stays on the shared data dir. Chroma's embedded
`PersistentClient` is not safe for a writer and a reader in two processes, so a
version is never written again once published: the bot only ever opens
finished versions, and switches when `current` changes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import Settings
from rag.chunking import Chunk

log = logging.getLogger(__name__)

COLLECTION_PREFIX = "docbot_"


class IndexStoreError(RuntimeError):
    """The index is missing, broken, or a version cannot be published."""


def new_version_id() -> str:
    # microseconds: ids sort in build order even for two builds in one second
    # (list_versions, rollback and prune rely on that order)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    return f"v{now}-{uuid.uuid4().hex[:6]}"


def atomic_write_text(path: Path, text: str) -> None:
    """Write a small file so that readers see the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_tree(root: Path) -> None:
    """Flush every file and directory under `root` to disk, and `root`'s entry in its parent.

    Renames and the pointer's fsync order nothing else: without this, after a power loss
    `current` could name a version whose files were still only in the page cache.
    """
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            _fsync_path(Path(dirpath) / name)
        _fsync_path(Path(dirpath))
    _fsync_path(root.parent)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)  # directories too: that syncs their entries (Linux)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def chroma_client(settings: Settings, version_dir: Path | None = None) -> Any:
    """Embedded PersistentClient for a version dir, or an HttpClient to the configured server."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.uses_chroma_server:
        return chromadb.HttpClient(
            host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
        )
    if version_dir is None:
        raise IndexStoreError("embedded Chroma needs a version directory")
    return chromadb.PersistentClient(path=str(version_dir / "chroma"), settings=chroma_settings)


def close_client(client: Any) -> None:
    """Release a Chroma client's database files and connections.

    Chroma caches one client system per path (or per HttpClient) for the life of the
    process: without this, a long-running bot that re-ingests keeps every version's
    database open, the pruned ones too, whose disk space is then never freed.
    `close` is chromadb >= 1.1; older ones have nothing to release this way.
    """
    close = getattr(client, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception as exc:  # releasing must never fail a build or a question
        log.warning("could not close a Chroma client: %s", type(exc).__name__)


def collection_name(version: str) -> str:
    return COLLECTION_PREFIX + version.replace(":", "-")


@dataclass
class VersionInfo:
    id: str
    path: Path
    manifest: dict[str, Any]

    @property
    def chunk_count(self) -> int:
        return int(self.manifest.get("chunks", 0))

    @property
    def page_count(self) -> int:
        return int(self.manifest.get("pages", 0))


class IndexStore:
    """The versions of one data dir's index."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.index_dir
        self.versions_dir = self.root / "versions"
        self.building_dir = self.root / "building"
        self.pointer = self.root / "current"

    # reading ---------------------------------------------------------------
    def current_id(self) -> str | None:
        try:
            value = self.pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return value or None

    def pointer_stamp(self) -> tuple[int, int] | None:
        """Cheap change detection for the bot: (mtime_ns, size) of the pointer file."""
        try:
            st = self.pointer.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def version(self, version_id: str) -> VersionInfo:
        path = self.versions_dir / version_id
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IndexStoreError(f"index version {version_id} is missing") from None
        return VersionInfo(id=version_id, path=path, manifest=manifest)

    def current(self) -> VersionInfo | None:
        vid = self.current_id()
        return self.version(vid) if vid else None

    def list_versions(self) -> list[VersionInfo]:
        if not self.versions_dir.is_dir():
            return []
        out = []
        for path in sorted(self.versions_dir.iterdir()):
            if (path / "manifest.json").is_file():
                out.append(self.version(path.name))
        return out

    @staticmethod
    def read_chunks(version: VersionInfo) -> list[Chunk]:
        with open(version.path / "chunks.jsonl", encoding="utf-8") as fh:
            return [Chunk.from_dict(json.loads(line)) for line in fh if line.strip()]

    @staticmethod
    def read_embeddings(version: VersionInfo, *, mmap: bool = True) -> np.ndarray:
        return np.load(version.path / "embeddings.npy", mmap_mode="r" if mmap else None)

    # writing ---------------------------------------------------------------
    def write_version(
        self,
        chunks: list[Chunk],
        embeddings: np.ndarray,
        manifest: dict[str, Any],
        *,
        version_id: str | None = None,
    ) -> VersionInfo:
        """Write a complete version aside (not yet live). Returns it for checks."""
        from rag.keyword import build_keyword_index

        if len(chunks) != len(embeddings):
            raise IndexStoreError(f"{len(chunks)} chunks but {len(embeddings)} vectors")
        vid = version_id or new_version_id()
        work = self.building_dir / vid
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        with open(work / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for chunk in chunks:
                fh.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
        np.save(work / "embeddings.npy", np.asarray(embeddings, dtype=np.float32))
        build_keyword_index(chunks, work / "bm25")
        self._write_vectors(vid, work, chunks, embeddings)
        manifest = {
            **manifest,
            "version": vid,
            "chunks": len(chunks),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(),
        }
        (work / "manifest.json").write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        final = self.versions_dir / vid
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work, final)  # same filesystem: atomic directory rename
        return VersionInfo(id=vid, path=final, manifest=manifest)

    def _write_vectors(
        self, vid: str, work: Path, chunks: list[Chunk], embeddings: np.ndarray
    ) -> None:
        client = chroma_client(self.settings, work)
        try:
            name = collection_name(vid)
            if self.settings.uses_chroma_server:
                try:
                    client.delete_collection(name)
                except Exception:  # absent: nothing to clean
                    pass
            # embedding_function=None: we always pass vectors, so Chroma never loads its default ONNX model
            col = client.create_collection(
                name, embedding_function=None, metadata={"hnsw:space": "cosine"}
            )
            step = max(1, min(5000, int(client.get_max_batch_size())))
            for start in range(0, len(chunks), step):
                part = chunks[start : start + step]
                col.add(
                    ids=[c.id for c in part],
                    embeddings=np.asarray(embeddings[start : start + step], dtype=np.float32),
                    metadatas=[
                        {"row": start + i, "page_url": c.page_url} for i, c in enumerate(part)
                    ],
                )
        finally:
            # closed before `work` is renamed: the writer must not keep files open at a
            # path that no longer exists (readers open the version where it is published)
            close_client(client)

    def publish(self, version: VersionInfo) -> None:
        """Make `version` live, then prune old versions."""
        fsync_tree(version.path)  # durable before `current` names it (a few dozen files)
        atomic_write_text(self.pointer, version.id + "\n")
        log.info(
            "published index version %s (%d pages, %d chunks)",
            version.id,
            version.page_count,
            version.chunk_count,
        )
        self.prune()

    def rollback(self) -> VersionInfo:
        """Point `current` at the version before the live one.

        Under the ingest lock (IngestBusyError while an ingest runs): a publish prunes old
        versions, and a rollback in between could name one that the prune just deleted.
        """
        from rag.index_build import ingest_lock  # imported here: index_build imports this module

        with ingest_lock(self.settings):
            versions = self.list_versions()
            live = self.current_id()
            ids = [v.id for v in versions]
            if live not in ids or ids.index(live) == 0:
                raise IndexStoreError("no earlier index version to roll back to")
            previous = versions[ids.index(live) - 1]
            atomic_write_text(self.pointer, previous.id + "\n")
        log.info("rolled back index from %s to %s", live, previous.id)
        return previous

    def prune(self) -> list[str]:
        keep = self.settings.keep_versions
        versions = self.list_versions()
        live = self.current_id()
        removed: list[str] = []
        for v in versions[: max(0, len(versions) - keep)]:
            if v.id == live:
                continue
            self.drop(v.id)
            removed.append(v.id)
        # leftovers of killed builds
        if self.building_dir.is_dir():
            for stale in self.building_dir.iterdir():
                shutil.rmtree(stale, ignore_errors=True)
        return removed

    def drop(self, version_id: str) -> None:
        if self.settings.uses_chroma_server:
            client = None
            try:
                client = chroma_client(self.settings)
                client.delete_collection(collection_name(version_id))
            except Exception as exc:
                log.warning(
                    "could not delete Chroma collection of %s: %s", version_id, type(exc).__name__
                )
            finally:
                if client is not None:
                    close_client(client)
        shutil.rmtree(self.versions_dir / version_id, ignore_errors=True)


def page_counts(chunks: Iterable[Chunk]) -> int:
    return len({c.page_url for c in chunks})
