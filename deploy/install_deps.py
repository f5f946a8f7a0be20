"""AMP task: install docbot and its dependencies into the project's Python environment.

Run by the AMP as a session (`.project-metadata.yaml`, first task), from the
project root, which is the repository. CML runtimes ship `cmlapi` and a CUDA
capable Python; pip brings the rest from the package index the workspace uses.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def pip_command(project_root: Path = PROJECT_ROOT, python: str = sys.executable) -> list[str]:
    """`pip install -e <root>`: editable, so a `git pull` in the project needs no reinstall."""
    return [
        python,
        "-m",
        "pip",
        "install",
        "--no-cache-dir",
        "--progress-bar",
        "off",
        "-e",
        str(project_root),
    ]


def main() -> int:
    command = pip_command()
    print("Installing docbot:", " ".join(command), flush=True)
    code = subprocess.call(command, cwd=PROJECT_ROOT)
    if code != 0:
        print(f"pip exited with {code}; see the log above.", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
