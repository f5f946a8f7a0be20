"""Query/passage prefixes per embedding model family."""

from __future__ import annotations

import pytest

from rag.model_prefixes import BGE_EN_QUERY, BGE_ZH_QUERY, prefixes_for


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("intfloat/e5-base-v2", ("query: ", "passage: ")),
        ("intfloat/multilingual-e5-small", ("query: ", "passage: ")),
        ("/models/E5-Large", ("query: ", "passage: ")),
        ("BAAI/bge-small-en-v1.5", (BGE_EN_QUERY, "")),
        ("BAAI/bge-base-zh-v1.5", (BGE_ZH_QUERY, "")),
        ("BAAI/bge-m3", ("", "")),
        ("packaged:all-MiniLM-L6-v2", ("", "")),
        ("sentence-transformers/all-mpnet-base-v2", ("", "")),
        ("", ("", "")),
    ],
)
def test_prefixes(name: str, expected: tuple[str, str]) -> None:
    assert prefixes_for(name) == expected
