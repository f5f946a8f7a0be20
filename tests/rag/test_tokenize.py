"""Keyword tokens: stopwords, light stemming, identifiers, camelCase, CJK bigrams."""

from __future__ import annotations

import pytest

from rag.tokenize import camel_words, is_cjk, stem, tokenize


def test_lowercase_and_stopwords_dropped() -> None:
    assert tokenize("How do I install the Server?") == ["install", "server"]


def test_contractions_say_nothing_with_or_without_the_apostrophe() -> None:
    assert tokenize("it wont let me, the ui isnt loading") == ["let", "ui", "load"]
    assert tokenize("it won't let me, the ui isn't loading") == ["let", "ui", "load"]
    assert tokenize("dont know, i've tried") == ["tri"]


def test_stopwords_kept_on_request() -> None:
    assert "how" in tokenize("How do I install", keep_stopwords=True)


@pytest.mark.parametrize(
    ("word", "stemmed"),
    [
        ("pipelines", "pipeline"),
        ("libraries", "library"),
        ("installing", "install"),
        ("installed", "install"),
        ("classes", "class"),
        ("status", "status"),
        ("process", "process"),
        ("caches", "cach"),
        ("run", "run"),
        ("kfp", "kfp"),
    ],
)
def test_stemming(word: str, stemmed: str) -> None:
    assert stem(word) == stemmed


def test_singular_and_plural_match() -> None:
    assert tokenize("pipelines") == tokenize("pipeline")
    assert tokenize("Running experiments") == tokenize("running experiment")


def test_identifiers_keep_their_whole_form_and_their_parts() -> None:
    assert tokenize("kfp.dsl") == ["kfp.dsl", "kfp", "dsl"]
    tokens = tokenize("use kfp.dsl.pipeline and ml-pipeline-ui")
    assert "kfp.dsl.pipeline" in tokens and "pipeline" in tokens
    assert "ml-pipeline-ui" in tokens and "ui" in tokens


def test_camel_case_field_names_also_give_their_words() -> None:
    # the docs write `parallelTrialCount`; people ask how many trials run in parallel
    assert tokenize("parallelTrialCount") == ["paralleltrialcount", "parallel", "trial", "count"]
    assert tokenize("objectiveMetricName: accuracy") == [
        "objectivemetricname",
        "objective",
        "metric",
        "name",
        "accuracy",
    ]
    assert tokenize("kfp.dsl.containerSpec") == [
        "kfp.dsl.containerspec",
        "kfp",
        "dsl",
        "container",
        "spec",
    ]


@pytest.mark.parametrize(
    "word",
    [
        "JupyterLab",  # a product name: "lab" must not become a corpus word ("gitlab")
        "PersistentVolumeClaim",
        "isDefault",  # a two-letter piece says nothing
        "v1beta1",
        "HTTPServer",
    ],
)
def test_names_and_short_pieces_stay_whole(word: str) -> None:
    assert camel_words(word) == [word]
    assert tokenize(word) == [word.lower()]


def test_hangul_becomes_overlapping_bigrams() -> None:
    assert tokenize("설치방법") == ["설치", "치방", "방법"]
    assert tokenize("설치 방법") == ["설치", "방법"]
    assert tokenize("집") == ["집"]


def test_mixed_korean_and_english() -> None:
    tokens = tokenize("Kubeflow를 설치하려면")
    assert "kubeflow" in tokens
    assert "설치" in tokens and "려면" in tokens
    assert "를" in tokens


def test_japanese_and_chinese_runs() -> None:
    assert tokenize("安装管道") == ["安装", "装管", "管道"]
    assert "インス" not in tokenize("インストール") and "イン" in tokenize("インストール")


def test_is_cjk() -> None:
    assert is_cjk("한") and is_cjk("漢") and is_cjk("か")
    assert not is_cjk("a") and not is_cjk("é")


def test_punctuation_and_underscores_split_words() -> None:
    assert tokenize("hello, world!") == ["hello", "world"]
    assert tokenize("") == []
