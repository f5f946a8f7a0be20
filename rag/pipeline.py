"""Question in, `Reply` out: retrieve, threshold, generate (routed), cite.

Blocking work (embedding, Chroma, BM25) runs in a worker thread; the event
loop only awaits. Below the relevance threshold the answer is an honest
decline, never a guess from loosely related sections; above it, a model that
finds the sources do not answer the question says so with a marker
(`rag.prompt.NOT_COVERED`), and the reply becomes the same decline.

A language model gets questions from a lower threshold on than the offline
answerer (`rag.retrieve.Gate.READER`): between the two, retrieval cannot tell
a near miss from an answer, a model reading the sources can. Such a question
is never handed to the extractive answerer, not even as a fallback.

A thread's follow-up is first rewritten as a standalone question by the conversation's
language model, when there is one (`rag.condense`); that question is searched and judged.
Otherwise, or when the rewrite fails, retrieval joins the follow-up to the thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.config import Settings
from bot.messages import t
from bot.types import Reply, Turn
from rag.citations import finalize, may_say_not_covered, nearest_links
from rag.condense import condense_with_model
from rag.extractive import ExtractiveProvider
from rag.generation import GenerationRequest, Source
from rag.retrieve import Gate, Hit, Retriever, is_followup
from rag.router import ModelRouter

log = logging.getLogger(__name__)

# Retrieval counts as weak this close above the offline answerer's threshold: an answer that
# then cites nothing is declined rather than shown (rag.citations.finalize).
WEAK_MARGIN = 0.1

DeltaCallback = Callable[[str], Awaitable[None]]


def hits_to_sources(hits: list[Hit]) -> list[Source]:
    return [
        Source(
            n=i + 1,
            title=h.title,
            url=h.url,
            section=h.section,
            text=h.text,
            score=h.score,
            last_updated=h.last_updated,
            chunk_id=h.chunk_id,
        )
        for i, h in enumerate(hits)
    ]


class Answerer:
    def __init__(
        self,
        settings: Settings,
        retriever: Retriever | None = None,
        router: ModelRouter | None = None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever or Retriever(settings)
        self.extractive = ExtractiveProvider(
            lambda: self.retriever.embedder, term_weight=self.retriever.term_weight
        )
        self.router = router or ModelRouter(settings, self.extractive)

    def warm_up(self) -> None:
        """Load the embedding model and the live index now rather than on the first question,
        and have ONNX Runtime take over question embedding once it is built (background)."""
        self.retriever.embedder.accelerate()
        self.retriever.refresh()

    async def answer(
        self,
        question: str,
        *,
        model: str = "extractive",
        use_docs: bool = True,
        temperature: float = 0.2,
        length: str = "medium",
        language: str = "en",
        history: list[Turn] | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> Reply:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        history = history or []
        sources: list[Source] = []
        weak = False
        readers_only = False
        if use_docs:
            query, query_history = question, history
            if (
                self.settings.condense_followups
                and is_followup(question, history)
                and (condenser := self.router.condenser(model))  # None for the offline one
            ):
                t0 = time.perf_counter()
                standalone = await condense_with_model(
                    condenser, question, history, language=language
                )
                timings["condense"] = (time.perf_counter() - t0) * 1000
                if standalone:
                    # searched and judged like any question: the thread is inside it now
                    query, query_history = standalone, []
            t0 = time.perf_counter()
            try:
                has_index = await asyncio.to_thread(self.retriever.refresh)
                if has_index:
                    hits = await asyncio.to_thread(
                        self.retriever.search, query, self.settings.top_k, query_history
                    )
            except Exception as exc:  # Chroma server down, index files unreadable...
                log.warning("retrieval failed: %s", type(exc).__name__)
                return Reply(
                    text=t("index_unavailable", language),
                    declined=True,
                    unavailable=True,
                    language=language,
                    timings_ms={"total": (time.perf_counter() - started) * 1000},
                )
            if not has_index:
                return Reply(
                    text=t("no_index", language),
                    declined=True,
                    unavailable=True,
                    model="",
                    language=language,
                    timings_ms={"total": (time.perf_counter() - started) * 1000},
                )
            timings["retrieve"] = (time.perf_counter() - t0) * 1000
            allowed, relevance = self.retriever.judge(hits)
            # the offline answerer cannot tell a near miss from an answer: it declines,
            # and points at the nearest sections without presenting them as an answer
            near_miss = allowed is Gate.READER and not self.router.reads(model)
            if near_miss or allowed is Gate.DECLINE:
                links = nearest_links(hits_to_sources(hits)) if near_miss else ""
                timings["total"] = (time.perf_counter() - started) * 1000
                return Reply(
                    text=t("decline_nearest", language, links=links)
                    if links
                    else t("decline", language),
                    declined=True,
                    used_docs=True,
                    model="",
                    language=language,
                    timings_ms=timings,
                )
            readers_only = allowed is Gate.READER
            sources = hits_to_sources(hits)
            weak = relevance < self.retriever.min_relevance + WEAK_MARGIN
        elif (self.router.resolve(model) or model) == "extractive":
            return Reply(
                text=t("no_rag_extractive", language),
                declined=True,
                unavailable=True,
                model=self.extractive.label,
                language=language,
            )

        request = GenerationRequest(
            question=question,
            sources=sources,
            history=history,
            use_docs=use_docs,
            temperature=temperature,
            length=length,
            language=language,
        )
        t0 = time.perf_counter()
        streamed: list[str] = []

        async def forward(delta: str) -> None:
            # adapters get the whole text so far, so a message can simply be replaced
            streamed.append(delta)
            text = "".join(streamed)
            if use_docs and may_say_not_covered(text):
                return  # may still be the "not in the docs" marker: the decline replaces it
            if on_delta is not None:
                await on_delta(text)

        async def restart() -> None:
            streamed.clear()  # a provider failed mid-answer; the next one starts afresh

        routed = await self.router.generate(
            model, request, forward, restart, readers_only=readers_only
        )
        timings["generate"] = (time.perf_counter() - t0) * 1000
        text, citations, declined = finalize(
            routed.text, sources, retrieval_weak=weak, use_docs=use_docs, language=language
        )
        notices = list(routed.notices)  # the router already says when the docs were not used
        timings["total"] = (time.perf_counter() - started) * 1000
        return Reply(
            text=text,
            citations=citations,
            model=routed.label,
            used_docs=use_docs and bool(citations),
            declined=declined,
            fallback_used=routed.provider != (self.router.resolve(model) or model),
            notices=notices,
            timings_ms=timings,
            language=language,
        )
