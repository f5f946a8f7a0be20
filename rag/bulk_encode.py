"""Pipelined bulk embedding: tokenize on a thread pool ahead of the model.

sentence-transformers' `encode()` tokenizes each batch on the calling thread and
then runs the model, one after the other. On a GPU that embeds well over 10k
MiniLM chunks/s the tokenizer (a few thousand chunks/s on one core) becomes the
bottleneck, so for bulk embedding on CUDA `Embedder` uses this instead:

- texts are sorted by length (less padding) and split into batches;
- a small thread pool (min(8, cpu_count) workers) tokenizes batches ahead of
  the model, at most `in_flight` batches at a time (bounded memory). Each
  worker uses a `tokenizers.Tokenizer` of its own, loaded from the model's
  tokenizer.json: a fast tokenizer shared across threads raises "Already
  borrowed". `encode_batch` releases the GIL, so the workers run in parallel;
- the model's own forward (`model(features)["sentence_embedding"]`) runs on
  the calling thread under `torch.inference_mode()`, in whatever dtype the
  model has (fp16 on CUDA); inputs go through pinned memory with non-blocking
  copies on CUDA;
- vectors are L2-normalised in float32 and written in their original order
  into one tensor on the device, copied to the host once at the end.

The result equals `model.encode(texts, normalize_embeddings=True)` (to float
rounding); `BulkEncoder.for_model` returns None for models where it might not
(no tokenizer.json, a default prompt, lower-casing done outside the tokenizer,
a first module that is not a plain text Transformer), and callers fall back to
`model.encode`.
"""

from __future__ import annotations

import logging
import os
import queue
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rag.numpy_encoder import batch_tokenizer


def embedding_dimension(model: Any) -> int:
    """A SentenceTransformer's vector size, under the name of any release (renamed in 6)."""
    dimension = getattr(model, "get_embedding_dimension", None)
    dimension = dimension or model.get_sentence_embedding_dimension
    return int(dimension() or 0)


log = logging.getLogger(__name__)

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# the `tokenizers.Encoding` attribute behind each model input
_ENCODING_FIELDS = {
    "input_ids": "ids",
    "attention_mask": "attention_mask",
    "token_type_ids": "type_ids",
}


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def find_tokenizer_json(model_path: str) -> str | None:
    """The model's tokenizer.json: in its folder, or in the Hub cache for a Hub name."""
    if os.path.isdir(model_path):
        candidate = os.path.join(model_path, "tokenizer.json")
        return candidate if os.path.isfile(candidate) else None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model_path, "tokenizer.json")
    except Exception:  # not a repo id, or no huggingface_hub: no pipelined path
        return None
    return cached if isinstance(cached, str) and os.path.isfile(cached) else None


class BulkEncoder:
    """Embeds many texts with a sentence-transformers model, tokenizing ahead of it.

    Thread-safe in itself (tokenizers are checked out one thread at a time), but
    the model is not re-entrant: callers serialise `encode` calls per model.
    """

    def __init__(
        self,
        tokenizer_json: str | Path,
        *,
        max_length: int,
        pad_id: int = 0,
        pad_token: str = "[PAD]",
        input_names: Sequence[str] = INPUT_NAMES,
        workers: int | None = None,
        in_flight: int | None = None,
    ) -> None:
        self.tokenizer_json = str(tokenizer_json)
        self.max_length = int(max_length)
        self.pad_id = int(pad_id)
        self.pad_token = pad_token
        self.input_names = tuple(n for n in INPUT_NAMES if n in input_names)
        self.workers = workers or default_workers()
        self.in_flight = max(1, in_flight or 2 * self.workers)
        # Idle tokenizers. A worker takes one (or loads a new one), uses it alone
        # and puts it back, so no two threads ever hold the same one; at most
        # `workers` are ever loaded, and they are reused across calls.
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle.put(self._load_tokenizer())  # fail early on a bad tokenizer.json

    @classmethod
    def for_model(
        cls, model: Any, model_path: str, *, workers: int | None = None
    ) -> BulkEncoder | None:
        """A BulkEncoder matching `model.encode`, or None where it might not match."""
        try:  # sentence-transformers 6 moved the modules; CML runtimes may carry an older one
            from sentence_transformers.sentence_transformer.modules import Transformer
        except ImportError:
            from sentence_transformers.models import Transformer

        tokenizer_json = find_tokenizer_json(model_path)
        if tokenizer_json is None:
            return None
        first = model[0] if len(model) else None
        hf_tokenizer = getattr(model, "tokenizer", None)
        if (
            not isinstance(first, Transformer)
            or getattr(first, "do_lower_case", False)
            or getattr(model, "default_prompt_name", None)
            or not model.max_seq_length
            or hf_tokenizer is None
            or hf_tokenizer.pad_token is None
        ):
            return None
        return cls(
            tokenizer_json,
            max_length=int(model.max_seq_length),
            pad_id=int(hf_tokenizer.pad_token_id),
            pad_token=str(hf_tokenizer.pad_token),
            input_names=tuple(hf_tokenizer.model_input_names),
            workers=workers,
        )

    def _load_tokenizer(self) -> Any:
        return batch_tokenizer(self.tokenizer_json, self.max_length, self.pad_id, self.pad_token)

    def tokenize(self, texts: list[str], *, pin: bool = False) -> dict[str, Any]:
        """One batch as CPU int64 tensors (pinned if asked); safe from any thread."""
        import torch

        try:
            tokenizer = self._idle.get_nowait()
        except queue.Empty:
            tokenizer = self._load_tokenizer()
        try:
            encodings = tokenizer.encode_batch(texts)  # releases the GIL
        finally:
            self._idle.put(tokenizer)
        features = {}
        for name in self.input_names:
            field = _ENCODING_FIELDS[name]
            tensor = torch.from_numpy(np.array([getattr(e, field) for e in encodings], np.int64))
            features[name] = tensor.pin_memory() if pin else tensor
        return features

    def encode(
        self,
        model: Any,
        texts: Sequence[str],
        *,
        batch_size: int,
        show_progress: bool = False,
    ) -> np.ndarray:
        """Normalised float32 vectors for `texts`, in their order."""
        import torch

        n = len(texts)
        if n == 0:
            return np.zeros((0, embedding_dimension(model)), dtype=np.float32)
        device = torch.device(model.device)
        cuda = device.type == "cuda"
        order = np.argsort([-len(t) for t in texts], kind="stable")  # longest first, as ST does
        batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
        todo = iter(batches)
        bar = None
        if show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc="Embedding", unit="chunk")
        model.eval()  # as encode() does: no dropout
        out: Any = None
        pending: deque[tuple[np.ndarray, Future[dict[str, Any]]]] = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="docbot-tokenize") as pool:

            def submit() -> None:
                positions = next(todo, None)
                if positions is not None:
                    batch = [texts[i] for i in positions]
                    pending.append((positions, pool.submit(self.tokenize, batch, pin=cuda)))

            try:
                for _ in range(self.in_flight):
                    submit()
                with torch.inference_mode():
                    while pending:
                        positions, future = pending.popleft()
                        features = future.result()  # a worker's exception surfaces here
                        submit()
                        features = {k: v.to(device, non_blocking=cuda) for k, v in features.items()}
                        vectors = model(features)["sentence_embedding"]
                        vectors = torch.nn.functional.normalize(vectors.float(), p=2, dim=1)
                        if out is None:
                            out = torch.empty(
                                (n, vectors.shape[1]), dtype=torch.float32, device=vectors.device
                            )
                        index = torch.from_numpy(positions).to(vectors.device, non_blocking=cuda)
                        out.index_copy_(0, index, vectors)
                        if bar is not None:
                            bar.update(len(positions))
            finally:
                for _, future in pending:  # on error: drop queued batches, don't wait on them
                    future.cancel()
                if bar is not None:
                    bar.close()
        return out.cpu().numpy().astype(np.float32, copy=False)
