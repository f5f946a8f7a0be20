"""Fit and cross-validate the learned decline gate (`rag.decline_model`) on decline signals.

    python bench/gate_fit.py /tmp/gate_features.jsonl [--decline-answerable 0.05]

Reads what `bench/gate_features.py` wrote (single questions only; follow-ups are skipped,
the model does not judge them). Reports, leave-one-set-out (fit on all sets but one, pick
the threshold that declines `--decline-answerable` of their answerable questions, apply it
to the one left out; pooled over all sets), the decline rates of the fitted model beside
those of the combined score alone (`relevance`, its threshold chosen the same way), and
each signal's worth (the model refitted without it). Then fits on all sets and prints the
weights block for `rag/decline_model.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.decline_model import Signals  # noqa: E402

NAMES = [f.name for f in fields(Signals)]
L2 = 1.0  # ridge on standardised weights, in units of one question
STEPS = 4000
RATE = 0.5


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression by gradient descent on standardised columns; returns raw-scale
    weights and intercept (standardisation folded back in)."""
    mean, std = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / std
    w = np.zeros(z.shape[1])
    b = 0.0
    n = len(y)
    for _ in range(STEPS):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        w -= RATE * (z.T @ (p - y) / n + L2 * w / n)
        b -= RATE * float(np.mean(p - y))
    raw = w / std
    return raw, b - float(raw @ mean)


def threshold(scores: np.ndarray, answerable: np.ndarray, share: float) -> float:
    """The logit above which `share` of the answerable questions fall."""
    return float(np.quantile(scores[answerable], 1.0 - share))


def cross_validate(
    x: np.ndarray, y: np.ndarray, sets: np.ndarray, share: float
) -> tuple[float, float]:
    """Pooled leave-one-set-out decline rates (answerable, unanswerable)."""
    declined = np.zeros(len(y), dtype=bool)
    for s in np.unique(sets):
        train = sets != s
        w, b = fit(x[train], y[train])
        cut = threshold(x[train] @ w + b, y[train] == 0, share)
        declined[~train] = x[~train] @ w + b > cut
    return float(declined[y == 0].mean()), float(declined[y == 1].mean())


def baseline(rel: np.ndarray, y: np.ndarray, sets: np.ndarray, share: float) -> tuple[float, float]:
    """The same, for one threshold on the combined score alone."""
    declined = np.zeros(len(y), dtype=bool)
    for s in np.unique(sets):
        train = sets != s
        cut = float(np.quantile(rel[train][y[train] == 0], share))
        declined[~train] = rel[~train] < cut
    return float(declined[y == 0].mean()), float(declined[y == 1].mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("features", type=Path)
    parser.add_argument("--decline-answerable", type=float, default=0.05)
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.features.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if not r["followup"]]
    if not rows:
        print("error: no single questions in the features file", file=sys.stderr)
        return 2
    x = np.array([[float(r[n]) for n in NAMES] for r in rows])
    y = np.array([0.0 if r["answerable"] else 1.0 for r in rows])
    sets = np.array([r["set"] for r in rows])
    share = args.decline_answerable
    print(
        f"{len(rows)} questions ({int((y == 0).sum())} answerable, {int(y.sum())} unanswerable) "
        f"in {len(np.unique(sets))} sets; leave-one-set-out at {share:.1%} answerable declined:"
    )
    a, u = baseline(x[:, NAMES.index("relevance")], y, sets, share)
    print(f"  combined score alone: declined answerable {a:.3f}, unanswerable {u:.3f}")
    a, u = cross_validate(x, y, sets, share)
    print(f"  learned gate:         declined answerable {a:.3f}, unanswerable {u:.3f}")
    for i, name in enumerate(NAMES):
        keep = [j for j in range(len(NAMES)) if j != i]
        a, u = cross_validate(x[:, keep], y, sets, share)
        print(f"    without {name:14s} declined answerable {a:.3f}, unanswerable {u:.3f}")
    w, b = fit(x, y)
    cut = threshold(x @ w + b, y == 0, share)
    print("\nWEIGHTS: dict[str, float] = {")
    for name, weight in zip(NAMES, w, strict=True):
        print(f'    "{name}": {weight:.4f},')
    print(f"}}\nINTERCEPT = {b:.4f}\nDECLINE_LOGIT = {cut:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
