"""Question in, Reply out: retrieve, threshold, answer, cite."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.messages import t
from bot.types import Reply, Turn
from rag.embeddings import Embedder
from rag.generation import ANSWER, CONDENSE, GenerationRequest, ProviderError
from rag.pipeline import Answerer, hits_to_sources
from rag.prompt import NOT_COVERED
from rag.retrieve import Retriever
from rag.router import ModelRouter

BASE = "https://docs.example.com/"


class ScriptedModel:
    """A stand-in LLM: streams the pieces it was given, keeps the request it got."""

    name = "scripted"
    label = "Scripted model"

    def __init__(self, *pieces: str, error: ProviderError | None = None) -> None:
        self.pieces = pieces
        self.error = error
        self.requests: list[GenerationRequest] = []

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str]:
        self.requests.append(request)
        for piece in self.pieces:
            yield piece
        if self.error is not None:
            raise self.error


def with_model(answerer: Answerer, model: ScriptedModel) -> Answerer:
    router = ModelRouter(answerer.settings, answerer.extractive, {model.name: model})
    return Answerer(answerer.settings, answerer.retriever, router)


@pytest.fixture(scope="module")
def answerer(built_settings: Settings, embedder: Embedder) -> Answerer:
    return Answerer(built_settings, Retriever(built_settings, embedder))


async def test_an_answer_cites_the_section_it_comes_from(answerer: Answerer) -> None:
    reply = await answerer.answer("How do I restore a backup?")
    assert not reply.declined
    assert reply.used_docs
    assert reply.citations and reply.citations[0].url == BASE + "backup/#restore"
    assert "[1]" in reply.text
    assert reply.model.startswith("extractive")
    assert {"retrieve", "generate", "total"} <= set(reply.timings_ms)


async def test_only_cited_sources_become_citations(answerer: Answerer) -> None:
    reply = await answerer.answer("How do I restore a backup?", length="short")
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", reply.text)}
    assert {c.n for c in reply.citations} == cited
    assert [c.n for c in reply.citations] == list(range(1, len(reply.citations) + 1))


async def test_below_the_threshold_it_declines_without_citations(answerer: Answerer) -> None:
    reply = await answerer.answer("What is the capital of Australia?")
    assert reply.declined and reply.citations == []
    assert reply.text == t("decline", "en")


async def test_declines_in_korean_for_a_korean_question(answerer: Answerer) -> None:
    reply = await answerer.answer("호주의 수도는 어디인가요?", language="ko")
    assert reply.declined and reply.text == t("decline", "ko")


async def test_no_index_is_a_clear_reply(tmp_path: Path, make_settings, embedder: Embedder) -> None:  # noqa: ANN001
    settings = make_settings(tmp_path / "empty")
    reply = await Answerer(settings, Retriever(settings, embedder)).answer("How do I install?")
    assert reply.declined and reply.text == t("no_index", "en")
    assert "reingest" in reply.text


async def test_rag_off_with_the_extractive_answerer_explains_itself(answerer: Answerer) -> None:
    reply = await answerer.answer("How do I install widgetron?", use_docs=False)
    assert reply.declined and reply.text == t("no_rag_extractive", "en")
    assert reply.citations == []


async def test_streaming_deltas_carry_the_text_so_far(answerer: Answerer) -> None:
    seen: list[str] = []

    async def on_delta(text: str) -> None:
        seen.append(text)

    reply = await answerer.answer("How do I install widgetron?", on_delta=on_delta)
    assert seen and seen[-1].startswith(reply.text.split(" [")[0][:20])


async def test_a_follow_up_in_a_thread_finds_the_same_topic(answerer: Answerer) -> None:
    history = [
        Turn("user", "How do I restore a backup of the widget catalog?"),
        Turn("assistant", "Use restore [1]."),
    ]
    reply = await answerer.answer("must the server be stopped?", history=history)
    assert reply.citations and reply.citations[0].url.startswith(BASE + "backup/")


async def test_a_strict_threshold_declines_everything(
    built_settings: Settings, embedder: Embedder
) -> None:
    strict = dataclasses.replace(built_settings, min_relevance=0.99)
    reply = await Answerer(strict, Retriever(strict, embedder)).answer("How do I restore a backup?")
    assert reply.declined and reply.citations == []


def test_hits_become_numbered_sources(answerer: Answerer) -> None:
    hits = answerer.retriever.search("install widgetron", k=3)
    sources = hits_to_sources(hits)
    assert [s.n for s in sources] == [1, 2, 3]
    assert sources[0].url == hits[0].url and sources[0].chunk_id == hits[0].chunk_id


async def ask_scripted(answerer: Answerer, model: ScriptedModel) -> tuple[Reply, list[str]]:
    """The reply to a question the docs cover, answered by `model`, and what chat was shown."""
    shown: list[str] = []

    async def on_delta(text: str) -> None:
        shown.append(text)

    reply = await with_model(answerer, model).answer(
        "How do I restore a backup?", model="scripted", on_delta=on_delta
    )
    return reply, shown


async def test_a_model_finding_the_sources_silent_gives_the_bots_decline(
    answerer: Answerer,
) -> None:
    model = ScriptedModel("NOT_", "IN", "_DOCS")
    reply, shown = await ask_scripted(answerer, model)
    assert model.requests and model.requests[0].sources  # retrieval passed the threshold
    assert reply.declined and reply.citations == []
    assert reply.text == t("decline", "en") and NOT_COVERED not in reply.text
    assert shown == []  # the marker never reached the chat


async def test_an_answer_that_only_starts_like_the_marker_streams_in_full(
    answerer: Answerer,
) -> None:
    reply, shown = await ask_scripted(
        answerer, ScriptedModel("No", "t every backup", " can be restored [1].")
    )
    assert not reply.declined and reply.citations
    assert shown[0] == "Not every backup" and shown[-1].endswith("restored [1].")


def gates(answerer: Answerer, min_relevance: float, llm_min_relevance: float) -> Answerer:
    """The same index and embedder behind other relevance gates."""
    settings = dataclasses.replace(
        answerer.settings, min_relevance=min_relevance, llm_min_relevance=llm_min_relevance
    )
    return Answerer(settings, Retriever(settings, answerer.retriever.embedder))


async def test_a_near_miss_is_handed_to_a_language_model_to_judge(answerer: Answerer) -> None:
    model = ScriptedModel("Run restore with the server stopped [1].")
    reply, _ = await ask_scripted(gates(answerer, 0.99, 0.0), model)
    assert model.requests and model.requests[0].sources
    assert not reply.declined and reply.citations


async def test_a_near_miss_is_declined_by_the_offline_answerer_with_pointers(
    answerer: Answerer,
) -> None:
    # it cannot tell whether the sections answer: it declines, and links the nearest
    # sections as pointers, not as an answer's sources
    reply = await gates(answerer, 0.99, 0.0).answer("How do I restore a backup?")
    assert reply.declined and reply.citations == []
    assert reply.text.startswith(t("decline", "en").split(".")[0])
    assert "may not answer it" in reply.text
    assert "(https://docs.example.com/backup/#restore)" in reply.text


async def test_a_near_miss_never_falls_back_to_the_offline_answerer(answerer: Answerer) -> None:
    model = ScriptedModel(error=ProviderError("scripted", "timed out"))
    reply, shown = await ask_scripted(gates(answerer, 0.99, 0.0), model)
    assert model.requests  # the model was asked, and failed
    assert reply.declined and reply.citations == [] and shown == []
    assert reply.notices == ["Scripted timed out; no model could answer."]


async def test_below_both_gates_no_model_is_asked(answerer: Answerer) -> None:
    model = ScriptedModel("anything [1]")
    reply, _ = await ask_scripted(gates(answerer, 0.99, 0.99), model)
    assert reply.declined and model.requests == []


def test_warming_up_loads_the_index_and_hands_question_embedding_to_onnx_runtime(
    answerer: Answerer,
) -> None:
    answerer.warm_up()
    assert answerer.retriever.index is not None
    assert answerer.retriever.embedder.wait_until_accelerated(60)


# ---------------------------------------------------------------- follow-ups rewritten by the model


class Condenser(ScriptedModel):
    """A stand-in LLM that rewrites follow-ups as `standalone` (or fails to) and answers."""

    def __init__(self, standalone: str, *, fail: bool = False) -> None:
        super().__init__("Connect it with a Slack app [1].")
        self.standalone, self.fail = standalone, fail

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str]:
        if request.task == CONDENSE:
            self.requests.append(request)
            if self.fail:
                raise ProviderError(self.name, "timed out")
            yield self.standalone
            return
        async for piece in super().generate(request):
            yield piece


BACKUP_THREAD = [
    Turn("user", "How do I back up the widget catalog every night?"),
    Turn("assistant", "Run widgetron backup [1]."),
]


async def test_a_language_model_rewrites_a_follow_up_before_the_search(
    answerer: Answerer,
) -> None:
    model = Condenser("How do I connect Widgetron to Slack?")
    reply = await with_model(answerer, model).answer(
        "can it tell us on slack?", model="scripted", history=BACKUP_THREAD
    )
    rewrite, answer = model.requests
    assert rewrite.task == CONDENSE and rewrite.history == BACKUP_THREAD
    # the standalone question was searched; the model still answers the follow-up itself
    assert answer.question == "can it tell us on slack?" and answer.history == BACKUP_THREAD
    assert answer.sources[0].url.startswith(BASE + "slack/")
    assert reply.citations[0].url.startswith(BASE + "slack/")
    assert "condense" in reply.timings_ms


async def test_when_the_rewrite_fails_the_follow_up_is_searched_with_its_thread(
    answerer: Answerer,
) -> None:
    model = Condenser("", fail=True)
    history = [
        Turn("user", "How do I restore a backup of the widget catalog?"),
        Turn("assistant", "Use restore [1]."),
    ]
    reply = await with_model(answerer, model).answer(
        "must the server be stopped?", model="scripted", history=history
    )
    rewrite, answer = model.requests
    assert rewrite.task == CONDENSE
    assert answer.sources[0].url.startswith(BASE + "backup/")
    assert not reply.declined


async def test_no_rewrite_for_the_offline_answerer_a_full_question_or_when_switched_off(
    answerer: Answerer, built_settings: Settings
) -> None:
    model = Condenser("How do I connect Widgetron to Slack?")
    reply = await with_model(answerer, model).answer(
        "can it tell us on slack?", history=BACKUP_THREAD
    )
    assert model.requests == []  # the offline answerer's conversation: nothing to ask
    assert "condense" not in reply.timings_ms
    long = "How do I connect Widgetron to our Slack workspace and invite the bot to a channel?"
    await with_model(answerer, model).answer(long, model="scripted", history=BACKUP_THREAD)
    assert [r.task for r in model.requests] == [ANSWER]
    off = dataclasses.replace(built_settings, condense_followups=False)
    model.requests.clear()
    plain = Answerer(off, answerer.retriever)
    await with_model(plain, model).answer(
        "can it tell us on slack?", model="scripted", history=BACKUP_THREAD
    )
    assert [r.task for r in model.requests] == [ANSWER]
