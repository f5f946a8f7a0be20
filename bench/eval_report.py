"""Side-by-side Markdown table of evaluation results, for docs/benchmarks.md.

Inputs are JSON files written by ``docbot eval --json`` / ``python -m rag.evaluate --json``
(one system: the metrics at the top level) or by ``bench/baselines.py --json`` (several
systems under ``"baselines"``)::

    python bench/eval_report.py /tmp/baselines.json /tmp/docbot.json [--name docbot]

prints one Markdown table, a column per system, a row per metric, with the issue's targets.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rag.evaluate import TARGETS  # noqa: E402

ROWS: tuple[tuple[str, str], ...] = (
    ("page_recall@1", "page recall@1"),
    ("page_recall@5", "page recall@5"),
    ("mrr@10", "MRR@10"),
    ("two_page_both@5", "both pages in top 5 (two-page)"),
    ("section_hit@5", "section hit@5"),
    ("decline_rate_answerable", "declined, answerable"),
    ("decline_rate_unanswerable", "declined, unanswerable"),
    ("fact_coverage", "answer fact coverage"),
    ("citation_page_hit", "answer cites an expected page"),
)


def systems_of(path: Path, name: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(column name, metrics) for each system in a result file; ``name`` names a
    single-system file (default: its title, else the file name)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not an evaluation result")
    if isinstance(data.get("baselines"), dict):
        return list(data["baselines"].items())
    return [(name or str(data.get("title") or path.stem), data)]


def _is_multi(path: Path) -> bool:
    data = json.loads(path.read_text(encoding="utf-8"))
    return isinstance(data, dict) and isinstance(data.get("baselines"), dict)


def _cell(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def _target(key: str) -> str:
    if key not in TARGETS:
        return ""
    op, bound = TARGETS[key]
    return f"{'≥' if op == 'min' else '≤'} {bound:.2f}"


def markdown_table(systems: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """One row per metric, one column per system, last column the target."""
    header = ["metric", *(name for name, _ in systems), "target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, label in ROWS:
        cells = [label, *(_cell(m.get(key)) for _, m in systems), _target(key)]
        lines.append("| " + " | ".join(cells) + " |")
    counts = [m.get("counts", {}) for _, m in systems]
    if counts and counts[0]:
        c = counts[0]
        lines.append("")
        lines.append(
            f"{c.get('total', 0)} questions: {c.get('single', 0)} single-page, "
            f"{c.get('two_page', 0)} two-page, {c.get('unanswerable', 0)} unanswerable."
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+", type=Path, help="result JSON files")
    p.add_argument("--name", action="append", default=[], help="column name per single file")
    args = p.parse_args(argv)
    systems: list[tuple[str, dict[str, Any]]] = []
    names = iter(args.name)
    try:
        for path in args.results:
            name = None if _is_multi(path) else next(names, None)
            systems.extend(systems_of(path, name))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(systems))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
