"""bench/bench_ingest.py, whose GPU numbers in docs/benchmarks.md come from a lent machine
that no test reaches: its embedding runs and the reference check must keep working on
the CPU, so that the next GPU session spends its minutes measuring, not debugging."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from bench import bench_ingest
from tests.shared_dir import SHARED

pytestmark = pytest.mark.slow


def run(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(bench_ingest, "SHARED", SHARED)
    monkeypatch.setattr(sys, "argv", ["bench_ingest.py", *args])
    bench_ingest.main()


def test_embedding_runs_report_every_path_batch_size_and_the_reference_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    reference = tmp_path / "ref.npy"
    run(monkeypatch, "--write-reference", str(reference), "--embed-only", "12")
    vectors = np.load(reference)
    assert vectors.shape == (12, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    out = tmp_path / "result.json"
    run(
        monkeypatch,
        "--device",
        "cpu",
        "--skip-ingest",
        "--embed-only",
        "12",
        "--repeats",
        "2",
        "--batch-sizes",
        "4,8",
        "--reference",
        str(reference),
        "--out",
        str(out),
    )
    result = json.loads(out.read_text())
    assert result["accelerator"] is None
    assert result["reference"]["min_cosine"] >= 0.9999  # same device, same model
    assert result["embed_only"]["path"] == "model.encode"  # the CPU's default path
    assert result["embed_pipelined"]["chunks"] == 12
    assert result["embed_only"]["repeats"] == 2
    assert set(result["embed_by_batch_size"]) == {"4", "8"}
    assert result["tokenize_pipelined"]["chunks_per_s_by_workers"]
