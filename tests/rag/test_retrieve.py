"""Hybrid retrieval over the shared Widgetron index: ranking, typos, follow-ups, declines."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings
from bot.types import Turn
from rag.answerability import Term
from rag.rerank import Reranker
from rag.retrieve import (
    DEFAULT_LLM_MIN_RELEVANCE,
    DEFAULT_MIN_RELEVANCE,
    FOLLOWUP_SECTION_WEIGHT,
    LEAD,
    OWN_COVER_WEIGHT,
    REPEAT,
    Gate,
    Hit,
    Retriever,
    arrange,
    condense_query,
    diversify,
    gate,
    own_coverage,
    rank_fusion,
    rank_pages,
    rrf,
    section_order,
    set_aside_signposts,
)

BASE = "https://docs.example.com/"


@pytest.fixture(scope="module")
def retriever(built_settings: Settings, embedder) -> Retriever:  # noqa: ANN001
    return Retriever(built_settings, embedder)


def hit(page: str, anchor: str, fused: float, score: float = 0.5) -> Hit:
    return Hit(f"{page}#{anchor}", BASE + page, anchor, page, anchor, "", score, fused)


# ---------------------------------------------------------------- pure parts


def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    fused = rrf([([1, 2], 1.0), ([2, 3], 0.5)], k=60)
    assert fused[2] == pytest.approx(1 / 62 + 0.5 / 61)
    assert fused[1] == pytest.approx(1 / 61)
    assert set(fused) == {1, 2, 3}


def test_rank_fusion_is_rrf_on_the_scale_of_a_cosine() -> None:
    rankings = [([1, 2], 1.0), ([1, 3], 0.5)]
    fused = rank_fusion(rankings, k=60)
    assert fused[1] == pytest.approx(1.0)  # first in both lists: like a perfect cosine
    raw = rrf(rankings, k=60)
    assert sorted(fused, key=fused.__getitem__) == sorted(raw, key=raw.__getitem__)
    assert fused[2] == pytest.approx(raw[2] / raw[1])


def test_pages_rank_by_best_section_plus_support() -> None:
    hits = [hit("a", "x", 0.80), hit("b", "y", 0.79), hit("b", "z", 0.70), hit("a", "w", 0.10)]
    ranked = rank_pages(hits)
    assert [p for p, _, _ in ranked] == [BASE + "b", BASE + "a"]  # two good sections beat one
    assert [h.anchor for h in ranked[0][2]] == ["y", "z"]


def test_a_page_first_only_by_its_title_does_not_repeat() -> None:
    hits = [hit("b", "1", 0.80), hit("a", "1", 0.75), hit("c", "1", 0.60), hit("a", "2", 0.01)]
    out = arrange(hits, 3, title_scores={BASE + "a": 1.0})
    assert [h.page_url for h in out] == [BASE + "a", BASE + "b", BASE + "c"]


def test_title_matches_reorder_pages() -> None:
    hits = [hit("a", "1", 0.80), hit("b", "1", 0.78)]
    assert [p for p, _, _ in rank_pages(hits)] == [BASE + "a", BASE + "b"]
    titled = rank_pages(hits, {BASE + "b": 1.0})
    assert [p for p, _, _ in titled] == [BASE + "b", BASE + "a"]


def test_a_clearly_leading_page_repeats_its_second_section() -> None:
    lead = LEAD + 0.1
    hits = [
        hit("a", "1", 0.9),
        hit("a", "2", 0.5),
        hit("a", "2", 0.45),  # a second piece of the same section is not repeated
        hit("a", "3", 0.4),
        hit("b", "1", 0.9 - lead),
        hit("c", "1", 0.3),
    ]
    out = arrange(hits, 2 + REPEAT)
    assert [h.url for h in out][:2] == [BASE + "a#1", BASE + "a#2"]
    assert out[1 + REPEAT].url == BASE + "b#1"
    assert len({h.url for h in out[: 1 + REPEAT]}) == 1 + REPEAT


def test_a_followups_own_words_pick_the_section_but_not_the_page() -> None:
    grid, other_page, random = hit("a", "grid", 0.9), hit("b", "1", 0.85), hit("a", "random", 0.8)
    grid.own_score, other_page.own_score, random.own_score = 0.2, 0.9, 0.6
    out = arrange([grid, other_page, random], 3)
    # the thread ranks the pages; within the first, the follow-up's own cosine picks
    assert [h.url for h in out] == [BASE + "a#random", BASE + "a#grid", BASE + "b#1"]
    assert section_order(random) == pytest.approx(0.8 + FOLLOWUP_SECTION_WEIGHT * 0.6)
    assert section_order(hit("a", "x", 0.7)) == 0.7  # a single question: its fused score


def test_a_followups_own_words_weigh_in_on_the_page_too() -> None:
    # "any rules on sentence length?" after a question on signing off commits: the thread's
    # words keep the contributing page first; the style guide holds the follow-up's words
    terms = (Term("sign", 2.0, True), Term("sentenc", 3.0, True), Term("length", 1.0, True))
    own = frozenset({"sentenc", "length"})
    thread_page, style_page = hit("contributing", "dco", 0.80), hit("style", "short", 0.72)
    for h, words in ((thread_page, {"sign"}), (style_page, {"sentenc", "length"})):
        h.terms, h.covered, h.own_terms = terms, frozenset(words), own
    shares = own_coverage([thread_page, style_page], own)
    assert shares == {BASE + "contributing": 0.0, BASE + "style": 1.0}
    priors = {page: OWN_COVER_WEIGHT * share for page, share in shares.items()}
    assert [p for p, _, _ in rank_pages([thread_page, style_page])][0] == BASE + "contributing"
    assert [p for p, _, _ in rank_pages([thread_page, style_page], priors=priors)][0] == (
        BASE + "style"
    )


def test_own_coverage_counts_a_pages_navigation_sections_and_nothing_for_no_hits() -> None:
    terms = (Term("katib", 3.0, True),)
    body, nav = hit("a", "body", 0.5), hit("a", "next", 0.4)
    body.terms, nav.covered = terms, frozenset({"katib"})
    body.signposts = (nav,)
    assert own_coverage([body], frozenset({"katib"})) == {BASE + "a": 1.0}
    assert own_coverage([], frozenset({"katib"})) == {}


def test_diversify_keeps_page_firsts_first() -> None:
    hits = [hit("a", "1", 3), hit("a", "2", 2), hit("b", "1", 1)]
    assert [h.url for h in diversify(hits, 2)] == [BASE + "a#1", BASE + "b#1"]


def test_navigation_sections_are_set_aside_on_their_pages_hits() -> None:
    nav = hit("a", "A › Next steps", 3, score=0.9)
    body = hit("a", "A › Install", 2, score=0.4)
    other = hit("b", "B › Setup", 1, score=0.3)
    other_nav = hit("c", "C › See also", 0.5)
    assert set_aside_signposts([nav, body, other, other_nav]) == [body, other]
    assert body.signposts == (nav,)
    assert other.signposts == ()


def test_a_search_of_only_navigation_sections_keeps_them() -> None:
    nav = hit("a", "A › Next steps", 3)
    assert set_aside_signposts([nav]) == [nav]


def test_condense_query_joins_short_followups_only() -> None:
    history = [Turn("user", "how do I install notebooks"), Turn("assistant", "Like so.")]
    assert condense_query("and for katib?", history) == "and for katib? how do I install notebooks"
    long_q = "how do I configure the katib database to use postgres instead of mysql please"
    assert condense_query(long_q, history) == long_q
    assert condense_query("and for katib?", None) == "and for katib?"


def test_a_thread_is_followed_back_to_where_it_last_named_a_topic() -> None:
    history = [
        Turn("user", "how do I cache steps in kfp"),
        Turn("assistant", "Like so."),
        Turn("user", "can i switch it off for a run?"),
    ]
    names_topic = lambda text: "kfp" in text  # noqa: E731
    assert condense_query("and in v1?", history, names_topic) == (
        "and in v1? can i switch it off for a run? how do I cache steps in kfp"
    )
    # the last question names the topic: it stands for the thread alone
    named = [*history[:2], Turn("user", "so kfp caches by default?")]
    assert (
        condense_query("and in v1?", named, names_topic) == "and in v1? so kfp caches by default?"
    )
    # without a judge of topics, only the last question is joined
    assert condense_query("and in v1?", history) == "and in v1? can i switch it off for a run?"


def test_at_most_a_few_earlier_questions_are_joined() -> None:
    history = [Turn("user", f"question {i}?") for i in range(6)]
    joined = condense_query("and then?", history, lambda text: False)
    assert joined == "and then? question 5? question 4? question 3?"


# ---------------------------------------------------------------- the real index


def test_finds_the_section_that_answers(retriever: Retriever) -> None:
    hits = retriever.search("how do i install widgetron with pip", k=5)
    assert hits[0].url == BASE + "install/#install-with-pip"
    assert 0.0 < hits[0].score <= 1.0
    assert retriever.is_relevant(hits)


def test_rank_fusion_finds_the_same_section(built_settings: Settings, embedder) -> None:  # noqa: ANN001
    by_rank = Retriever(_with(built_settings, fusion="rank"), embedder)
    hits = by_rank.search("how do i install widgetron with pip", k=5)
    assert hits[0].url == BASE + "install/#install-with-pip"
    assert by_rank.is_relevant(hits)  # declines judge cosines and coverage, not fused scores


def test_a_word_the_docs_never_use_finds_them_through_the_synonyms_file(
    built_settings: Settings,
    embedder,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    synonyms = tmp_path / "synonyms.txt"
    synonyms.write_text("swatches: palette\n", "utf-8")
    question = "where are the swatches set up"
    plain = Retriever(built_settings, embedder).search(question, k=3)
    assert plain[0].url != BASE + "guide/#colours"
    with_file = Retriever(_with(built_settings, synonyms_file=str(synonyms)), embedder)
    assert with_file.search(question, k=3)[0].url == BASE + "guide/#colours"


def test_term_weight_is_the_live_docs_idf(built_settings: Settings, embedder) -> None:  # noqa: ANN001
    fresh = Retriever(built_settings, embedder)
    assert fresh.term_weight("widgetron") == 1.0  # nothing loaded yet: every word alike
    fresh.refresh()
    # a word in every section tells less than one in a few, and one the docs never use most
    assert fresh.term_weight("widgetron") < fresh.term_weight("backup")
    assert fresh.term_weight("backup") < fresh.term_weight("zeppelin")


def test_typos_still_find_the_page(retriever: Retriever) -> None:
    hits = retriever.search("how do i restre a backup", k=3)
    assert hits[0].page_url == BASE + "backup/"


def test_results_prefer_distinct_pages(retriever: Retriever) -> None:
    hits = retriever.search("invite the bot to a slack channel", k=4)
    assert hits[0].url == BASE + "slack/#invite-the-bot"
    pages = [h.page_url for h in hits]
    assert len(set(pages)) >= 3  # one page repeats at most once, when it clearly leads


def test_followup_uses_the_thread(retriever: Retriever) -> None:
    history = [Turn("user", "how do I back up the widget catalog")]
    hits = retriever.search("and restore it?", k=3, history=history)
    assert hits[0].page_url == BASE + "backup/"


def test_a_followup_gets_the_section_its_own_words_ask_for(retriever: Retriever) -> None:
    history = [Turn("user", "which colours can I paint my widgets in?")]
    hits = retriever.search("what sizes do they come in?", k=3, history=history)
    assert hits[0].url == BASE + "guide/#sizes"  # the thread alone favours #colours
    assert all(h.own_score is not None for h in hits)
    assert retriever.search("which colours can I paint my widgets in?", k=1)[0].own_score is None


def test_a_confirmation_in_between_does_not_lose_the_threads_topic(retriever: Retriever) -> None:
    history = [
        Turn("user", "how do I back up the widget catalog"),
        Turn("user", "ok, and that runs every night?"),
    ]
    assert retriever.condense("and restore it?", history) == (
        "and restore it? ok, and that runs every night? how do I back up the widget catalog"
    )
    hits = retriever.search("and restore it?", k=3, history=history)
    assert hits[0].page_url == BASE + "backup/"


def test_a_followup_naming_something_the_docs_never_mention_is_judged_on_its_own_words(
    retriever: Retriever,
) -> None:
    history = [Turn("user", "how do I back up the widget catalog")]
    fair = retriever.search("and restore it?", k=5, history=history)
    named = retriever.search("can it back up to terraform instead?", k=5, history=history)
    assert "terraform" in named[0].own_terms and "widget" not in named[0].own_terms
    # the thread's well-covered words would otherwise outvote the one name the docs lack
    diluted = [replace(h, own_terms=frozenset()) for h in named]
    assert retriever.relevance(named) < retriever.relevance(diluted)
    assert retriever.relevance(fair) == retriever.relevance(
        [replace(h, own_terms=frozenset()) for h in fair]
    )


def test_a_followup_asking_about_a_rare_word_the_docs_lack_is_judged_on_its_own_words(
    retriever: Retriever,
) -> None:
    # "discord" is one WordPiece (an ordinary word to a question), but rare in English:
    # in "is there a discord too?" it is the whole question, and the docs never use it
    history = [Turn("user", "how do I back up the widget catalog")]
    asked = retriever.search("is there a discord too?", k=5, history=history)
    discord = next(t for t in asked[0].terms if t.token == "discord")
    assert not discord.known and not discord.specific
    diluted = [replace(h, own_terms=frozenset()) for h in asked]
    assert retriever.relevance(asked) < retriever.relevance(diluted)


def test_common_english_words_are_not_unknown_names(retriever: Retriever) -> None:
    # "wiki" is two WordPiece tokens, but everyday English, not a product the docs lack
    hits = retriever.search("link the widget catalog backup docs from our team wiki", k=5)
    wiki = next(t for t in hits[0].terms if t.token == "wiki")
    assert not wiki.specific
    assert retriever.embedder.count_tokens("wiki") > 1


def test_off_topic_questions_are_declined(retriever: Retriever) -> None:
    hits = retriever.search("what is on the cafeteria lunch menu today", k=5)
    assert not retriever.is_relevant(hits)
    assert not retriever.is_relevant([])


def test_unknown_specific_names_lower_relevance(retriever: Retriever) -> None:
    plain = retriever.search("how do i install widgetron", k=5)
    named = retriever.search("how do i install widgetron with terraform", k=5)
    assert retriever.relevance(named) < retriever.relevance(plain)
    assert "terraform" in {t.token for t in named[0].terms}
    assert all("terraform" not in h.covered for h in named)


def test_min_relevance_can_be_configured(built_settings: Settings, embedder) -> None:  # noqa: ANN001
    strict = Retriever(Settings(**{**built_settings.__dict__, "min_relevance": 0.99}), embedder)
    hits = strict.search("how do i install widgetron with pip", k=5)
    assert hits and not strict.is_relevant(hits)


@pytest.mark.parametrize(
    ("relevance", "expected"),
    [
        (0.5, Gate.ANSWER),
        (0.3, Gate.ANSWER),
        (0.25, Gate.READER),
        (0.2, Gate.READER),
        (0.1, Gate.DECLINE),
    ],
)
def test_between_the_two_thresholds_only_a_reading_model_may_answer(
    relevance: float, expected: Gate
) -> None:
    assert gate(relevance, 0.3, 0.2) is expected


def test_a_language_model_gate_above_the_offline_one_counts_as_equal() -> None:
    assert gate(0.35, 0.3, 0.5) is Gate.ANSWER
    assert gate(0.25, 0.3, 0.5) is Gate.DECLINE


def _with(built_settings: Settings, **values: object) -> Settings:
    return Settings(**{**built_settings.__dict__, **values})


def test_the_gates_default_to_their_calibrated_values(built_settings: Settings, embedder) -> None:  # noqa: ANN001
    default = Retriever(built_settings, embedder)
    assert default.min_relevance == DEFAULT_MIN_RELEVANCE
    assert default.llm_min_relevance == DEFAULT_LLM_MIN_RELEVANCE < DEFAULT_MIN_RELEVANCE


def test_an_operators_own_threshold_alone_is_one_gate_for_every_model(
    built_settings: Settings,
    embedder,  # noqa: ANN001
) -> None:
    strict = Retriever(_with(built_settings, min_relevance=0.6), embedder)
    assert strict.llm_min_relevance == 0.6
    both = Retriever(_with(built_settings, min_relevance=0.6, llm_min_relevance=0.4), embedder)
    assert both.llm_min_relevance == 0.4
    capped = Retriever(_with(built_settings, llm_min_relevance=0.9), embedder)
    assert capped.llm_min_relevance == DEFAULT_MIN_RELEVANCE


def test_a_near_miss_goes_to_a_reading_model_only(built_settings: Settings, embedder) -> None:  # noqa: ANN001
    split = Retriever(_with(built_settings, min_relevance=0.99, llm_min_relevance=0.0), embedder)
    hits = split.search("how do i install widgetron with pip", k=5)
    assert split.gate(hits) is Gate.READER and not split.is_relevant(hits)
    assert split.gate([]) is Gate.DECLINE


def test_a_pages_navigation_sections_count_as_evidence_for_the_decline(
    retriever: Retriever,
) -> None:
    # a "Next steps" list names the topic: the docs know it, though the list answers nothing
    body = Hit("c1", BASE, "install", "T", "T › Install", "text", 0.3)
    nav = Hit("c2", BASE, "next-steps", "T", "T › Next steps", "links", 0.6)
    alone = retriever.relevance([body])
    body.signposts = (nav,)
    assert alone == pytest.approx(0.3)
    assert retriever.relevance([body]) == pytest.approx(0.6)


def test_next_steps_lists_are_never_results(tmp_path: Path, make_settings, embedder) -> None:  # noqa: ANN001
    from ingest.local import read_folder
    from rag.index_build import build_index

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "install.md").write_text(
        "# Install\n\nInstall widgetron with pip: `pip install widgetron`.\n\n"
        "## Next steps\n\n- [Resize the widget cache](cache.md)\n- [Rotate the API keys](keys.md)\n"
    )
    (docs / "cache.md").write_text(
        "# Cache\n\n## Size\n\nThe widget cache holds 512 MB unless `cache_size` says otherwise.\n"
    )
    settings = make_settings(tmp_path / "data")
    build_index(read_folder(docs, base_url=BASE), settings, embedder=embedder)
    found = Retriever(settings, embedder).search("resize the widget cache", k=5)
    assert found[0].url == BASE + "cache/#size"
    assert not any(h.section.endswith("Next steps") for h in found)


def test_keyword_judged_questions_have_one_gate(retriever: Retriever) -> None:
    # CJK questions under an English model are judged by keywords (rag.multilingual); the
    # language-model gate was calibrated on cosines, so it does not apply to them
    from rag.multilingual import KEYWORD_MIN_RELEVANCE

    hit = Hit("c1", BASE, "", "Title", "Title", "text", 0.9)
    hit.keyword_relevance = KEYWORD_MIN_RELEVANCE - 0.04
    assert retriever.llm_min_relevance < retriever.relevance([hit]) < retriever.min_relevance
    assert retriever.gate([hit]) is Gate.DECLINE


def test_no_index_means_no_hits(tmp_path: Path, make_settings, embedder) -> None:  # noqa: ANN001
    empty = Retriever(make_settings(tmp_path / "data"), embedder)
    assert empty.search("anything", k=5) == []


class SlackFirst:
    """A stand-in cross-encoder that prefers any passage about Slack."""

    def predict(self, pairs: list[tuple[str, str]], **kwargs: object) -> list[float]:
        return [4.0 if "Slack" in passage else -4.0 for _, passage in pairs]


def test_a_configured_reranker_reorders_candidates(built_settings: Settings, embedder) -> None:  # noqa: ANN001
    reranked = Retriever(built_settings, embedder)
    reranked._reranker = Reranker(SlackFirst(), "stand-in")  # as loaded from DOCBOT_RERANKER_MODEL
    settings_with_model = Settings(**{**built_settings.__dict__, "reranker_model": "stand-in"})
    reranked.settings = settings_with_model
    hits = reranked.search("how do i install widgetron with pip", k=3)
    assert hits[0].page_url == BASE + "slack/"


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_models import cross_encoder

    return cross_encoder(tmp_path_factory.mktemp("cross-encoder"))


def test_a_sentence_transformers_cross_encoder_is_loaded_by_name_and_decides_the_order(
    built_settings: Settings,
    embedder,  # noqa: ANN001
    tiny_cross_encoder: Path,
) -> None:
    from sentence_transformers import CrossEncoder

    from rag.rerank import squash

    settings = _with(built_settings, reranker_model=str(tiny_cross_encoder))
    r = Retriever(settings, embedder)
    question = "how do i restore a backup"
    hits = r.search(question, k=8, diverse=False)
    assert r.reranker is not None and r.reranker.name == str(tiny_cross_encoder)
    scores = CrossEncoder(str(tiny_cross_encoder)).predict(
        [(question, f"{h.section}\n{h.text}") for h in hits]
    )
    assert [h.fused for h in hits] == pytest.approx([squash(float(s)) for s in scores], abs=1e-5)
    assert [h.fused for h in hits] == sorted((h.fused for h in hits), reverse=True)
    # the decline still judges cosines, which the cross-encoder leaves alone
    plain = {h.chunk_id: h.score for h in Retriever(built_settings, embedder).search(question, k=8)}
    shared = [h for h in hits if h.chunk_id in plain]
    assert len(shared) >= 3 and all(h.score == plain[h.chunk_id] for h in shared)


def test_a_reranker_that_cannot_load_is_skipped(built_settings: Settings, embedder) -> None:  # noqa: ANN001
    settings = Settings(**{**built_settings.__dict__, "reranker_model": "/nonexistent/model"})
    r = Retriever(settings, embedder)
    hits = r.search("how do i install widgetron with pip", k=3)
    assert hits[0].url == BASE + "install/#install-with-pip"
    assert r.reranker is None


def test_an_index_built_with_another_model_is_refused_clearly(
    tmp_path: Path,
    built_settings: Settings,
    embedder,  # noqa: ANN001
) -> None:
    import dataclasses
    import json
    import shutil

    from rag.index_store import IndexStore, IndexStoreError

    settings = dataclasses.replace(built_settings, data_dir=tmp_path / "copy")
    shutil.copytree(
        built_settings.index_dir, settings.index_dir, ignore=shutil.ignore_patterns(".ingest.lock")
    )
    version = IndexStore(settings).current()
    assert version is not None
    manifest = json.loads((version.path / "manifest.json").read_text())
    manifest["embedding_model"] = "intfloat/e5-base-v2"
    (version.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexStoreError, match="DOCBOT_EMBEDDING_MODEL"):
        Retriever(settings, embedder).refresh()


def _vectors(
    retriever: Retriever, question: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ranks with, scores with, the question's own vector) for a question asked on its own.

    In the small Widgetron docs no word reaches the corpus share the real docs use, so
    every salient term counts here."""
    monkeypatch.setattr("rag.retrieve.CONTENT_SHARE", 0.0)
    retriever.refresh()
    index = retriever.index
    assert index is not None
    terms = retriever._salient(index.keyword, question)
    rank, score = retriever._query_vectors(index, question, terms)
    return rank, score, retriever._embed_question(index, question)


def test_a_questions_salient_words_rank_and_score_when_it_has_two_or_more(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    rank, score, own = _vectors(retriever, "how do i restore a backup", monkeypatch)
    assert rank is score
    assert float(score @ own) < 0.999  # "restore backup" alone weighs in
    assert abs(float(np.linalg.norm(score)) - 1.0) < 1e-5


def test_one_salient_word_scores_but_the_question_still_ranks(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "backups" alone pulls towards any page about backups, not what the question asks
    rank, score, own = _vectors(retriever, "and the backups?", monkeypatch)
    assert np.allclose(rank, own)
    assert not np.allclose(score, own)


def test_a_question_of_only_chat_words_ranks_and_scores_as_itself(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    rank, score, own = _vectors(retriever, "how do i do it?", monkeypatch)
    assert np.allclose(rank, own)
    assert np.allclose(score, own)
