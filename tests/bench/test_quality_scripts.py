"""The scripts that publish answer-quality numbers (docs/benchmarks.md) run on a live index.

They are not timed here; these tests only keep them working as the evaluation API moves
(bench_korean once reported every question as an error, and nobody noticed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import rag.extractive
from bench import (
    bench_answer_terms,
    bench_korean,
    bench_quality,
    compare_quality,
    decline_signals,
    fact_locations,
    used_sections,
)
from bot.config import Settings
from rag.evaluate import load_questions
from rag.generation import Source
from rag.pipeline import Answerer
from rag.retrieve import Retriever

BASE = "https://docs.example.com/"
QUESTIONS = [
    {
        "id": "q1",
        "question": "how do I restore a widget catalog backup",
        "expected_urls": [BASE + "backup/"],
        "expected_anchor": "restore",
        "answer_facts": ["widgetron restore"],
        "kind": "single",
    },
    {
        "id": "u1",
        "question": "what is on the canteen menu today",
        "expected_urls": [],
        "expected_anchor": "",
        "answer_facts": [],
        "kind": "unanswerable",
    },
]
FOLLOWUP = {
    "id": "f1",
    "question": "and restore it?",
    "history": ["how do I back up the widget catalog"],
    "expected_urls": [BASE + "backup/"],
    "expected_anchor": "restore",
    "answer_facts": ["widgetron restore"],
    "kind": "single",
}


@pytest.fixture(scope="module")
def retriever(built_settings: Settings, embedder) -> Retriever:  # noqa: ANN001
    return Retriever(built_settings, embedder)


def source(n: int, page: str, text: str) -> Source:
    return Source(n=n, title="T", url=BASE + page, section="S", text=text, score=0.5)


def write_set(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_bench_korean_evaluates_every_question(retriever: Retriever, tmp_path: Path) -> None:
    path = write_set(tmp_path / "set_questions.jsonl", QUESTIONS)
    metrics = bench_korean.evaluate(retriever, path, top_k=5)
    assert metrics["errors"] == []
    assert metrics["page_recall@1"] == 1.0


def test_bench_quality_records_each_gate_and_compare_finds_no_change(
    retriever: Retriever, tmp_path: Path
) -> None:
    path = write_set(tmp_path / "set_questions.jsonl", [*QUESTIONS, FOLLOWUP])
    metrics = bench_quality.evaluate_set(retriever, path, top_k=5, features=False)
    assert [row["gate"] for row in metrics["per_question"]][1] == "decline"  # the canteen
    assert metrics["per_question"][2]["hit@1"]  # the follow-up, asked with its thread
    report = compare_quality.compare({"set": metrics}, {"set": metrics}, list_changed=True)
    assert "changed: -" in report and "recall@1 2 -> 2" in report


def test_used_sections_lists_answer_sections_never_questions(tmp_path: Path) -> None:
    path = write_set(tmp_path / "set_questions.jsonl", QUESTIONS)
    assert used_sections.used_sections(load_questions(path)) == {(BASE + "backup/", "restore")}


def test_bench_answer_terms_answers_each_set_once_per_weight(
    built_settings: Settings, retriever: Retriever, tmp_path: Path
) -> None:
    path = write_set(tmp_path / "set_questions.jsonl", [*QUESTIONS, FOLLOWUP])
    weight = rag.extractive.QUESTION_TERMS_WEIGHT
    results = bench_answer_terms.run(Answerer(built_settings, retriever), [path], ["0", "1.0"])
    assert rag.extractive.QUESTION_TERMS_WEIGHT == weight  # put back after the run
    by_weight = results["set_questions"]
    assert set(by_weight) == {"0", "1.0"}
    assert set(by_weight["0"]) == {"q1", "f1"}  # answered answerable questions only
    assert by_weight["0"]["q1"] == (1, 1)  # "widgetron restore" quoted
    assert "set_questions" in bench_answer_terms.report(results, ["0", "1.0"])


def test_fact_locations_tells_quoted_from_retrieved_but_unquoted_facts() -> None:
    code = "Run widgetron restore now.\n```\nwidgetron check --deep\n```"
    sources = [source(1, "a/", code), source(2, "b/", "Backups keep 30 days of data.")]
    where = fact_locations.fact_location
    assert where("widgetron restore", "Run widgetron restore now [1].", sources) == "quoted"
    assert where("30 days", "", sources) == "later source / prose sentence"
    assert where("check --deep", "", sources) == "first source / text not considered"
    assert where("canteen", "", sources) == "not in sources"


def test_fact_locations_counts_every_fact_of_the_answered_questions(
    built_settings: Settings, retriever: Retriever, tmp_path: Path
) -> None:
    path = write_set(tmp_path / "set_questions.jsonl", [*QUESTIONS, FOLLOWUP])
    provider = Answerer(built_settings, retriever).extractive
    counts = fact_locations.locate(retriever, provider, load_questions(path), k=5)
    assert counts == {"quoted": 1}  # q1's fact; the canteen has none, the follow-up is skipped
    assert "quoted" in fact_locations.format_counts(counts)


def test_decline_signals_reads_every_signal_off_the_hits_the_bot_would_use(
    retriever: Retriever,
) -> None:
    signals = decline_signals.Signals(retriever, top_k=5)
    answered = signals.of(QUESTIONS[0]["question"], [])
    canteen = signals.of(QUESTIONS[1]["question"], [])
    followup = signals.of(FOLLOWUP["question"], FOLLOWUP["history"])
    assert answered is not None and canteen is not None and followup is not None
    assert set(decline_signals.SIGNALS) | {"relevance", "tokens"} <= set(answered)
    assert answered["tokens"] >= 1
    assert answered["sentence"] > canteen["sentence"]
    assert answered["relevance"] > canteen["relevance"]


def test_decline_signals_blend_and_logistic_on_worked_examples() -> None:
    row = {"relevance": 0.3, "section": 0.5, "sentence": 0.9}
    # the section cosine inside the relevance is replaced by (0.5 + 3 * 0.9) / 4
    assert decline_signals.blended([row], 3.0)[0] == pytest.approx(0.3 - 0.5 + 0.8)
    x = np.array([[0.1], [0.2], [0.3], [0.7], [0.8], [0.9]])
    y = np.array([0, 0, 0, 1, 1, 1])
    w = decline_signals.logistic(x, y)
    assert w[0] > 0 and (x @ w[:-1] + w[-1] > 0).tolist() == [False] * 3 + [True] * 3
    # declines split by question length (keyword tokens): bands <6, 6-8, >=9
    scores = np.array([0.1, 0.5, 0.1, 0.1, 0.5, 0.1])
    labels = np.array([1, 1, 0, 0, 1, 0])
    lengths = np.array([3.0, 7.0, 4.0, 8.0, 12.0, 20.0])
    assert decline_signals.by_length(scores, labels, lengths, 0.3) == (
        "<6: 1/1 ans, 1/1 unans; 6-8: 0/1 ans, 1/1 unans; >=9: 0/1 ans, 1/1 unans"
    )
    # weighted by where the answerable questions are: one short (its band's unanswerable
    # declined 1/1), two long (1/2): 1/3 * 1 + 2/3 * 1/2
    scores = np.array([0.5, 0.1, 0.5, 0.5, 0.1, 0.5])
    labels = np.array([1, 0, 1, 1, 0, 0])
    lengths = np.array([3.0, 4.0, 12.0, 14.0, 15.0, 16.0])
    assert decline_signals.length_matched(scores, labels, lengths, 0.3) == pytest.approx(2 / 3)
    assert decline_signals.sentences("Next steps\nRead the backup guide. Then restore it now.") == [
        "Read the backup guide.",
        "Then restore it now.",
    ]


# ---------------------------------------------------------------- bad input: one line, no traceback


@pytest.fixture
def no_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "no-index"))


def _main(script: object, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    if script is decline_signals:  # reads sys.argv itself
        monkeypatch.setattr("sys.argv", ["decline_signals.py", *argv])
        return decline_signals.main()
    return script.main(argv)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "script", [bench_quality, bench_answer_terms, fact_locations, decline_signals, used_sections]
)
def test_a_missing_question_file_is_named_before_any_work(
    script: object,
    no_index: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "nope_questions.jsonl"
    assert _main(script, [str(missing)], monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: [Errno 2] No such file or directory: '{missing}'"]


def test_decline_signals_without_an_index_says_so(
    no_index: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_set(tmp_path / "set_questions.jsonl", QUESTIONS)
    assert _main(decline_signals, [str(path)], monkeypatch) == 2
    assert "no live index" in capsys.readouterr().err


def test_compare_quality_names_a_missing_or_broken_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, broken = tmp_path / "good.json", tmp_path / "broken.json"
    good.write_text("{}", encoding="utf-8")
    broken.write_text("{not json", encoding="utf-8")
    assert compare_quality.main([str(tmp_path / "nope.json"), str(good)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'nope.json'}: No such file")
    assert compare_quality.main([str(good), str(broken)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {broken}: Expecting property name")
