"""Salient-term coverage: the lexical half of the decline decision."""

from __future__ import annotations

import math

from rag.answerability import (
    COVERAGE_WEIGHT,
    MISSING_NAME_PENALTY,
    ORDINARY_KNOWN_SHARE,
    ORDINARY_UNKNOWN_SHARE,
    Term,
    coverage,
    is_ordinary_word,
    names_missing,
    names_rare_word,
    relevance,
    salient_terms,
    salient_words,
)

VOCAB = {"katib": 3, "database": 10, "mysql": 2, "trial": 40}
N = 100
MAX_IDF = math.log(1 + (N + 0.5) / 0.5)


def idf(token: str) -> float:
    df = VOCAB.get(token, 0)
    return math.log(1 + (N - df + 0.5) / (df + 0.5))


def correct(token: str) -> str | None:
    if token in VOCAB:
        return token
    return {"katb": "katib"}.get(token)


# what a WordPiece vocabulary knows whole
WHOLE = {
    "dark",
    "mode",
    "store",
    "database",
    "complain",
    "checking",
    "refresh",
    "run",
    "form",
    "loop",
    "dog",
    "grown",
    "cloak",
}
CORPUS_WORDS = {
    "katib",
    "crash",
    "loop",
    "data",
    "load",
    "key",
    "home",
    "try",
    "finally",
    "objective",
}


def single_piece(word: str) -> bool:
    return word in WHOLE


def in_corpus(word: str) -> bool:
    return word in CORPUS_WORDS


def terms_of(question: str) -> tuple[Term, ...]:
    return salient_terms(question, correct, idf, single_piece, MAX_IDF)


def test_known_words_weigh_by_rarity_and_typos_count_as_the_word() -> None:
    terms = {t.token: t for t in terms_of("can katb store trial results in mysql")}
    assert terms["katib"].known and terms["katib"].weight == idf("katib")
    assert terms["mysql"].weight > terms["trial"].weight  # rarer weighs more
    assert "can" not in terms and "in" not in terms  # stop words never count
    assert "what" not in {t.token for t in terms_of("whats katib")}  # not even once stemmed


def test_ordinary_corpus_words_weigh_less_than_names() -> None:
    plain = {t.token: t.weight for t in terms_of("katib database")}
    assert plain["katib"] == idf("katib")
    assert plain["database"] == idf("database") * ORDINARY_KNOWN_SHARE
    (store,) = [t for t in terms_of("store") if t.token == "store"]
    assert not store.known  # not in VOCAB: an ordinary unknown word
    assert store.weight == MAX_IDF * ORDINARY_UNKNOWN_SHARE


def test_unknown_names_weigh_most_and_unknown_ordinary_words_little() -> None:
    terms = {t.token: t for t in terms_of("katib on redis, dark mode, 2024")}
    assert terms["redis"].weight == MAX_IDF and not terms["redis"].known
    assert terms["dark"].weight == MAX_IDF * ORDINARY_UNKNOWN_SHARE
    assert "2024" not in terms  # numbers say little about the topic


def test_coverage_is_the_weighted_share_found() -> None:
    terms = (Term("katib", 3.0, True), Term("redis", 1.0, False))
    assert coverage(terms, {"katib"}) == 0.75
    assert coverage(terms, set()) == 0.0
    assert coverage((), set()) == 1.0  # nothing to check: no penalty


def test_relevance_lowers_cosine_by_missing_coverage() -> None:
    assert relevance(0.6, 1.0) == 0.6
    assert math.isclose(relevance(0.6, 0.0), 0.6 - COVERAGE_WEIGHT)
    assert relevance(0.6, 0.5) > relevance(0.6, 0.2)


def ordinary(word: str) -> bool:
    return is_ordinary_word(word, single_piece, in_corpus)


def test_words_the_tokenizer_knows_and_their_variants_are_ordinary_language() -> None:
    assert ordinary("complain")
    assert ordinary("complains")  # an inflection of a whole word
    assert ordinary("checkng")  # a dropped letter
    assert ordinary("refesh")  # a dropped consonant too: a typo, not a product name
    assert ordinary("rerun")  # a prefix and a whole word
    assert ordinary("crashloop")  # a compound of two corpus words
    assert ordinary("dataloader")  # ...the tail inflected ("load" + "er")
    assert ordinary("homegrown")  # a compound English uses ("home" + "grown", Zipf 3.1)
    assert ordinary("try/finally") and ordinary("multi-objective")  # part by part
    assert ordinary("pw") and ordinary("dep")  # shorthand


def test_rare_verbs_and_adjectives_are_ordinary_language() -> None:
    # English uses them to say what happens, never to name a product: "can i tweak a
    # running experiment", "a flaky step", "the experiment is hogging the gpus"
    for word in ("tweak", "hogging", "flaky", "encrypt", "fancier", "air-gapped"):
        assert ordinary(word), word
    # nouns and made-up words still name things the docs can't be about
    for word in ("iceberg", "okta", "pagerduty"):
        assert not ordinary(word), word


def test_unknown_names_are_not_ordinary() -> None:
    assert not ordinary("slurm")
    assert not ordinary("terraform")  # "terra" + "form": the head is no corpus word
    assert not ordinary("arm64")  # letters and digits: a product or model name
    assert not ordinary("redis/okta")
    assert not ordinary("datadog")  # "data" + "dog": everyday words make product names
    assert not ordinary("keycloak")


def test_a_missing_name_marks_the_question_and_lowers_relevance() -> None:
    terms = {t.token: t for t in terms_of("can katib submit trials to slurm")}
    assert terms["slurm"].specific and not terms["katib"].specific
    assert names_missing(terms.values())
    assert not names_missing(terms_of("katib dark mode"))  # ordinary words never do
    assert math.isclose(relevance(0.6, 1.0, True), 0.6 - MISSING_NAME_PENALTY)


def test_a_word_the_docs_never_use_and_english_rarely_does_is_noted() -> None:
    common = {"dark", "mode", "myself"}.__contains__
    discord = Term("discord", 1.2, known=False)  # one WordPiece, so an ordinary word
    assert names_rare_word([discord], common)
    assert not names_rare_word([Term("myself", 1.2, known=False)], common)  # everyday English
    assert not names_rare_word([Term("katib", 5.0, known=True)], common)  # the docs use it
    # a name the corpus lacks is already `names_missing`'s
    assert not names_rare_word([Term("slurm", 8.0, known=False, specific=True)], common)


def test_salient_words_keep_the_questions_own_spelling_in_order_without_its_chat() -> None:
    question = "dark mode q: can katb store a trial in mysql?"
    floor = 0.3 * MAX_IDF
    words = salient_words(question, terms_of(question), correct, floor)
    # "katb" is kept as typed (embedding respells it), found through its corrected term;
    # "trial" is a common corpus word and "dark", "mode", "store" ordinary words the docs
    # never use, all weighing less than the floor; stop words go
    assert words == ["katb", "mysql"]


def test_salient_words_are_empty_when_nothing_weighs_enough() -> None:
    question = "can a trial run"
    assert salient_words(question, terms_of(question), correct, MAX_IDF) == []
