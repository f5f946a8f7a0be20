"""Runtime choice: match kernel and edition, prefer the session's editor, take the newest."""

from __future__ import annotations

import pytest
from fake_cml import DEFAULT_RUNTIMES

from deploy.runtimes import (
    RuntimeChoiceError,
    RuntimeWant,
    choose_runtime,
    choose_runtimes,
    python_version,
    version_key,
)


def rt(editor: str, kernel: str, edition: str, version: str, status: str = "ENABLED") -> dict:
    return {
        "image_identifier": f"{editor}/{kernel}/{edition}:{version}".replace(" ", "-").lower(),
        "editor": editor,
        "kernel": kernel,
        "edition": edition,
        "full_version": version,
        "status": status,
    }


def test_newest_build_of_the_matching_edition_wins() -> None:
    chosen = choose_runtime(DEFAULT_RUNTIMES, RuntimeWant(edition="Standard"))
    assert chosen.endswith("python3.10-standard:2024.02.1-b4")
    gpu = choose_runtime(DEFAULT_RUNTIMES, RuntimeWant(edition="Nvidia GPU"))
    assert gpu.endswith("python3.10-cuda:2024.02.1-b4")


def test_newer_python_beats_newer_build_and_old_python_is_excluded() -> None:
    runtimes = [
        rt("Workbench", "Python 3.9", "Standard", "2025.01.1-b1"),
        rt("Workbench", "Python 3.10", "Standard", "2025.01.1-b1"),
        rt("Workbench", "Python 3.11", "Standard", "2024.10.1-b12"),
        rt("Workbench", "R 4.3", "Standard", "2025.01.1-b1"),
    ]
    assert "python-3.11" in choose_runtime(runtimes, RuntimeWant())


def test_preferred_editor_comes_first_but_is_not_required() -> None:
    runtimes = [
        rt("JupyterLab", "Python 3.11", "Standard", "2025.01.1-b1"),
        rt("Workbench", "Python 3.11", "Standard", "2024.01.1-b1"),
    ]
    assert choose_runtime(runtimes, RuntimeWant(editor="Workbench")).startswith("workbench/")
    assert choose_runtime(runtimes, RuntimeWant(editor="VS Code")).startswith("jupyterlab/")


def test_disabled_runtimes_are_skipped() -> None:
    runtimes = [
        rt("Workbench", "Python 3.11", "Standard", "2025.01.1-b1", status="DEPRECATED"),
        rt("Workbench", "Python 3.10", "Standard", "2023.01.1-b1"),
    ]
    assert "python-3.10" in choose_runtime(runtimes, RuntimeWant())


def test_no_match_lists_what_is_offered() -> None:
    with pytest.raises(RuntimeChoiceError) as info:
        choose_runtime([rt("Workbench", "Python 3.11", "Standard", "1")], RuntimeWant("Nvidia GPU"))
    message = str(info.value)
    assert "Workbench / Python 3.11 / Standard" in message
    assert "DOCBOT_CML_RUNTIME_ID" in message


def test_configured_id_wins_without_looking() -> None:
    ids = choose_runtimes([], "my/runtime:1", gpus=1, environ={})
    assert (ids.cpu, ids.gpu) == ("my/runtime:1", "my/runtime:1")


def test_gpu_workload_gets_the_gpu_edition_only_when_it_asks_for_gpus() -> None:
    with_gpu = choose_runtimes(DEFAULT_RUNTIMES, "", gpus=1, environ={})
    assert "cuda" in with_gpu.gpu and "standard" in with_gpu.cpu
    without = choose_runtimes(DEFAULT_RUNTIMES, "", gpus=0, environ={})
    assert without.gpu == without.cpu


def test_cpu_workloads_fall_back_to_a_gpu_edition() -> None:
    only_gpu = [r for r in DEFAULT_RUNTIMES if r["edition"] == "Nvidia GPU"]
    ids = choose_runtimes(only_gpu, "", gpus=1, environ={})
    assert ids.cpu == ids.gpu


def test_the_session_kernel_is_preferred() -> None:
    runtimes = [
        rt("JupyterLab", "Python 3.10", "Standard", "2025.01.1-b1"),
        rt("JupyterLab", "Python 3.11", "Standard", "2025.01.1-b1"),
    ]
    env = {"ML_RUNTIME_KERNEL": "Python 3.10", "ML_RUNTIME_EDITOR": "JupyterLab"}
    assert "python-3.10" in choose_runtimes(runtimes, "", gpus=0, environ=env).cpu


def test_version_helpers() -> None:
    assert python_version("Python 3.11") == (3, 11)
    assert python_version("R 4.3") == ()
    assert version_key("2024.02.1-b4") == (2024, 2, 1, 4)
    assert version_key("") == ()


def test_no_gpu_runtime_suggests_indexing_on_cpu() -> None:
    """A workspace without GPU runtimes: pinning a Standard runtime would leave the index
    job asking for a GPU it never gets; the way out is DOCBOT_CML_GPUS=0 (docs/deploy-cml.md)."""
    standard_only = [r for r in DEFAULT_RUNTIMES if r["edition"] == "Standard"]
    with pytest.raises(RuntimeChoiceError, match="DOCBOT_CML_GPUS=0"):
        choose_runtimes(standard_only, "", gpus=1, environ={})
    assert choose_runtimes(standard_only, "", gpus=0, environ={}).gpu  # which then works
