"""BM25 keyword index: typo tolerance and the term statistics the decline check reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.chunking import Chunk
from rag.keyword import (
    KeywordIndex,
    TitleIndex,
    _damerau1,
    build_keyword_index,
    deletions,
    keyword_text,
    title_tokens,
    top_k,
)


def chunk(i: int, section: str, text: str) -> Chunk:
    return Chunk(
        id=f"c{i}",
        page_url=f"https://docs.example.com/p{i}/",
        anchor="",
        title=section,
        section=section,
        text=text,
        embed_text=f"{section}\n{text}",
    )


CHUNKS = [
    chunk(0, "Katib", "Katib tunes hyperparameters with the median stopping rule."),
    chunk(1, "Dashboard", "The central dashboard shows a sidebar with links."),
    chunk(2, "Notebooks", "A notebook server runs Jupyter in your namespace."),
    chunk(3, "Pipelines", "Compile a pipeline with the compiler; the dashboard lists runs."),
    chunk(4, "Tuning", "Hyperparameters and hyperparameter search spaces."),
    chunk(5, "Experiment spec", "Set parallelTrialCount in the spec."),
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> KeywordIndex:
    directory: Path = tmp_path_factory.mktemp("bm25")
    build_keyword_index(CHUNKS, directory)
    return KeywordIndex(directory, len(CHUNKS))


def test_headings_count_double() -> None:
    tokens = keyword_text(chunk(9, "Upgrade", "stop the server"))
    assert tokens.count("upgrade") == 2


def test_damerau_distance_one() -> None:
    assert _damerau1("katib", "katb")  # deletion
    assert _damerau1("dashboard", "dashbaord")  # swap of neighbours
    assert _damerau1("notebook", "notebooc")  # substitution
    assert _damerau1("pipeline", "pipelines")  # insertion
    assert not _damerau1("katib", "kab")
    assert not _damerau1("dashboard", "dashbroad")  # two edits
    assert deletions("ab") == {"ab", "a", "b"}


def test_typos_of_corpus_words_are_corrected(index: KeywordIndex) -> None:
    assert index.correct("katb") == "katib"
    assert index.correct("dashbaord") == "dashboard"
    assert index.correct("notebok") == "notebook"
    assert index.correct("katib") == "katib"  # known words stay


def test_unknown_words_without_a_close_neighbour_are_dropped(index: KeywordIndex) -> None:
    assert index.correct("terraform") is None
    assert index.correct("kat") is None  # too short to guess
    assert index.correct("xatib") is None  # first letters differ: not a typo we guess
    assert index.query_tokens("katb with terraform") == ["katib"]


def test_short_words_are_corrected_only_for_a_dropped_doubled_or_swapped_letter(
    index: KeywordIndex,
) -> None:
    """A changed letter in a short word more often makes another name than a typo:
    "kafka" is not "kawka", "livy" is not "live"."""
    assert index.correct("katb") == "katib"  # dropped
    assert index.correct("katbi") == "katib"  # swapped
    assert index.correct("rulle") == "rule"  # doubled
    assert index.correct("katob") is None  # changed
    assert index.correct("rulex") is None  # another extra letter
    assert index.correct("notebooc") == "notebook"  # long enough for any one edit
    assert index.correct("sidebarx") == "sidebar"


def test_shortened_words_are_completed(index: KeywordIndex) -> None:
    assert index.correct("hyperparam") == "hyperparameter"  # the more frequent completion
    assert index.correct("dash") is None  # shorter than MIN_PREFIX_LEN: too vague


def test_ordinary_words_are_never_corrected(tmp_path: Path) -> None:
    build_keyword_index(CHUNKS, tmp_path)
    fresh = KeywordIndex(tmp_path, len(CHUNKS))
    fresh.ordinary = lambda word: word == "katb"  # as if the tokenizer knew it as a word
    assert fresh.correct("katb") is None
    assert fresh.correct("dashbaord") == "dashboard"


def test_search_finds_typoed_word(index: KeywordIndex) -> None:
    rows, scores = index.search("how does katb stop trials", 3)
    assert rows.tolist()[0] == 0
    assert (scores > 0).all()
    empty_rows, _ = index.search("completely unrelated words", 3)
    assert empty_rows.size == 0


def test_a_camel_case_setting_is_found_by_its_words(index: KeywordIndex) -> None:
    rows, _ = index.search("how many trials run in parallel", 3)
    assert rows.tolist()[0] == 5


def test_term_statistics(index: KeywordIndex) -> None:
    assert index.doc_freq("dashboard") == 2
    assert index.doc_freq("terraform") == 0
    assert index.idf("terraform") > index.idf("katib") > index.idf("dashboard")
    assert index.idf("terraform") == index.max_idf
    assert index.rows_with("dashboard").tolist() == [1, 3]
    assert index.contains_each("dashboard", [0, 1, 2, 3]).tolist() == [False, True, False, True]
    assert index.contains("katib", [0]) and not index.contains("katib", [1, 2])
    assert not index.contains("katib", [])


def test_empty_index(tmp_path: Path) -> None:
    empty = KeywordIndex(tmp_path, 0)
    rows, scores = empty.search("anything", 5)
    assert rows.size == 0 and scores.size == 0
    assert empty.doc_freq("anything") == 0


def test_top_k_best_first_positive_only_ties_by_row() -> None:
    rows, scores = top_k(np.array([0.5, 0.0, 2.0, 0.5, 1.0], dtype=np.float32), 4)
    assert rows.tolist() == [2, 4, 0, 3]
    assert scores.tolist() == [2.0, 1.0, 0.5, 0.5]
    assert top_k(np.zeros(3, dtype=np.float32), 2)[0].size == 0
    assert top_k(np.ones(2, dtype=np.float32), 0)[0].size == 0


def test_respell_fixes_whole_word_typos_for_the_embedding(index: KeywordIndex) -> None:
    assert index.respell("how does Katb use the dashbaord?") == "how does katib use the dashboard?"
    assert index.respell("hyperparams on terraform") == "hyperparams on terraform"  # no guesses


def test_title_index_scores_the_share_of_the_question_a_title_holds() -> None:
    titles = TitleIndex(
        [
            ("https://d/docs/katib/ui/", "Katib UI"),
            ("https://d/docs/releases/1.9/", "Kubeflow 1.9"),
            ("https://d/docs/releases/1.10/", "Kubeflow 1.10"),
            ("https://d/docs/started/introduction/", "Introduction to Kubeflow"),
        ]
    )
    assert title_tokens("Katib UI", "https://d/docs/katib/ui/")[:2] == ["katib", "ui"]
    named = titles.search(["katib", "ui"], 5)
    assert max(named, key=named.__getitem__) == "https://d/docs/katib/ui/"
    assert named["https://d/docs/katib/ui/"] > 0.5
    vague = titles.search(["kubeflow", "name", "logo"], 5)
    assert all(score < 0.3 for score in vague.values())  # a word most titles share
    assert titles.search(["nothing"], 5) == {}
