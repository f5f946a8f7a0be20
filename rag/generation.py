"""What every answer generator receives and yields.

Providers (Bedrock, CML-hosted models, the offline extractive answerer) all
implement `Provider.generate(request)`, an async iterator of text deltas.
Non-streaming providers yield once. Citation markers in the text are `[n]`,
with `n` the `Source.n` of the request.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from bot.types import Turn

LENGTH_MAX_TOKENS = {"short": 200, "medium": 500, "long": 1200}
# What a model is asked: an answer from the sources, or a thread's follow-up rewritten as
# one standalone question for the search (rag.condense), which needs few tokens.
ANSWER, CONDENSE = "answer", "condense"
CONDENSE_MAX_TOKENS = 100


@dataclass(frozen=True)
class Source:
    """A retrieved section, numbered for the prompt and the citations."""

    n: int
    title: str
    url: str  # with #anchor
    section: str
    text: str
    score: float = 0.0
    last_updated: str = ""
    chunk_id: str = ""


@dataclass
class GenerationRequest:
    question: str
    sources: list[Source] = field(default_factory=list)  # empty when RAG is off
    history: list[Turn] = field(default_factory=list)
    use_docs: bool = True
    temperature: float = 0.2
    length: str = "medium"
    language: str = "en"  # answer in this language (ISO 639-1)
    task: str = ANSWER  # or CONDENSE

    @property
    def max_tokens(self) -> int:
        if self.task == CONDENSE:
            return CONDENSE_MAX_TOKENS
        return LENGTH_MAX_TOKENS.get(self.length, LENGTH_MAX_TOKENS["medium"])


class ProviderError(RuntimeError):
    """A provider failed in a way the router may fall back from.

    `reason` is short and user-presentable ("timed out", "is throttled",
    "rejected the request"); it never contains secrets or raw payloads.
    """

    def __init__(self, provider: str, reason: str, *, retryable: bool = True) -> None:
        super().__init__(f"{provider} {reason}")
        self.provider = provider
        self.reason = reason
        self.retryable = retryable


@runtime_checkable
class Provider(Protocol):
    name: str  # as users type it: "extractive", "bedrock", "cml", "bedrock:claude"
    label: str  # as shown in the footer: "Bedrock (mistral.mistral-7b-instruct-v0:2)"

    def generate(self, request: GenerationRequest) -> AsyncIterator[str]: ...


async def close_quietly(obj: object) -> None:
    """Await `obj.aclose()` when it has one, ignoring its errors: a model's stream or a
    provider being let go (after a time limit, at shutdown) must not raise again."""
    aclose = getattr(obj, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
