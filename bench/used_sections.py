"""The (page, anchor) pairs the question sets already answer from, for the next set's author.

Authors told to prefer less obvious sections kept choosing the same ones (held-out 6 and
8-12: 37-40 of 42 answerable questions on sections an earlier set used), so a new held-out
set is written with this list in hand and answers from other sections only. It shows
pages and anchors, never the questions. Run::

    python bench/used_sections.py > /tmp/used_sections.tsv

Columns: url, anchor ("" = the page top; "*" = a page used as the second page of a
two-page answer).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from rag.evaluate import EvalQuestion, load_questions

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def used_sections(questions: Iterable[EvalQuestion]) -> set[tuple[str, str]]:
    """(url, anchor) of every answerable question's answer section; (url, "*") for the
    further pages of a two-page answer."""
    used: set[tuple[str, str]] = set()
    for q in questions:
        if not q.expected_urls:
            continue
        used.add((q.expected_urls[0], q.expected_anchor))
        used.update((url, "*") for url in q.expected_urls[1:])
    return used


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path, help="question files (default: all)")
    args = parser.parse_args(argv)
    files = args.sets or sorted(DATA.glob("*_questions.jsonl"))
    try:
        used = used_sections(q for f in files for q in load_questions(f))
    except (OSError, ValueError) as exc:  # a wrong path or a bad line: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write("url\tanchor\n")
    for url, anchor in sorted(used):
        sys.stdout.write(f"{url}\t{anchor}\n")
    sys.stderr.write(f"{len(used)} sections on {len({u for u, _ in used})} pages\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
