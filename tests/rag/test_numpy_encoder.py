"""The NumPy forward pass gives the same vectors as sentence-transformers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.embeddings import resolve_model_path
from rag.numpy_encoder import NumpyEncoder

TEXTS = [
    "How do I install Kubeflow Pipelines?",
    "kfp.dsl.pipeline",
    "Kubeflow를 어떻게 설치하나요?",
    "Katib は ハイパーパラメータ を 調整します",
    "a",
    "",
    "Run `kubectl apply -k manifests/` and wait for the pods: 100% ready!",
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Notebooks › Quickstart › Create a notebook server\nOpen the central dashboard and click New Server.",
    " ".join(f"word{i}" for i in range(600)),  # far beyond 256 tokens: truncated the same way
]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return Path(resolve_model_path(""))


def test_the_packaged_model_is_supported(model_dir: Path) -> None:
    assert NumpyEncoder.supports(model_dir)


@pytest.mark.slow
def test_same_vectors_as_sentence_transformers(model_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir), device="cpu").encode(
        TEXTS, normalize_embeddings=True, convert_to_numpy=True
    )
    encoder = NumpyEncoder(model_dir)
    ours = encoder.encode(TEXTS, batch_size=4)
    assert ours.shape == reference.shape == (len(TEXTS), 384)
    assert ours.dtype == np.float32
    assert float(np.max(np.abs(ours - reference))) < 1e-4
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_batching_does_not_change_vectors(model_dir: Path) -> None:
    encoder = NumpyEncoder(model_dir)
    one_by_one = np.stack([encoder.encode([t])[0] for t in TEXTS[:4]])
    batched = encoder.encode(TEXTS[:4], batch_size=32)
    assert float(np.max(np.abs(one_by_one - batched))) < 1e-5


def test_an_empty_list_gives_no_rows(model_dir: Path) -> None:
    assert NumpyEncoder(model_dir).encode([]).shape == (0, 384)


def fake_model(tmp_path: Path, model_dir: Path, **config_changes: object) -> Path:
    fake = tmp_path / "model"
    shutil.copytree(
        model_dir,
        fake,
        ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "*.onnx", "onnx", "openvino"),
    )
    (fake / "model.safetensors").write_bytes(b"")  # present; supports() only checks the files
    config = json.loads((fake / "config.json").read_text())
    config.update(config_changes)
    (fake / "config.json").write_text(json.dumps(config))
    return fake


def test_a_copy_with_a_bert_config_is_supported(tmp_path: Path, model_dir: Path) -> None:
    assert NumpyEncoder.supports(fake_model(tmp_path, model_dir))


def test_a_non_bert_model_is_not_supported(tmp_path: Path, model_dir: Path) -> None:
    assert not NumpyEncoder.supports(fake_model(tmp_path, model_dir, model_type="xlm-roberta"))


def test_other_activations_or_pooling_are_not_supported(tmp_path: Path, model_dir: Path) -> None:
    fake = fake_model(tmp_path, model_dir, hidden_act="relu")
    assert not NumpyEncoder.supports(fake)
    fake = fake_model(tmp_path / "cls", model_dir)
    pooling = json.loads((fake / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (fake / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    assert not NumpyEncoder.supports(fake)


def test_a_folder_that_is_not_a_model_is_not_supported(tmp_path: Path) -> None:
    assert not NumpyEncoder.supports(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    assert not NumpyEncoder.supports(tmp_path)
