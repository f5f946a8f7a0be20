"""The live index the answer-quality scripts run against (DOCBOT_DATA_DIR)."""

from __future__ import annotations

import sys

from bot.config import Settings
from rag.retrieve import Retriever

NO_INDEX = "error: no live index in DOCBOT_DATA_DIR (run `docbot ingest --path .../site/docs`)"


def live_retriever(settings: Settings) -> Retriever | None:
    """A retriever on the live index of `settings`, or None, with the reason on stderr,
    when no index is live."""
    retriever = Retriever(settings)
    if not retriever.refresh():
        print(NO_INDEX, file=sys.stderr)
        return None
    return retriever
