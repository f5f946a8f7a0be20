"""Current docs first; legacy docs when the question asks about the old version."""

from __future__ import annotations

from rag.retrieve import Hit, rank_pages
from rag.versions import (
    LEGACY_BONUS,
    LEGACY_PENALTY,
    SWITCH_BONUS,
    asks_for_legacy,
    is_legacy,
    legacy_bonus,
    version_prior,
)

CURRENT = "https://docs.example.com/pipelines/user-guides/caching/"
LEGACY = "https://docs.example.com/pipelines/legacy-v1/overview/caching/"


def test_legacy_pages_are_recognised_by_their_path() -> None:
    assert is_legacy(LEGACY)
    assert is_legacy("https://docs.example.com/archive/2019/setup/")
    assert is_legacy("https://docs.example.com/deprecated/api/")
    assert not is_legacy(CURRENT)
    assert not is_legacy("https://legacy.example.com/docs/setup/")  # the host is not the path


def test_questions_that_name_an_old_version() -> None:
    assert asks_for_legacy("can i switch off type checking in old kfp v1")
    assert asks_for_legacy("is the legacy sdk still supported?")
    assert not asks_for_legacy("turn off caching for just one step")
    assert not asks_for_legacy("kfp v2: return two outputs")


def test_the_prior_penalises_legacy_pages_unless_asked_for() -> None:
    assert version_prior(CURRENT, 0.0) == 0.0 == version_prior(CURRENT, LEGACY_BONUS)
    assert version_prior(LEGACY, 0.0) == -LEGACY_PENALTY
    assert version_prior(LEGACY, LEGACY_BONUS) > 0


def test_a_follow_up_turning_a_current_thread_to_v1_weighs_legacy_pages_more() -> None:
    assert legacy_bonus("turn off caching for just one step") == 0.0
    assert legacy_bonus("how did v1 do it?") == LEGACY_BONUS  # no thread
    assert legacy_bonus("was there something like that in v1?", ["dsl.exithandler works"]) == (
        SWITCH_BONUS
    )
    assert SWITCH_BONUS > LEGACY_BONUS
    # a thread already about the old version: its words already find the legacy pages
    assert legacy_bonus("and the v1 cli?", ["how do i compile in old kfp v1"]) == LEGACY_BONUS
    assert legacy_bonus("and for katib?", ["how do i compile in old kfp v1"]) == 0.0


def test_a_follow_up_in_a_v1_thread_stays_on_v1_unless_it_names_the_current_version() -> None:
    v1_thread = ["how do i list pipelines by name with the kfp v1 client?"]
    assert legacy_bonus("and uploading one from yaml?", v1_thread, followup=True) == LEGACY_BONUS
    assert legacy_bonus("same knob in v2?", v1_thread, followup=True) == 0.0
    # a new, long question in the thread is not a follow-up: it gets the usual penalty
    assert legacy_bonus("how do I upload a pipeline from yaml", v1_thread, followup=False) == 0.0
    # only the thread's last question sets its version
    moved_on = [*v1_thread, "ok and how does caching work in kfp"]
    assert legacy_bonus("and for a whole run?", moved_on, followup=True) == 0.0


def _hit(page: str, fused: float) -> Hit:
    return Hit("c-" + page[-12:], page, "caching", "Caching", "Caching", "text", 0.6, fused)


def test_a_slightly_better_legacy_page_yields_to_the_current_one() -> None:
    hits = [_hit(LEGACY, 0.80), _hit(CURRENT, 0.76)]
    plain = [page for page, _, _ in rank_pages(hits)]
    assert plain[0] == LEGACY
    priors = {h.page_url: version_prior(h.page_url, 0.0) for h in hits}
    assert [page for page, _, _ in rank_pages(hits, priors=priors)][0] == CURRENT
    wanted = {h.page_url: version_prior(h.page_url, LEGACY_BONUS) for h in hits}
    assert [page for page, _, _ in rank_pages(hits, priors=wanted)][0] == LEGACY
