"""Core types shared by every adapter and the bot core.

Nothing here imports a chat platform SDK: adapters translate platform payloads
into these types (pure functions) and render `Reply` back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Platform = Literal["slack", "teams", "console"]
SECTION_SEP = " › "  # joins a section's heading path, page title first


def section_label(title: str, section: str) -> str:
    """ "Page title › heading › subheading" for a source, the title once (pure).

    `section` is the heading path as chunks store it, which usually starts with the
    page title already; every adapter and the prompt name a source this way."""
    path = [part for part in section.split(SECTION_SEP) if part] if section else []
    while path and title and path[0] == title:  # an H2 may repeat the page's title
        path = path[1:]
    return SECTION_SEP.join([title, *path] if title else path)


def link_target(url: str) -> str:
    """A URL safe as a Markdown link target (pure): a space or parenthesis would end it early."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


@dataclass(frozen=True)
class ReplyTarget:
    """Where a reply goes, opaque to the core.

    `data` is whatever the adapter needs (Slack: team, channel, thread_ts;
    Teams: a serialised conversation reference). It must stay JSON-serialisable
    so a reply can be sent from another process or after a restart.
    """

    platform: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"platform": self.platform, "data": self.data}, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> ReplyTarget:
        obj = json.loads(raw)
        return cls(platform=obj["platform"], data=dict(obj.get("data") or {}))


@dataclass(frozen=True)
class Turn:
    """One earlier message of a thread, used for follow-up questions."""

    role: Literal["user", "assistant"]
    text: str


@dataclass
class IncomingMessage:
    """A message addressed to the bot, normalised across platforms."""

    platform: str
    conversation_id: str
    user_id: str
    text: str
    workspace_id: str = ""
    thread_id: str | None = None
    message_id: str = ""
    event_id: str = ""
    user_name: str = ""
    is_direct: bool = False
    is_command: bool = False
    locale: str = ""
    history: list[Turn] = field(default_factory=list)
    reply_target: ReplyTarget | None = None
    raw: Any = None

    @property
    def settings_scope(self) -> str:
        """Key under which per-conversation settings are stored."""
        return f"{self.platform}:{self.workspace_id}:{self.conversation_id}"


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer, down to the section."""

    n: int
    title: str
    url: str  # canonical page URL plus #anchor of the section
    section: str = ""  # heading path joined with SECTION_SEP, title first
    snippet: str = ""
    score: float = 0.0
    last_updated: str = ""  # ISO date of the page, when known

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reply:
    """What the bot answers; adapters render it per platform."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    model: str = ""
    used_docs: bool = False
    declined: bool = False
    fallback_used: bool = False  # another model answered than the one chosen
    notices: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    answer_id: str = ""
    ephemeral: bool = False  # command replies: visible only to the asker where possible
    is_command: bool = False
    language: str = "en"
    # the docs could not be searched (no index yet, the index unreadable, RAG off with the
    # offline model): declined, but it says nothing about what the docs cover, so it is
    # no doc gap, no draft question and gets no feedback buttons
    unavailable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "declined": self.declined,
            "model": self.model,
            "rag": self.used_docs,
            "notices": list(self.notices),
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "answer_id": self.answer_id,
        }
