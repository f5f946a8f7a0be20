"""Hybrid retrieval: dense vectors (Chroma) + BM25, fused by rank, one page once.

The bot calls `Retriever.search` from a worker thread. The live index version
is re-read cheaply between questions (`refresh`), so a newly published version
is picked up without a restart, and a half-built one is never seen.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from bot.config import Settings
from bot.types import Turn
from rag.chunking import Chunk
from rag.embeddings import Embedder, get_embedder
from rag.index_store import IndexStore, IndexStoreError, VersionInfo, chroma_client, collection_name
from rag.keyword import KeywordIndex

log = logging.getLogger(__name__)

RRF_K = 60  # reciprocal-rank-fusion constant; 60 is the usual, robust choice
CANDIDATES = 50  # per retriever, before fusion
# Calibrated on tests/data/dev_questions.jsonl with the packaged MiniLM: the best
# chunk's cosine similarity below this means the docs most likely don't cover it.
DEFAULT_MIN_RELEVANCE = 0.40
FOLLOWUP_MAX_WORDS = 8


@dataclass
class Hit:
    chunk_id: str
    page_url: str
    anchor: str
    title: str
    section: str
    text: str
    score: float  # cosine similarity of question and chunk, 0..1
    fused: float = 0.0
    last_updated: str = ""
    row: int = -1

    @property
    def url(self) -> str:
        return f"{self.page_url}#{self.anchor}" if self.anchor else self.page_url

    def to_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "title": self.title,
            "section": self.section,
            "score": round(self.score, 4),
            "text": self.text,
        }


@dataclass
class LoadedIndex:
    version: VersionInfo
    chunks: list[Chunk]
    embeddings: np.ndarray
    keyword: KeywordIndex
    collection: object
    stamp: tuple[int, int] | None = None
    pages: int = 0
    extras: dict[str, object] = field(default_factory=dict)


def condense_query(question: str, history: list[Turn] | None) -> str:
    """Fold a short follow-up into the thread's last question, for retrieval.

    "and for katib?" after "how do I install notebooks" becomes
    "and for katib? how do I install notebooks": the follow-up's own words
    come first (they weigh more in the fused ranking, see `search`).
    """
    if not history:
        return question
    last_user = next(
        (
            t.text
            for t in reversed(history)
            if t.role == "user" and t.text.strip() != question.strip()
        ),
        "",
    )
    if not last_user or len(question.split()) > FOLLOWUP_MAX_WORDS:
        return question
    return f"{question} {last_user}"


class Retriever:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.store = IndexStore(settings)
        self._embedder = embedder
        self._index: LoadedIndex | None = None
        self._lock = threading.Lock()
        self.min_relevance = (
            settings.min_relevance if settings.min_relevance >= 0 else DEFAULT_MIN_RELEVANCE
        )

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(
                self.settings.embedding_model,
                self.settings.embedding_device,
                self.settings.embedding_batch_size,
            )
        return self._embedder

    @property
    def index(self) -> LoadedIndex | None:
        self.refresh()
        return self._index

    def refresh(self) -> bool:
        """Load the live version if it changed. Returns True when a version is loaded."""
        stamp = self.store.pointer_stamp()
        current = self._index
        if current is not None and current.stamp == stamp:
            return True
        with self._lock:
            if self._index is not None and self._index.stamp == stamp:
                return True
            vid = self.store.current_id()
            if vid is None:
                self._index = None
                return False
            if self._index is not None and self._index.version.id == vid:
                self._index.stamp = stamp
                return True
            try:
                self._index = self._load(self.store.version(vid), stamp)
            except Exception:
                # keep serving the previous version rather than nothing
                log.exception("could not load index version %s; keeping the previous one", vid)
                if self._index is None:
                    raise
            return self._index is not None

    def _load(self, version: VersionInfo, stamp: tuple[int, int] | None) -> LoadedIndex:
        started = time.perf_counter()
        chunks = self.store.read_chunks(version)
        embeddings = self.store.read_embeddings(version)
        keyword = KeywordIndex(version.path / "bm25", len(chunks))
        client = chroma_client(self.settings, version.path)
        collection = client.get_collection(collection_name(version.id), embedding_function=None)
        model = version.manifest.get("embedding_model")
        if model and model != self.embedder.name:
            raise IndexStoreError(
                f"index {version.id} was embedded with {model!r} but DOCBOT_EMBEDDING_MODEL is {self.embedder.name!r}; re-run `docbot index`"
            )
        log.info(
            "loaded index version %s: %d chunks in %.2fs",
            version.id,
            len(chunks),
            time.perf_counter() - started,
        )
        return LoadedIndex(
            version, chunks, embeddings, keyword, collection, stamp, pages=version.page_count
        )

    def search(
        self, question: str, k: int = 5, history: list[Turn] | None = None, *, diverse: bool = True
    ) -> list[Hit]:
        """Best `k` sections for a question, best first; [] when no index is live."""
        index = self.index
        if index is None or not index.chunks:
            return []
        query = condense_query(question, history)
        qvec = self.embedder.embed_query(query)
        n = min(CANDIDATES, len(index.chunks))
        dense = index.collection.query(query_embeddings=[qvec], n_results=n, include=["metadatas"])  # type: ignore[attr-defined]
        dense_rows = [int(m["row"]) for m in dense["metadatas"][0]]
        kw_rows, _ = index.keyword.search(query if query == question else f"{question} {query}", n)
        fused: dict[int, float] = {}
        for rank, row in enumerate(dense_rows):
            fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank + 1)
        for rank, row in enumerate(kw_rows.tolist()):
            fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank + 1)
        rows = sorted(fused, key=fused.__getitem__, reverse=True)
        sims = np.asarray(index.embeddings[rows], dtype=np.float32) @ qvec if rows else np.zeros(0)
        hits = []
        for row, sim in zip(rows, sims.tolist(), strict=True):
            c = index.chunks[row]
            hits.append(
                Hit(
                    c.id,
                    c.page_url,
                    c.anchor,
                    c.title,
                    c.section,
                    c.text,
                    float(sim),
                    fused[row],
                    c.last_updated,
                    row,
                )
            )
        return diversify(hits, k) if diverse else hits[:k]

    def is_relevant(self, hits: list[Hit]) -> bool:
        return bool(hits) and max(h.score for h in hits) >= self.min_relevance


def diversify(hits: list[Hit], k: int) -> list[Hit]:
    """Best hit of each page first; a page's further hits only fill what is left."""
    firsts: list[Hit] = []
    rest: list[Hit] = []
    seen: set[str] = set()
    for hit in hits:
        (rest if hit.page_url in seen else firsts).append(hit)
        seen.add(hit.page_url)
    return (firsts + rest)[:k]
