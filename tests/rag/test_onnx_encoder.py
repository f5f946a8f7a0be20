"""The ONNX Runtime query encoder gives the NumPy pass's vectors, and takes over from it safely."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import rag.onnx_encoder as onnx_encoder
from rag.embeddings import Embedder, resolve_model_path
from rag.numpy_encoder import NumpyEncoder
from rag.onnx_encoder import accelerate, build_runner
from tests.rag.test_numpy_encoder import TEXTS


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return Path(resolve_model_path(""))


@pytest.fixture(scope="module")
def reference(model_dir: Path) -> np.ndarray:
    """TEXTS through the NumPy pass, one batch of mixed lengths (padding included)."""
    return NumpyEncoder(model_dir).encode(TEXTS, batch_size=len(TEXTS))


def test_the_graph_gives_the_numpy_vectors(model_dir: Path, reference: np.ndarray) -> None:
    encoder = NumpyEncoder(model_dir)
    runner = build_runner(encoder)
    for batch_size in (1, 4, len(TEXTS)):  # one text alone, and padded batches
        encoder.runner = runner
        ours = encoder.encode(TEXTS, batch_size=batch_size)
        assert ours.dtype == np.float32 and ours.shape == reference.shape
        assert float(np.max(np.abs(ours - reference))) < 1e-5


def test_the_graph_has_an_ir_version_every_supported_onnx_runtime_reads(model_dir: Path) -> None:
    # Not the installed onnx's newest IR version (14 from onnx 1.23): ONNX Runtime refuses
    # newer ones than it knows, 1.16 (the oldest docbot allows) reads up to 9, and 1.23,
    # the last with Python 3.10 wheels, up to 11.
    import onnx

    model = onnx.load_model_from_string(onnx_encoder._serialized(NumpyEncoder(model_dir)))
    assert model.ir_version <= 9


def test_once_attached_the_runner_answers_and_the_numpy_weights_go(
    model_dir: Path, reference: np.ndarray
) -> None:
    encoder = NumpyEncoder(model_dir)
    settled = accelerate(encoder, background=False)
    assert settled.is_set() and encoder.runner is not None
    assert encoder.w == {}  # the session holds its own copy
    assert float(np.max(np.abs(encoder.encode(TEXTS) - reference))) < 1e-5


def test_without_onnx_the_numpy_pass_stays(
    model_dir: Path, reference: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the package were not installed
    encoder = NumpyEncoder(model_dir)
    assert accelerate(encoder, background=False).is_set()
    assert encoder.runner is None and encoder.w
    assert float(np.max(np.abs(encoder.encode(TEXTS) - reference))) < 1e-6


def test_a_graph_that_disagrees_with_the_numpy_pass_is_not_used(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_encoder, "MAX_PROBE_DIFF", -1.0)  # no graph can pass
    encoder = NumpyEncoder(model_dir)
    with pytest.raises(ValueError, match="differs from the NumPy pass"):
        build_runner(encoder)
    accelerate(encoder, background=False)
    assert encoder.runner is None and encoder.w


def test_questions_asked_while_the_runner_is_attached_are_all_answered(
    model_dir: Path, reference: np.ndarray
) -> None:
    encoder = NumpyEncoder(model_dir)
    errors: list[BaseException] = []
    worst = [0.0]

    def ask() -> None:
        try:
            for _ in range(15):
                got = encoder.encode(TEXTS[:3])
                worst[0] = max(worst[0], float(np.max(np.abs(got - reference[:3]))))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    askers = [threading.Thread(target=ask) for _ in range(3)]
    for t in askers:
        t.start()
    settled = accelerate(encoder)  # swaps the forward pass under the askers' feet
    for t in askers:
        t.join()
    assert settled.wait(60) and encoder.runner is not None
    assert errors == [] and worst[0] < 1e-5


def test_the_embedder_switches_to_onnx_runtime_only_when_asked() -> None:
    embedder = Embedder()
    assert not embedder.wait_until_accelerated(0)  # a one-shot process keeps the NumPy pass
    embedder.accelerate(background=False)
    assert embedder.wait_until_accelerated(0)
    embedder.accelerate()  # once is enough
    assert embedder.wait_until_accelerated(0)
    vector = embedder.embed_query("How do I install Kubeflow Pipelines?")
    assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
