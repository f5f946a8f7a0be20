"""General-English word frequencies: ordinary words versus names the docs can't be about."""

from __future__ import annotations

import sys

from rag import lexicon


def test_everyday_words_are_common() -> None:
    for word in ("wiki", "teammate", "pointer", "office", "the"):
        assert lexicon.is_common(word), word


def test_product_names_and_rare_words_are_not() -> None:
    for word in ("slurm", "kyverno", "terraform", "katib", "flaky", "teardown"):
        assert not lexicon.is_common(word), word


def test_zipf_is_zero_for_nothing_or_unknown_words() -> None:
    assert lexicon.zipf("") == 0.0
    assert lexicon.zipf("qzxkvw") == 0.0
    assert 0.0 < lexicon.zipf("wiki") < lexicon.zipf("the")


def test_without_wordfreq_no_word_is_common(monkeypatch) -> None:  # noqa: ANN001
    # a trimmed install: the tokenizer alone then judges unknown words, as before the lexicon
    monkeypatch.setitem(sys.modules, "wordfreq", None)  # makes `import wordfreq` fail
    lexicon._zipf.cache_clear()
    lexicon.is_common.cache_clear()
    try:
        assert lexicon.zipf("wiki") == 0.0
        assert not lexicon.is_common("office")
    finally:
        monkeypatch.undo()
        lexicon._zipf.cache_clear()
        lexicon.is_common.cache_clear()
    assert lexicon.is_common("office")


def test_verbs_adjectives_and_adverbs_describe_in_any_inflection() -> None:
    for word in ("tweak", "hogging", "flaky", "fancier", "encrypt", "nightly", "run"):
        assert lexicon.describes(word), word


def test_nouns_and_names_do_not_describe() -> None:
    for word in ("iceberg", "dishwasher", "terraform", "datadog", "slurm", "okta", "", "qzxkvw"):
        assert not lexicon.describes(word), word


def test_without_lemminflect_no_word_describes(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(sys.modules, "lemminflect", None)
    lexicon._lemmas.cache_clear()
    lexicon.describes.cache_clear()
    try:
        assert not lexicon.describes("tweak")
    finally:
        monkeypatch.undo()
        lexicon._lemmas.cache_clear()
        lexicon.describes.cache_clear()
    assert lexicon.describes("tweak")
