"""Question sets in the `docbot eval` format, written by tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

Row = tuple[str, str, Sequence[str]]  # id, question, expected URLs ([] = unanswerable)


def write_question_set(path: Path, rows: Sequence[Row]) -> Path:
    """A question set in the `docbot eval` format: single questions and unanswerable ones."""
    path.write_text(
        "".join(
            json.dumps(
                {
                    "id": qid,
                    "question": text,
                    "expected_urls": list(urls),
                    "expected_anchor": "",
                    "answer_facts": [],
                    "kind": "single" if urls else "unanswerable",
                }
            )
            + "\n"
            for qid, text, urls in rows
        )
    )
    return path
