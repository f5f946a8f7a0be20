"""Which files this test process holds open: for tests that a closed resource stays closed."""

from __future__ import annotations

from pathlib import Path

import pytest


def open_files_under(root: Path) -> list[str]:
    """Paths under `root` this process holds open (Linux; skips elsewhere), deleted ones
    marked " (deleted)" as the kernel shows them."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc")
    out = []
    for fd in fds.iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith(str(root)):
            out.append(target)
    return out
