"""The document model that ingest produces and the index consumes.

A `Page` is one doc page, cleaned to its main content and split into
`Section`s by heading. Both are plain data, JSON round-trippable, so a scrape
snapshot written by one CML Job can be read by the next.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Section:
    """A run of text under one heading. `anchor` is the heading's id ('' for the page top)."""

    anchor: str
    heading_path: list[str]  # e.g. ["Notebooks", "Quickstart", "Create a notebook"]
    text: str

    @property
    def heading(self) -> str:
        return self.heading_path[-1] if self.heading_path else ""


@dataclass
class Page:
    url: str  # citation URL: rel=canonical when present, else the fetched URL / file path
    title: str
    sections: list[Section] = field(default_factory=list)
    source: str = ""  # where it was read from (fetched URL or file path)
    last_modified: str = ""  # ISO 8601 date when known
    language: str = ""

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)

    def content_hash(self) -> str:
        h = hashlib.sha256()
        h.update(self.url.encode())
        h.update(b"\0" + self.title.encode())
        for s in self.sections:
            h.update(b"\0" + s.anchor.encode() + b"\0" + " > ".join(s.heading_path).encode())
            h.update(b"\0" + s.text.encode())
        return h.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Page:
        sections = [Section(**s) for s in obj.get("sections", [])]
        return cls(
            url=obj["url"],
            title=obj.get("title", ""),
            sections=sections,
            source=obj.get("source", ""),
            last_modified=obj.get("last_modified", ""),
            language=obj.get("language", ""),
        )
