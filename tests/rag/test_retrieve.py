"""Hybrid retrieval over a built index: ranking, diversity, follow-ups, threshold."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bot.config import Settings
from bot.types import Turn
from rag.embeddings import Embedder
from rag.index_store import IndexStore, IndexStoreError
from rag.retrieve import DEFAULT_MIN_RELEVANCE, Hit, Retriever, condense_query, diversify

BASE = "https://docs.example.com/"


@pytest.fixture(scope="module")
def retriever(built_settings: Settings, embedder: Embedder) -> Retriever:
    return Retriever(built_settings, embedder)


def hit(page: str, score: float, anchor: str = "") -> Hit:
    return Hit(chunk_id=f"{page}{anchor}", page_url=page, anchor=anchor, title=page, section=page, text="", score=score)


@pytest.mark.parametrize(
    ("question", "url"),
    [
        ("How do I install widgetron?", BASE + "install/"),
        ("how to upgrade widgetron to a new version", BASE + "install/#upgrade"),
        ("where does the slack bot token go", BASE + "slack/#create-a-slack-app"),
        ("restore a backup", BASE + "backup/#restore"),
        ("volume discount for large orders", BASE + "guide/pricing/#discounts"),
        ("which colours can widgets have", BASE + "guide/#colours"),
    ],
)
def test_the_right_section_comes_first(retriever: Retriever, question: str, url: str) -> None:
    hits = retriever.search(question)
    assert hits[0].url == url
    assert retriever.is_relevant(hits)


def test_hits_are_best_first_with_a_json_shape(retriever: Retriever) -> None:
    hits = retriever.search("install widgetron", k=3)
    assert len(hits) == 3
    d = hits[0].to_dict()
    assert set(d) == {"url", "title", "section", "score", "text"}
    assert d["title"] == "Installing Widgetron" and d["section"].startswith("Installing Widgetron")
    assert 0.0 < hits[0].score <= 1.0


def test_one_page_once_among_the_top_hits(retriever: Retriever) -> None:
    hits = retriever.search("widgetron", k=5)
    assert len({h.page_url for h in hits}) == len(hits)  # 5 pages, 5 hits


def test_without_diversity_a_page_may_repeat(retriever: Retriever) -> None:
    hits = retriever.search("install upgrade requirements widgetron pip", k=4, diverse=False)
    assert len({h.page_url for h in hits}) < len(hits)


def test_an_off_topic_question_is_not_relevant(retriever: Retriever) -> None:
    hits = retriever.search("What is the capital of Australia?")
    assert not retriever.is_relevant(hits)
    assert not retriever.is_relevant([])


def test_a_follow_up_uses_the_threads_last_question(retriever: Retriever) -> None:
    history = [Turn("user", "how do I restore a backup of the catalog"), Turn("assistant", "Use widgetron restore [1].")]
    hits = retriever.search("and while the server runs?", history=history)
    assert hits[0].page_url == BASE + "backup/"


def test_diversify_puts_each_pages_best_hit_first() -> None:
    hits = [hit("a", 0.9, "1"), hit("a", 0.8, "2"), hit("b", 0.7), hit("a", 0.6, "3"), hit("c", 0.5)]
    assert [(h.page_url, h.anchor) for h in diversify(hits, 4)] == [("a", "1"), ("b", ""), ("c", ""), ("a", "2")]


def test_diversify_keeps_a_single_pages_hits() -> None:
    hits = [hit("a", 0.9, "1"), hit("a", 0.8, "2"), hit("a", 0.7, "3")]
    assert [h.anchor for h in diversify(hits, 5)] == ["1", "2", "3"]


def test_condense_query_folds_short_follow_ups_only() -> None:
    history = [Turn("user", "how do I install notebooks"), Turn("assistant", "Like this.")]
    assert condense_query("and for katib?", history) == "and for katib? how do I install notebooks"
    long_question = "what are the hardware requirements for running the server in production"
    assert condense_query(long_question, history) == long_question
    assert condense_query("and for katib?", []) == "and for katib?"
    assert condense_query("how do I install notebooks", [Turn("user", "how do I install notebooks")]) == "how do I install notebooks"


def test_is_relevant_uses_the_configured_threshold(built_settings: Settings, embedder: Embedder) -> None:
    assert Retriever(built_settings, embedder).min_relevance == DEFAULT_MIN_RELEVANCE
    strict = Retriever(dataclasses.replace(built_settings, min_relevance=0.99), embedder)
    assert not strict.is_relevant([hit("a", 0.9)])
    assert strict.is_relevant([hit("a", 0.995)])


def test_no_index_means_no_hits(tmp_path: Path, make_settings, embedder: Embedder) -> None:  # noqa: ANN001
    retriever = Retriever(make_settings(tmp_path / "empty"), embedder)
    assert retriever.refresh() is False
    assert retriever.search("anything") == []


def test_an_index_built_with_another_model_is_refused_clearly(tmp_path: Path, built_settings: Settings, embedder: Embedder) -> None:
    import shutil

    settings = dataclasses.replace(built_settings, data_dir=tmp_path / "copy")
    shutil.copytree(built_settings.index_dir, settings.index_dir, ignore=shutil.ignore_patterns(".ingest.lock"))
    version = IndexStore(settings).current()
    assert version is not None
    manifest = json.loads((version.path / "manifest.json").read_text())
    manifest["embedding_model"] = "intfloat/e5-base-v2"
    (version.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexStoreError, match="DOCBOT_EMBEDDING_MODEL"):
        Retriever(settings, embedder).refresh()
