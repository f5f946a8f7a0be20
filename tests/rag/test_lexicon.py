"""General-English word frequencies: ordinary words versus names the docs can't be about."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


@contextmanager
def without(monkeypatch, module: str, *caches: Callable) -> Iterator[None]:  # noqa: ANN001
    """A trimmed install: `import module` fails inside, and the lexicon forgets what it
    looked up before and inside (its functions are cached)."""
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    for cached in caches:
        cached.cache_clear()  # type: ignore[attr-defined]
    try:
        yield
    finally:
        monkeypatch.undo()
        for cached in caches:
            cached.cache_clear()  # type: ignore[attr-defined]


def test_without_wordfreq_no_word_is_common(monkeypatch) -> None:  # noqa: ANN001
    # the tokenizer alone then judges unknown words, as before the lexicon
    with without(monkeypatch, "wordfreq", lexicon._zipf, lexicon.is_common):
        assert lexicon.zipf("wiki") == 0.0
        assert not lexicon.is_common("office")
    assert lexicon.is_common("office")


def test_verbs_adjectives_and_adverbs_describe_in_any_inflection() -> None:
    for word in ("tweak", "hogging", "flaky", "fancier", "encrypt", "nightly", "run"):
        assert lexicon.describes(word), word


def test_nouns_and_names_do_not_describe() -> None:
    for word in ("iceberg", "dishwasher", "terraform", "datadog", "slurm", "okta", "", "qzxkvw"):
        assert not lexicon.describes(word), word


def test_without_lemminflect_no_word_describes(monkeypatch) -> None:  # noqa: ANN001
    with without(monkeypatch, "lemminflect", lexicon._lemmas, lexicon.describes):
        assert not lexicon.describes("tweak")
    assert lexicon.describes("tweak")
