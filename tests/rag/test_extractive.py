"""The offline answerer: best sentences of the sources, in source order, each cited."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rag.chunking import is_navigation
from rag.extractive import (
    MAX_DETAIL_LINES,
    Block,
    Passage,
    compose,
    prefilter,
    render_detail,
    select_passages,
    select_sentences,
    split_blocks,
    split_passages,
    split_sentences,
    term_share,
)
from rag.generation import Source


def source(n: int, text: str) -> Source:
    return Source(n=n, title=f"T{n}", url=f"https://d/{n}/", section=f"S{n}", text=text, score=0.5)


def axis_embed(word: str) -> Callable[[list[str]], np.ndarray]:
    """A stand-in embedding: one axis for texts that contain `word`, one for everything else."""

    def embed(texts: list[str]) -> np.ndarray:
        return np.array([[1.0, 0.0] if word in t.lower() else [0.0, 1.0] for t in texts])

    return embed


def test_split_sentences_drops_code_tables_and_fragments() -> None:
    text = (
        "Install the package with pip before you start.\n"
        "```bash\npip install widgetron --upgrade now please\n```\n"
        "| a | b | c |\n"
        "Short.\n"
        "- Run widgetron init to create the configuration file."
    )
    assert split_sentences(text) == [
        "Install the package with pip before you start.",
        "Run widgetron init to create the configuration file.",
    ]


def test_prefilter_keeps_candidates_sharing_most_words() -> None:
    cands = [(0, 0, "nothing in common here"), (0, 1, "restore a backup"), (1, 0, "backup")]
    kept = prefilter({"restore", "backup"}, cands, 2)
    assert kept == [(0, 1, "restore a backup"), (1, 0, "backup")]


def test_select_sentences_prefers_similar_ones_and_keeps_source_order() -> None:
    sources = [
        source(1, "Widgets come in sixteen colours for every taste."),
        source(2, "Restore a backup with widgetron restore while the server is stopped."),
    ]
    embed = axis_embed("restore")
    picked = select_sentences({"restore"}, np.array([1.0, 0.0]), sources, embed, 1)
    assert picked == [(2, sources[1].text)]
    both = select_sentences({"restore"}, np.array([1.0, 0.0]), sources, embed, 2)
    assert [n for n, _ in both] == [1, 2]  # source order, not score order


def test_term_share_weighs_the_question_words_a_passage_holds() -> None:
    weight = {"createpvc": 4.0, "volume": 1.0}.get
    assert term_share({"createpvc", "volume"}, {"volume", "size"}, lambda w: weight(w, 0.0)) == 0.2
    assert term_share({"createpvc", "volume"}, {"createpvc"}, lambda w: weight(w, 0.0)) == 0.8
    assert term_share(set(), {"createpvc"}, lambda w: 1.0) == 0.0


def test_a_sentence_holding_the_questions_rare_word_beats_one_merely_on_topic() -> None:
    # The stand-in embedding finds both sentences equally close; the docs' rare word decides.
    sources = [
        source(1, "Volumes keep data between the steps of a pipeline run."),
        source(2, "Call CreatePVC to provision a volume when the run starts."),
    ]
    question_words = {"createpvc", "volume", "run"}
    idf = {"createpvc": 6.0, "volume": 1.0, "run": 0.5}.get

    def flat(texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 2)) / np.sqrt(2)

    picked = select_passages(
        question_words,
        np.array([1.0, 1.0]) / np.sqrt(2),
        sources,
        flat,
        1,
        term_weight=lambda w: idf(w, 1.0),
    )
    assert [n for n, _ in picked] == [2]


def test_compose_cites_every_sentence() -> None:
    assert compose([(1, "Do this."), (2, "Then that?")]) == "Do this [1]. Then that? [2]"


def test_compose_shows_raw_markdown_reference_links_and_rules_as_text() -> None:
    # a docs page whose Markdown the site left unrendered (the KFP migration guide)
    raw = (
        "--- ##### **output_component_file parameter** In KFP SDK v2, components can be "
        "[compiled][compile] to and [loaded][load] from [IR YAML][ir-yaml] like pipelines."
    )
    assert compose([(3, raw)]) == (
        "**output_component_file parameter** In KFP SDK v2, components can be "
        "compiled to and loaded from IR YAML like pipelines [3]."
    )
    # indexing is no link, in code or out of it
    indexed = "Read m[0][1] or `m[0][1]` and [`@dsl.component`][dsl-component] here."
    assert compose([(1, indexed)]) == ("Read m[0][1] or `m[0][1]` and `@dsl.component` here [1].")


def test_compose_puts_code_the_page_cleaner_left_on_its_fence_lines_inside_the_block() -> None:
    # flattened by the page cleaner: code on the opening fence line, a closing fence at the
    # end of a code line; Markdown would hide "epoch 1" as the fence's info string, and the
    # answer's next sentence would run into the code block the stray closer reopens
    lead = Passage(
        "Your training code should print the following output:",
        "```shell epoch 1: loss=0.3\n\nepoch 2: loss=0.1 ```\n\n5. Then restart:\n```",
    )
    assert compose([(1, lead), (2, Passage("It takes a minute."))]) == (
        "Your training code should print the following output [1]:\n"
        "```shell\nepoch 1: loss=0.3\n\nepoch 2: loss=0.1\n```\n\n"
        "It takes a minute [2]."
    )
    code = Passage("Import the SDK:", "``` import kubeflow.katib as katib\n```")
    assert compose([(1, code)]) == "Import the SDK [1]:\n```\nimport kubeflow.katib as katib\n```"
    fine = Passage("Run:", "```bash\nkubectl get pods\n```")
    assert compose([(1, fine)]) == "Run [1]:\n```bash\nkubectl get pods\n```"


def test_split_blocks_tells_prose_lists_code_and_table_rows_apart() -> None:
    text = (
        "Set these variables:\n\n"
        "- `DB_USER` as root\n\n"
        "- `DB_PASSWORD` as test\n"
        "  (from the secret)\n\n"
        "Variable: DB_HOST; Default Value: katib-mysql\n\n"
        "Variable: DB_PORT; Default Value: 3306\n\n"
        "Then run:\n"
        "```shell\nkubectl apply -k .\n```\n"
        "Done here."
    )
    assert split_blocks(text) == [
        Block("prose", ("Set these variables:",)),
        Block("list", ("- `DB_USER` as root", "- `DB_PASSWORD` as test", "  (from the secret)")),
        Block(
            "rows",
            (
                "Variable: DB_HOST; Default Value: katib-mysql",
                "Variable: DB_PORT; Default Value: 3306",
            ),
        ),
        Block("prose", ("Then run:",)),
        Block("code", ("```shell", "kubectl apply -k .")),
        Block("prose", ("Done here.",)),
    ]


def test_a_code_fence_the_chunker_cut_off_runs_to_the_end_of_the_section() -> None:
    text = "Create a profile like this one:\n```yaml\nkind: Profile\n## the name is the namespace"
    assert split_blocks(text)[-1] == Block(
        "code", ("```yaml", "kind: Profile", "## the name is the namespace")
    )
    # the YAML comment is code, not a sentence of the answer
    assert [p.sentence for p in split_passages(text)] == ["Create a profile like this one:"]


def test_a_sentence_introducing_a_list_or_code_carries_it_as_its_detail() -> None:
    text = (
        "For the Katib MySQL you need to set these environment variables:\n"
        "- `MYSQL_ROOT_PASSWORD` from katib-mysql-secrets\n"
        "- `MYSQL_DATABASE` as `katib`\n\n"
        "You can access Katib UI standalone without the dashboard. For that, port-forward it:\n"
        "```shell\nkubectl port-forward svc/katib-ui -n kubeflow 8080:80\n```"
    )
    passages = split_passages(text)
    assert passages[0] == Passage(
        "For the Katib MySQL you need to set these environment variables:",
        "- `MYSQL_ROOT_PASSWORD` from katib-mysql-secrets\n- `MYSQL_DATABASE` as `katib`",
    )
    # the list items are candidates on their own too
    assert [p.sentence for p in passages[1:3]] == [
        "`MYSQL_ROOT_PASSWORD` from katib-mysql-secrets",
        "`MYSQL_DATABASE` as `katib`",
    ]
    # a short lead-in ("For that, …:") is joined to the sentence it refers to
    assert passages[-1] == Passage(
        "You can access Katib UI standalone without the dashboard. For that, port-forward it:",
        "```shell\nkubectl port-forward svc/katib-ui -n kubeflow 8080:80\n```",
    )


def test_a_colon_before_more_prose_is_no_lead_in() -> None:
    passages = split_passages("The algorithm works as follows:\n\nIt samples trials at random.")
    assert all(not p.detail for p in passages)


def test_flattened_table_rows_are_sentences_markdown_ones_are_not() -> None:
    text = "Dependency: Istio; Validated Version: 1.16.0\n| Release | 1.7 |\n|---|---|"
    assert split_sentences(text) == ["Dependency: Istio; Validated Version: 1.16.0"]


def test_render_detail_cuts_long_blocks_and_keeps_fences_closed() -> None:
    code = Block("code", ("```python", *[f"line_{i} = {i}" for i in range(40)]))
    shown = render_detail(code).splitlines()
    assert shown[0] == "```python" and shown[-1] == "```" and shown[-2] == "…"
    assert len(shown) == MAX_DETAIL_LINES + 3
    rows = Block("rows", ("| Name | Port |", "|---|---|", "| api | 8888 |"))
    assert render_detail(rows) == "- | Name | Port |\n- | api | 8888 |"


def test_a_picked_lead_in_brings_its_list_and_its_items_are_not_repeated() -> None:
    text = (
        "To restore a server you need these steps:\n"
        "- stop the restore target first\n"
        "- run the restore command\n\n"
        "Widgets come in sixteen colours for every taste."
    )
    picked = select_passages(
        {"restore"}, np.array([1.0, 0.0]), [source(1, text)], axis_embed("restore"), 3, details=1
    )
    assert [p.sentence for _, p in picked] == [
        "To restore a server you need these steps:",
        "Widgets come in sixteen colours for every taste.",
    ]
    assert picked[0][1].detail == "- stop the restore target first\n- run the restore command"


def test_lead_ins_beyond_the_detail_budget_are_skipped_not_shown_bare() -> None:
    text = (
        "To restore a server run these commands:\n```\nrestore --all\n```\n"
        "Restoring takes a minute for each gigabyte of data."
    )
    picked = select_passages(
        {"restore"}, np.array([1.0, 0.0]), [source(1, text)], axis_embed("restor"), 2, details=0
    )
    assert [p.sentence for _, p in picked] == [
        "Restoring takes a minute for each gigabyte of data."
    ]


def test_sentences_about_the_page_lose_to_sentences_about_the_subject() -> None:
    text = "Follow this guide to restore a server.\nA restore replaces the data directory."
    picked = select_passages(
        {"restore"}, np.array([1.0, 0.0]), [source(1, text)], axis_embed("restore"), 1
    )
    assert [p.sentence for _, p in picked] == ["A restore replaces the data directory."]


def test_compose_puts_a_detail_under_its_cited_lead_in() -> None:
    picked = [
        (1, Passage("Set these variables:", "- `A` as 1\n- `B` as 2")),
        (2, Passage("Then restart the pod.")),
        (2, Passage("It takes a minute.")),
    ]
    assert compose(picked) == (
        "Set these variables [1]:\n- `A` as 1\n- `B` as 2\n\n"
        "Then restart the pod [2]. It takes a minute [2]."
    )


def test_captions_and_description_lines_are_no_sentences() -> None:
    """Alt text, captions and a page's description line stand alone without a sentence end."""
    text = (
        "Early Stopping overview for Katib Experiments\n\n"
        "Early stopping ends trials whose metric no longer improves.\n\n"
        "Trials view with early stopping\n\n"
        "Run `kubectl get trials -n kubeflow`\n\n"
        "The trial list shows which trials were stopped early and why they stopped"
    )
    assert split_sentences(text) == [
        "Early stopping ends trials whose metric no longer improves.",
        "Run `kubectl get trials -n kubeflow`",  # ends in code: a statement, kept
        "The trial list shows which trials were stopped early and why they stopped",  # long
    ]


def test_sections_that_only_point_elsewhere_are_not_answered_from() -> None:
    nav = Source(
        n=1,
        title="Early stopping",
        url="https://d/1/#next-steps",
        section="Early stopping › Next steps",
        text="- How to restore an experiment and use the resume policies.",
        score=0.9,
    )
    body = source(2, "A restore replays the experiment from its last checkpoint.")
    picked = select_passages(
        {"restore"}, np.array([1.0, 0.0]), [nav, body], axis_embed("restore"), 2
    )
    assert [(n, p.sentence) for n, p in picked] == [
        (2, "A restore replays the experiment from its last checkpoint.")
    ]
    assert is_navigation("Katib › See also") and is_navigation("Katib › What's next")
    assert not is_navigation("Katib › Next steps for admins")


def test_emphasis_opening_a_list_item_stays_whole() -> None:
    """A bullet's "- " goes, the "**" of "**Slack:**" stays: Slack would show stray stars."""
    text = "- **Slack:** type `/docbot help` in any channel the bot is in.\n- *Teams:* type help."
    assert (
        split_sentences(text)[0] == "**Slack:** type `/docbot help` in any channel the bot is in."
    )
