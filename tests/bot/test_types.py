"""How a source is named everywhere: page title, then its heading path, the title once."""

from __future__ import annotations

from bot.types import section_label


def test_a_heading_path_that_starts_with_the_title_names_it_once() -> None:
    assert section_label("Katib Config", "Katib Config › Early stopping") == (
        "Katib Config › Early stopping"
    )


def test_a_heading_path_without_the_title_gets_it_in_front() -> None:
    assert section_label("Katib", "Installation › On GKE") == "Katib › Installation › On GKE"


def test_a_page_top_is_named_by_its_title_alone() -> None:
    assert section_label("Katib", "Katib") == "Katib"
    assert section_label("Katib", "") == "Katib"


def test_no_title_leaves_the_heading_path() -> None:
    assert section_label("", "Setup › Docker") == "Setup › Docker"
    assert section_label("", "") == ""
