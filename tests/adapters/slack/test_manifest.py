"""The Slack app manifest asks for exactly what the adapter uses."""

from __future__ import annotations

from pathlib import Path

import yaml

MANIFEST = Path(__file__).resolve().parents[3] / "adapters" / "slack_manifest.yaml"


def test_manifest_matches_the_adapter() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    events = set(settings["event_subscriptions"]["bot_events"])
    assert events == {"app_mention", "message.im", "message.channels", "message.groups"}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    needed = {
        "app_mentions:read",
        "chat:write",
        "commands",
        "im:history",
        "channels:history",
        "groups:history",
        "usergroups:read",
    }
    assert needed <= scopes
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/docbot"
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
