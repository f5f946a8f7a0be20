"""The pipelined bulk encoder gives sentence-transformers' vectors, in order, and fails loudly."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.bulk_encode import BulkEncoder, find_tokenizer_json
from rag.embeddings import Embedder, resolve_model_path

WORDS = "Kubeflow pipelines run on Kubernetes and train models with Katib".split()


def mixed_texts(n: int = 300) -> list[str]:
    """Short and long, empty, Korean and Japanese, one far beyond 256 tokens."""
    rng = np.random.default_rng(7)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 120)))) for _ in range(n - 6)]
    texts += [
        "",
        "Kubeflow를 어떻게 설치하나요? 파이프라인을 실행하려면 먼저 클러스터가 필요합니다.",
        "Katib は ハイパーパラメータ を 調整します",
        " ".join(f"word{i}" for i in range(700)),
        "  leading and trailing spaces  ",
        "Run `kubectl apply -k manifests/` and wait: 100% ready!\n\nThen open the dashboard.",
    ]
    order = rng.permutation(len(texts))  # lengths interleaved, so sorting really reorders
    return [texts[i] for i in order]


@pytest.fixture(scope="module")
def model() -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model_path(""), device="cpu")


@pytest.fixture(scope="module")
def bulk(model: Any) -> BulkEncoder:
    encoder = BulkEncoder.for_model(model, resolve_model_path(""), workers=2)
    assert encoder is not None
    return encoder


@pytest.mark.slow
def test_same_vectors_as_sentence_transformers_encode(model: Any, bulk: BulkEncoder) -> None:
    texts = mixed_texts()
    reference = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    ours = bulk.encode(model, texts, batch_size=64)
    assert ours.shape == reference.shape == (len(texts), 384)
    assert ours.dtype == np.float32
    assert float(np.max(np.abs(ours - reference))) < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_order_is_preserved(model: Any, bulk: BulkEncoder) -> None:
    texts = mixed_texts(40)
    together = bulk.encode(model, texts, batch_size=8)
    for i in (0, 7, 23, 39):  # each row is that text's own vector
        alone = bulk.encode(model, [texts[i]], batch_size=8)[0]
        assert float(np.max(np.abs(together[i] - alone))) < 1e-5
    reversed_ = bulk.encode(model, texts[::-1], batch_size=8)
    assert np.allclose(reversed_[::-1], together, atol=1e-5)


def test_fewer_batches_than_workers_and_nothing_at_all(model: Any) -> None:
    encoder = BulkEncoder.for_model(model, resolve_model_path(""), workers=8)
    assert encoder is not None
    texts = ["one", "two words", "three little words"]
    ours = encoder.encode(model, texts, batch_size=64)  # one batch, eight workers
    reference = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert float(np.max(np.abs(ours - reference))) < 1e-5
    assert encoder.encode(model, [], batch_size=64).shape == (0, 384)


def test_tokenizers_are_never_shared_between_threads(model: Any) -> None:
    """A fast tokenizer used by two threads at once raises "Already borrowed"."""
    overlaps: list[int] = []
    loaded: list[Any] = []

    class Watched:
        def __init__(self, tokenizer: Any) -> None:
            self.tokenizer, self.busy = tokenizer, False

        def encode_batch(self, texts: list[str]) -> Any:
            if self.busy:
                overlaps.append(threading.get_ident())
            self.busy = True
            try:
                return self.tokenizer.encode_batch(texts)  # releases the GIL
            finally:
                self.busy = False

    class Encoder(BulkEncoder):
        def _load_tokenizer(self) -> Any:
            loaded.append(Watched(super()._load_tokenizer()))
            return loaded[-1]

    tokenizer_json = find_tokenizer_json(resolve_model_path(""))
    assert tokenizer_json is not None
    encoder = Encoder(tokenizer_json, max_length=256, workers=4)
    ours = encoder.encode(model, mixed_texts(200), batch_size=4)
    assert ours.shape == (200, 384)
    assert not overlaps
    assert len(loaded) <= 1 + encoder.workers  # at most one per worker (plus the first)


@pytest.mark.timeout(60)
def test_an_error_in_a_worker_surfaces_and_does_not_hang(model: Any, bulk: BulkEncoder) -> None:
    texts = mixed_texts(100)
    calls = 0
    original = bulk.tokenize

    def failing(batch: list[str], *, pin: bool = False) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("tokenizer broke")
        return original(batch, pin=pin)

    bulk.tokenize = failing  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="tokenizer broke"):
            bulk.encode(model, texts, batch_size=8)
    finally:
        del bulk.tokenize
    with pytest.raises(TypeError):  # not a string: the tokenizer's own error, raised here
        bulk.encode(model, ["fine", None, "also fine"], batch_size=2)  # type: ignore[list-item]
    assert bulk.encode(model, texts[:5], batch_size=8).shape == (5, 384)  # still usable


def test_models_without_tokenizer_json_fall_back(tmp_path: Path, model: Any) -> None:
    assert find_tokenizer_json(str(tmp_path)) is None
    assert BulkEncoder.for_model(model, str(tmp_path)) is None
    assert find_tokenizer_json(resolve_model_path("")) is not None


def test_embedder_uses_it_when_asked_and_applies_prefixes() -> None:
    pipelined = Embedder(device="cpu", pipelined=True)
    texts = mixed_texts(70)  # over SMALL_BATCH: the bulk path
    ours = pipelined.embed_passages(texts)
    assert pipelined._bulk
    # a CPU reference of its own: the session's shared embedder is on CUDA where there is one
    plain = Embedder(device="cpu")
    assert float(np.max(np.abs(ours - plain.embed_passages(texts)))) < 1e-5
    assert not plain._use_pipeline(1000)  # CPU default stays on model.encode
    assert not pipelined._use_pipeline(Embedder.SMALL_BATCH)
    pipelined.passage_prefix = "passage: "
    prefixed = pipelined.embed_passages(texts)
    model = pipelined._load_st()
    reference = model.encode(["passage: " + t for t in texts], normalize_embeddings=True)
    assert float(np.max(np.abs(prefixed - reference))) < 1e-5
