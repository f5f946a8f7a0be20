"""Small helpers for tests that run real servers on loopback."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

from aiohttp import web


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(cmd: list[str], log: Path | None = None, **kwargs: object) -> subprocess.Popen[bytes]:
    """Start a process quietly; with `log`, its stderr goes to that file (for diagnosis)."""
    if log is None:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    with open(log, "wb") as err:  # the child keeps its own descriptor
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, **kwargs)  # type: ignore[call-overload]


async def start_app(app: web.Application, **runner_options: Any) -> tuple[web.AppRunner, str]:
    """Serve `app` on a free port of 127.0.0.1: (its runner, to clean up; base URL)."""
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"
