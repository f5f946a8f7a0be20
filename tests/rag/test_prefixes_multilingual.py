"""Query/passage prefixes of multilingual (E5, BGE) models, applied by `rag.embeddings.Embedder`.

No model is downloaded: the Embedder is built on the packaged MiniLM weights
under a multilingual model's *name* (the name decides the prefixes, the
weights only turn text into vectors), and its vectors are compared with the
plain packaged model's vectors of the prefixed text.
"""

from __future__ import annotations

import numpy as np
import pytest

import rag.embeddings as embeddings
from bot.config import PACKAGED_EMBEDDING_MODEL
from rag.embeddings import Embedder
from rag.model_prefixes import BGE_EN_QUERY, BGE_ZH_QUERY, prefixes_for
from rag.multilingual import is_multilingual_model

E5_NAMES = (
    "intfloat/multilingual-e5-small",
    "intfloat/multilingual-e5-base",
    "intfloat/multilingual-e5-large",
    "/home/cdsw/models/multilingual-e5-large",
    "intfloat/e5-base-v2",
)


@pytest.mark.parametrize("name", E5_NAMES)
def test_e5_models_get_query_and_passage_prefixes(name: str) -> None:
    assert prefixes_for(name) == ("query: ", "passage: ")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BAAI/bge-m3", ("", "")),  # BGE-M3 is multilingual and wants no instruction
        ("BAAI/bge-small-en-v1.5", (BGE_EN_QUERY, "")),
        ("BAAI/bge-large-zh-v1.5", (BGE_ZH_QUERY, "")),
        ("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", ("", "")),
        ("sentence-transformers/LaBSE", ("", "")),
        ("sentence-transformers/distiluse-base-multilingual-cased-v2", ("", "")),
    ],
)
def test_bge_and_other_multilingual_models(name: str, expected: tuple[str, str]) -> None:
    assert prefixes_for(name) == expected


def test_the_bge_query_instruction_is_prepended_to_queries_only() -> None:
    query, passage = prefixes_for("BAAI/bge-base-en-v1.5")
    assert query.startswith("Represent this sentence") and query.endswith(": ")
    assert passage == ""


@pytest.mark.parametrize(
    "name",
    [*E5_NAMES[:4], "BAAI/bge-m3", "sentence-transformers/LaBSE",
     "sentence-transformers/paraphrase-multilingual-mpnet-base-v2"],
)  # fmt: skip
def test_the_multilingual_models_with_prefixes_are_known_as_multilingual(name: str) -> None:
    assert is_multilingual_model(name)


def test_the_packaged_default_has_no_prefixes_and_is_not_multilingual() -> None:
    assert prefixes_for(PACKAGED_EMBEDDING_MODEL) == ("", "")
    assert not is_multilingual_model(PACKAGED_EMBEDDING_MODEL)
    assert not is_multilingual_model("intfloat/e5-base-v2")  # English E5


@pytest.fixture
def e5_named(monkeypatch: pytest.MonkeyPatch) -> Embedder:
    """An Embedder named like multilingual E5, running on the packaged MiniLM weights."""
    packaged = embeddings.resolve_model_path(PACKAGED_EMBEDDING_MODEL)
    monkeypatch.setattr(embeddings, "resolve_model_path", lambda name: packaged)
    return Embedder("intfloat/multilingual-e5-small", device="cpu")


def test_the_embedder_takes_its_prefixes_from_its_model_name(e5_named: Embedder) -> None:
    assert e5_named.name == "intfloat/multilingual-e5-small"
    assert (e5_named.query_prefix, e5_named.passage_prefix) == ("query: ", "passage: ")


def test_the_embedder_prepends_the_query_prefix(e5_named: Embedder, embedder: Embedder) -> None:
    question = "Slack에 docbot을 어떻게 연결하나요?"
    got = e5_named.embed_query(question)
    assert np.allclose(got, embedder.embed_query("query: " + question), atol=1e-5)
    assert not np.allclose(got, embedder.embed_query(question), atol=1e-3)


def test_the_embedder_prepends_the_passage_prefix(e5_named: Embedder, embedder: Embedder) -> None:
    passages = ["Socket Mode는 WebSocket 연결을 밖으로 엽니다.", "Install with pip."]
    got = e5_named.embed_passages(passages)
    want = embedder.embed_passages(["passage: " + p for p in passages])
    assert got.shape == (2, 384)
    assert np.allclose(got, want, atol=1e-5)


def test_a_bge_named_embedder_prefixes_queries_but_not_passages(
    monkeypatch: pytest.MonkeyPatch, embedder: Embedder
) -> None:
    packaged = embeddings.resolve_model_path(PACKAGED_EMBEDDING_MODEL)
    monkeypatch.setattr(embeddings, "resolve_model_path", lambda name: packaged)
    bge = Embedder("BAAI/bge-small-en-v1.5", device="cpu")
    assert np.allclose(
        bge.embed_query("rotate keys"),
        embedder.embed_query(BGE_EN_QUERY + "rotate keys"),
        atol=1e-5,
    )
    assert np.allclose(
        bge.embed_passages(["rotate keys"]), embedder.embed_passages(["rotate keys"]), atol=1e-5
    )
