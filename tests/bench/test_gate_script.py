"""bench/bench_gate.py, whose gate timings in docs/benchmarks.md come from a trained gate:
kept working here on the tiny model (not timed)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bench import bench_gate
from bot.config import Settings
from rag.retrieve import Retriever
from rag.trained_gate import (
    GATE_FILE,
    MAX_LENGTH,
    GateConfig,
    Pair,
    TorchScorer,
    load_model,
    probe_logit,
    train,
)
from tests.tiny_models import cross_encoder

PAIRS = [
    Pair("how do i restore a backup", "Backup. Restore. Run widgetron restore FILE.", 1.0),
    Pair("who won the world cup", "Backup. Restore. Run widgetron restore FILE.", 0.0),
]


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained gate whose gate.json records its probe logit (as train-gate writes it)."""
    out = tmp_path_factory.mktemp("gate")
    base = cross_encoder(tmp_path_factory.mktemp("base"))
    train(PAIRS, str(base), out, epochs=1, batch_size=2, device="cpu", progress=lambda _: None)
    logit = probe_logit(TorchScorer(*load_model(out), MAX_LENGTH))
    config = GateConfig(0.6, 0.5, Settings().embedding_model, probe_logit=logit)
    (out / GATE_FILE).write_text(config.to_json())
    return out


def test_each_runtime_is_timed_per_question_against_torch(
    gate: Path, built_settings: Settings
) -> None:
    retriever = Retriever(replace(built_settings, gate_model=""))
    questions = ["how do I restore a backup?", "which discounts apply to widget orders"]
    work = bench_gate.retrieved(retriever, questions, 3)
    assert [q for q, _ in work] == questions and all(len(p) == 3 for _, p in work)
    rows = bench_gate.runtimes(gate, MAX_LENGTH, work, [1], int8=False)
    names = list(rows)
    assert names[0].startswith("torch (") and names[1:] == ["ONNX Runtime (1 thread)"]
    times, gap = rows["ONNX Runtime (1 thread)"]
    assert len(times) == len(work) and gap < 1e-5  # the graph gives torch's probabilities


def test_start_up_names_the_runtime_that_serves_the_gate(gate: Path) -> None:
    name, seconds, peak = bench_gate.start_up(gate, runs=1)
    assert name == "ONNX Runtime" and seconds > 0 and peak > 0


@pytest.mark.parametrize("bad", ["no gate folder", "bad gate.json", "no question file"])
def test_bad_paths_are_one_line_before_the_index_loads(
    bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate_dir, questions = tmp_path / "gate", tmp_path / "set_questions.jsonl"
    if bad != "no gate folder":
        gate_dir.mkdir()
        (gate_dir / GATE_FILE).write_text(
            "{not json" if bad == "bad gate.json" else GateConfig(0.6, 0.5, "m").to_json()
        )
    argv = ["bench_gate.py", "--gate", str(gate_dir), "--questions", str(questions)]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as stop:
        bench_gate.main()
    message = str(stop.value.code)
    assert message.startswith("error: ") and "\n" not in message
    named = questions if bad == "no question file" else gate_dir / GATE_FILE
    assert str(named) in message
