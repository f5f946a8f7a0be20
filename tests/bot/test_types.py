"""How a source is named everywhere: page title, then its heading path, the title once."""

from __future__ import annotations

from bot.types import link_target, section_label


def test_a_heading_path_that_starts_with_the_title_names_it_once() -> None:
    assert section_label("Katib Config", "Katib Config › Early stopping") == (
        "Katib Config › Early stopping"
    )


def test_a_page_whose_first_heading_repeats_its_title_names_it_once() -> None:
    # the page's H1 and an H2 with the same words (Kubeflow's "Katib Experiment Lifecycle")
    section = "Katib Experiment Lifecycle › Katib Experiment Lifecycle"
    assert section_label("Katib Experiment Lifecycle", section) == "Katib Experiment Lifecycle"
    assert section_label("Build", "Build › Build › Select an image") == "Build › Select an image"


def test_a_heading_path_without_the_title_gets_it_in_front() -> None:
    assert section_label("Katib", "Installation › On GKE") == "Katib › Installation › On GKE"


def test_a_page_top_is_named_by_its_title_alone() -> None:
    assert section_label("Katib", "Katib") == "Katib"
    assert section_label("Katib", "") == "Katib"


def test_no_title_leaves_the_heading_path() -> None:
    assert section_label("", "Setup › Docker") == "Setup › Docker"
    assert section_label("", "") == ""


def test_a_link_target_encodes_what_would_end_a_markdown_link_early() -> None:
    assert link_target("https://k.org/a_(b) c/#x") == "https://k.org/a_%28b%29%20c/#x"
    assert link_target("https://k.org/plain/#x") == "https://k.org/plain/#x"
