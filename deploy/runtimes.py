"""Choosing a CML ML Runtime: pure functions over `list_runtimes` answers.

Taking `runtimes[0]` (as the seed lab did) is brittle: the order is not
specified. Instead we match editor, kernel and edition, keep enabled runtimes
on Python >= 3.10 (docbot's floor), and take the newest. A configured runtime
id (DOCBOT_CML_RUNTIME_ID) wins over all of that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GPU_EDITION = "Nvidia GPU"
STANDARD_EDITION = "Standard"
MIN_PYTHON = (3, 10)


class RuntimeChoiceError(ValueError):
    """No runtime matches; the message lists what the workspace offers."""


@dataclass(frozen=True)
class RuntimeWant:
    """What a workload needs. `kernel` matches as a prefix ("Python 3" matches "Python 3.11")."""

    edition: str = STANDARD_EDITION
    kernel: str = "Python 3"
    editor: str = ""  # preferred, not required: any editor runs a job or an application

    @classmethod
    def from_session(cls, environ: Mapping[str, str], gpu: bool) -> RuntimeWant:
        """Prefer the runtime of the current CML session (ML_RUNTIME_* metadata) when there is one."""
        kernel = environ.get("ML_RUNTIME_KERNEL", "").strip() or "Python 3"
        editor = environ.get("ML_RUNTIME_EDITOR", "").strip()
        return cls(edition=GPU_EDITION if gpu else STANDARD_EDITION, kernel=kernel, editor=editor)


def python_version(kernel: str) -> tuple[int, ...]:
    """(3, 11) from "Python 3.11"; () when the kernel is not Python."""
    match = re.match(r"\s*python\s*(\d+)(?:\.(\d+))?", kernel, re.IGNORECASE)
    if not match:
        return ()
    return tuple(int(part) for part in match.groups() if part is not None)


def version_key(full_version: str) -> tuple[int, ...]:
    """Sortable key for "2024.02.1-b4" -> (2024, 2, 1, 4)."""
    return tuple(int(n) for n in re.findall(r"\d+", full_version or ""))


def _matches(runtime: Mapping[str, Any], want: RuntimeWant) -> bool:
    status = str(runtime.get("status") or "ENABLED").upper()
    if status != "ENABLED":
        return False
    kernel = str(runtime.get("kernel") or "")
    if not kernel.lower().startswith(want.kernel.lower()):
        return False
    version = python_version(kernel)
    if version and version < MIN_PYTHON:
        return False
    return str(runtime.get("edition") or "").lower() == want.edition.lower()


def choose_runtime(runtimes: Iterable[Mapping[str, Any]], want: RuntimeWant) -> str:
    """The `image_identifier` of the best match: preferred editor, newest Python, newest build."""
    candidates = [r for r in runtimes if r.get("image_identifier") and _matches(r, want)]
    if not candidates:
        raise RuntimeChoiceError(describe_missing(runtimes, want))

    def rank(runtime: Mapping[str, Any]) -> tuple[Any, ...]:
        editor_match = bool(want.editor) and str(runtime.get("editor") or "") == want.editor
        return (
            editor_match,
            python_version(str(runtime.get("kernel") or "")),
            version_key(str(runtime.get("full_version") or "")),
            str(runtime["image_identifier"]),
        )

    return str(max(candidates, key=rank)["image_identifier"])


def describe_missing(runtimes: Iterable[Mapping[str, Any]], want: RuntimeWant) -> str:
    offered = sorted(
        {
            f"{r.get('editor', '?')} / {r.get('kernel', '?')} / {r.get('edition', '?')}"
            for r in runtimes
        }
    )
    shown = "; ".join(offered[:10]) or "none"
    return (
        f"No enabled CML runtime with kernel {want.kernel}* (Python >= 3.10) and edition "
        f"{want.edition!r}. Offered: {shown}. Set DOCBOT_CML_RUNTIME_ID to an image identifier."
    )


@dataclass(frozen=True)
class RuntimeIds:
    """Runtime image identifiers per workload: CPU (scrape job, application) and GPU (index job)."""

    cpu: str
    gpu: str


def choose_runtimes(
    runtimes: Iterable[Mapping[str, Any]],
    configured_id: str,
    gpus: int,
    environ: Mapping[str, str],
) -> RuntimeIds:
    """Runtimes for docbot's workloads.

    A configured id is used everywhere. The GPU workload needs an "Nvidia GPU"
    edition only when it asks for GPUs; a CPU workload falls back to a GPU
    edition runtime (they run CPU code fine) when no Standard one matches.
    """
    if configured_id:
        return RuntimeIds(cpu=configured_id, gpu=configured_id)
    runtimes = list(runtimes)
    try:
        cpu = choose_runtime(runtimes, RuntimeWant.from_session(environ, gpu=False))
    except RuntimeChoiceError:
        cpu = choose_runtime(runtimes, RuntimeWant.from_session(environ, gpu=True))
    if gpus <= 0:
        return RuntimeIds(cpu=cpu, gpu=cpu)
    try:
        gpu = choose_runtime(runtimes, RuntimeWant.from_session(environ, gpu=True))
    except RuntimeChoiceError as exc:
        # Pinning a Standard runtime would leave the GPU request unmet: name the real way out.
        raise RuntimeChoiceError(
            f"{exc} On a workspace without GPUs, set DOCBOT_CML_GPUS=0 to index on CPU."
        ) from None
    return RuntimeIds(cpu=cpu, gpu=gpu)
