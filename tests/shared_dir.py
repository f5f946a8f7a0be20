"""Where the project's shared material lives (corpus, fixtures, reference, tools).

Beside the checkout (`../shared`), as in the workspace and in CI; a checkout elsewhere
(a fresh clone under /tmp, say) falls back to the workspace's /work/shared, so that the
tests which read the real corpus run there too instead of skipping.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_BESIDE = ROOT.parent / "shared"
SHARED = _BESIDE if _BESIDE.is_dir() else Path("/work/shared")
KUBEFLOW = SHARED / "corpus" / "kubeflow"
FIXTURES = SHARED / "fixtures"
