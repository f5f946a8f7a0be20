"""Sentence vectors: how closely one sentence of a section matches the question.

A section's vector averages everything it says, so a question about something the docs
do not say, asked in their own words ("can katib store trial results in redis"), scores
about as high against the section on Katib's database as a real question does. The best
single sentence of the retrieved sections tells them apart better: an answerable
question usually has one sentence that says what it asks, an unanswerable one only a
topic. `rag.retrieve.Retriever.relevance` blends it into the decline score.

Each chunk's sentences (`split_sentences`) are embedded once, at index time, and stored
with the version (`rag.index_store`): at question time the check is a few dot products.
Pure apart from the numpy arrays.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# A sentence ends at . ! or ? before whitespace, or at a line break (list items, table
# rows and code lines are "sentences" too).
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n+")
# Fewer words than this say too little to match a question on their own ("Next steps").
MIN_WORDS = 3
# Sentences embedded per chunk at most: the first ones (a long code block or table would
# otherwise cost the embedding time of many chunks).
MAX_PER_CHUNK = 40
# Stored as float16: half the disk and memory; cosines move by about 1e-3.
DTYPE = np.float16


def split_sentences(text: str) -> list[str]:
    """The sentences of a chunk's text that say enough to be compared with a question."""
    parts = (part.strip() for part in _BOUNDARY.split(text))
    return [p for p in parts if len(p.split()) >= MIN_WORDS][:MAX_PER_CHUNK]


@dataclass(frozen=True)
class SentenceVectors:
    """All chunks' sentence vectors: chunk row i owns `vectors[offsets[i]:offsets[i + 1]]`."""

    offsets: np.ndarray  # int64, one more than there are chunks
    vectors: np.ndarray  # (sentences, dimension), normalised

    @property
    def chunk_count(self) -> int:
        return len(self.offsets) - 1

    def of(self, row: int) -> np.ndarray:
        return self.vectors[self.offsets[row] : self.offsets[row + 1]]

    def best(self, row: int, query: np.ndarray) -> float | None:
        """The highest cosine of the query and one sentence of chunk `row` (None: it has none)."""
        rows = self.of(row)
        if not len(rows):
            return None
        return float((np.asarray(rows, dtype=np.float32) @ query).max())


def build_sentence_vectors(
    texts: Sequence[str],
    embed: Callable[[list[str]], np.ndarray],
    dimension: int,
    reuse: Callable[[int], np.ndarray | None] = lambda _: None,
    keep: Callable[[str], bool] = lambda _: True,
) -> tuple[SentenceVectors, int]:
    """Sentence vectors of each chunk text, and how many sentences were embedded anew.

    Only sentences `keep` accepts are embedded (the index builder leaves out those an
    English-only model cannot read). `reuse(i)` may hand back chunk i's vectors from an
    earlier version (same content), which are kept when their count matches its
    sentences. The rest go to `embed` in one call, so a GPU encoder sees one large batch."""
    per_chunk: list[np.ndarray | None] = []
    todo: list[str] = []
    counts: list[int] = []
    for i, text in enumerate(texts):
        sentences = [sentence for sentence in split_sentences(text) if keep(sentence)]
        counts.append(len(sentences))
        old = reuse(i) if sentences else np.zeros((0, dimension), dtype=DTYPE)
        if old is not None and len(old) == len(sentences):
            per_chunk.append(old)
        else:
            per_chunk.append(None)
            todo.extend(sentences)
    fresh = np.asarray(embed(todo), dtype=DTYPE) if todo else np.zeros((0, dimension), dtype=DTYPE)
    parts: list[np.ndarray] = []
    taken = 0
    for count, old in zip(counts, per_chunk, strict=True):
        if old is None:
            parts.append(fresh[taken : taken + count])
            taken += count
        else:
            parts.append(np.asarray(old, dtype=DTYPE))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    vectors = np.concatenate(parts) if parts else np.zeros((0, dimension), dtype=DTYPE)
    return SentenceVectors(offsets, vectors.reshape(-1, dimension)), len(todo)


def by_content(
    vectors: SentenceVectors | None, content_hashes: Iterable[str]
) -> dict[str, np.ndarray]:
    """Each chunk's sentence vectors keyed by its content hash (for reuse in a new version)."""
    if vectors is None:
        return {}
    return {h: vectors.of(row) for row, h in enumerate(content_hashes)}
