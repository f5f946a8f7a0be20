"""Citation post-processing: renumbering, invented numbers, declines, no-RAG answers."""

from __future__ import annotations

from bot.messages import MESSAGES
from rag.citations import (
    finalize,
    may_say_not_covered,
    nearest_links,
    says_not_covered,
    snippet,
)
from rag.generation import Source
from rag.prompt import NOT_COVERED


def src(n: int, score: float = 0.5) -> Source:
    return Source(
        n=n,
        title=f"Title {n}",
        url=f"https://docs.example/page{n}#sec{n}",
        section=f"Sec {n}",
        text=f"Body of source {n}. " * 30,
        score=score,
        last_updated="2024-05-01",
    )


SOURCES = [src(1), src(2), src(3)]


def test_markers_are_renumbered_in_order_of_first_use() -> None:
    text, citations, declined = finalize(
        "Use pipelines [3]. Then run it [1]. Again [3].",
        SOURCES,
        retrieval_weak=False,
        use_docs=True,
    )
    assert text == "Use pipelines [1]. Then run it [2]. Again [1]."
    assert [(c.n, c.title) for c in citations] == [(1, "Title 3"), (2, "Title 1")]
    assert citations[0].url == "https://docs.example/page3#sec3"
    assert citations[0].section == "Sec 3"
    assert citations[0].last_updated == "2024-05-01"
    assert citations[0].snippet.startswith("Body of source 3.")
    assert not declined


def test_invented_numbers_are_removed_and_spacing_tidied() -> None:
    text, citations, _ = finalize(
        "Install it [7]. Configure [2] [9].", SOURCES, retrieval_weak=False, use_docs=True
    )
    assert text == "Install it. Configure [1]."
    assert [c.title for c in citations] == ["Title 2"]


def test_grouped_markers_are_split() -> None:
    text, citations, _ = finalize(
        "Both say so [2, 1].", SOURCES, retrieval_weak=False, use_docs=True
    )
    assert text == "Both say so [1][2]."
    assert [c.title for c in citations] == ["Title 2", "Title 1"]


def test_a_range_of_sources_cites_each_of_them_under_the_new_numbers() -> None:
    text, citations, _ = finalize(
        "Run it [3]. Both pages agree [1-2], as do all three [1–3].",
        SOURCES,
        retrieval_weak=False,
        use_docs=True,
    )
    assert text == "Run it [1]. Both pages agree [2][3], as do all three [2][3][1]."
    assert [c.title for c in citations] == ["Title 3", "Title 1", "Title 2"]


def test_a_bracketed_range_that_names_no_sources_is_left_as_written() -> None:
    text, citations, _ = finalize(
        "Digits match [0-9] here [1]; [2-7] is not a range of sources.",
        SOURCES,
        retrieval_weak=False,
        use_docs=True,
    )
    assert text == "Digits match [0-9] here [1]; [2-7] is not a range of sources."
    assert [c.title for c in citations] == ["Title 1"]


def test_code_and_links_are_left_alone() -> None:
    answer = "Index `arr[1]` then:\n```python\nx = y[2]\n```\nSee [2](https://x) and [2]."
    text, citations, _ = finalize(answer, SOURCES, retrieval_weak=False, use_docs=True)
    assert "`arr[1]`" in text and "x = y[2]" in text and "[2](https://x)" in text
    assert text.endswith("and [1].")
    assert [c.title for c in citations] == ["Title 2"]


def test_uncited_answer_with_weak_retrieval_is_declined() -> None:
    text, citations, declined = finalize(
        "Probably use kubectl.", SOURCES, retrieval_weak=True, use_docs=True
    )
    assert declined and citations == []
    assert text == MESSAGES["decline"]["en"]


def test_only_invented_citations_with_weak_retrieval_is_declined_in_korean() -> None:
    text, _, declined = finalize(
        "답 [8].", SOURCES, retrieval_weak=True, use_docs=True, language="ko"
    )
    assert declined and text == MESSAGES["decline"]["ko"]


def test_uncited_answer_with_good_retrieval_is_kept() -> None:
    text, citations, declined = finalize(
        "The docs do not cover this.", SOURCES, retrieval_weak=False, use_docs=True
    )
    assert not declined and citations == [] and text == "The docs do not cover this."


def test_the_models_not_covered_marker_becomes_the_bots_decline() -> None:
    for reply in (NOT_COVERED, f"**{NOT_COVERED}**", f" `{NOT_COVERED.lower()}`.\n"):
        text, citations, declined = finalize(reply, SOURCES, retrieval_weak=False, use_docs=True)
        assert declined and citations == [] and text == MESSAGES["decline"]["en"]
    text, _, declined = finalize(
        NOT_COVERED, SOURCES, retrieval_weak=False, use_docs=True, language="ko"
    )
    assert declined and text == MESSAGES["decline"]["ko"]


def test_the_marker_counts_only_as_the_whole_opening_of_the_reply() -> None:
    assert says_not_covered(f"{NOT_COVERED} [1]")
    assert not says_not_covered(f"Use kfp [1]. ({NOT_COVERED} for the rest)")
    assert not says_not_covered("NOT_IN")
    text, citations, declined = finalize(
        f"Use kfp [1]. {NOT_COVERED}", SOURCES, retrieval_weak=False, use_docs=True
    )
    assert not declined and len(citations) == 1


def test_without_docs_the_marker_is_just_text() -> None:
    _, _, declined = finalize(NOT_COVERED, SOURCES, retrieval_weak=False, use_docs=False)
    assert not declined


def test_a_stream_is_held_back_only_while_it_could_still_be_the_marker() -> None:
    assert all(may_say_not_covered(p) for p in ("", " ", "*", "N", "NOT_", "**NOT_IN_D"))
    assert may_say_not_covered(NOT_COVERED + " and more")
    assert not any(may_say_not_covered(p) for p in ("No,", "Not all", "NOTE", "Use [1]", "설치"))


def test_cited_answer_with_weak_retrieval_is_kept() -> None:
    _, citations, declined = finalize("It is [1].", SOURCES, retrieval_weak=True, use_docs=True)
    assert not declined and len(citations) == 1


def test_empty_answer_declines() -> None:
    text, _, declined = finalize("  ", SOURCES, retrieval_weak=False, use_docs=True)
    assert declined and text == MESSAGES["empty"]["en"]
    text, _, declined = finalize("", [], retrieval_weak=True, use_docs=True)
    assert declined and text == MESSAGES["decline"]["en"]


def test_without_docs_markers_are_dropped_and_nothing_is_declined() -> None:
    text, citations, declined = finalize(
        "Kubeflow is a platform [1].", SOURCES, retrieval_weak=True, use_docs=False
    )
    assert text == "Kubeflow is a platform." and citations == [] and not declined


def test_unknown_language_falls_back_to_english() -> None:
    text, _, _ = finalize("", SOURCES, retrieval_weak=True, use_docs=True, language="fr")
    assert text == MESSAGES["decline"]["en"]


def test_snippet_is_short_and_cut_at_a_word() -> None:
    assert snippet("a  b\n c") == "a b c"
    long = snippet("word " * 200, limit=50)
    assert len(long) <= 51 and long.endswith("…")


def test_code_blocks_keep_their_spacing() -> None:
    answer = "Run [1]:\n```yaml\nkey:   value  .\n```\nDone [1] ."
    text, _, _ = finalize(answer, SOURCES, retrieval_weak=False, use_docs=True)
    assert "key:   value  .\n" in text
    assert text.endswith("Done [1].")


def test_nearest_links_give_the_best_section_of_each_page() -> None:
    sources = [
        Source(1, "Katib Config", "https://k.org/config/#metrics", "Katib Config › Metrics", ""),
        Source(2, "Katib Config", "https://k.org/config/#other", "Katib Config › Other", ""),
        Source(3, "Backups [beta]", "https://k.org/backup/", "", ""),
        Source(4, "Local page", "docs/local.md", "Local page › Setup", ""),
        Source(5, "Fourth", "https://k.org/fourth/", "", ""),
    ]
    assert nearest_links(sources) == (
        "[Katib Config › Metrics](https://k.org/config/#metrics)"
        " · [Backups beta](https://k.org/backup/)"  # brackets would break the link
        " · Local page › Setup"  # no web address: named, not linked
    )
    assert (
        nearest_links(sources, limit=1) == "[Katib Config › Metrics](https://k.org/config/#metrics)"
    )
    assert nearest_links([]) == ""


def test_nearest_links_encode_what_would_break_a_link_target() -> None:
    source = Source(1, "Wiki", "https://k.org/a_(b) c/#x", "Wiki › X", "")
    assert nearest_links([source]) == "[Wiki › X](https://k.org/a_%28b%29%20c/#x)"
