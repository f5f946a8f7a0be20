"""The /docbot command grammar (pure): what is a command, what is a question."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import COMMANDS, Command, CommandError, addressed_command, parse_command


@pytest.mark.parametrize(
    "text", ["/docbot status", "docbot status", "Docbot: status", "  docbot,  STATUS "]
)
def test_status_with_or_without_the_slash(text: str) -> None:
    assert parse_command(text) == Command("status")


def test_a_platform_slash_command_gives_only_the_arguments() -> None:
    # Slack's /docbot and Teams' command menu pass "status" with is_command=True
    assert parse_command("status", is_command=True) == Command("status")
    assert parse_command("model claude", is_command=True) == Command("model", "claude")


def test_bare_docbot_or_slash_docbot_is_help() -> None:
    assert parse_command("docbot") == Command("help")
    assert parse_command("/docbot") == Command("help")
    assert parse_command("", is_command=True) == Command("help")


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("temp 0.5", "temperature"),
        ("lang ko", "language"),
        ("?", "help"),
        ("ingest", "reingest"),
        ("models", "model"),
    ],
)
def test_aliases(alias: str, name: str) -> None:
    parsed = parse_command(f"docbot {alias}")
    assert isinstance(parsed, Command) and parsed.name == name


def test_a_question_starting_with_docbot_is_a_question() -> None:
    assert parse_command("docbot how do I install?") is None
    assert parse_command("docbot, what is a pipeline?") is None


def test_text_without_the_prefix_is_a_question() -> None:
    assert parse_command("status of my pipeline?") is None
    assert parse_command("how do I reset my password") is None


def test_with_the_slash_an_unknown_word_is_an_error_not_a_question() -> None:
    assert parse_command("/docbot frobnicate") == CommandError(
        "unknown_command", {"command": "frobnicate"}
    )
    assert parse_command("frobnicate", is_command=True) == CommandError(
        "unknown_command", {"command": "frobnicate"}
    )


def test_setting_values_are_normalised() -> None:
    assert parse_command("docbot rag OFF") == Command("rag", "off")
    assert parse_command("docbot rag yes") == Command("rag", "on")
    assert parse_command("docbot temperature 0,7") == Command("temperature", "0.7")
    assert parse_command("docbot temperature 1") == Command("temperature", "1")
    assert parse_command("docbot length LONG") == Command("length", "long")
    assert parse_command("docbot language KO") == Command("language", "ko")
    assert parse_command("docbot model Claude") == Command("model", "claude")
    assert parse_command("docbot model") == Command("model", "")


def test_a_trailing_channel_changes_the_scope() -> None:
    assert parse_command("docbot model bedrock channel") == Command(
        "model", "bedrock", channel_scope=True
    )
    assert parse_command("/docbot rag off --channel") == Command("rag", "off", channel_scope=True)
    assert parse_command("docbot rag off") == Command("rag", "off", channel_scope=False)


@pytest.mark.parametrize("name", ["help", "status", "reingest", "stats"])
def test_a_trailing_channel_on_a_command_without_settings_is_ignored(name: str) -> None:
    # `channel` only means something for the settings commands and `reset` (docs/commands.md)
    assert parse_command(f"/docbot {name} channel") == Command(name)


def test_reset_channel_keeps_its_scope() -> None:
    assert parse_command("docbot reset channel") == Command("reset", channel_scope=True)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("docbot rag maybe", "rag"),
        ("docbot rag", "rag"),
        ("docbot temperature 1.5", "temperature"),
        ("docbot temperature -0.1", "temperature"),
        ("docbot temperature hot", "temperature"),
        ("docbot temperature nan", "temperature"),
        ("docbot temperature", "temperature"),
        ("docbot length huge", "length"),
        ("docbot language fr", "language"),
    ],
)
def test_every_bad_value_is_a_command_error_naming_the_command(text: str, command: str) -> None:
    parsed = parse_command(text)
    assert isinstance(parsed, CommandError)
    assert parsed.key == "bad_value"
    assert parsed.params["command"] == command
    assert parsed.params["expected"]


def test_a_missing_value_is_reported_as_nothing() -> None:
    parsed = parse_command("docbot length")
    assert isinstance(parsed, CommandError) and parsed.params["value"] == "(nothing)"


@pytest.mark.parametrize(
    ("text", "expected", "value"),
    [
        ("docbot temperature 5", "0에서 1 사이의 숫자", "5"),
        ("docbot rag", "`on`, `off` 중 하나의", "(없음)"),
        ("docbot length huge", "`short`, `medium`, `long` 중 하나의", "huge"),
    ],
)
def test_a_bad_value_in_korean_describes_the_expected_value_in_korean(
    text: str, expected: str, value: str
) -> None:
    parsed = parse_command(text, lang="ko")
    assert isinstance(parsed, CommandError) and parsed.key == "bad_value"
    assert (parsed.params["expected"], parsed.params["value"]) == (expected, value)


def test_a_bad_value_in_english_lists_the_choices_with_or() -> None:
    parsed = parse_command("docbot length huge")
    assert isinstance(parsed, CommandError)
    assert parsed.params["expected"] == "`short`, `medium` or `long`"
    parsed = parse_command("docbot rag maybe")
    assert isinstance(parsed, CommandError) and parsed.params["expected"] == "`on` or `off`"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_word_parses(name: str) -> None:
    values = {
        "model": " bedrock",
        "rag": " on",
        "temperature": " 0.3",
        "length": " short",
        "language": " en",
    }
    parsed = parse_command(f"/docbot {name}{values.get(name, '')}")
    assert isinstance(parsed, Command) and parsed.name == name


@settings(max_examples=300, deadline=None)
@given(text=st.text(), is_command=st.booleans())
def test_parse_command_never_raises_on_arbitrary_text(text: str, is_command: bool) -> None:
    parsed = parse_command(text, is_command=is_command)
    assert parsed is None or isinstance(parsed, (Command, CommandError))


@settings(max_examples=200, deadline=None)
@given(rest=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_anything_after_docbot_never_raises(rest: str) -> None:
    parsed = parse_command("docbot " + rest)
    assert parsed is None or isinstance(parsed, (Command, CommandError))


@pytest.mark.parametrize(
    ("after_mention", "read_as"),
    [
        ("help", "docbot help"),
        (" STATUS ", "docbot STATUS"),
        ("?", "docbot ?"),
        ("rag off", "docbot rag off"),
        ("length short channel", "docbot length short channel"),
        ("docbot status", "docbot status"),  # the long form is already a command
        ("help me configure the object store", "help me configure the object store"),
        ("status of the v2 migration", "status of the v2 migration"),
        ("model registry?", "model registry?"),  # a question mark makes it a question
        ("how do I install katib", "how do I install katib"),
        ("", ""),
    ],
)
def test_after_a_leading_mention_exactly_a_command_is_the_command(
    after_mention: str, read_as: str
) -> None:
    assert addressed_command(after_mention) == read_as
