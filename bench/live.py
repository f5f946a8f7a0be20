"""The live index the answer-quality scripts run against (DOCBOT_DATA_DIR)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from bot.config import Settings
from rag.evaluate import load_questions
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


def question_sets_load(paths: Iterable[Path]) -> bool:
    """Whether every question file loads; each one that does not is named on stderr.

    Checked before the index loads and any set runs, so a wrong path or a bad line is said
    at once, in one line, not as a traceback after the earlier sets' work."""
    ok = True
    for path in paths:
        try:
            load_questions(path)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            ok = False
    return ok
