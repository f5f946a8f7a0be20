"""BM25 keyword search over chunks, with titles and headings weighing in."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from rag.chunking import Chunk
from rag.tokenize import tokenize

log = logging.getLogger(__name__)

# Title and heading words count this many times over body words: a chunk whose
# heading names the thing asked about is usually the right section.
HEADER_WEIGHT = 2


def keyword_text(chunk: Chunk) -> list[str]:
    header = tokenize(chunk.section)
    return header * HEADER_WEIGHT + tokenize(chunk.text)


def build_keyword_index(chunks: list[Chunk], directory: Path) -> None:
    import bm25s

    corpus = [keyword_text(c) or ["∅"] for c in chunks]
    model = bm25s.BM25()
    if corpus:
        model.index(corpus, show_progress=False)
    directory.mkdir(parents=True, exist_ok=True)
    if corpus:
        model.save(str(directory), show_progress=False)


class KeywordIndex:
    def __init__(self, directory: Path, size: int) -> None:
        import bm25s

        self.size = size
        self.model = (
            bm25s.BM25.load(str(directory), show_progress=False, mmap=False) if size else None
        )
        self.vocab = set(self.model.vocab_dict) if self.model is not None else set()

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, scores) best first; empty when no query word is known."""
        tokens = [t for t in tokenize(query) if t in self.vocab]
        if not tokens or self.model is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        k = min(k, self.size)
        docs, scores = self.model.retrieve([tokens], k=k, show_progress=False, n_threads=1)
        docs, scores = docs[0], scores[0]
        keep = scores > 0
        return docs[keep].astype(np.int64), scores[keep].astype(np.float32)
