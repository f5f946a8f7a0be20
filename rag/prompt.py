"""Prompt building: numbered sources, rules, follow-up turns, fitted to a context window.

Pure functions only. Providers call `build_messages` with their own context
window; models that take no system prompt use `fold_system`; completion-style
endpoints (the CML Models endpoint) use `render_instruct_prompt`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from bot.types import section_label
from rag.generation import CONDENSE, GenerationRequest, Source

TokenCounter = Callable[[str], int]

_WORD = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")

# Tokens kept free for role markers and the tokenizer's disagreement with our estimate.
SAFETY_MARGIN_TOKENS = 64
# Follow-up turns may use at most this share of what is left for context.
HISTORY_SHARE = 0.25
MAX_HISTORY_TURNS = 6
# Below this, a truncated source is more noise than help.
MIN_SOURCE_TOKENS = 60

# What a model replies when the sources do not answer the question: the pipeline turns it
# into the bot's own decline (rag.citations.says_not_covered), counted as one, so an LLM
# judges coverage on top of the retrieval threshold at no extra call.
NOT_COVERED = "NOT_IN_DOCS"

LANGUAGE_NAMES = {"en": "English", "ko": "Korean", "ja": "Japanese", "zh": "Chinese"}

RULES_WITH_DOCS = """You are docbot, an assistant that answers questions about product documentation.
Rules:
- Answer only from the numbered sources in the user's message. Do not use other knowledge.
- Cite the sources you use with their numbers in square brackets, like [1] or [2][3], right after the statement they support. Never cite a number that is not listed.
- If the sources do not answer the question, reply with exactly {not_covered} and nothing else. Do not guess.
- If they answer only part of it, answer that part and say plainly which part the documentation provided does not cover.
- Be concise and specific; keep commands, option names and code exactly as the sources write them.
- {length}
- Answer in {language}."""

RULES_WITHOUT_DOCS = """You are docbot, an assistant for questions about software products.
No documentation was searched for this question: answer from your general knowledge, say so when you are unsure, and do not cite sources or invent links.
- {length}
- Answer in {language}."""

CONDENSE_RULES = """You turn a follow-up message from a chat thread into one standalone question for searching product documentation.
Rules:
- Use the earlier messages only to fill in what the follow-up leaves out: the product, component, feature, version or operation it refers to.
- Keep the follow-up's own words, names and versions; add nothing it does not ask.
- Do not answer the question.
- Reply with the standalone question only, on one line, in the follow-up's language."""

LENGTH_HINTS = {
    "short": "Answer in at most three sentences.",
    "medium": "Answer in one or two short paragraphs, or a short list.",
    "long": "Answer thoroughly, with steps or examples where they help.",
}


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate of a text's token count, erring on the high side.

    Latin words count about one token per four characters; every other
    non-space character (punctuation, CJK, Hangul) counts as one token, which
    is close to what BPE tokenizers do for Korean.
    """
    total = 0
    for piece in _WORD.findall(text):
        total += math.ceil(len(piece) / 4) if piece[0].isascii() and piece[0].isalnum() else 1
    return total


def truncate_to_tokens(
    text: str, max_tokens: int, count_tokens: TokenCounter = approx_tokens
) -> str:
    """The longest prefix of `text` (cut at a word boundary) within `max_tokens`."""
    if max_tokens <= 0:
        return ""
    if count_tokens(text) <= max_tokens:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # binary search for the longest prefix that fits
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) + 1 <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo]
    space = cut.rfind(" ")
    if space > len(cut) * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


def system_prompt(request: GenerationRequest) -> str:
    if request.task == CONDENSE:
        return CONDENSE_RULES
    language = LANGUAGE_NAMES.get(request.language, request.language or "English")
    length = LENGTH_HINTS.get(request.length, LENGTH_HINTS["medium"])
    template = RULES_WITH_DOCS if request.use_docs else RULES_WITHOUT_DOCS
    return template.format(length=length, language=language, not_covered=NOT_COVERED)


def format_source(source: Source, text: str | None = None) -> str:
    heading = section_label(source.title, source.section)
    body = source.text if text is None else text
    return f"[{source.n}] {heading}\nURL: {source.url}\n{body.strip()}"


def _question_block(request: GenerationRequest, sources_block: str) -> str:
    if request.task == CONDENSE:
        return f"Follow-up: {request.question.strip()}\nThe standalone question:"
    if not request.use_docs:
        return request.question.strip()
    if not sources_block:
        sources_block = "(no sources were found)"
    return (
        f"Sources:\n\n{sources_block}\n\n"
        f"Question: {request.question.strip()}\n"
        "Answer from the sources above and cite them as [n]."
    )


def _fit_history(
    request: GenerationRequest, budget: int, count_tokens: TokenCounter
) -> list[dict[str, str]]:
    """Newest turns first until the budget is spent; then back in order."""
    kept: list[dict[str, str]] = []
    for turn in reversed(request.history[-MAX_HISTORY_TURNS:]):
        text = turn.text.strip()
        if not text:
            continue
        cost = count_tokens(text) + 4
        if cost > budget:
            text = truncate_to_tokens(text, budget - 4, count_tokens)
            if not text:
                break
            cost = count_tokens(text) + 4
        kept.append({"role": turn.role, "content": text})
        budget -= cost
        if budget <= 0:
            break
    kept.reverse()
    return kept


def _fit_sources(sources: list[Source], budget: int, count_tokens: TokenCounter) -> str:
    """Sources in rank order; the last one that fits partly is truncated, the rest dropped."""
    parts: list[str] = []
    for source in sources:
        block = format_source(source)
        cost = count_tokens(block) + 2
        if cost <= budget:
            parts.append(block)
            budget -= cost
            continue
        header_cost = count_tokens(format_source(source, "")) + 2
        room = budget - header_cost
        if room >= MIN_SOURCE_TOKENS:
            parts.append(format_source(source, truncate_to_tokens(source.text, room, count_tokens)))
        break
    return "\n\n".join(parts)


def _alternate(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Start with a user turn and alternate roles, merging neighbours (Converse requires it)."""
    out: list[dict[str, str]] = []
    for message in messages:
        if not out and message["role"] != "user":
            continue
        if out and out[-1]["role"] == message["role"]:
            out[-1] = {
                "role": message["role"],
                "content": out[-1]["content"] + "\n\n" + message["content"],
            }
        else:
            out.append(dict(message))
    return out


def build_messages(
    request: GenerationRequest,
    *,
    max_context_tokens: int,
    count_tokens: TokenCounter = approx_tokens,
) -> tuple[str, list[dict[str, str]]]:
    """(system prompt, chat messages) for `request`, fitted to `max_context_tokens`.

    The budget keeps room for the answer (`request.max_tokens`). Follow-up turns
    get at most a quarter of what remains, sources the rest, in rank order.
    Messages start with a user turn, alternate, and end with the question.
    """
    system = system_prompt(request)
    fixed = (
        count_tokens(system)
        + count_tokens(_question_block(request, ""))
        + request.max_tokens
        + SAFETY_MARGIN_TOKENS
    )
    available = max(0, max_context_tokens - fixed)
    # a follow-up to condense has no sources: the thread is all there is to read
    share = 1.0 if request.task == CONDENSE else HISTORY_SHARE
    history = _fit_history(request, int(available * share), count_tokens)
    available -= sum(count_tokens(m["content"]) + 4 for m in history)
    sources_block = ""
    if request.use_docs and request.task != CONDENSE:
        sources_block = _fit_sources(request.sources, available, count_tokens)
    question = {"role": "user", "content": _question_block(request, sources_block)}
    return system, _alternate([*history, question])


def rejects_system_role(error_message: str) -> bool:
    """Whether an API's error says the model takes no system message (Bedrock's
    "doesn't support system messages", a chat template's "System role not supported"):
    the request is then sent again with `fold_system`."""
    lowered = error_message.lower()
    return "system message" in lowered or "system role" in lowered


def fold_system(system: str, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Put the system prompt into the first user turn, for models that reject a system role."""
    if not system:
        return [dict(m) for m in messages]
    out = [dict(m) for m in messages]
    for message in out:
        if message["role"] == "user":
            message["content"] = f"{system}\n\n{message['content']}"
            return out
    return [{"role": "user", "content": system}, *out]


def render_instruct_prompt(system: str, messages: list[dict[str, str]]) -> str:
    """A Mistral-instruct style completion prompt: `<s>[INST] q [/INST] a</s>[INST] q2 [/INST]`.

    The lab's CML-hosted Mistral takes a raw prompt; the system text goes into
    the first instruction because the format has no system role.
    """
    parts = ["<s>"]
    for message in fold_system(system, messages):
        if message["role"] == "user":
            parts.append(f"[INST] {message['content']} [/INST]")
        else:
            parts.append(f" {message['content']}</s>")
    return "".join(parts)
