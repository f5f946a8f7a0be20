"""On a GPU, bulk embedding takes the pipelined encoder in float16 (pinned memory,
non-blocking copies) and gives the CPU's float32 vectors, in order.

Skipped without CUDA, as in CI; `bash bench/gpu_bench.sh tests` runs these on a lent GPU
machine (2026-12-04: passed on an H200)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embeddings import Embedder
from tests.rag.test_bulk_encode import mixed_texts

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def gpu() -> Embedder:
    return Embedder(device="cuda")


@pytest.fixture(scope="module")
def cpu() -> Embedder:
    return Embedder(device="cpu", pipelined=False)


def test_cuda_bulk_embedding_is_pipelined_in_float16_batches_of_512(gpu: Embedder) -> None:
    assert gpu.device == "cuda"
    assert gpu.batch_size == 512
    assert gpu._use_pipeline(1_000)
    assert next(gpu._load_st().parameters()).dtype == torch.float16


def test_cuda_vectors_match_cpu_float32_vectors_row_for_row(gpu: Embedder, cpu: Embedder) -> None:
    texts = mixed_texts(1_200)  # several batches, lengths interleaved, one past 256 tokens
    ours = gpu.embed_passages(texts)
    reference = cpu.embed_passages(texts)
    assert ours.shape == reference.shape == (len(texts), 384)
    assert ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-3)
    cosine = np.sum(ours * reference, axis=1)
    assert float(cosine.min()) > 0.999  # fp16 rounding only; a row out of order would be far


def test_questions_and_empty_input_on_a_cuda_embedder(gpu: Embedder, cpu: Embedder) -> None:
    question = "how do i run a katib experiment from a notebook?"
    assert float(np.dot(gpu.embed_query(question), cpu.embed_query(question))) > 0.9999
    assert gpu.embed_passages([]).shape == (0, 384)
    assert float(np.dot(gpu.embed_passages(["Katib"])[0], cpu.embed_passages(["Katib"])[0])) > 0.999
