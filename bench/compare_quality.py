"""Compare two `bench/bench_quality.py --json` runs: a change measured before and after.

    git worktree add /tmp/before <commit before the change>
    (cd /tmp/before && python bench/bench_quality.py SETS… --json /tmp/before.json)
    python bench/bench_quality.py SETS… --json /tmp/after.json
    python bench/compare_quality.py /tmp/before.json /tmp/after.json [--changed]

Both runs read the same index (DOCBOT_DATA_DIR). Prints, per question set and pooled,
counts before -> after: recall@1 and @5, MRR@10 (as a sum, so sets pool), section hit@5,
both pages in the top 5, and the declines of the offline answerer's gate; with runs that
recorded it, also the gate in front of a language model. `--changed` lists the ids of the
questions whose rank, section hit or gate moved, never their text: on an unseen set, the
numbers are all a measurement may look at.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def counts(rows: Iterable[Row]) -> dict[str, float]:
    """Summable counts of one run's per-question rows."""
    out = {
        "answerable": 0.0,
        "recall@1": 0.0,
        "recall@5": 0.0,
        "mrr_sum": 0.0,
        "section@5": 0.0,
        "two_page": 0.0,
        "both@5": 0.0,
        "declined_answerable": 0.0,
        "unanswerable": 0.0,
        "declined_unanswerable": 0.0,
        "llm_gate_declined_answerable": 0.0,
        "llm_gate_declined_unanswerable": 0.0,
    }
    for row in rows:
        gate_declined = row.get("gate") == "decline"
        if row["kind"] == "unanswerable":
            out["unanswerable"] += 1
            out["declined_unanswerable"] += bool(row.get("declined"))
            out["llm_gate_declined_unanswerable"] += gate_declined
            continue
        rank = row.get("first_hit_rank")
        out["answerable"] += 1
        out["recall@1"] += bool(row.get("hit@1"))
        out["recall@5"] += bool(row.get("hit@5"))
        out["mrr_sum"] += 1.0 / rank if rank else 0.0
        out["section@5"] += bool(row.get("section_hit@5"))
        out["declined_answerable"] += bool(row.get("declined"))
        out["llm_gate_declined_answerable"] += gate_declined
        if row["kind"] == "two_page":
            out["two_page"] += 1
            out["both@5"] += bool(row.get("both@5"))
    return out


def changed(before: list[Row], after: list[Row]) -> list[str]:
    """Ids of the questions whose rank, section hit, decline or gate moved."""
    keys = ("first_hit_rank", "section_hit@5", "both@5", "declined", "gate")
    after_by_id = {row["id"]: row for row in after}
    return [
        row["id"]
        for row in before
        if any(row.get(k) != after_by_id.get(row["id"], {}).get(k) for k in keys)
    ]


def has_gates(rows: Iterable[Row]) -> bool:
    return all("gate" in row for row in rows)


def format_counts(name: str, a: dict[str, float], b: dict[str, float], gates: bool) -> str:
    def pair(key: str) -> str:
        return f"{a[key]:g} -> {b[key]:g}"

    parts = [
        f"{name}: answerable {a['answerable']:g}",
        f"recall@1 {pair('recall@1')}",
        f"recall@5 {pair('recall@5')}",
        f"MRR sum {a['mrr_sum']:.2f} -> {b['mrr_sum']:.2f}",
        f"section@5 {pair('section@5')}",
    ]
    if a["two_page"]:
        parts.append(f"both@5 {pair('both@5')} of {a['two_page']:g}")
    parts.append(f"declined answerable {pair('declined_answerable')}")
    if a["unanswerable"]:
        parts.append(
            f"declined unanswerable {pair('declined_unanswerable')} of {a['unanswerable']:g}"
        )
    if gates:
        parts.append(
            "language-model gate declines answerable "
            f"{pair('llm_gate_declined_answerable')}, unanswerable "
            f"{pair('llm_gate_declined_unanswerable')}"
        )
    return " | ".join(parts)


def compare(before: dict[str, Any], after: dict[str, Any], list_changed: bool) -> str:
    lines: list[str] = []
    total_a: dict[str, float] = {}
    total_b: dict[str, float] = {}
    all_gates = True
    for name, run in before.items():
        if name not in after:
            lines.append(f"{name}: only in the first run")
            continue
        rows_a, rows_b = run["per_question"], after[name]["per_question"]
        a, b = counts(rows_a), counts(rows_b)
        gates = has_gates(rows_a) and has_gates(rows_b)
        all_gates = all_gates and gates
        lines.append(format_counts(Path(name).name, a, b, gates))
        if list_changed:
            lines.append(f"  changed: {' '.join(changed(rows_a, rows_b)) or '-'}")
        for key in a:
            total_a[key] = total_a.get(key, 0.0) + a[key]
            total_b[key] = total_b.get(key, 0.0) + b[key]
    if len(lines) > 1 and total_a:
        lines.append(format_counts("pooled", total_a, total_b, all_gates))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--changed", action="store_true", help="list the ids that moved")
    args = parser.parse_args(argv)
    reports = []
    for path in (args.before, args.after):
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:  # a wrong path or not JSON: one line, no traceback
            print(f"error: {path}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
            return 2
    before, after = reports
    print(compare(before, after, args.changed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
