"""Logging: configured secrets and token-shaped strings never reach a log line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.config import Settings
from bot.logs import REDACTED, setup_logging

BOT_TOKEN = "xoxb-0000-1111-configuredsecret"
PASSWORD = "teams-password-value-456"


def configure(fmt: str = "text") -> io.StringIO:
    settings = Settings.from_env(
        {"SLACK_BOT_TOKEN": BOT_TOKEN, "MicrosoftAppPassword": PASSWORD, "DOCBOT_LOG_FORMAT": fmt},
        env_file=None,
    )
    stream = io.StringIO()
    setup_logging(settings, stream=stream)
    return stream


@pytest.mark.usefixtures("restore_logging")
def test_configured_secrets_are_redacted_in_messages_and_arguments() -> None:
    stream = configure()
    log = logging.getLogger("docbot.test")
    log.warning("token is %s", BOT_TOKEN)
    log.warning(f"password {PASSWORD} leaked")
    out = stream.getvalue()
    assert BOT_TOKEN not in out and PASSWORD not in out
    assert out.count(REDACTED) == 2


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    "token",
    [
        "xoxb-9999-8888-notconfigured",
        "xapp-1-A0123-abcdefgh",
        "AKIAABCDEFGHIJKLMNOP",
        "Bearer abcdefghijklmnopqrstuvwxyz.123",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    ],
)
def test_token_shaped_strings_are_redacted_even_when_not_configured(token: str) -> None:
    stream = configure()
    logging.getLogger("docbot.test").error("user pasted %s into a question", token)
    out = stream.getvalue()
    assert token not in out and REDACTED in out


@pytest.mark.usefixtures("restore_logging")
def test_secrets_in_exception_tracebacks_are_redacted() -> None:
    stream = configure()
    try:
        raise RuntimeError(f"auth failed with {BOT_TOKEN} and AKIAABCDEFGHIJKLMNOP")
    except RuntimeError:
        logging.getLogger("docbot.test").exception("call failed")
    out = stream.getvalue()
    assert "Traceback" in out and "RuntimeError" in out
    assert BOT_TOKEN not in out and "AKIAABCDEFGHIJKLMNOP" not in out


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_parse_and_carry_the_extras() -> None:
    stream = configure("json")
    log = logging.getLogger("docbot.test")
    log.info("answered in %d ms", 42, extra={"platform": "slack", "latency_ms": 42})
    try:
        raise ValueError(f"bad {PASSWORD}")
    except ValueError:
        log.exception("failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    assert lines[0]["message"] == "answered in 42 ms"
    assert (
        lines[0]["level"] == "info"
        and lines[0]["platform"] == "slack"
        and lines[0]["latency_ms"] == 42
    )
    assert lines[0]["ts"].endswith("Z")
    assert "ValueError" in lines[1]["exception"] and PASSWORD not in lines[1]["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_the_level_is_applied() -> None:
    stream = configure()
    logging.getLogger("docbot.test").debug("not shown")
    assert stream.getvalue() == ""
