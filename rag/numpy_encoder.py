"""A NumPy forward pass for BERT-family sentence-transformers models (query time).

Importing torch + transformers + sentence-transformers costs several seconds,
more than the whole answer. Questions are short, so the bot embeds them (and
the extractive answerer's sentences) with this encoder: the same weights
(safetensors), the same tokenizer (`tokenizers`), mean pooling and L2
normalisation, in NumPy. Bulk embedding at ingest (and on GPU) still uses
sentence-transformers; a test checks both give the same vectors.

Only plain BERT encoders with mean pooling are supported (all-MiniLM-L6-v2 and
its kin); `NumpyEncoder.supports(path)` says whether a model qualifies. The
same weights run about twice as fast as one ONNX Runtime graph
(`rag.onnx_encoder`), attached as `runner` once built; this pass answers until
then, and whenever that graph cannot be built.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

try:  # scipy's erf is exact and vectorised; the tanh form is a close fallback
    from scipy.special import erf as _erf
except ImportError:  # pragma: no cover
    _erf = None


def _gelu(x: np.ndarray) -> np.ndarray:
    if _erf is not None:
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    return (
        0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    )  # pragma: no cover


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def batch_tokenizer(
    tokenizer_json: str | Path,
    max_length: int,
    pad_id: int = 0,
    pad_token: str = "[PAD]",
    truncation: str = "longest_first",
) -> Any:
    """A `tokenizers.Tokenizer` that truncates to the model's window and pads a batch
    to its longest text. Set here, not taken from tokenizer.json, which often carries
    other settings (MiniLM's: truncate and pad to 128). `truncation` "only_second" cuts
    only the second text of a pair (transformers' name and behaviour: its fast
    tokenizers are this library)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.enable_truncation(max_length, strategy=truncation)
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
    return tokenizer


def load_weights(safetensors: str | Path) -> dict[str, np.ndarray]:
    """A BERT checkpoint's weights as float32 under their encoder names ("bert." dropped,
    as a sentence-transformers checkpoint names them), dense weights stored (in, out):
    pre-transposed once, where x @ W.T on every call would be wasted work."""
    from safetensors.numpy import load_file

    weights = {
        k.removeprefix("bert."): v.astype(np.float32)
        for k, v in load_file(str(safetensors)).items()
    }
    for key in list(weights):
        if key.endswith(".weight") and weights[key].ndim == 2 and "embeddings" not in key:
            weights[key] = np.ascontiguousarray(weights[key].T)
    return weights


def model_inputs(encodings: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A padded batch of `tokenizers` encodings as (input ids, attention mask as float32,
    token type ids)."""
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
    types = np.array([e.type_ids for e in encodings], dtype=np.int64)
    return ids, mask, types


def _single_threaded_blas() -> None:
    """Query-sized matrices gain nothing from BLAS threads and lose a lot when the
    cores are busy (threads spin waiting for each other): 30 ms vs 100 ms a query
    measured on a loaded 2-core machine. Concurrent questions give the parallelism."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl missing: leave BLAS as it is
        pass


class NumpyEncoder:
    def __init__(self, model_dir: str | Path) -> None:
        path = Path(model_dir)
        config = json.loads((path / "config.json").read_text())
        st_config = json.loads((path / "sentence_bert_config.json").read_text())
        self.max_len = int(st_config.get("max_seq_length", 256))
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.dimension = int(config["hidden_size"])
        self.w = load_weights(path / "model.safetensors")
        _single_threaded_blas()
        # A faster forward pass over the same weights, once attached (rag.onnx_encoder):
        # (input ids, attention mask, token type ids) -> embeddings.
        self.runner: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
        self.tokenizer = batch_tokenizer(
            path / "tokenizer.json", self.max_len, int(config.get("pad_token_id", 0))
        )

    @staticmethod
    def supports(model_dir: str | Path) -> bool:
        path = Path(model_dir)
        try:
            config = json.loads((path / "config.json").read_text())
            pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
            modules = json.loads((path / "modules.json").read_text())
        except (OSError, ValueError):
            return False
        module_types = [m.get("type", "") for m in modules]
        return (
            config.get("model_type") == "bert"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and config.get("hidden_act") == "gelu"
            and pooling.get("pooling_mode_mean_tokens") is True
            and not any(
                pooling.get(k)
                for k in (
                    "pooling_mode_cls_token",
                    "pooling_mode_max_tokens",
                    "pooling_mode_mean_sqrt_len_tokens",
                )
            )
            and all(t.endswith(("Transformer", "Pooling", "Normalize")) for t in module_types)
            and (path / "model.safetensors").is_file()
            and (path / "tokenizer.json").is_file()
        )

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # similar lengths together keep the padding (wasted work) small
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._encode_batch([texts[i] for i in idx])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        # The weights first, then the runner: `rag.onnx_encoder.accelerate` attaches a
        # runner before it drops the weights, so one of the two is always there.
        weights = self.w
        runner = self.runner
        if runner is not None:
            return runner(*self._tokenize(texts))
        return self._forward(*self._tokenize(texts), weights=weights)

    def _tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return model_inputs(self.tokenizer.encode_batch(texts))

    def _forward(
        self,
        ids: np.ndarray,
        mask: np.ndarray,
        types: np.ndarray,
        *,
        weights: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """L2-normalised mean-pooled embeddings of a tokenized batch, in NumPy."""
        w = self.w if weights is None else weights
        batch, seq = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(seq)][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        head_dim = self.dimension // self.heads
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]  # padded keys get no attention
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def proj(t: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return t @ w[p + name + ".weight"] + w[p + name + ".bias"]

            def heads(t: np.ndarray) -> np.ndarray:
                return t.reshape(batch, seq, self.heads, head_dim).transpose(0, 2, 1, 3)

            q = heads(proj(x, "attention.self.query"))
            k = heads(proj(x, "attention.self.key"))
            v = heads(proj(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + bias
            scores -= scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, self.dimension)
            x = _layer_norm(
                x + proj(ctx, "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            h = _gelu(proj(x, "intermediate.dense"))
            x = _layer_norm(
                x + proj(h, "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self.eps,
            )
        summed = (x * mask[:, :, None]).sum(1)
        pooled = summed / np.clip(mask.sum(1, keepdims=True), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
