"""Fixtures shared by the Teams adapter tests."""

from __future__ import annotations

import pytest
from botbuilder.schema import Activity

from .payloads import activity_from


@pytest.fixture
def personal() -> Activity:
    return activity_from("teams_personal_message.json")


@pytest.fixture
def channel_mention() -> Activity:
    return activity_from("teams_channel_mention.json")


@pytest.fixture
def builtin_feedback() -> Activity:
    return activity_from("extra_teams_feedback_submit_action.json")
