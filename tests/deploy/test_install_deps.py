"""The AMP's dependency install task (the command only; pip is never run here)."""

from __future__ import annotations

from pathlib import Path

from deploy.install_deps import PROJECT_ROOT, pip_command


def test_installs_the_repository_editable_with_the_running_python() -> None:
    command = pip_command(Path("/home/cdsw"), python="/usr/local/bin/python3")
    assert command[:4] == ["/usr/local/bin/python3", "-m", "pip", "install"]
    assert command[-2:] == ["-e", "/home/cdsw"]


def test_project_root_is_the_repository() -> None:
    assert (PROJECT_ROOT / "pyproject.toml").is_file()
    assert (PROJECT_ROOT / ".project-metadata.yaml").is_file()
