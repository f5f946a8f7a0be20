"""End to end on a real docs corpus: `docbot ingest` a slice of the Kubeflow docs under
their public URL, then `docbot ask` cites the right canonical page, or declines."""

from __future__ import annotations

import io
import json
import logging
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bot.cli import main
from tests.shared_dir import KUBEFLOW

BASE = "https://www.kubeflow.org/docs/"
SLICE = [  # about 30 pages: Katib user guides, Notebooks, Pipelines core functions
    "components/katib/user-guides/*.md",
    "components/notebooks/*.md",
    "components/pipelines/user-guides/core-functions/*.md",
]
QUESTIONS = {
    "how does katib kill off the bad trials early? what rule does it use": "components/katib/user-guides/early-stopping/",
    "how do i install katib so it uses postgres instead of mysql": "components/katib/user-guides/installation-options/",
    "can i rerun a katib experiment that already finished and keep the suggestion state around?": "components/katib/user-guides/resume-experiment/",
    "steps to spin up a new jupyter server in kubeflow?": "components/notebooks/quickstart-guide/",
    "turn off caching for just one step in my kfp pipeline": "components/pipelines/user-guides/core-functions/caching/",
    "need a cleanup step that always runs even when the pipeline fails, like try/finally": "components/pipelines/user-guides/core-functions/control-flow/",
}
OFF_TOPIC = ["What is the capital of Australia?", "how do I bake sourdough bread?"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not KUBEFLOW.is_dir(), reason="the shared Kubeflow corpus is not here"),
]


def canonical_urls() -> set[str]:
    lines = (KUBEFLOW / "site" / "pages.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return {line.split("\t")[1] for line in lines if line.strip()}


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("e2e")
    corpus = root / "md"
    for pattern in SLICE:
        for path in (KUBEFLOW / "md").glob(pattern):
            target = corpus / path.relative_to(KUBEFLOW / "md")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    mp = pytest.MonkeyPatch()
    logging_state = (list(logging.getLogger().handlers), logging.getLogger().level)
    mp.setenv("DOCBOT_DATA_DIR", str(root / "data"))
    mp.chdir(root)
    out = io.StringIO()
    try:
        mp.setattr(sys, "stdout", out)
        assert (
            main(
                [
                    "--env-file",
                    "absent.env",
                    "ingest",
                    "--path",
                    str(corpus),
                    "--base-url",
                    BASE,
                    "--json",
                ]
            )
            == 0
        )
        summary = json.loads(out.getvalue())
        assert 25 <= summary["index"]["pages"] <= 35
        out.seek(0)
        out.truncate()
        mp.setattr(sys, "stdin", io.StringIO("\n".join([*QUESTIONS, *OFF_TOPIC]) + "\n"))
        assert main(["--env-file", "absent.env", "ask", "--jsonl"]) == 0
        yield {a["question"]: a for a in map(json.loads, out.getvalue().splitlines())}
    finally:
        mp.undo()
        root_logger = logging.getLogger()
        for h in list(root_logger.handlers):
            root_logger.removeHandler(h)
        for h in logging_state[0]:
            root_logger.addHandler(h)
        root_logger.setLevel(logging_state[1])


@pytest.mark.parametrize("question", list(QUESTIONS))
def test_a_clear_question_cites_the_right_page(
    answers: dict[str, dict[str, Any]], question: str
) -> None:
    answer = answers[question]
    assert answer["declined"] is False
    assert answer["citations"], answer
    first_page = answer["citations"][0]["url"].split("#")[0]
    assert first_page == BASE + QUESTIONS[question]
    assert first_page in canonical_urls()
    assert "[1]" in answer["answer"]


def test_citations_point_at_sections(answers: dict[str, dict[str, Any]]) -> None:
    anchored = [c["url"] for a in answers.values() for c in a["citations"] if "#" in c["url"]]
    assert len(anchored) >= len(QUESTIONS)


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_an_off_topic_question_is_declined(
    answers: dict[str, dict[str, Any]], question: str
) -> None:
    answer = answers[question]
    assert answer["declined"] is True and answer["citations"] == []
