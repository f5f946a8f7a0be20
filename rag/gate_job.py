"""CML Job "train decline model": `docbot train-gate` on the project's labelled question sets.

Run from the project root, by hand after labelling questions (no parent, no schedule):

    python rag/gate_job.py [more train-gate options, e.g. --epochs 3]

It trains on the files DOCBOT_CML_GATE_SETS names (glob patterns separated by
spaces or commas, relative to the project root, e.g. `questions/*.jsonl`: sets
in the `docbot eval` format, such as reviewed drafts of `docbot stats
--draft-questions`), starting from DOCBOT_CML_GATE_BASE_MODEL when set (a
cross-encoder the runtime can download, trained on the job's GPU), with the
thresholds fitted out of fold. The model goes beside the one the bot serves
(DOCBOT_GATE_MODEL, else DATA_DIR/gate) and replaces it only once training and
fitting succeeded, so a failed run leaves the served model as it was; the one
it replaced stays in `<dir>.previous`. An application already serving a model
from that folder serves the new one from its next question (rag.retrieve);
the first time, set DOCBOT_GATE_MODEL for the application and restart it.

Exit status: 0 trained, 2 nothing to train on or a bad option, else train-gate's.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # As a script, sys.path[0] is rag/ itself, whose modules would shadow top-level
    # ones (rag/tokenize.py, rag/keyword.py vs the standard library's): use the project
    # root, before any other import (on Python 3.10, argparse and re import `keyword`).
    sys.path[:1] = [os.path.dirname(os.path.dirname(os.path.realpath(__file__)))]

import argparse
import glob
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from bot.config import Settings  # noqa: E402

STAGED_SUFFIX = ".training"
PREVIOUS_SUFFIX = ".previous"
# Options the job sets itself: where the model goes, and which sets it reads.
RESERVED = ("--out", "--fit-on")


class GateJobError(Exception):
    """Nothing to train on, or an option the job sets itself: one line for the log."""


def question_sets(patterns: str, root: Path) -> list[Path]:
    """The files `patterns` names (relative to `root`, or absolute), each once, in pattern then
    name order.

    A pattern that matches no file is an error rather than a smaller training: it is
    most likely a typo, and a model trained without the sets meant would pass unnoticed."""
    found: dict[Path, None] = {}
    names = [p for p in re.split(r"[\s,]+", patterns) if p]
    if not names:
        raise GateJobError("DOCBOT_CML_GATE_SETS is not set: name the labelled question sets")
    for pattern in names:
        # glob.glob, not Path.glob: an absolute pattern (/home/cdsw/questions/*.jsonl) is fine;
        # recursive, so that `**` still reaches into sub-folders as Path.glob's did
        names_found = glob.glob(pattern, root_dir=root, recursive=True)
        matches = sorted(p for p in map(root.joinpath, names_found) if p.is_file())
        if not matches:
            raise GateJobError(f"DOCBOT_CML_GATE_SETS: {pattern!r} matches no file under {root}")
        found.update(dict.fromkeys(matches))
    return list(found)


def swap_in(staged: Path, target: Path) -> None:
    """Make `staged` the served model; the one it replaces becomes `<target>.previous`."""
    previous = target.with_name(target.name + PREVIOUS_SUFFIX)
    if target.exists():
        shutil.rmtree(previous, ignore_errors=True)
        target.rename(previous)
    staged.rename(target)


def train_gate_args(
    settings: Settings, sets: Sequence[Path], staged: Path, extra: Sequence[str]
) -> list[str]:
    """The `docbot train-gate` command line of this job."""
    reserved = [a for a in extra if a.split("=", 1)[0] in RESERVED]
    if reserved:
        raise GateJobError(f"{reserved[0].split('=', 1)[0]} is set by the job; leave it out")
    base = ["--base-model", settings.cml_gate_base_model] if settings.cml_gate_base_model else []
    return [*map(str, sets), "--out", str(staged), *base, *extra]


def run_gate_job(settings: Settings, extra: Sequence[str] = (), root: Path | None = None) -> int:
    from rag import trained_gate

    sets = question_sets(settings.cml_gate_sets, root or Path.cwd())
    target = trained_gate.gate_dir(settings)
    staged = target.with_name(target.name + STAGED_SUFFIX)
    parser = argparse.ArgumentParser(prog="gate_job")
    trained_gate.register(parser.add_subparsers())
    args = parser.parse_args(["train-gate", *train_gate_args(settings, sets, staged, extra)])
    print(f"gate job: training on {len(sets)} question sets", file=sys.stderr)
    shutil.rmtree(staged, ignore_errors=True)  # a run that died half-way
    try:
        code = trained_gate.run(args, settings, served_as=target)
        if code != 0 or args.estimate:
            return code
        if not (staged / trained_gate.GATE_FILE).is_file():
            print(
                "gate job: train-gate wrote no model; the served one is unchanged", file=sys.stderr
            )
            return 1
        target.parent.mkdir(parents=True, exist_ok=True)
        swap_in(staged, target)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    print(
        f"gate job: the decline model is in {target}; an application serving from there "
        "takes it from its next question (else set DOCBOT_GATE_MODEL and restart it)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    from bot.logs import configure

    settings = configure("gate job")
    try:
        return run_gate_job(settings, sys.argv[1:] if argv is None else argv)
    except GateJobError as exc:
        print(f"gate job: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
