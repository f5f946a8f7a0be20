"""The offline answerer: best sentences of the sources, in source order, each cited."""

from __future__ import annotations

import numpy as np

from rag.extractive import compose, prefilter, select_sentences, split_sentences
from rag.generation import Source


def source(n: int, text: str) -> Source:
    return Source(n=n, title=f"T{n}", url=f"https://d/{n}/", section=f"S{n}", text=text, score=0.5)


def test_split_sentences_drops_code_tables_and_fragments() -> None:
    text = (
        "Install the package with pip before you start.\n"
        "```bash\npip install widgetron --upgrade now please\n```\n"
        "| a | b | c |\n"
        "Short.\n"
        "- Run widgetron init to create the configuration file."
    )
    assert split_sentences(text) == [
        "Install the package with pip before you start.",
        "Run widgetron init to create the configuration file.",
    ]


def test_prefilter_keeps_candidates_sharing_most_words() -> None:
    cands = [(0, 0, "nothing in common here"), (0, 1, "restore a backup"), (1, 0, "backup")]
    kept = prefilter({"restore", "backup"}, cands, 2)
    assert kept == [(0, 1, "restore a backup"), (1, 0, "backup")]


def test_select_sentences_prefers_similar_ones_and_keeps_source_order() -> None:
    sources = [
        source(1, "Widgets come in sixteen colours for every taste."),
        source(2, "Restore a backup with widgetron restore while the server is stopped."),
    ]

    def embed(texts: list[str]) -> np.ndarray:
        # a stand-in embedding: one axis for "restore", one for everything else
        return np.array([[1.0, 0.0] if "restore" in t.lower() else [0.0, 1.0] for t in texts])

    picked = select_sentences({"restore"}, np.array([1.0, 0.0]), sources, embed, 1)
    assert picked == [(2, sources[1].text)]
    both = select_sentences({"restore"}, np.array([1.0, 0.0]), sources, embed, 2)
    assert [n for n, _ in both] == [1, 2]  # source order, not score order


def test_compose_cites_every_sentence() -> None:
    assert compose([(1, "Do this."), (2, "Then that?")]) == "Do this [1]. Then that? [2]"
