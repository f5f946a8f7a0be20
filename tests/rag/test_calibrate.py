"""Calibrating the decline thresholds on an operator's own question sets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rag.calibrate import decline_table, declines_at, fit_threshold, format_report
from tests.rag.question_sets import write_question_set

ANSWERABLE = [0.10, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 0.95, 0.99]
UNANSWERABLE = [0.05, 0.12, 0.25, 0.45]
BASE = "https://docs.example.com/"

# ---------------------------------------------------------------- fitting (pure)


def test_the_threshold_declines_at_most_the_allowed_share_of_answerable_questions() -> None:
    fitted = fit_threshold(ANSWERABLE, UNANSWERABLE, 0.10)  # one of ten may be declined
    assert fitted.value == pytest.approx(0.20)  # halfway between 0.10 and 0.30
    assert (fitted.answerable_declined, fitted.answerable) == (1, 10)
    assert (fitted.unanswerable_declined, fitted.unanswerable) == (2, 4)


def test_allowing_no_declines_keeps_every_answerable_question() -> None:
    fitted = fit_threshold(ANSWERABLE, UNANSWERABLE, 0.0)
    assert fitted.value < min(ANSWERABLE)
    assert fitted.answerable_declined == 0 and fitted.unanswerable_declined == 1


def test_a_share_below_one_question_allows_none() -> None:
    assert fit_threshold(ANSWERABLE, [], 0.05).answerable_declined == 0


def test_calibration_needs_answerable_questions_and_a_sane_share() -> None:
    with pytest.raises(ValueError, match="answerable"):
        fit_threshold([], UNANSWERABLE, 0.05)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        fit_threshold(ANSWERABLE, UNANSWERABLE, 1.5)


def test_declines_count_scores_strictly_below_the_threshold() -> None:
    at = declines_at(0.30, ANSWERABLE, UNANSWERABLE)
    assert (at.answerable_declined, at.unanswerable_declined) == (1, 3)


def test_the_table_shows_each_threshold_and_its_neighbours_once() -> None:
    rows = decline_table(ANSWERABLE, UNANSWERABLE, [0.2, 0.2, 0.3], step=0.05)
    assert [r.value for r in rows] == [0.15, 0.2, 0.25, 0.3, 0.35]


def test_the_report_ends_with_the_environment_lines() -> None:
    fitted = fit_threshold(ANSWERABLE, UNANSWERABLE, 0.10)
    reader = fit_threshold(ANSWERABLE, UNANSWERABLE, 0.0)
    table = decline_table(ANSWERABLE, UNANSWERABLE, [fitted.value, reader.value, 0.29, 0.2])
    report = format_report(fitted, reader, table, (0.29, 0.2))
    assert report.splitlines()[-2:] == [
        "DOCBOT_MIN_RELEVANCE=0.200",
        f"DOCBOT_LLM_MIN_RELEVANCE={reader.value:.3f}",
    ]
    assert "1/10 answerable and 2/4 unanswerable questions" in report.splitlines()[0]
    assert any(line.endswith("now") for line in report.splitlines())


# ---------------------------------------------------------------- `docbot calibrate`


CALIBRATION_ROWS = [
    ("a1", "how do I restore a backup?", [BASE + "backup/"]),
    ("a2", "how do i install widgetron with pip", [BASE + "install/"]),
    ("a3", "which discounts apply to widget orders", [BASE + "guide/pricing/"]),
    ("u1", "what is on the cafeteria lunch menu today", []),
    ("u2", "who won the football world cup", []),
]


def write_set(path: Path) -> Path:
    return write_question_set(path, CALIBRATION_ROWS)


@pytest.fixture
def calibrate(
    docbot_on_test_index: Callable[..., tuple[int, str, str]],
) -> Callable[..., tuple[int, str, str]]:
    """`docbot calibrate ARGS` against the shared test index: (exit code, stdout, stderr)."""
    return lambda *args: docbot_on_test_index("calibrate", *args)


def test_calibrate_prints_thresholds_for_the_live_index(
    tmp_path: Path, calibrate: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = calibrate(str(write_set(tmp_path / "mine.jsonl")), "--max-declined", "0")
    assert code == 0, err
    assert out.startswith("5 questions (3 answerable, 2 unanswerable), embedding model ")
    assert "offline answerer: " in out and "0/3 answerable and 2/2 unanswerable" in out
    assert out.splitlines()[-2].startswith("DOCBOT_MIN_RELEVANCE=0.")


def test_calibrate_says_what_is_wrong_with_a_bad_file(
    tmp_path: Path, calibrate: Callable[..., tuple[int, str, str]]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    code, _, err = calibrate(str(bad))
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
