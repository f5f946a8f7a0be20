"""A thread's earlier turns as the context of a question, for every platform.

The adapters read a thread as it is (Slack's `conversations.replies`, the turns Teams
keeps per channel thread); not every message there asked something. A typed command
(`docbot rag off`), a thank-you, an emoji or a bare mention, and the bot's reply to
it, would otherwise be "the thread's last question" that a follow-up like "and for
katib?" is searched with (`rag.retrieve.condense_query`), and the thread's topic lost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.commands import parse_command
from bot.types import Turn

# Messages that only thank or agree, as their words alone (lower case, no punctuation
# or emoji). Anything more ("thanks! and for katib?") is a message of the thread.
ACKNOWLEDGEMENTS = frozenset(
    {
        *("thanks", "thank you", "thanks a lot", "thank you so much", "many thanks", "thx"),
        *("ty", "tysm", "ok", "okay", "k", "kk", "ok thanks", "ok thank you", "okay thanks"),
        *("cool", "great", "nice", "perfect", "awesome", "got it", "great thanks", "great thx"),
        *("cool thanks", "perfect thanks", "got it thanks", "understood", "makes sense"),
        *("감사합니다", "고맙습니다", "고마워요", "고마워", "감사해요", "감사", "네", "알겠습니다"),
        *("네 감사합니다", "확인했습니다"),
    }
)
# Their words: a message made of nothing else ("ok thx", "great, thanks a lot") thanks too.
ACKNOWLEDGEMENT_WORDS = frozenset(word for phrase in ACKNOWLEDGEMENTS for word in phrase.split())
# What carries no words: a mention of someone (`@alice`, `@U0ALICE`) or an emoji code.
_NOT_WORDS = re.compile(r"(?<!\S)@\S+|:[\w+'-]+:")
_WORD = re.compile(r"\w+")


def asks_nothing(text: str) -> bool:
    """Whether a person's message is no part of what a thread asks: a typed command,
    a thank-you or an okay, or no words at all (emoji, mentions, punctuation)."""
    if parse_command(text.strip()) is not None:
        return True
    return is_acknowledgement(text)


def is_acknowledgement(text: str) -> bool:
    """A thank-you, an okay, or no words at all (emoji, mentions, punctuation): nothing
    to search the docs for."""
    words = _WORD.findall(_NOT_WORDS.sub(" ", text).lower())
    return not words or set(words) <= ACKNOWLEDGEMENT_WORDS


def clip(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars`, between words when there is a space to cut at."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    if text[max_chars].isspace():
        return cut.rstrip()
    space = cut.rfind(" ")
    return (cut[:space] if space > max_chars // 2 else cut).rstrip()


def question_history(history: Sequence[Turn], *, max_chars: int | None = None) -> list[Turn]:
    """The turns a question is asked after, oldest first, as rag reads them.

    A person's message that asks nothing (`asks_nothing`) is left out, with the bot's
    replies to it (the assistant turns up to the next person's message). A person's
    message longer than `max_chars` (the longest question the bot takes) is cut to it,
    so a pasted log does not become the search for the next follow-up; the bot's answers
    are kept whole (the prompt fits them by tokens, `rag.prompt`). Adapters that keep
    only a thread's last turns filter first, so that such messages take no place there."""
    kept: list[Turn] = []
    skipping = False
    for turn in history:
        text = turn.text.strip()
        if turn.role == "user":
            skipping = asks_nothing(text)
            if not skipping:
                kept.append(Turn("user", clip(text, max_chars) if max_chars else text))
        elif text and not skipping:
            kept.append(turn)
    return kept


__all__ = ["ACKNOWLEDGEMENTS", "asks_nothing", "clip", "is_acknowledgement", "question_history"]
