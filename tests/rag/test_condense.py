"""A follow-up rewritten by a language model as one standalone question, or nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.types import Turn
from rag.condense import condense_with_model, parse_standalone
from rag.generation import CONDENSE, CONDENSE_MAX_TOKENS, GenerationRequest, ProviderError
from rag.prompt import CONDENSE_RULES, NOT_COVERED, build_messages

THREAD = [
    Turn("user", "how do i upload a compiled pipeline in the kfp dashboard?"),
    Turn("assistant", "Click Upload pipeline [1]."),
]


class Rewriter:
    """A stand-in language model: replies with its script, or fails, or stalls."""

    name = "rewriter"
    label = "Rewriter"

    def __init__(self, reply: str = "", *, error: Exception | None = None, stall: float = 0.0):
        self.reply, self.error, self.stall = reply, error, stall
        self.requests: list[GenerationRequest] = []

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str]:
        self.requests.append(request)
        self.closed = False
        try:
            if self.stall:
                await asyncio.sleep(self.stall)
            if self.error is not None:
                raise self.error
            for word in self.reply.split(" "):
                yield word + " "
        finally:
            self.closed = True


# ---------------------------------------------------------------- the reply, parsed


def test_the_first_line_is_the_question_without_leads_or_quotes() -> None:
    assert parse_standalone("How do I upload a pipeline with the KFP CLI?") == (
        "How do I upload a pipeline with the KFP CLI?"
    )
    assert parse_standalone('\nStandalone question: "Can Katib run on Postgres?"\n') == (
        "Can Katib run on Postgres?"
    )
    assert parse_standalone("Question - how do I delete a profile?\nBecause…") == (
        "how do I delete a profile?"
    )


def test_a_preamble_or_a_lead_on_its_own_line_is_not_taken_for_the_question() -> None:
    question = "How do I upload a pipeline with the KFP CLI?"
    for reply in (
        f"Sure! Here's the standalone question:\n\n{question}",
        f"Here is the rewritten question:\n{question}",
        f"Standalone question:\n{question}",
        f"**Standalone question:** {question}",
        f"The standalone question is: {question}",
    ):
        assert parse_standalone(reply) == question, reply


def test_no_question_in_the_reply_means_none() -> None:
    assert parse_standalone("") is None
    assert parse_standalone("  \n \n") is None
    assert parse_standalone(NOT_COVERED) is None
    assert parse_standalone('"…"') is None
    rambling = "To upload a pipeline you first compile it and then " + "do this " * 30
    assert parse_standalone(rambling) is None


# ---------------------------------------------------------------- the prompt


def test_the_prompt_asks_for_a_rewrite_of_the_follow_up_with_the_thread_before_it() -> None:
    request = GenerationRequest("can i do that from the terminal?", history=THREAD, task=CONDENSE)
    system, messages = build_messages(request, max_context_tokens=4000)
    assert system == CONDENSE_RULES
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"].startswith("how do i upload")
    assert messages[-1]["content"].startswith("Follow-up: can i do that from the terminal?")
    assert "Sources" not in messages[-1]["content"]
    assert request.max_tokens == CONDENSE_MAX_TOKENS


# ---------------------------------------------------------------- asking the model


async def test_the_model_s_standalone_question_is_returned() -> None:
    model = Rewriter("How do I upload a pipeline with the KFP CLI?")
    standalone = await condense_with_model(model, "can i do that from the terminal?", THREAD)
    assert standalone == "How do I upload a pipeline with the KFP CLI?"
    (request,) = model.requests
    assert request.task == CONDENSE and request.temperature == 0.0 and not request.use_docs
    assert request.history == THREAD


@pytest.mark.parametrize(
    "model",
    [
        Rewriter(error=ProviderError("rewriter", "timed out")),
        Rewriter(error=RuntimeError("boom")),
        Rewriter("too late", stall=1.0),
        Rewriter(NOT_COVERED),
    ],
    ids=["provider error", "any error", "too slow", "no question"],
)
async def test_a_model_that_cannot_say_gives_none_and_never_raises(model: Rewriter) -> None:
    assert await condense_with_model(model, "and for katib?", THREAD, timeout=0.2) is None


async def test_a_model_too_slow_is_let_go() -> None:
    model = Rewriter("too late", stall=1.0)
    assert await condense_with_model(model, "and for katib?", THREAD, timeout=0.1) is None
    assert model.closed  # its stream was closed, not left hanging
