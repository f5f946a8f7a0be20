"""The CML job that trains the decline model on the project's question sets (rag/gate_job.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Settings
from rag.gate_job import (
    GateJobError,
    question_sets,
    run_gate_job,
    swap_in,
    train_gate_args,
)
from rag.trained_gate import GATE_FILE, GateConfig, gate_dir, load_gate
from tests.rag.question_sets import FIT_ROWS, TRAIN_ROWS, write_question_set
from tests.tiny_models import cross_encoder

PACKAGED = Settings().embedding_model
ROOT = Path(__file__).resolve().parents[2]


def touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("{}\n")


# ---------------------------------------------------------------- what it trains on


def test_the_sets_are_glob_patterns_under_the_project_each_file_once(tmp_path: Path) -> None:
    touch(tmp_path, "questions/b.jsonl", "questions/a.jsonl", "extra/c.jsonl", "notes.txt")
    found = question_sets("questions/*.jsonl, extra/c.jsonl questions/a.jsonl", tmp_path)
    assert found == [tmp_path / "questions/a.jsonl", tmp_path / "questions/b.jsonl"] + [
        tmp_path / "extra/c.jsonl"
    ]
    # an absolute pattern names the same files
    assert question_sets(f"{tmp_path}/questions/*.jsonl", Path("/")) == found[:2]
    # `**` reaches into sub-folders, the folder itself included
    touch(tmp_path, "questions/2026/d.jsonl")
    assert question_sets("questions/**/*.jsonl", tmp_path) == [
        tmp_path / "questions/2026/d.jsonl",
        tmp_path / "questions/a.jsonl",
        tmp_path / "questions/b.jsonl",
    ]


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ("", "DOCBOT_CML_GATE_SETS is not set"),
        (" , ", "DOCBOT_CML_GATE_SETS is not set"),
        ("questions/*.jsonl qestions/*.jsonl", "'qestions/\\*.jsonl' matches no file"),
    ],
)
def test_no_sets_or_a_pattern_that_matches_nothing_is_refused(
    tmp_path: Path, patterns: str, message: str
) -> None:
    touch(tmp_path, "questions/a.jsonl")
    with pytest.raises(GateJobError, match=message):
        question_sets(patterns, tmp_path)


def test_the_job_passes_its_base_model_and_keeps_where_the_model_goes(tmp_path: Path) -> None:
    settings = Settings(cml_gate_base_model="cross-encoder/ms-marco-MiniLM-L-12-v2")
    args = train_gate_args(
        settings, [Path("q.jsonl")], tmp_path / "gate.training", ["--epochs", "3"]
    )
    assert args == [
        "q.jsonl",
        "--out",
        str(tmp_path / "gate.training"),
        "--base-model",
        "cross-encoder/ms-marco-MiniLM-L-12-v2",
        "--epochs",
        "3",
    ]
    assert "--base-model" not in train_gate_args(Settings(), [], tmp_path, [])
    for reserved in (["--out", "elsewhere"], ["--out=elsewhere"], ["--fit-on", "x.jsonl"]):
        with pytest.raises(GateJobError, match="is set by the job"):
            train_gate_args(settings, [], tmp_path, reserved)


def test_the_model_goes_where_the_bot_loads_it(tmp_path: Path) -> None:
    assert gate_dir(Settings(data_dir=tmp_path)) == tmp_path / "gate"
    assert gate_dir(Settings(data_dir=tmp_path, gate_model="/models/gate")) == Path("/models/gate")
    assert gate_dir(Settings(gate_model="~/gate")) == Path.home() / "gate"  # as the bot reads it


def test_a_new_model_replaces_the_served_one_which_is_kept_once(tmp_path: Path) -> None:
    target = tmp_path / "gate"
    for generation in ("first", "second", "third"):
        staged = tmp_path / "gate.training"
        staged.mkdir()
        (staged / "weights").write_text(generation)
        swap_in(staged, target)
    assert (target / "weights").read_text() == "third"
    assert (tmp_path / "gate.previous" / "weights").read_text() == "second"
    assert not (tmp_path / "gate.training").exists()


# ---------------------------------------------------------------- end to end, on the test index


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


def test_the_job_trains_fits_and_swaps_in_a_model_the_bot_loads(
    tmp_path: Path,
    built_settings: Settings,
    tiny_base: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = tmp_path / "project"
    (project / "questions").mkdir(parents=True)
    write_question_set(project / "questions" / "one.jsonl", TRAIN_ROWS)
    write_question_set(project / "questions" / "two.jsonl", FIT_ROWS)
    served = tmp_path / "models" / "gate"
    settings = replace(
        built_settings,
        gate_model=str(served),
        cml_gate_sets="questions/*.jsonl",
        cml_gate_base_model=str(tiny_base),
    )
    assert run_gate_job(settings, ["--epochs", "1"], root=project) == 0
    out, err = capsys.readouterr()
    assert "gate job: training on 2 question sets" in err
    assert f"DOCBOT_GATE_MODEL={served}\n" in out and "gate.training" not in out
    assert out.splitlines()[-1].startswith(f"gate job: the decline model is in {served};")
    config = GateConfig.from_json((served / GATE_FILE).read_text())
    assert config.folds == 2 and len(config.trained_on) == 2  # fitted out of fold
    assert config.base_model == str(tiny_base)
    assert load_gate(served, PACKAGED).config == config
    assert not served.with_name("gate.training").exists()

    # a run that fails (a set that is not JSON) leaves the served model alone
    (project / "questions" / "two.jsonl").write_text("not json\n")
    before = (served / GATE_FILE).read_text()
    assert run_gate_job(settings, ["--epochs", "1"], root=project) == 2
    assert (served / GATE_FILE).read_text() == before
    assert not served.with_name("gate.training").exists()
    assert not served.with_name("gate.previous").exists()


def test_the_job_script_runs_as_cml_runs_it(tmp_path: Path) -> None:
    # `python rag/gate_job.py` from the project root: rag/ comes first on sys.path, and its
    # keyword.py / tokenize.py must not shadow the standard library's, even on Python 3.10,
    # which imports them for argparse and re (3.11 may have them loaded at startup already).
    env = {**os.environ, "DOCBOT_DATA_DIR": str(tmp_path)}
    env.pop("DOCBOT_CML_GATE_SETS", None)
    done = subprocess.run(
        [sys.executable, "rag/gate_job.py"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("gate job: DOCBOT_CML_GATE_SETS is not set")
