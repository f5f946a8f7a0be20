"""Cross-encoder reranking, with a stand-in model that scores by a keyword."""

from __future__ import annotations

from dataclasses import dataclass

from rag.rerank import Reranker, squash


@dataclass
class FakeHit:
    section: str
    text: str
    fused: float


class KeywordCrossEncoder:
    """Scores a (query, passage) pair 5.0 when the passage holds the query's last word."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str]]] = []

    def predict(self, pairs: list[tuple[str, str]], **kwargs: object) -> list[float]:
        self.calls.append(pairs)
        return [5.0 if q.split()[-1] in p else -5.0 for q, p in pairs]


def test_rerank_reorders_by_cross_encoder_score() -> None:
    hits = [FakeHit("A", "install widgetron", 0.9), FakeHit("B", "restore a backup", 0.8)]
    model = KeywordCrossEncoder()
    out = Reranker(model).rerank("how to restore backup", hits)
    assert [h.section for h in out] == ["B", "A"]
    assert out[0].fused > 0.99 and out[1].fused < 0.01
    assert model.calls[0][0] == ("how to restore backup", "A\ninstall widgetron")


def test_only_the_head_is_rescored_and_the_tail_stays_below() -> None:
    hits = [FakeHit(str(i), "backup" if i == 1 else "other", 1.0 - i / 10) for i in range(4)]
    out = Reranker(KeywordCrossEncoder()).rerank("backup", hits, limit=2)
    assert [h.section for h in out] == ["1", "0", "2", "3"]
    assert out[2].fused < out[1].fused and out[3].fused < out[2].fused


def test_empty_and_squash() -> None:
    assert Reranker(KeywordCrossEncoder()).rerank("q", []) == []
    assert squash(0.0) == 0.5
    assert 0.0 < squash(-30.0) < squash(30.0) <= 1.0
    assert squash(-800.0) == 0.0 and squash(800.0) == 1.0  # no overflow
