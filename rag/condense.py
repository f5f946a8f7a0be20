"""A thread's follow-up rewritten by a language model as one standalone question, for search.

Without a model, retrieval joins a short follow-up to the thread's last question
(`rag.retrieve.condense_query`): "can I do that from the terminal?" after "how do I
upload a pipeline in the dashboard" searches for both, and the thread's own page tends to
win even when the answer is elsewhere (the CLI page). A language model that reads the
thread can say what the follow-up asks: "How do I upload a pipeline with the KFP CLI?".

When the conversation's model is a language model (not the offline extractive answerer)
and `DOCBOT_CONDENSE_FOLLOWUPS` is on, the pipeline asks it first, with a short prompt
(`rag.prompt.CONDENSE_RULES`) and a tight time limit; the standalone question is then
searched and judged like any question. Whatever goes wrong (a timeout, an error, an
empty or rambling reply) falls back to the join, so a follow-up is never lost. The
model still answers the original follow-up with the whole thread in its prompt.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from bot.types import Turn
from rag.generation import CONDENSE, GenerationRequest, Provider, close_quietly
from rag.prompt import NOT_COVERED

log = logging.getLogger(__name__)

# The rewrite happens before the search, so it delays every follow-up: a slow model is
# skipped rather than waited for.
CONDENSE_TIMEOUT_S = 5.0
# A standalone question longer than this is an answer or an explanation, not a question.
MAX_WORDS = 40
# What models put in front of the question although asked not to, bold or not:
# "Standalone question:", "**Rewritten question:**", "The standalone question is:".
_LEAD = re.compile(
    r"^\s*\**\s*(?:(?:the\s+)?standalone\s+question(?:\s+is)?|rewritten(?:\s+question)?"
    r"|question|q)\s*\**\s*[:\-–]\s*\**\s*",
    re.I,
)
_QUOTES = "\"'“”‘’`*"


def parse_standalone(text: str) -> str | None:
    """The standalone question in a model's reply, or None when there is none (pure).

    Takes the first non-empty line, without a "Standalone question:" lead or quotes,
    skipping a line that only introduces the question ("Sure! Here's the standalone
    question:", a lead on a line of its own): taken for the question, it would be
    searched instead of the thread's topic.
    None for an empty reply, the not-in-docs marker, or more than `MAX_WORDS` words."""
    line = ""
    for raw in text.splitlines():
        candidate = _LEAD.sub("", raw.strip()).strip().strip(_QUOTES).strip()
        if candidate and not raw.rstrip().rstrip("*").endswith(":"):
            line = candidate
            break
    if not line or NOT_COVERED in line or not any(c.isalnum() for c in line):
        return None
    if len(line.split()) > MAX_WORDS:
        return None
    return line


async def condense_with_model(
    provider: Provider,
    question: str,
    history: list[Turn],
    *,
    language: str = "en",
    timeout: float = CONDENSE_TIMEOUT_S,
) -> str | None:
    """The follow-up as a standalone question written by `provider`; None to fall back.

    Never raises: a failing or slow model only costs the rewrite."""
    request = GenerationRequest(
        question=question,
        history=history,
        use_docs=False,
        temperature=0.0,
        language=language,
        task=CONDENSE,
    )

    async def collect() -> str:
        stream = provider.generate(request).__aiter__()
        try:
            return "".join([delta async for delta in stream])
        finally:  # also when the time limit cancels it: the model's connection is let go
            await close_quietly(stream)

    started = time.perf_counter()
    try:
        reply = await asyncio.wait_for(collect(), timeout)
    except Exception as exc:  # TimeoutError, ProviderError, anything: the join still works
        log.warning(
            "could not condense a follow-up with %s (%s); searching with the thread joined",
            provider.name,
            type(exc).__name__,
        )
        return None
    standalone = parse_standalone(reply)
    log.info(
        "condensed a follow-up with %s in %.0f ms%s",
        provider.name,
        (time.perf_counter() - started) * 1000,
        "" if standalone else " (unusable reply; searching with the thread joined)",
    )
    return standalone
