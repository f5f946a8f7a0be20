"""The shared Teams payload fixtures as botbuilder activities."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from botbuilder.schema import Activity

# Copies of shared/fixtures/teams_*.json, so the tests run from a bare checkout.
FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def activity_from(name: str, **changes: Any) -> Activity:
    """A fixture as a botbuilder `Activity`, with top-level JSON keys replaced by `changes`."""
    data = copy.deepcopy(load_fixture(name))
    data.update(changes)
    return Activity().deserialize(data)
