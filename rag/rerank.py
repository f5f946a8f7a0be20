"""Optional cross-encoder reranking of the fused candidates (`DOCBOT_RERANKER_MODEL`).

Off by default: the packaged setup and the tests run without one. On CML a
sentence-transformers cross-encoder (e.g. `cross-encoder/ms-marco-MiniLM-L-6-v2`)
can be downloaded and named here. It reads question and section together, which
is more precise than comparing two embeddings, but costs a model call per
candidate, so only the best `RERANK_CANDIDATES` fused sections are rescored.

The reranked order replaces the fused order; each hit's `fused` becomes the
cross-encoder's score squashed to 0..1 (a logistic), so that page ranking and
the "clear lead" rule of `rag.retrieve` work unchanged. `score` (the cosine
similarity) is left alone: the decline threshold is calibrated on it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

RERANK_CANDIDATES = 30


class CrossEncoderLike(Protocol):
    def predict(self, pairs: list[tuple[str, str]], **kwargs: Any) -> Sequence[float]: ...


class HitLike(Protocol):
    section: str
    text: str
    fused: float


H = TypeVar("H", bound=HitLike)


def squash(score: float) -> float:
    """A logit to 0..1 (scores already in 0..1 barely move in order, never in rank)."""
    if score >= 0:
        return 1.0 / (1.0 + math.exp(-score))
    z = math.exp(score)
    return z / (1.0 + z)


class Reranker:
    def __init__(self, model: CrossEncoderLike, name: str = "") -> None:
        self.model = model
        self.name = name
        self._lock = threading.Lock()  # one predict at a time: torch models are not re-entrant

    def rerank(self, query: str, hits: list[H], limit: int = RERANK_CANDIDATES) -> list[H]:
        """The first `limit` hits reordered by cross-encoder score; the rest follow unchanged."""
        head, tail = hits[:limit], hits[limit:]
        if not head:
            return hits
        pairs = [(query, f"{h.section}\n{h.text}") for h in head]
        with self._lock:
            scores = [float(s) for s in self.model.predict(pairs)]
        for hit, score in zip(head, scores, strict=True):
            hit.fused = squash(score)
        head.sort(key=lambda h: h.fused, reverse=True)
        # below every reranked hit, in their fused order
        floor = min((h.fused for h in head), default=0.0)
        for i, hit in enumerate(tail):
            hit.fused = floor * 0.5 / (i + 1)
        return head + tail


_CACHE: dict[tuple[str, str], Reranker] = {}
_CACHE_LOCK = threading.Lock()


def get_reranker(model_name: str, device: str = "auto") -> Reranker:
    """One cross-encoder per (name, device) per process; loading takes seconds."""
    key = (model_name, device)
    with _CACHE_LOCK:
        if key not in _CACHE:
            from sentence_transformers import CrossEncoder

            kwargs: dict[str, Any] = {}
            if device and device != "auto":
                kwargs["device"] = device
            _CACHE[key] = Reranker(CrossEncoder(model_name, **kwargs), model_name)
        return _CACHE[key]
