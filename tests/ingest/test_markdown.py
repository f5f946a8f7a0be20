"""Markdown pages to sections: front matter, shortcodes, code fences, Hugo anchors."""

from __future__ import annotations

import re

import pytest

from ingest.markdown import parse_markdown, parse_text, slugify
from tests.shared_dir import KUBEFLOW


def anchors(text: str) -> list[str]:
    return [s.anchor for s in parse_markdown(text, "https://docs.example.com/p/").sections]


def test_yaml_front_matter_gives_title_description_and_date() -> None:
    page = parse_markdown(
        '---\ntitle: "Install Guide"\ndescription: How to install it.\ndate: 2024-03-05T10:00:00Z\n---\n\nIntro text here.\n',
        "https://docs.example.com/install/",
    )
    assert page.title == "Install Guide"
    assert page.last_modified == "2024-03-05"
    assert page.sections[0].anchor == ""
    assert page.sections[0].text.startswith("How to install it.")
    assert "Intro text here." in page.sections[0].text


def test_toml_front_matter() -> None:
    page = parse_markdown(
        '+++\ntitle = "Katib Overview"\ndescription = "What Katib is"\nlastmod = "2023-11-02"\nweight = 10\n+++\n\n## Why Katib\n\nBecause.\n',
        "u",
    )
    assert page.title == "Katib Overview"
    assert page.last_modified == "2023-11-02"
    assert page.sections[0].text == "What Katib is"
    assert page.sections[1].anchor == "why-katib"


def test_lastmod_wins_over_date_and_the_file_date_is_the_fallback() -> None:
    assert (
        parse_markdown(
            "---\ntitle: A\ndate: 2020-01-01\nlastmod: 2021-02-02\n---\nx\n", "u"
        ).last_modified
        == "2021-02-02"
    )
    assert (
        parse_markdown("# A\n\ntext\n", "u", last_modified="2022-03-03").last_modified
        == "2022-03-03"
    )


def test_a_leading_h1_is_the_title() -> None:
    page = parse_markdown("# Backing up\n\nBack up nightly.\n\n## Restore\n\nRestore it.\n", "u")
    assert page.title == "Backing up"
    assert [s.heading_path for s in page.sections] == [["Backing up"], ["Backing up", "Restore"]]


def test_without_any_title_the_url_names_the_page() -> None:
    assert parse_markdown("Just text.\n", "https://docs.example.com/setup/").title == "setup"


def test_hugo_shortcodes_are_removed_but_their_content_kept() -> None:
    page = parse_markdown(
        '---\ntitle: T\n---\n{{% alert title="Note" color="info" %}}\nKeep this sentence.\n{{% /alert %}}\n{{< figure src="a.png" >}}\n',
        "u",
    )
    text = page.sections[0].text
    assert "Keep this sentence." in text
    assert "{{" not in text and "alert" not in text and "figure" not in text


def test_a_hash_inside_a_code_fence_is_not_a_heading() -> None:
    page = parse_markdown(
        "---\ntitle: T\n---\n## Install\n\n```bash\n# install the package\npip install kfp\n```\n\n~~~\n## not a heading either\n~~~\n\n## Next\n\nnext\n",
        "u",
    )
    assert [s.anchor for s in page.sections] == ["install", "next"]
    assert "# install the package" in page.sections[0].text
    assert "## not a heading either" in page.sections[0].text


def test_heading_paths_follow_the_levels() -> None:
    page = parse_markdown("---\ntitle: Guide\n---\n## A\n\na\n\n### A1\n\na1\n\n## B\n\nb\n", "u")
    assert [s.heading_path for s in page.sections] == [
        ["Guide", "A"],
        ["Guide", "A", "A1"],
        ["Guide", "B"],
    ]


def test_links_and_html_are_reduced_to_their_text() -> None:
    page = parse_markdown(
        '---\ntitle: T\n---\nSee [the guide](../guide/ "Guide") and <b>bold</b> text.\n', "u"
    )
    assert page.sections[0].text == "See the guide and bold text."


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Getting Started", "getting-started"),
        ("What is Katib ?", "what-is-katib"),
        ("Upgrading to v2.0", "upgrading-to-v2-0"),
        ("4. Input/Output (I/O) Specification", "4-input-output-i-o-specification"),
        ("Run a component's Python function", "run-a-component-s-python-function"),
        ("**dsl.If** / **dsl.Elif** / **dsl.Else**", "dsl-if-dsl-elif-dsl-else"),
        ("`base_image`", "base-image"),
        ("The [kfp](https://kubeflow.org) SDK", "the-kfp-sdk"),
        ("설치 방법", "설치-방법"),
        ("Katib 설치하기", "katib-설치하기"),
    ],
)
def test_anchors_as_the_site_derives_them(heading: str, anchor: str) -> None:
    assert slugify(heading) == anchor
    assert anchors(f"---\ntitle: T\n---\n## {heading}\n\nbody\n") == [anchor]


def test_duplicate_headings_repeat_the_id_as_the_site_does() -> None:
    # The rendered site gives two "Arguments" headings the same id; a "-1" would not exist there.
    text = "---\ntitle: T\n---\n## Setup\n\na\n\n## Setup\n\nb\n"
    assert anchors(text) == ["setup", "setup"]


def test_h5_and_h6_stay_inside_their_section() -> None:
    page = parse_markdown(
        "---\ntitle: T\n---\n## Install\n\nintro\n\n##### Minor note\n\ndetail\n", "u"
    )
    assert [s.anchor for s in page.sections] == ["install"]
    assert "Minor note" in page.sections[0].text and "detail" in page.sections[0].text


def test_a_custom_id_wins() -> None:
    assert anchors("---\ntitle: T\n---\n## Installing things {#install}\n\nbody\n") == ["install"]
    page = parse_markdown("---\ntitle: T\n---\n## Installing things {#install}\n\nbody\n", "u")
    assert page.sections[0].heading_path == ["T", "Installing things"]


def test_headings_with_nothing_under_them_are_dropped() -> None:
    page = parse_markdown("---\ntitle: T\n---\n## Empty\n\n## Full\n\ncontent\n", "u")
    assert [s.anchor for s in page.sections] == ["full"]


def test_windows_line_endings() -> None:
    page = parse_markdown("---\r\ntitle: T\r\n---\r\n## A\r\n\r\nbody\r\n", "u")
    assert page.title == "T" and page.sections[0].anchor == "a"


def test_plain_text_is_one_section_titled_by_its_first_line() -> None:
    page = parse_text("Release notes\n\nVersion 2 fixes bugs.\n", "notes.txt")
    assert page.title == "Release notes"
    assert len(page.sections) == 1 and "Version 2" in page.sections[0].text
    assert parse_text("   ", "empty.txt").sections == []


# The rendered site's heading ids (h2-h4) are the ground truth for citations.
SITE_PAGES = [
    "components/katib/overview",
    "components/notebooks/overview",
    "components/pipelines/concepts/component",
    "components/pipelines/user-guides/core-functions/control-flow",
    "components/pipelines/user-guides/components/lightweight-python-components",
    "components/pipelines/legacy-v1/installation/upgrade",
    "components/pipelines/legacy-v1/sdk/manipulate-resources",
    "components/pipelines/operator-guides/installation/_index",
    "about/contributing",
    "kubeflow-distribution/releases/kubeflow-1.10",
]
# Where this site's renderer differs from Hugo/CommonMark, not from us: it ignores
# `{#custom}` ids, closes a ``` fence with ````, misses a heading inside a list item,
# and gives an in-body H1 no id.
SITE_QUIRKS = {
    "components/pipelines/legacy-v1/installation/standalone-deployment",
    "components/pipelines/legacy-v1/sdk/pipelines-with-tekton",
    "components/pipelines/user-guides/core-functions/connect-api",
    "genai/use-cases",
}


def site_ids(rel: str) -> set[str] | None:
    page_dir = rel[: -len("_index")] if rel.endswith("_index") else rel + "/"
    html = KUBEFLOW / "site" / "docs" / page_dir / "index.html"
    if not html.is_file():
        return None
    return set(re.findall(r'id="([^"]+)"', html.read_text(encoding="utf-8")))


def produced_anchors(rel: str) -> list[str]:
    md = KUBEFLOW / "md" / f"{rel}.md"
    return [
        s.anchor for s in parse_markdown(md.read_text(encoding="utf-8"), "u").sections if s.anchor
    ]


@pytest.mark.skipif(not KUBEFLOW.is_dir(), reason="the shared Kubeflow corpus is not here")
@pytest.mark.parametrize("rel", SITE_PAGES)
def test_every_anchor_exists_on_the_rendered_site(rel: str) -> None:
    ids = site_ids(rel)
    assert ids is not None
    produced = produced_anchors(rel)
    assert produced, "the page should have headed sections"
    assert [a for a in produced if a not in ids] == []


@pytest.mark.skipif(not KUBEFLOW.is_dir(), reason="the shared Kubeflow corpus is not here")
def test_anchors_match_the_site_across_the_whole_corpus() -> None:
    checked = 0
    wrong: dict[str, list[str]] = {}
    for md in sorted((KUBEFLOW / "md").rglob("*.md")):
        rel = md.relative_to(KUBEFLOW / "md").as_posix()[: -len(".md")]
        ids = site_ids(rel)
        if ids is None or rel in SITE_QUIRKS:
            continue
        produced = produced_anchors(rel)
        checked += len(produced)
        missing = [a for a in produced if a not in ids]
        if missing:
            wrong[rel] = missing
    assert checked > 800
    assert wrong == {}


def test_soft_wrapped_prose_is_joined_but_code_lists_and_tables_keep_their_lines() -> None:
    text = (
        "---\ntitle: T\n---\n## Install\n\n"
        "Install the package\nwith pip and then\nrun init.\n\n"
        "- first item\n- second item\n\n"
        "| a | b |\n| - | - |\n\n"
        "```\nline one\nline two\n```\n"
    )
    body = parse_markdown(text, "u").sections[0].text
    assert "Install the package with pip and then run init." in body
    assert "- first item\n- second item" in body
    assert "| a | b |\n| - | - |" in body
    assert "line one\nline two" in body


def test_placeholders_in_code_are_kept_not_taken_for_html_tags() -> None:
    # The site shows `<namespace>` in code literally; dropping it leaves a broken command.
    text = (
        "---\ntitle: T\n---\n## Port-forward\n\n"
        "Run `kfp --endpoint <ENDPOINT>` or see <b>this</b> [guide](g/).\n\n"
        "```bash\nkubectl -n <your-namespace> get pods\ncat <<EOF > a.yaml\nx[0](y)\n```\n"
    )
    body = parse_markdown(text, "u").sections[0].text
    assert "`kfp --endpoint <ENDPOINT>`" in body
    assert "kubectl -n <your-namespace> get pods" in body
    assert "cat <<EOF > a.yaml" in body
    assert "x[0](y)" in body  # code, not a link
    assert "see this guide." in body  # prose is still cleaned
    heading = parse_markdown("---\ntitle: T\n---\n## The `<name>` field\n\nx\n", "u").sections[0]
    assert heading.anchor == "the-name-field"


def test_reference_links_are_reduced_to_their_text_and_definitions_dropped() -> None:
    # Link definitions are not rendered; left in, they pile up in the page's last section.
    text = (
        "---\ntitle: T\n---\n## Install\n\n"
        "Read the [kubectl guide][kubectl] and [Register][10].\n\n"
        "## Next steps\n\nSee the [overview][].\n\n"
        '[kubectl]: https://kubernetes.io/docs/tasks/tools/\n[10]: https://zoom.example/m?p=1 "Zoom"\n'
        "[overview]: /docs/overview\n"
    )
    page = parse_markdown(text, "u")
    assert [s.text for s in page.sections] == [
        "Read the kubectl guide and Register.",
        "See the overview.",
    ]


def test_brackets_without_a_link_definition_stay_as_written() -> None:
    # `[x][y]` is a link only when the page defines `[y]:`; otherwise the site shows it
    # literally, as in an index expression. Labels match case- and space-insensitively.
    text = (
        "---\ntitle: T\n---\n## Math\n\n"
        "Set a[0][1] = 5 and b[i][j] in the formula.\n\n"
        "See the [Kubectl  Guide][] and the [API][Api   Ref], not [this][nowhere].\n\n"
        "[kubectl guide]: https://kubernetes.io/docs/\n[API REF]: /docs/api\n"
    )
    assert [s.text for s in parse_markdown(text, "u").sections] == [
        "Set a[0][1] = 5 and b[i][j] in the formula.\n\n"
        "See the Kubectl  Guide and the API, not [this][nowhere]."
    ]


def test_a_definition_line_continuing_a_paragraph_is_text() -> None:
    # A link reference definition cannot interrupt a paragraph: the site shows the line.
    text = "---\ntitle: T\n---\n## Keys\n\nThe config maps\n[key]: value\n\nUse [the key][key].\n"
    assert [s.text for s in parse_markdown(text, "u").sections] == [
        "The config maps [key]: value\n\nUse [the key][key]."
    ]


def test_a_table_without_outer_pipes_keeps_one_row_a_line() -> None:
    # GFM rows need no leading '|'; joined as prose, the table became one line of soup.
    text = (
        "---\ntitle: T\n---\n## Images\n\n"
        "Dockerfile | Registry | Notes\n--- | --- | ---\n"
        "`./jupyter` | `ghcr.io/jupyter` | JupyterLab\n`./rstudio` | `ghcr.io/rstudio` | RStudio\n\n"
        "Pick one\nof them.\n"
    )
    body = parse_markdown(text, "u").sections[0].text
    assert body == (
        "Dockerfile | Registry | Notes\n--- | --- | ---\n"
        "`./jupyter` | `ghcr.io/jupyter` | JupyterLab\n`./rstudio` | `ghcr.io/rstudio` | RStudio\n\n"
        "Pick one of them."
    )


@pytest.mark.parametrize(
    "front", ["---\ntitle: WIP\ndraft: true\n---", '+++\ntitle = "WIP"\ndraft = true\n+++']
)
def test_a_draft_page_gives_no_sections_as_the_site_does_not_publish_it(front: str) -> None:
    # Hugo leaves drafts out of the built site: a citation of one would be a 404.
    assert parse_markdown(f"{front}\n## Plan\n\nNot yet.\n", "u").sections == []
    published = front.replace("true", "false")
    assert parse_markdown(f"{published}\n## Plan\n\nNot yet.\n", "u").sections
