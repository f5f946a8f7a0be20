"""Build a new index version from pages: chunk, reuse or embed, check, publish.

Unchanged chunks (same embedded text and embedding model) take their vectors
from the live version instead of being embedded again. A new version is only
published after its checks pass; otherwise the live one stays untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bot.config import Settings
from ingest.model import Page
from rag.chunking import Chunk, chunk_pages
from rag.embeddings import Embedder, get_embedder
from rag.index_store import IndexStore, IndexStoreError, VersionInfo

log = logging.getLogger(__name__)


class IngestBusyError(RuntimeError):
    """Another ingest holds the lock."""


class IngestCancelledError(RuntimeError):
    """The ingest was interrupted (Ctrl-C) while building: nothing was published."""


class PublishRefusedError(IndexStoreError):
    """The new version failed a check; the live version was left as it was."""


@dataclass
class IndexSummary:
    version: str = ""
    previous_version: str = ""
    published: bool = False
    unchanged: bool = False  # the docs and model are as in the live version: nothing was built
    refused: str = ""
    pages: int = 0
    previous_pages: int = 0
    chunks: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    embedding_model: str = ""
    device: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@contextlib.contextmanager
def ingest_lock(settings: Settings) -> Iterator[None]:
    """One ingest at a time per data dir. The OS frees the lock if the process dies."""
    path = settings.index_dir / ".ingest.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IngestBusyError("another ingest is running") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


def is_ingest_running(settings: Settings) -> bool:
    path = settings.index_dir / ".ingest.lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _reusable_vectors(
    store: IndexStore, previous: VersionInfo | None, model: str
) -> dict[str, np.ndarray]:
    if previous is None or previous.manifest.get("embedding_model") != model:
        return {}
    try:
        chunks = store.read_chunks(previous)
        vectors = store.read_embeddings(previous)
    except (OSError, ValueError) as exc:
        log.warning("cannot reuse vectors of %s: %s", previous.id, exc)
        return {}
    return {c.content_hash: vectors[i] for i, c in enumerate(chunks)}


def build_index(
    pages: list[Page],
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    force: bool = False,
    progress: bool = False,
    source: str = "",
    cancelled: threading.Event | None = None,
) -> IndexSummary:
    """Build, check and publish a version from `pages`. Raises PublishRefusedError on a failed check.

    `cancelled`, set from another thread (an interrupted `docbot ingest` runs this in a worker
    thread that cannot be killed), stops the build before it publishes: IngestCancelledError.
    """
    embedder = embedder or get_embedder(
        settings.embedding_model, settings.embedding_device, settings.embedding_batch_size
    )
    store = IndexStore(settings)
    summary = IndexSummary(embedding_model=embedder.name, device=embedder.device)
    previous = store.current()
    summary.previous_version = previous.id if previous else ""
    summary.previous_pages = previous.page_count if previous else 0

    t0 = time.perf_counter()
    chunks: list[Chunk] = chunk_pages(
        pages, max_tokens=embedder.info.max_tokens, count_tokens=embedder.count_tokens
    )
    summary.pages = len({p.url for p in pages})
    summary.chunks = len(chunks)
    summary.seconds["chunk"] = round(time.perf_counter() - t0, 3)

    # Guard first: a broken scrape must not cost an embedding run either.
    if previous is not None and summary.previous_pages and not force:
        lost = 1.0 - summary.pages / summary.previous_pages
        if lost > settings.max_page_loss:
            summary.refused = (
                f"the new version has {summary.pages} pages, {lost:.0%} fewer than the live one "
                f"({summary.previous_pages}); the limit is {settings.max_page_loss:.0%}. Use --force to publish anyway."
            )
            raise PublishRefusedError(summary.refused)

    page_hashes = {p.url: p.content_hash() for p in pages}
    if (
        previous is not None
        and not force
        and previous.manifest.get("embedding_model") == embedder.name
        and previous.manifest.get("page_hashes") == page_hashes
        and previous.chunk_count == len(chunks)
    ):
        # Nothing changed: keep serving the live version instead of copying it.
        summary.unchanged = True
        summary.version = previous.id
        summary.chunks_reused = len(chunks)
        return summary

    t0 = time.perf_counter()
    reuse = _reusable_vectors(store, previous, embedder.name)
    dim = embedder.info.dimension
    vectors = np.zeros((len(chunks), dim), dtype=np.float32)
    todo: list[int] = []
    for i, c in enumerate(chunks):
        vec = reuse.get(c.content_hash)
        if vec is not None and len(vec) == dim:
            vectors[i] = vec
        else:
            todo.append(i)
    summary.chunks_reused = len(chunks) - len(todo)
    summary.seconds["reuse"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    if todo:
        log.info(
            "embedding %d chunks (%d reused) on %s",
            len(todo),
            summary.chunks_reused,
            embedder.device,
        )
        new = embedder.embed_passages([chunks[i].embed_text for i in todo], show_progress=progress)
        vectors[todo] = new
    summary.chunks_embedded = len(todo)
    summary.seconds["embed"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    manifest = {
        "embedding_model": embedder.name,
        "dimension": dim,
        "pages": summary.pages,
        "source": source,
        "page_hashes": page_hashes,
    }
    version = store.write_version(chunks, vectors, manifest)
    summary.version = version.id
    summary.seconds["write"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    try:
        problem = check_version(version, settings, embedder)
    except BaseException:
        # never published: left in versions/ it would take a DOCBOT_KEEP_VERSIONS slot and
        # become the target of a later `--rollback` without ever having passed its checks
        store.drop(version.id)
        raise
    summary.seconds["check"] = round(time.perf_counter() - t0, 3)
    if problem:
        store.drop(version.id)
        summary.refused = problem
        raise PublishRefusedError(problem)
    if cancelled is not None and cancelled.is_set():
        store.drop(version.id)
        raise IngestCancelledError("ingest interrupted: nothing was published")
    store.publish(version)
    summary.published = True
    return summary


def check_version(version: VersionInfo, settings: Settings, embedder: Embedder) -> str:
    """Open the written version like the bot will and ask it something. '' when fine."""
    from rag.index_store import close_client
    from rag.retrieve import Retriever

    if version.chunk_count == 0:
        return "the new version has no chunks"
    store = IndexStore(settings)
    chunks = store.read_chunks(version)
    probe = chunks[0]
    retriever = Retriever(settings, embedder)
    try:
        # Stamp it with the live pointer's stamp: otherwise search() -> refresh() sees a
        # "changed" pointer and swaps in the live version, probing the wrong index.
        loaded = retriever._load(version, retriever.store.pointer_stamp())
    except Exception as exc:
        return f"the new version cannot be opened: {type(exc).__name__}: {exc}"
    retriever._index = loaded
    try:
        hits = retriever.search(probe.embed_text, k=5)
    except Exception as exc:  # a refusal with its reason, not a traceback; nothing published
        return f"the probe query failed: {type(exc).__name__}: {exc}"
    finally:
        close_client(loaded.client)  # the bot opens its own; this one would stay open for good
        # the loaded index and its retriever refer to each other (keyword.ordinary): freed
        # only by a later garbage collection otherwise, with its files held open till then
        retriever._index = None
    if not any(h.chunk_id == probe.id for h in hits):
        return "the probe query did not find its own chunk"
    return ""


def write_summary(settings: Settings, summary: dict[str, object]) -> Path:
    """Save the last ingest summary where the bot's status and CML reingest read it."""
    import json

    from rag.index_store import atomic_write_text

    path = settings.data_dir / "ingest" / "last_summary.json"
    atomic_write_text(path, json.dumps(summary, indent=2, ensure_ascii=False))
    return path
