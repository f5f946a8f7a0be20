"""The offline answerer: relevant sentences of the sources, each cited."""

from __future__ import annotations

import re

from rag.embeddings import Embedder
from rag.extractive import ExtractiveProvider, compose, prefilter, split_sentences
from rag.generation import GenerationRequest, Source

SOURCES = [
    Source(
        n=1,
        title="Installing Widgetron",
        url="https://docs.example.com/install/#install-with-pip",
        section="Installing Widgetron › Install with pip",
        text=(
            "Install the package with pip install widgetron, then run widgetron init to create the configuration file. "
            "The init command asks for the database address. It writes widgetron.yaml in the current folder.\n\n"
            "```bash\npip install widgetron\n```"
        ),
    ),
    Source(
        n=2,
        title="Backing up",
        url="https://docs.example.com/backup/#restore",
        section="Backing up › Restore",
        text="Restore a backup with widgetron restore FILE. The server must be stopped while the restore runs.",
    ),
    Source(
        n=3,
        title="Pricing",
        url="https://docs.example.com/pricing/",
        section="Pricing",
        text="Customers who order more than one hundred widgets get a volume discount of ten percent.",
    ),
]


def request(
    question: str, length: str = "medium", sources: list[Source] | None = None
) -> GenerationRequest:
    return GenerationRequest(
        question=question, sources=SOURCES if sources is None else sources, length=length
    )


def test_split_sentences_drops_code_table_rows_and_fragments() -> None:
    text = (
        "Katib tunes hyperparameters automatically for you. It supports many algorithms.\n"
        "```python\nimport kfp\nkfp.Client()\n```\n"
        "| Algorithm | Supported | Notes |\n"
        "| --- | --- | --- |\n"
        "- Bayesian optimization is the default choice here.\n"
        "Short one."
    )
    sentences = split_sentences(text)
    assert sentences == [
        "Katib tunes hyperparameters automatically for you.",
        "It supports many algorithms.",
        "Bayesian optimization is the default choice here.",
    ]


def test_very_long_sentences_are_cut_at_a_word() -> None:
    [sentence] = split_sentences("word " * 200)
    assert len(sentence) <= 401 and sentence.endswith("…")


def test_prefilter_keeps_candidates_sharing_words() -> None:
    candidates = [(0, i, f"unrelated sentence number {i}") for i in range(5)] + [
        (1, 0, "install widgetron with pip")
    ]
    kept = prefilter({"install", "widgetron"}, candidates, 2)
    assert (1, 0, "install widgetron with pip") in kept and len(kept) == 2


def test_compose_closes_each_sentence_with_its_marker() -> None:
    assert compose([(1, "Run init."), (2, "Is it stopped?")]) == "Run init [1]. Is it stopped? [2]"


def test_an_answer_cites_the_right_sources(embedder: Embedder) -> None:
    provider = ExtractiveProvider(lambda: embedder)
    text = provider.answer_text(request("How do I restore a backup?"))
    assert "[2]" in text
    assert "restore" in text.lower()
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", text)}
    assert markers <= {1, 2, 3}
    assert "pip install widgetron\n" not in text  # code is never quoted as prose


def test_short_answers_are_shorter_than_long_ones(embedder: Embedder) -> None:
    provider = ExtractiveProvider(lambda: embedder)
    short = provider.answer_text(request("How do I install widgetron?", "short"))
    long = provider.answer_text(request("How do I install widgetron?", "long"))
    assert len(re.findall(r"\[\d\]", short)) == 2
    assert len(re.findall(r"\[\d\]", long)) > 2
    assert len(short) < len(long)
    assert short.index("[1]") >= 0  # the install section leads


def test_no_sources_gives_no_text(embedder: Embedder) -> None:
    assert ExtractiveProvider(lambda: embedder).answer_text(request("anything", sources=[])) == ""


def test_code_only_sources_point_at_the_best_section(embedder: Embedder) -> None:
    code = Source(
        n=1, title="CLI", url="u", section="CLI › Flags", text="```\nwidgetron --help\n```"
    )
    text = ExtractiveProvider(lambda: embedder).answer_text(request("flags?", sources=[code]))
    assert text == "The section “CLI › Flags” covers this [1]."


async def test_generate_streams_the_whole_answer_once(embedder: Embedder) -> None:
    provider = ExtractiveProvider(lambda: embedder)
    parts = [part async for part in provider.generate(request("restore a backup"))]
    assert len(parts) == 1 and "[2]" in parts[0]
