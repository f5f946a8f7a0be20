"""Question sets in the `docbot eval` format, written by tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

Row = tuple[str, str, Sequence[str]]  # id, question, expected URLs ([] = unanswerable)

# Two small sets over the shared test index (tests/conftest.py CORPUS), each with both kinds.
BASE = "https://docs.example.com/"
TRAIN_ROWS: list[Row] = [
    ("a1", "how do I restore a backup?", [BASE + "backup/"]),
    ("a2", "how do i install widgetron with pip", [BASE + "install/"]),
    ("u1", "what is on the cafeteria lunch menu today", []),
]
FIT_ROWS: list[Row] = [
    ("a3", "which discounts apply to widget orders", [BASE + "guide/pricing/"]),
    ("a4", "what python version does widgetron need", [BASE + "install/"]),
    ("u2", "who won the football world cup", []),
]


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
