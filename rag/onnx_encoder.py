"""The query-time BERT encoder on ONNX Runtime: the NumPy encoder's weights, one graph.

`rag.numpy_encoder.NumpyEncoder` runs the forward pass op by op in NumPy. For
a question of 20 word pieces that is memory-bound: each of its 36 matrix
products per question packs a weight matrix that no cache holds, so most of
the ~15 ms goes to moving weights, not to arithmetic. ONNX Runtime packs the
weights once per session (with packing turned off it is barely faster than
NumPy): a question takes about half the time, a batch of answer sentences too
(docs/benchmarks.md).

The graph is built here from the same safetensors weights (`bert_graph`), not
exported from torch: no torch import, nothing written to disk, and the same
vectors as the NumPy pass to ~2e-7 (checked on a probe sentence before it is
used, and by the tests). Building it takes 1-2 s (importing `onnx` most of
it), so `accelerate` builds it on a background thread and attaches it to the
encoder when ready: a process answers its first question at once, with the
NumPy pass. Both `onnx` and `onnxruntime` are docbot dependencies (Chroma needs
the runtime too); when either is missing or the graph fails its check, the NumPy
pass simply stays.

The same builder, with a classifier head, serves a trained decline model
(`rag.trained_gate.OnnxScorer`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import numpy as np

from rag.numpy_encoder import NumpyEncoder

log = logging.getLogger(__name__)

OPSET = 17  # LayerNormalization is an ONNX op from 17 on
# Largest difference to the NumPy pass, on a probe sentence, that the graph may show.
MAX_PROBE_DIFF = 1e-4
PROBE = "How do I configure the pipeline root for Kubeflow Pipelines?"
HEADS = ("mean", "classifier")  # what `bert_graph` can put on top of the encoder


def bert_graph(
    w: dict[str, np.ndarray],
    *,
    layers: int,
    heads: int,
    hidden: int,
    eps: float,
    head: str = "mean",
) -> Any:
    """An ONNX model: (input_ids, attention_mask, token_type_ids, position_ids) -> `head`'s
    output, with NumpyEncoder's weight names (dense weights stored (in, out)).

    `head` "mean": "embedding", L2-normalised mean-pooled (batch, hidden) - a sentence
    embedding; "classifier": "logit", (batch,) - the first token through the pooler
    (dense + tanh) and a one-logit classifier, as transformers'
    BertForSequenceClassification (a trained decline model, `rag.trained_gate`)."""
    if head not in HEADS:
        raise ValueError(f"head {head!r}: one of {', '.join(HEADS)}")
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    counter = iter(range(1_000_000))

    def const(value: np.ndarray | list[int] | float, name: str = "") -> str:
        array = np.asarray(value, dtype=np.int64 if isinstance(value, list) else np.float32)
        name = name or f"c{next(counter)}"
        inits.append(numpy_helper.from_array(array, name))
        return name

    def op(kind: str, *inputs: str, **attrs: Any) -> str:
        out = f"t{next(counter)}"
        nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def weight(key: str) -> str:
        return const(w[key], key)

    def dense(x: str, prefix: str) -> str:
        return op("Add", op("MatMul", x, weight(prefix + ".weight")), weight(prefix + ".bias"))

    def layer_norm(x: str, prefix: str) -> str:
        return op(
            "LayerNormalization",
            x,
            weight(prefix + ".weight"),
            weight(prefix + ".bias"),
            axis=-1,
            epsilon=eps,
        )

    head_dim = hidden // heads
    split_heads = const([0, 0, heads, head_dim])
    merge_heads = const([0, 0, hidden])

    x = op(
        "Add",
        op(
            "Add",
            op("Gather", weight("embeddings.word_embeddings.weight"), "input_ids"),
            op("Gather", weight("embeddings.position_embeddings.weight"), "position_ids"),
        ),
        op("Gather", weight("embeddings.token_type_embeddings.weight"), "token_type_ids"),
    )
    x = layer_norm(x, "embeddings.LayerNorm")
    # padded keys get no attention: (1 - mask) * -1e9, shaped (batch, 1, 1, seq)
    key_bias = op(
        "Unsqueeze",
        op("Mul", op("Sub", const(1.0), "attention_mask"), const(-1e9)),
        const([1, 2]),
    )
    scale = const(1.0 / math.sqrt(head_dim))
    for i in range(layers):
        p = f"encoder.layer.{i}."
        q, k, v = (
            op("Reshape", dense(x, p + f"attention.self.{name}"), split_heads)
            for name in ("query", "key", "value")
        )
        scores = op(
            "Add",
            op(
                "Mul",
                op(
                    "MatMul",
                    op("Transpose", q, perm=[0, 2, 1, 3]),
                    op("Transpose", k, perm=[0, 2, 3, 1]),
                ),
                scale,
            ),
            key_bias,
        )
        probs = op("Softmax", scores, axis=-1)
        ctx = op("MatMul", probs, op("Transpose", v, perm=[0, 2, 1, 3]))
        ctx = op("Reshape", op("Transpose", ctx, perm=[0, 2, 1, 3]), merge_heads)
        x = layer_norm(
            op("Add", x, dense(ctx, p + "attention.output.dense")), p + "attention.output.LayerNorm"
        )
        h = dense(x, p + "intermediate.dense")
        # exact GELU, x * (1 + erf(x / sqrt 2)) / 2: the runtime fuses this pattern
        h = op(
            "Mul",
            op("Mul", h, op("Add", op("Erf", op("Div", h, const(math.sqrt(2.0)))), const(1.0))),
            const(0.5),
        )
        x = layer_norm(op("Add", x, dense(h, p + "output.dense")), p + "output.LayerNorm")

    if head == "mean":
        mask = op("Unsqueeze", "attention_mask", const([2]))
        summed = op("ReduceSum", op("Mul", x, mask), const([1]), keepdims=0)
        count = op("Max", op("ReduceSum", mask, const([1]), keepdims=0), const(1e-9))
        pooled = op("Div", summed, count)
        # (ReduceSum takes its axes as an input from opset 13, ReduceL2 only from 18)
        norm = op("Max", op("ReduceL2", pooled, axes=[1], keepdims=1), const(1e-12))
        nodes.append(helper.make_node("Div", [pooled, norm], ["embedding"]))
        output = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])
    else:
        first = op("Gather", x, const([0]), axis=1)  # (batch, 1, hidden)
        pooled = op("Tanh", dense(first, "pooler.dense"))
        logit = dense(pooled, "classifier")  # (batch, 1, 1)
        nodes.append(helper.make_node("Reshape", [logit, const([-1])], ["logit"]))
        output = helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["batch"])

    def int_input(name: str, *shape: str) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.INT64, list(shape))

    graph = helper.make_graph(
        nodes,
        f"bert_{head}",
        [
            int_input("input_ids", "batch", "seq"),
            helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "seq"]),
            int_input("token_type_ids", "batch", "seq"),
            int_input("position_ids", "seq"),
        ],
        [output],
        inits,
    )
    opsets = [helper.make_opsetid("", OPSET)]
    # The oldest IR version the opset allows, not the installed onnx's newest: ONNX Runtime
    # refuses IR versions newer than it knows (1.23, the last for Python 3.10, reads up to 11).
    ir_version = helper.find_min_ir_version_for(opsets)
    return helper.make_model(graph, opset_imports=opsets, ir_version=ir_version)


def graph_feed(ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> dict[str, np.ndarray]:
    """A `bert_graph`'s inputs for a tokenized batch (`rag.numpy_encoder.model_inputs`)."""
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": types,
        "position_ids": np.arange(ids.shape[1], dtype=np.int64),
    }


def cpu_session(model: bytes, threads: int) -> Any:
    """An ONNX Runtime CPU session over a serialized `bert_graph`, fully optimised
    (the runtime fuses attention, GELU and layer norms), with `threads` threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class OnnxRunner:
    """One ONNX Runtime session over an encoder's weights; call it like
    `NumpyEncoder._forward`: (input ids, attention mask, token type ids) -> embeddings."""

    def __init__(self, encoder: NumpyEncoder) -> None:
        # one thread, like the NumPy pass: concurrent questions give the parallelism
        self.session = cpu_session(_serialized(encoder), threads=1)

    def __call__(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        return np.asarray(
            self.session.run(["embedding"], graph_feed(ids, mask, types))[0], dtype=np.float32
        )


def _serialized(encoder: NumpyEncoder) -> bytes:
    """The graph as bytes; the graph object itself (another copy of the weights) is gone
    before the session makes its own, which keeps the start-up peak lower."""
    model = bert_graph(
        encoder.w,
        layers=encoder.layers,
        heads=encoder.heads,
        hidden=encoder.dimension,
        eps=encoder.eps,
    )
    return model.SerializeToString()


def build_runner(encoder: NumpyEncoder) -> OnnxRunner:
    """A runner for `encoder`'s weights, checked against its NumPy pass on a probe sentence."""
    runner = OnnxRunner(encoder)
    batch = encoder._tokenize([PROBE])
    difference = float(np.max(np.abs(runner(*batch) - encoder._forward(*batch))))
    if not difference <= MAX_PROBE_DIFF:
        raise ValueError(f"the ONNX graph differs from the NumPy pass by {difference:.1e}")
    return runner


def accelerate(encoder: NumpyEncoder, *, background: bool = True) -> threading.Event:
    """Attach an ONNX Runtime runner to `encoder`; the event is set once that is settled
    (attached, or the NumPy pass kept). The NumPy weights are dropped once the runner is
    attached: the session holds its own copy."""
    settled = threading.Event()

    def build() -> None:
        started = time.perf_counter()
        try:
            runner = build_runner(encoder)
        # onnx or onnxruntime missing or broken: the NumPy pass gives the same vectors
        except Exception as exc:
            log.info(
                "query encoder: NumPy (ONNX Runtime not used: %s: %s)", type(exc).__name__, exc
            )
        else:
            encoder.runner = runner
            encoder.w = {}  # after the runner: see NumpyEncoder._encode_batch
            log.info("query encoder: ONNX Runtime, ready in %.1fs", time.perf_counter() - started)
        finally:
            settled.set()

    if background:
        threading.Thread(target=build, name="onnx-encoder", daemon=True).start()
    else:
        build()
    return settled
