"""Pure rendering of a core `Reply` into Teams activities.

An answer becomes:

1. the answer text as one or more `message` activities (Markdown). Long answers are split so
   each post stays under the Teams size limit; the docs have said ~28 KB, 40 KB and 100 KB over
   the years, so we budget for the smallest (reference §2.7). The text carries a schema.org
   citations entity (clickable `[n]` markers) and, for real answers, Teams' built-in feedback
   control (`channelData.feedbackLoop`);
2. one Adaptive Card with the numbered sources (title › section, link), a footer (model, docs
   used, time), notices, and 👍/👎 `Action.Submit` buttons.

Text and card go in separate activities on purpose: Teams splits an activity that has both into
two messages anyway (reference §2.6).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from botbuilder.core import CardFactory
from botbuilder.schema import Activity, ActivityTypes, Entity

from adapters.teams.parse import ANSWER_ID_KEY, FEEDBACK_KEY
from bot import messages
from bot.types import Citation, Reply, link_target, section_label

# Whole serialized activity, in UTF-16 bytes (how Teams counts): under the ~28 KB figure.
MESSAGE_LIMIT_BYTES = 26_000
# One text chunk, UTF-16 bytes; leaves room for the citations entity of that chunk.
TEXT_LIMIT_BYTES = 16_000
MAX_CITATIONS = 20  # Teams rejects more than 20 citations in one message
CITATION_NAME_CHARS = 80
CITATION_ABSTRACT_CHARS = 160
SNIPPET_CHARS = 160
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"  # 1.5+ makes Teams prefer Action.Execute; Submit is what we handle
FEEDBACK_LOOP_CHANNEL_DATA = {"feedbackLoop": {"type": "default"}, "feedbackLoopEnabled": True}

_FENCE = re.compile(r"^\s*(```|~~~)")
# Slack-style `*bold*` (single asterisks) in the core's texts; Teams Markdown reads it as italics.
# never starting with ";:,.!?": "v2.0.*; KFP SDK: v1.8.*" holds version wildcards, not bold
_SLACK_BOLD = re.compile(r"(?<![*\w])\*(?=[^\s*;:,.!?])([^*\n]*?[^\s*])\*(?![*\w])")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.DOTALL)
_MARKER = re.compile(r"\[(\d{1,2})\]")


class _RawEntity(Entity):
    """An `Entity` that serializes its extra keys (botbuilder's `Entity` keeps only `type`)."""

    _attribute_map = {
        **Entity._attribute_map,
        "additional_properties": {"key": "", "type": "{object}"},
    }


@dataclass(frozen=True)
class RenderOptions:
    """Limits, overridable in tests to exercise splitting without megabyte fixtures."""

    text_limit_bytes: int = TEXT_LIMIT_BYTES
    message_limit_bytes: int = MESSAGE_LIMIT_BYTES


def utf16_size(text: str) -> int:
    """Bytes of `text` in UTF-16, the unit of the Teams message size limit."""
    return len(text.encode("utf-16-le"))


def activity_size(activity: Activity) -> int:
    return utf16_size(json.dumps(activity.serialize(), ensure_ascii=False, separators=(",", ":")))


# --------------------------------------------------------------------------- text splitting


def _hard_split(text: str, limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for ch in text:
        if current and utf16_size(current + ch) > limit:
            out.append(current)
            current = ""
        current += ch
    if current:
        out.append(current)
    return out


def _pack(units: list[str], sep: str, limit: int) -> list[str]:
    """Greedily join `units` with `sep` into pieces of at most `limit` UTF-16 bytes."""
    out: list[str] = []
    current: str | None = None
    for unit in units:
        candidate = unit if current is None else current + sep + unit
        if utf16_size(candidate) <= limit:
            current = candidate
            continue
        if current is not None:
            out.append(current)
        current = unit
    if current is not None:
        out.append(current)
    return out


def _split_unit(text: str, limit: int, separators: tuple[str, ...]) -> list[str]:
    if utf16_size(text) <= limit:
        return [text]
    if not separators:
        return _hard_split(text, limit)
    sep, rest = separators[0], separators[1:]
    units: list[str] = []
    for part in text.split(sep):
        units.extend(_split_unit(part, limit, rest))
    return _pack(units, sep, limit)


def _balance_fences(chunks: list[str]) -> list[str]:
    """Close a code fence left open at the end of a chunk and reopen it in the next one."""
    out: list[str] = []
    reopen = ""
    for chunk in chunks:
        text = reopen + chunk
        reopen = ""
        opener = ""
        for line in text.split("\n"):
            if _FENCE.match(line):
                opener = "" if opener else line.strip()
        if opener:
            text += "\n" + opener[:3]
            reopen = opener + "\n"
        out.append(text)
    return out


def split_text(text: str, limit_bytes: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Split Markdown text into chunks of at most ~`limit_bytes` UTF-16 bytes.

    Cuts at paragraph breaks first, then line breaks, then spaces, and only then inside a word.
    Code fences cut in two are closed and reopened so each post renders on its own.
    """
    text = text.strip()
    if not text:
        return [""]
    # Headroom for the fence lines _balance_fences may add (an opener of up to ~30 chars).
    budget = max(64, limit_bytes - 80)
    chunks = _split_unit(text, budget, ("\n\n", "\n", " "))
    return [c for c in (chunk.strip("\n") for chunk in _balance_fences(chunks)) if c.strip()]


# --------------------------------------------------------------------------- pieces


def to_teams_markdown(text: str) -> str:
    """Fit the core's Markdown-ish text to what Teams renders in text messages, code untouched.

    Slack-style `*bold*` becomes `**bold**` (Teams reads single asterisks as italics), and
    `# headings`, which Teams text messages do not render, become bold lines.
    """
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):  # even indexes are outside code
        part = _SLACK_BOLD.sub(r"**\1**", parts[i])
        parts[i] = _HEADING.sub(r"**\1**", part)
    return "".join(parts)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _md_text(text: str) -> str:
    """Text safe inside a Markdown link label (brackets would end the label early)."""
    return text.replace("[", "(").replace("]", ")").replace("\n", " ")


def citation_label(citation: Citation) -> str:
    return section_label(citation.title, citation.section) or citation.url


def _t(key: str, lang: str, fallback: str, **values: object) -> str:
    """The core's wording in the reply's language; our English if the key is ever renamed."""
    try:
        return messages.t(key, lang or "en", **values)
    except (KeyError, IndexError, ValueError):
        return fallback.format(**values) if values else fallback


def footer_text(reply: Reply) -> str:
    """`model · from the docs · 1.2s`, in the reply's language."""
    lang = reply.language
    parts: list[str] = []
    if reply.model:
        parts.append(reply.model)
    if reply.declined:  # as Slack's footer says it; a bare "0.0s" said nothing
        parts.append(_t("footer_declined", lang, "no answer from the docs"))
    elif reply.used_docs:
        parts.append(_t("docs_used", lang, "from the docs"))
    else:
        parts.append(_t("docs_not_used", lang, "docs not used"))
    total = reply.timings_ms.get("total")
    if total is not None:
        parts.append(f"{total / 1000:.1f}s")
    return " · ".join(parts)


def citations_entity(citations: list[Citation], *, ai_generated: bool, abstracts: bool = True):
    """The schema.org `Message` entity that makes `[n]` markers in the text clickable in Teams."""
    claims = []
    for citation in citations[:MAX_CITATIONS]:
        appearance: dict[str, Any] = {
            "@type": "DigitalDocument",
            "name": _clip(citation_label(citation), CITATION_NAME_CHARS),
            "url": citation.url,
        }
        abstract = citation.snippet or citation.section
        if abstracts and abstract:
            appearance["abstract"] = _clip(abstract, CITATION_ABSTRACT_CHARS)
        claims.append({"@type": "Claim", "position": citation.n, "appearance": appearance})
    entity = _RawEntity(type="https://schema.org/Message")
    entity.additional_properties = {
        "@type": "Message",
        "@context": "https://schema.org",
        "@id": "",
        "additionalType": ["AIGeneratedContent"] if ai_generated else [],
        "citation": claims,
    }
    return entity


def feedback_actions(answer_id: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "Action.Submit",
            "title": "👍 Helpful",
            "data": {FEEDBACK_KEY: "up", ANSWER_ID_KEY: answer_id},
        },
        {
            "type": "Action.Submit",
            "title": "👎 Not helpful",
            "data": {FEEDBACK_KEY: "down", ANSWER_ID_KEY: answer_id},
        },
    ]


def answer_card(
    reply: Reply, *, snippets: bool = True, max_sources: int = MAX_CITATIONS
) -> dict[str, Any]:
    """Adaptive Card with numbered sources, footer, notices and feedback buttons."""
    body: list[dict[str, Any]] = []
    citations = sorted(reply.citations, key=lambda c: c.n)[:max_sources]
    if citations:
        title = _t("sources", reply.language, "Sources")
        body.append({"type": "TextBlock", "text": title, "weight": "Bolder", "wrap": True})
        for citation in citations:
            label = _md_text(_clip(citation_label(citation), 200))
            line = (
                f"{citation.n}. [{label}]({link_target(citation.url)})" if citation.url else label
            )
            if citation.last_updated:
                updated = _t(
                    "updated", reply.language, "updated {date}", date=citation.last_updated
                )
                line += f" ({updated})"
            body.append({"type": "TextBlock", "text": line, "wrap": True, "spacing": "Small"})
            if snippets and citation.snippet:
                body.append(
                    {
                        "type": "TextBlock",
                        "text": _clip(citation.snippet, SNIPPET_CHARS),
                        "wrap": True,
                        "isSubtle": True,
                        "size": "Small",
                        "spacing": "None",
                    }
                )
        if len(reply.citations) > len(citations):
            more = len(reply.citations) - len(citations)
            body.append({"type": "TextBlock", "text": f"…and {more} more", "isSubtle": True})
    for notice in reply.notices:
        body.append({"type": "TextBlock", "text": notice, "wrap": True, "color": "Warning"})
    footer = footer_text(reply)
    if footer:
        body.append(
            {
                "type": "TextBlock",
                "text": footer,
                "wrap": True,
                "isSubtle": True,
                "size": "Small",
                "separator": bool(citations),
            }
        )
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if reply.answer_id:
        card["actions"] = feedback_actions(reply.answer_id)
    return card


def card_activity(card: dict[str, Any]) -> Activity:
    return Activity(type=ActivityTypes.message, attachments=[CardFactory.adaptive_card(card)])


def _fit_card(reply: Reply, limit: int) -> Activity:
    """The richest card that fits: with snippets, without, then with fewer sources."""
    activity = card_activity(answer_card(reply))
    if activity_size(activity) <= limit:
        return activity
    sources = min(len(reply.citations), MAX_CITATIONS)
    while True:
        activity = card_activity(answer_card(reply, snippets=False, max_sources=sources))
        if activity_size(activity) <= limit or sources == 0:
            return activity
        sources -= 1


def _text_activity(chunk: str, reply: Reply, *, feedback_loop: bool, limit: int) -> Activity:
    activity = Activity(type=ActivityTypes.message, text=chunk, text_format="markdown")
    if feedback_loop:
        activity.channel_data = dict(FEEDBACK_LOOP_CHANNEL_DATA)
    cited = {int(n) for n in _MARKER.findall(chunk)}
    used = [c for c in reply.citations if c.n in cited]
    if used:
        # the offline model quotes the docs; the core names it "extractive (offline, no LLM)"
        ai = bool(reply.model) and reply.model.split(" ", 1)[0] != "extractive"
        activity.entities = [citations_entity(used, ai_generated=ai)]
        if activity_size(activity) > limit:
            activity.entities = [citations_entity(used, ai_generated=ai, abstracts=False)]
        if activity_size(activity) > limit:
            activity.entities = None
    return activity


def is_answer(reply: Reply) -> bool:
    """A real answer (feedback and sources apply), as opposed to a command reply."""
    return not reply.is_command and not reply.ephemeral


def render_reply(reply: Reply, options: RenderOptions | None = None) -> list[Activity]:
    """All activities to post for `reply`, in order. Never empty."""
    options = options or RenderOptions()
    text = reply.text.strip() or (
        "I couldn't produce an answer to that. Please rephrase the question or try again."
    )
    text = to_teams_markdown(text)
    answer = is_answer(reply)
    if not answer and reply.notices:
        # Command replies get no card; keep their notices visible in the text.
        text += "\n\n" + "\n".join(f"_{notice}_" for notice in reply.notices)
    chunks = split_text(text, options.text_limit_bytes)
    activities: list[Activity] = []
    for i, chunk in enumerate(chunks):
        # Built-in feedback rates a message by its id: put it on the last text chunk only.
        loop = answer and bool(reply.answer_id) and i == len(chunks) - 1
        activities.append(
            _text_activity(chunk, reply, feedback_loop=loop, limit=options.message_limit_bytes)
        )
    if answer and (reply.citations or reply.answer_id or reply.notices or reply.model):
        activities.append(_fit_card(reply, options.message_limit_bytes))
    return activities


def plain_text(text: str, options: RenderOptions | None = None) -> list[Activity]:
    """Short bot-authored messages (welcome, errors, thanks), split if ever needed."""
    options = options or RenderOptions()
    return [
        Activity(type=ActivityTypes.message, text=chunk, text_format="markdown")
        for chunk in split_text(text, options.text_limit_bytes)
    ]


def welcome_text(bot_name: str = "", lang: str = "en") -> str:
    """What the bot does and how to ask; Teams-specific in English, the core's text otherwise."""
    name = bot_name or "docbot"
    if lang and lang != "en":
        localized = _t("welcome", lang, "")
        if localized:
            return localized
    return (
        f"Hi, I'm **{name}**. I answer questions about the product documentation and link "
        "the exact doc sections I used, so you can check the answer.\n\n"
        "- In a 1:1 chat, just type your question.\n"
        f"- In a channel or group chat, @mention me: `@{name} how do I install the SDK?`\n"
        "- Type `/docbot help` (or `docbot help`) for commands: model, language, answer "
        "length, and more.\n\n"
        "Rate answers with 👍 or 👎 so the docs team knows what to fix."
    )


def error_text(reference: str) -> str:
    return (
        "Sorry, something went wrong while answering. Please try again in a minute. "
        f"If it keeps happening, tell the docbot admins (reference `{reference}`)."
    )
