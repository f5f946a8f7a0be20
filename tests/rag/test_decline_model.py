"""The learned decline gate: its signals, its direction, and which questions it judges."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.config import Settings
from bot.types import Turn
from rag.answerability import Term
from rag.decline_model import DECLINE_LOGIT, Signals, signals, unanswerable_logit
from rag.retrieve import Gate, Hit, Retriever

BASE = "https://docs.example.com/"
TERMS = (Term("katib", 3.0, True), Term("redis", 6.0, True))


def hit(anchor: str, covered: set[str], keyword_share: float = 0.3, score: float = 0.5) -> Hit:
    return Hit(
        f"c-{anchor}",
        BASE,
        anchor,
        "T",
        anchor,
        "text",
        score,
        terms=TERMS,
        covered=frozenset(covered),
        keyword_share=keyword_share,
    )


def test_signals_read_the_first_section_and_the_best_keyword_match() -> None:
    hits = [hit("a", {"katib"}, 0.2), hit("b", {"redis"}, 0.5)]
    s = signals(hits, relevance=0.4)
    assert s.relevance == 0.4
    assert s.keyword_share == 0.5  # the best section's keyword match
    assert s.top_coverage == pytest.approx(3.0 / 9.0)  # the first section holds "katib" only


def test_no_hits_give_empty_signals() -> None:
    assert signals([], relevance=-1.0) == Signals(-1.0, 0.0, 0.0)


def test_a_question_answered_in_one_place_is_less_likely_declined() -> None:
    spread = Signals(relevance=0.3, keyword_share=0.3, top_coverage=0.3)
    in_one_place = replace(spread, top_coverage=1.0)
    assert unanswerable_logit(in_one_place) < unanswerable_logit(spread)


def test_a_higher_combined_score_is_less_likely_declined() -> None:
    low = Signals(relevance=0.25, keyword_share=0.3, top_coverage=0.5)
    assert unanswerable_logit(replace(low, relevance=0.45)) < unanswerable_logit(low)


def test_the_docs_words_without_their_meaning_are_more_likely_declined() -> None:
    # at the same cosine, a strong keyword match marks a question in the docs' vocabulary
    # about something they do not say; a paraphrase shares few words with its answer
    paraphrase = Signals(relevance=0.35, keyword_share=0.15, top_coverage=0.6)
    assert unanswerable_logit(replace(paraphrase, keyword_share=0.5)) > unanswerable_logit(
        paraphrase
    )


@pytest.mark.parametrize(
    ("found", "declined"),
    [
        (Signals(relevance=0.6, keyword_share=0.3, top_coverage=1.0), False),
        (Signals(relevance=0.22, keyword_share=0.5, top_coverage=0.2), True),
    ],
)
def test_clear_cases_fall_on_their_side_of_the_threshold(found: Signals, declined: bool) -> None:
    assert (unanswerable_logit(found) > DECLINE_LOGIT) is declined


# ---------------------------------------------------------------- in the retriever


@pytest.fixture(scope="module")
def retriever(built_settings: Settings, embedder) -> Retriever:  # noqa: ANN001
    return Retriever(built_settings, embedder)


def test_the_learned_gate_decides_single_questions_above_the_off_topic_floor(
    retriever: Retriever,
) -> None:
    assert retriever.decline_model
    hits = retriever.search("how do i install widgetron with pip", k=5)
    score = retriever.relevance(hits)
    assert score >= retriever.llm_min_relevance
    learned = unanswerable_logit(signals(hits, score)) > DECLINE_LOGIT
    assert retriever.gate(hits) is (Gate.READER if learned else Gate.ANSWER)


def test_off_topic_questions_stay_declined_whatever_the_model_says(retriever: Retriever) -> None:
    hits = retriever.search("what is on the cafeteria lunch menu today", k=5)
    assert retriever.relevance(hits) < retriever.llm_min_relevance
    assert retriever.gate(hits) is Gate.DECLINE


def test_follow_ups_keep_the_plain_threshold(retriever: Retriever) -> None:
    history = [Turn("user", "how do I back up the widget catalog")]
    hits = retriever.search("and restore it?", k=5, history=history)
    assert hits[0].own_score is not None  # condensed with its thread
    score = retriever.relevance(hits)
    expected = Gate.ANSWER if score >= retriever.min_relevance else Gate.READER
    assert retriever.gate(hits) is expected


def test_an_operators_own_threshold_turns_the_learned_gate_off(
    built_settings: Settings,
    embedder,  # noqa: ANN001
) -> None:
    own = Retriever(Settings(**{**built_settings.__dict__, "min_relevance": 0.99}), embedder)
    assert not own.decline_model
    hits = own.search("how do i install widgetron with pip", k=5)
    assert own.gate(hits) is not Gate.ANSWER
