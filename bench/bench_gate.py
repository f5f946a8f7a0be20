"""The trained decline model's cost per question: torch vs its ONNX Runtime graph.

    python bench/bench_gate.py --gate /tmp/gate --questions tests/data/heldout3*_questions.jsonl \
        --out bench/results/gate.json

Each question is retrieved for real from the live index (DOCBOT_DATA_DIR) and its top
sections (the `passages` in gate.json) are what the model reads, so the lengths are
the bot's. Timed per question, the way the bot calls it: one batch of its sections.
Also measured: how far the graph's probabilities are from torch's, and the start-up
of a process that loads the gate (fresh interpreter, `load_gate`), on either runtime.
`--int8` adds ONNX Runtime's dynamic int8 quantization of the same graph, to see
what it would buy and cost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_retrieval import machine  # noqa: E402
from bot.config import Settings  # noqa: E402
from rag.evaluate import load_questions, percentile  # noqa: E402
from rag.retrieve import Retriever  # noqa: E402
from rag.trained_gate import (  # noqa: E402
    GATE_FILE,
    GateConfig,
    OnnxScorer,
    TorchScorer,
    hit_passage,
    load_model,
    sigmoid,
)

Work = tuple[str, list[str]]  # a question and the sections the gate judges


def timed(scorer: Any, work: list[Work]) -> tuple[list[float], list[list[float]]]:
    """Milliseconds per question, and the logits."""
    scorer(*work[0])  # warm-up
    times, logits = [], []
    for question, passages in work:
        start = time.perf_counter()
        logits.append(scorer(question, passages))
        times.append((time.perf_counter() - start) * 1000)
    return times, logits


def sigmoid_gap(a: list[list[float]], b: list[list[float]]) -> float:
    """The largest difference between two runs' probabilities (their logits through the
    gate's own sigmoid)."""
    return max(
        abs(sigmoid(x) - sigmoid(y))
        for xs, ys in zip(a, b, strict=True)
        for x, y in zip(xs, ys, strict=True)
    )


def int8_scorer(gate: Path, max_length: int, threads: int) -> OnnxScorer:
    """The gate's graph with its weight matrices quantized to int8 (per output channel).
    The float graph is built twice (once for the scorer's session): a bench's set-up only."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from rag.onnx_encoder import cpu_session

    scorer = OnnxScorer(gate, max_length, threads)
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        fp32.write_bytes(OnnxScorer.graph(gate)[0])
        # weights only (attention's activation products stay float), per output channel:
        # the least lossy of ONNX Runtime's dynamic settings on the Kubeflow gate
        quantize_dynamic(
            str(fp32),
            str(int8),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"MatMulConstBOnly": True},
        )
        scorer.session = cpu_session(int8.read_bytes(), threads)
    return scorer


def start_up(gate: Path, runs: int) -> tuple[str, float, float]:
    """A fresh interpreter imports docbot's gate and loads `gate`: the runtime that serves
    it, median seconds, and the process's peak memory (MiB: VmHWM, Linux; ru_maxrss would
    carry this process's own peak over fork and exec)."""
    code = (
        "import time; t = time.perf_counter(); "
        "from rag.trained_gate import load_gate; "
        f"g = load_gate({str(gate)!r}, {Settings().embedding_model!r}, 'cpu'); "
        "s = time.perf_counter() - t; "
        "hwm = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]; "
        "print(g.scorer.name.replace(' ', '_'), s, int(hwm) / 1024)"
    )
    seconds, memory, name = [], [], ""
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        name = out[-3].replace("_", " ")
        seconds.append(float(out[-2]))
        memory.append(float(out[-1]))
    return name, statistics.median(seconds), statistics.median(memory)


def retrieved(retriever: Retriever, questions: list[str], passages: int) -> list[Work]:
    """Each question with the sections the gate would judge (questions without hits left out)."""
    work = []
    for question in questions:
        hits = retriever.search(question)[:passages]
        if hits:
            work.append((question, [hit_passage(h) for h in hits]))
    return work


def runtimes(
    gate: Path, max_length: int, work: list[Work], threads: list[int], int8: bool
) -> dict[str, tuple[list[float], float]]:
    """Per runtime, torch first: milliseconds per question, and the largest difference of
    its probabilities from torch's."""
    import torch

    model, tokenizer = load_model(gate)
    reference_times, reference = timed(TorchScorer(model, tokenizer, max_length), work)
    rows = {f"torch ({torch.get_num_threads()} threads)": (reference_times, 0.0)}
    kinds = [("", OnnxScorer)] + ([("int8 ", int8_scorer)] if int8 else [])
    for label, make in kinds:
        for n in threads:
            times, logits = timed(make(gate, max_length, n), work)
            name = f"ONNX Runtime {label}({n} thread{'s' if n > 1 else ''})"
            rows[name] = (times, sigmoid_gap(logits, reference))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--gate", type=Path, required=True, help="a `docbot train-gate` folder")
    ap.add_argument("--questions", type=Path, nargs="+", required=True)
    ap.add_argument("--limit", type=int, default=300, help="questions timed (default 300)")
    ap.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2, 0],
        help="ONNX Runtime threads (0: its choice)",
    )
    ap.add_argument("--int8", action="store_true", help="also time a dynamic int8 graph")
    ap.add_argument("--start-runs", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    # a wrong path or a bad file: one line, before the index loads, not a traceback
    gate_file = args.gate / GATE_FILE
    try:
        config = GateConfig.from_json(gate_file.read_text())
    except ValueError as exc:  # its message does not name the file
        sys.exit(f"error: {gate_file}: {exc}")
    except OSError as exc:
        sys.exit(f"error: {exc}")
    try:
        questions = [q.question for path in args.questions for q in load_questions(path)]
    except (OSError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    retriever = Retriever(replace(Settings.from_env(), gate_model=""))
    if not retriever.refresh():
        sys.exit("no index: run `docbot ingest` first (DOCBOT_DATA_DIR)")
    work = retrieved(retriever, questions[: args.limit], config.passages)
    print(f"{len(work)} questions, {config.passages} sections each, window {config.max_length}")
    rows = runtimes(args.gate, config.max_length, work, args.threads, args.int8)
    base = statistics.median(next(iter(rows.values()))[0])
    result: dict[str, Any] = {"machine": machine(), "questions": len(work), "runtimes": {}}
    print(f"{'runtime':32} {'p50 ms':>8} {'p99 ms':>8} {'vs torch':>9} {'max |dp|':>9}")
    for name, (times, gap) in rows.items():
        p50, p99 = statistics.median(times), percentile(times, 99)
        result["runtimes"][name] = {"p50_ms": p50, "p99_ms": p99, "max_probability_gap": gap}
        print(f"{name:32} {p50:8.1f} {p99:8.1f} {base / p50:8.2f}x {gap:9.1e}")

    # start-up: the same folder with and without its probe logit (without: torch serves it)
    with tempfile.TemporaryDirectory() as tmp:
        unprobed = Path(tmp) / "gate"
        shutil.copytree(args.gate, unprobed)
        (unprobed / GATE_FILE).write_text(replace(config, probe_logit=None).to_json())
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        starts = [start_up(folder, args.start_runs) for folder in (args.gate, unprobed)]
    result["start_up"] = {name: {"s": s, "peak_mib": mib} for name, s, mib in starts}
    for name, seconds, mib in starts:
        print(
            f"start-up, import + load_gate on {name}: {seconds:.2f} s, peak {mib:.0f} MiB "
            f"(median of {args.start_runs})"
        )
    print(result["machine"])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
