"""Query and passage prefixes that some embedding models expect, in one place.

E5 models were trained with "query: " / "passage: "; BGE v1.5 English models
want an instruction on queries only; multilingual E5 the same pair as E5.
Models not listed get no prefix (MiniLM, mpnet, most sentence-transformers).
"""

from __future__ import annotations

BGE_EN_QUERY = "Represent this sentence for searching relevant passages: "
BGE_ZH_QUERY = "为这个句子生成表示以用于检索相关文章："

E5_INSTRUCT_QUERY = (
    "Instruct: Given a question, retrieve documentation passages that answer it\nQuery: "
)

# (substring of the lower-cased model name, query prefix, passage prefix), first match wins
_RULES: tuple[tuple[str, str, str], ...] = (
    (
        "e5-large-instruct",
        E5_INSTRUCT_QUERY,
        "",
    ),  # multilingual-e5-large-instruct: task instruction, bare passages
    ("e5-mistral", E5_INSTRUCT_QUERY, ""),
    ("multilingual-e5", "query: ", "passage: "),
    ("e5-", "query: ", "passage: "),
    ("bge-m3", "", ""),  # BGE-M3 needs no instruction
    ("bge-small-zh", BGE_ZH_QUERY, ""),
    ("bge-base-zh", BGE_ZH_QUERY, ""),
    ("bge-large-zh", BGE_ZH_QUERY, ""),
    ("bge-", BGE_EN_QUERY, ""),
)


def prefixes_for(model_name: str) -> tuple[str, str]:
    """Return (query_prefix, passage_prefix) for a model name or path."""
    lowered = model_name.lower()
    for needle, query, passage in _RULES:
        if needle in lowered:
            return query, passage
    return "", ""
