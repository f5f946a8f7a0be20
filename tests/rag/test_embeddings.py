"""The embedding model: packaged default, shared per process, normalised vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.config import PACKAGED_EMBEDDING_MODEL, ConfigError
from rag.embeddings import Embedder, get_embedder, resolve_device, resolve_model_path


def test_the_packaged_default_resolves_to_a_local_folder() -> None:
    for name in (
        "",
        PACKAGED_EMBEDDING_MODEL,
        "all-MiniLM-L6-v2",
        "sentence-transformers/all-MiniLM-L6-v2",
    ):
        path = Path(resolve_model_path(name))
        assert (path / "config.json").is_file()
    assert resolve_model_path("intfloat/e5-small-v2") == "intfloat/e5-small-v2"


def test_an_explicit_device_is_kept() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("cuda:1") == "cuda:1"


def test_get_embedder_is_shared_per_process(embedder: Embedder) -> None:
    assert get_embedder() is embedder
    assert get_embedder(PACKAGED_EMBEDDING_MODEL, "auto") is embedder


def test_info_of_the_packaged_model(embedder: Embedder) -> None:
    assert embedder.info.dimension == 384
    assert embedder.info.max_tokens == 256
    assert embedder.query_prefix == embedder.passage_prefix == ""


def test_vectors_are_normalised_float32(embedder: Embedder) -> None:
    q = embedder.embed_query("How do I install Katib?")
    p = embedder.embed_passages(["Katib installation", "Pricing of widgets"])
    assert q.shape == (384,) and p.shape == (2, 384)
    assert q.dtype == np.float32 and p.dtype == np.float32
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert float(p[0] @ q) > float(p[1] @ q)  # related text is closer


def test_queries_in_one_call_equal_each_embedded_alone(embedder: Embedder) -> None:
    texts = ["why does my katib experiment never start trials", "katib experiment trials"]
    both = embedder.embed_queries(texts)
    assert both.shape == (2, 384)
    for text, vector in zip(texts, both, strict=True):
        assert np.allclose(vector, embedder.embed_query(text), atol=1e-5)


def test_no_passages_gives_an_empty_matrix(embedder: Embedder) -> None:
    assert embedder.embed_passages([]).shape == (0, 384)


def test_count_tokens_uses_the_model_tokenizer(embedder: Embedder) -> None:
    assert embedder.count_tokens("hello world") == 2
    assert embedder.count_tokens(" ".join(["word"] * 1000)) == 1000  # not truncated


def test_an_unloadable_model_is_a_config_error_naming_the_variable(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    with pytest.raises(ConfigError, match="DOCBOT_EMBEDDING_MODEL"):
        Embedder(str(tmp_path / "junk"), device="cpu")


def test_a_damaged_copy_of_a_model_folder_is_a_config_error_naming_the_variable(
    tmp_path: Path,
) -> None:
    """A model folder copied in part (a full disk, an interrupted copy) that still looks like
    one the NumPy encoder takes: one clear message, not a safetensors traceback."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(resolve_model_path(PACKAGED_EMBEDDING_MODEL), model)
    with open(model / "model.safetensors", "r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(ConfigError, match="DOCBOT_EMBEDDING_MODEL.*could not load"):
        Embedder(str(model), device="cpu")
