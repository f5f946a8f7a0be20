"""Secrets stay out of what people see: CLI errors, chat replies, logs, job output.

Each test puts a recognisable fake secret where an operator would configure it,
drives the real code path to a failure, and looks for the secret in everything
that came out.
"""

from __future__ import annotations

import asyncio
import io
import logging
import traceback
from pathlib import Path

import pytest

from bot.config import Settings
from bot.logs import setup_logging

STATE_PASSWORD = "SEKRET%zzstatepw"  # malformed percent-encoding: libpq echoes it back
URL_PASSWORD = "SEKRETurlpw"
URL_TOKEN = "SEKRETurltoken"
RESPONSE_URL_PART = "SEKRETresponseurlpart"


def _no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked into: {text}"


# ---- DOCBOT_STATE_URL: psycopg errors echo the connection URL -------------------------------


def test_a_state_url_password_stays_out_of_the_cli_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("psycopg")
    from bot import cli

    monkeypatch.setattr("bot.logs.setup_logging", lambda *a, **k: None)
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOCBOT_STATE_URL", f"postgresql://docbot:{STATE_PASSWORD}@127.0.0.1:1/db")
    code = cli.main(["--env-file", str(tmp_path / "none.env"), "stats"])
    err = capsys.readouterr().err
    assert code == 1 and "stats failed" in err
    _no_secret(err, STATE_PASSWORD, "SEKRET")


def test_a_state_url_password_stays_out_of_the_cml_application_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("psycopg")
    from bot import cml_app

    monkeypatch.setattr("bot.logs.setup_logging", lambda *a, **k: None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCBOT_HOST", "127.0.0.1")
    monkeypatch.setenv("DOCBOT_SLACK_MODE", "socket")
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOCBOT_STATE_URL", f"postgresql://docbot:{STATE_PASSWORD}@127.0.0.1:1/db")
    with pytest.raises(Exception) as info:  # what CML prints in the application's log
        cml_app.main()
    _no_secret("".join(traceback.format_exception(info.value)), STATE_PASSWORD, "SEKRET")


# ---- ingest source URLs: aiohttp and the SSRF guard put the URL in their messages -----------


async def _malformed_server() -> tuple[asyncio.AbstractServer, int]:
    """robots.txt: 404 (allow all); anything else: a response aiohttp cannot parse."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        if b" /robots.txt " in request:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("bad", ["malformed response", "invalid port"])
async def test_ingest_url_credentials_stay_out_of_reingest_progress_and_logs(
    tmp_path: Path, bad: str
) -> None:
    from bot.reingest import plan_reingest

    server, port = await _malformed_server()
    if bad == "invalid port":
        port = 99999
    source = f"http://bob:{URL_PASSWORD}@127.0.0.1:{port}/sitemap.xml?token={URL_TOKEN}"
    settings = Settings.from_env(
        {
            "DOCBOT_DATA_DIR": str(tmp_path / "data"),
            "DOCBOT_INGEST_SOURCE": source,
            "DOCBOT_INGEST_ALLOW_PRIVATE": "true",
        },
        env_file=None,
    )
    stream = io.StringIO()
    setup_logging(settings, stream=stream)
    posted: list[str] = []

    async def say(text: str) -> None:
        posted.append(text)

    job = plan_reingest(settings)
    assert job is not None
    try:
        await job(say)
    finally:
        server.close()
    assert any("failed" in text for text in posted), posted
    _no_secret("\n".join(posted) + stream.getvalue(), URL_PASSWORD, URL_TOKEN)


# ---- Slack response_url (a capability URL) in the SDK's debug log ---------------------------


@pytest.mark.usefixtures("restore_logging")
async def test_a_slash_command_response_url_stays_out_of_debug_logs(tmp_path: Path) -> None:
    import urllib.parse

    from adapters.slack.app import SlackAdapter
    from adapters.slack.stand_in import SlackStandIn
    from bot.core import Bot
    from tests.adapters.slack.support import fixture_bytes, make_settings

    stand_in = await SlackStandIn().start()
    settings = make_settings(
        tmp_path,
        stand_in,
        DOCBOT_SLACK_MODE="socket",
        SLACK_SIGNING_SECRET="",
        DOCBOT_LOG_LEVEL="debug",
    )
    stream = io.StringIO()
    setup_logging(settings, stream=stream)
    adapter = SlackAdapter(Bot.from_settings(settings), settings)
    await adapter.start()
    try:
        form = dict(urllib.parse.parse_qsl(fixture_bytes("slack_slash_command.txt").decode()))
        form.update(
            {
                "command": "/docbot",
                "text": "help",
                "response_url": f"https://hooks.slack.com/commands/T0AB12CDE/1/{RESPONSE_URL_PART}",
            }
        )
        await stand_in.send_envelope(
            {"envelope_id": "env-1", "type": "slash_commands", "payload": form}
        )
        await stand_in.wait_ack("env-1")
        await adapter.drain()
    finally:
        await adapter.close()
        await stand_in.close()
    out = stream.getvalue()
    assert "env-1" in out  # the SDK did log the envelope at debug level
    _no_secret(out, RESPONSE_URL_PART, "xoxb-test-not-real", "xapp-test-not-real")


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    "text",
    [
        # as Slack's JSON escapes it, and as the SDK's repr() of that JSON shows it
        '"response_url":"https:\\/\\/hooks.slack.com\\/commands\\/T0\\/1\\/SEKRETresponseurlpart"',
        'data: \'{"response_url":"https:\\\\/\\\\/hooks.slack.com\\\\/actions\\\\/T0\\\\/1\\\\/SEKRETresponseurlpart"}\'',
        "body: {'ok': True, 'url': 'wss://wss-primary.slack.com/link/?ticket=SEKRETresponseurlpart&app_id=A1'}",
    ],
)
def test_slack_capability_urls_are_redacted_in_any_log_line(text: str) -> None:
    settings = Settings.from_env({}, env_file=None)
    stream = io.StringIO()
    setup_logging(settings, stream=stream)
    logging.getLogger("slack_sdk.test").warning("Received message (%s)", text)
    _no_secret(stream.getvalue(), RESPONSE_URL_PART)


async def test_the_sitemap_fan_out_error_does_not_quote_the_source_url_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ingest import sources
    from ingest.fetch import Fetcher

    monkeypatch.setattr(sources, "MAX_SITEMAPS", 0)
    url = f"https://bob:{URL_PASSWORD}@docs.example.com/sitemap.xml?token={URL_TOKEN}"
    async with Fetcher() as fetcher:
        with pytest.raises(sources.SourceError) as info:
            await sources.read_sitemap(url, fetcher)
    assert "more than 0 sitemaps" in str(info.value)
    _no_secret(str(info.value), URL_PASSWORD, URL_TOKEN)
