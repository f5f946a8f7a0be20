"""Reply -> Slack messages (blocks plus fallback text). Pure functions, no I/O.

Slack's limits are enforced here: at most 3,000 characters per section block,
at most 50 blocks per message, and a cumulative text budget per message (Slack
rejects long block sets with `msg_blocks_too_long` at around 12k characters).
An answer that does not fit becomes several messages; the sources, footer and
feedback buttons go under the last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.slack import mrkdwn
from adapters.slack.parse import PLACEHOLDER_TEXT
from bot.messages import t
from bot.types import Citation, Reply, section_label

MAX_BLOCKS = 50
MAX_MESSAGE_CHARS = 11_000  # below the unpublished ~12k cumulative block-text limit
MAX_CONTEXT_ELEMENTS = 10
FALLBACK_CHARS = mrkdwn.FALLBACK_CHARS  # notification text; also what thread history reads back
ACTION_UP = "feedback_up"
ACTION_DOWN = "feedback_down"
ERROR_TEXT = (
    "Sorry, something went wrong while I was answering. Please try again in a minute; "
    "if it keeps happening, tell the docbot admins."
)

Block = dict[str, Any]


@dataclass
class SlackMessage:
    """One Slack message: `text` is the notification/fallback, `blocks` what is shown."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def kwargs(self) -> dict[str, Any]:
        """Arguments for chat.postMessage / chat.update / chat.postEphemeral."""
        return {"text": self.text, "blocks": self.blocks}


def section(text: str, block_id: str = "") -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def context(texts: list[str], block_id: str = "") -> Block:
    block: Block = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": t} for t in texts[:MAX_CONTEXT_ELEMENTS]],
    }
    if block_id:
        block["block_id"] = block_id
    return block


def placeholder(text: str = PLACEHOLDER_TEXT) -> SlackMessage:
    """Posted at once, then edited into the answer."""
    return SlackMessage(text, [context([f":mag: _{mrkdwn.escape(text)}_"])])


def streaming(partial_markdown: str) -> SlackMessage:
    """The answer so far, while the model is still writing."""
    body = mrkdwn.truncate(mrkdwn.to_mrkdwn(partial_markdown), mrkdwn.SECTION_LIMIT)
    if not body.strip():
        return placeholder()
    return SlackMessage(
        mrkdwn.truncate(body, FALLBACK_CHARS),
        [section(body), context([":writing_hand: _writing…_"])],
    )


def error_message() -> SlackMessage:
    return SlackMessage(ERROR_TEXT, [section(f":warning: {mrkdwn.escape(ERROR_TEXT)}")])


def sources_block(citations: list[Citation], block_id: str = "", language: str = "en") -> Block:
    """Sources as a context block of numbered `<url|title › section>` links, each with its
    page's last-updated date when known."""
    items = []
    for c in citations:
        label = section_label(c.title, c.section) or c.url
        label = label if len(label) <= 150 else label[:149] + "…"
        updated = f" · {mrkdwn.escape(t('updated', language, date=c.last_updated))}"
        updated = updated if c.last_updated else ""
        if mrkdwn.is_web_url(c.url):
            items.append(f"*[{c.n}]* {mrkdwn.link(c.url, label)}{updated}")
        else:  # a local path (docs indexed without a base URL): show it, it cannot be a link
            where = f" (`{mrkdwn.escape(c.url)}`)" if c.url else ""
            items.append(f"*[{c.n}]* {mrkdwn.escape(label)}{where}{updated}")
    if items:
        items[0] = f"*{t('sources', language)}:* {items[0]}"
    if len(items) > MAX_CONTEXT_ELEMENTS:
        # Context blocks take at most 10 elements: the tail shares the last one.
        items = items[: MAX_CONTEXT_ELEMENTS - 1] + ["  ".join(items[MAX_CONTEXT_ELEMENTS - 1 :])]
    return context([mrkdwn.truncate(i, 2000) for i in items], block_id)


def footer_text(reply: Reply, elapsed_s: float | None = None) -> str:
    """`model · docs used or not · seconds`, in the reply's language; no model part
    when none answered (a decline before any model ran)."""
    lang = reply.language
    parts = [t("footer_model", lang, model=mrkdwn.escape(reply.model))] if reply.model else []
    if reply.declined:
        parts.append(t("footer_declined", lang))
    else:
        parts.append(t("footer_docs_used" if reply.used_docs else "footer_docs_not_used", lang))
    seconds = elapsed_s
    if seconds is None and reply.timings_ms:
        seconds = reply.timings_ms.get("total", max(reply.timings_ms.values())) / 1000.0
    if seconds is not None:
        parts.append(t("footer_seconds", lang, seconds=seconds))
    return " · ".join(parts)


def feedback_block(answer_id: str) -> Block:
    return {
        "type": "actions",
        "block_id": f"feedback:{answer_id}",
        "elements": [
            {
                "type": "button",
                "action_id": ACTION_UP,
                "value": f"up:{answer_id}",
                "text": {"type": "plain_text", "text": ":thumbsup: Helpful", "emoji": True},
            },
            {
                "type": "button",
                "action_id": ACTION_DOWN,
                "value": f"down:{answer_id}",
                "text": {"type": "plain_text", "text": ":thumbsdown: Not helpful", "emoji": True},
            },
        ],
    }


def render_reply(reply: Reply, *, elapsed_s: float | None = None) -> list[SlackMessage]:
    """Render a reply as one or more messages, each within Slack's limits.

    Answers get sources, a footer and feedback buttons; command replies
    (`is_command` or `ephemeral`) are just their text.
    """
    aid = reply.answer_id
    body = mrkdwn.to_mrkdwn(reply.text or "", {c.n: c.url for c in reply.citations})
    pieces = mrkdwn.split(body) or ["_(no answer)_"]
    sections = [section(p, f"answer:{aid}:{i}" if aid else "") for i, p in enumerate(pieces)]

    tail: list[Block] = []
    if reply.notices:
        notes = "\n".join(f":warning: {mrkdwn.escape(n)}" for n in reply.notices)
        tail.append(context([mrkdwn.truncate(notes, 2000)], f"notices:{aid}" if aid else ""))
    is_command = reply.is_command or reply.ephemeral
    if reply.citations and not reply.declined:
        tail.append(sources_block(reply.citations, f"sources:{aid}" if aid else "", reply.language))
    if not is_command:
        tail.append(context([footer_text(reply, elapsed_s)], f"footer:{aid}" if aid else ""))
        if aid:
            tail.append(feedback_block(aid))

    groups: list[list[Block]] = [[]]
    chars = 0
    for block in sections:
        size = len(block["text"]["text"])
        if groups[-1] and (len(groups[-1]) >= MAX_BLOCKS or chars + size > MAX_MESSAGE_CHARS):
            groups.append([])
            chars = 0
        groups[-1].append(block)
        chars += size
    tail_chars = sum(len(e["text"]) for b in tail for e in b.get("elements", []) if "text" in e)
    if len(groups[-1]) + len(tail) > MAX_BLOCKS or chars + tail_chars > MAX_MESSAGE_CHARS:
        groups.append([])
    groups[-1].extend(tail)

    messages = []
    for blocks in groups:
        texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
        fallback = "\n\n".join(texts) or footer_text(reply, elapsed_s)
        messages.append(SlackMessage(mrkdwn.truncate(fallback, FALLBACK_CHARS), blocks))
    return messages


def thanks_message(text: str) -> SlackMessage:
    return SlackMessage(text, [context([mrkdwn.escape(text)])])
