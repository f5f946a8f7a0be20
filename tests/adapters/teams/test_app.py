"""The real `POST /api/messages` endpoint: JWT checks, the stand-in Bot Connector, startup rules.

Inbound tokens are signed by a locally generated RSA key whose JWKS is served, with the OpenID
metadata, on loopback (`DOCBOT_TEAMS_OPENID_METADATA_URL`). Replies go to a stand-in Bot
Connector at the activity's `serviceUrl`, which records them and checks the bot's bearer token.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.teams import TeamsAdapter, check_startup
from adapters.teams.app import bot_framework_config
from adapters.teams.retry import RetryPolicy
from bot.config import ConfigError, Settings
from bot.core import Bot
from bot.types import ReplyTarget

from .payloads import load_fixture
from .standins import APP_ID, OpenIdIssuer, StandInConnector, StaticTokenCredentialsFactory

PASSWORD = "pa55-w0rd-never-shown"
OUTBOUND_AUDIENCE = "https://api.botframework.com"
FAST_RETRY = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
def issuer() -> Iterator[OpenIdIssuer]:
    server = OpenIdIssuer().start()
    yield server
    server.stop()


@pytest.fixture
async def connector(issuer: OpenIdIssuer) -> AsyncIterator[StandInConnector]:
    def valid(token: str) -> bool:
        try:
            issuer.verify(token, audience=OUTBOUND_AUDIENCE)
        except jwt.PyJWTError:
            return False
        return True

    server = await StandInConnector(check_token=valid).start()
    yield server
    await server.stop()


def settings_for(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"DOCBOT_DATA_DIR": str(tmp_path), **env}, env_file=None)


@pytest.fixture
def settings(tmp_path: Path, issuer: OpenIdIssuer) -> Settings:
    return settings_for(
        tmp_path,
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword=PASSWORD,
        DOCBOT_TEAMS_OPENID_METADATA_URL=issuer.metadata_url,
    )


@pytest.fixture
def docbot(settings: Settings) -> Iterator[Bot]:
    bot = Bot.from_settings(settings)
    yield bot
    bot.store.close()


def outbound_token(issuer: OpenIdIssuer) -> str:
    """What Entra would issue the bot for calling the connector (stand-in: our local key)."""
    now = int(time.time())
    claims = {"aud": OUTBOUND_AUDIENCE, "appid": APP_ID, "iat": now, "exp": now + 3600}
    return jwt.encode(claims, issuer.key, algorithm="RS256")


@pytest.fixture
async def teams(
    docbot: Bot, settings: Settings, issuer: OpenIdIssuer
) -> AsyncIterator[tuple[TeamsAdapter, TestClient]]:
    adapter = TeamsAdapter(
        docbot,
        settings,
        credentials_factory=StaticTokenCredentialsFactory(APP_ID, lambda: outbound_token(issuer)),
        retry_policy=FAST_RETRY,
    )
    app = web.Application()
    app.add_routes(adapter.routes())
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield adapter, client
    await client.close()


def payload(name: str, connector: StandInConnector, **changes: Any) -> dict[str, Any]:
    body = load_fixture(name)
    body["serviceUrl"] = connector.url
    body.update(changes)
    return body


async def post(client: TestClient, body: dict[str, Any], token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post("/api/messages", json=body, headers=headers)


# --------------------------------------------------------------------------- authentication


async def test_valid_token_is_accepted_and_the_answer_goes_to_the_connector(
    teams,
    issuer: OpenIdIssuer,
    connector: StandInConnector,
    docbot: Bot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, client = teams
    body = payload("teams_channel_mention.json", connector)
    with caplog.at_level("DEBUG"):
        response = await post(client, body, issuer.token(service_url=connector.url))
    assert PASSWORD not in caplog.text

    assert response.status == 201
    kinds = [s.activity["type"] for s in connector.sent]
    assert kinds[0] == "typing" and kinds.count("message") == 2
    for sent in connector.sent:
        # reply_to_activity in the channel thread, authenticated with the bot's token
        assert sent.conversation_id == body["conversation"]["id"]
        assert sent.reply_to_id == body["id"]
        assert sent.authorization and sent.authorization.startswith("Bearer ")
    text, card = connector.messages()
    assert "No documentation is indexed yet" in text["text"]
    assert text["channelData"]["feedbackLoop"] == {"type": "default"}
    assert card["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert len(docbot.store.answers()) == 1


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda i, url: i.token(service_url=url, lifetime_s=-600), id="expired"),
        pytest.param(lambda i, url: i.token(service_url=url, audience="other-app"), id="audience"),
        pytest.param(
            lambda i, url: i.token(service_url=url, issuer="https://evil.example"), id="issuer"
        ),
        pytest.param(lambda i, url: i.unsigned_token(service_url=url), id="unsigned"),
        pytest.param(
            lambda i, url: i.token(
                service_url=url, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
            ),
            id="foreign-key",
        ),
        pytest.param(
            lambda i, url: i.token(service_url="https://elsewhere.example/"), id="serviceurl"
        ),
        pytest.param(lambda i, url: "not-a-jwt", id="garbage"),
        pytest.param(lambda i, url: None, id="missing"),
    ],
)
async def test_bad_tokens_are_rejected_with_401_before_the_bot_runs(
    teams, issuer: OpenIdIssuer, connector: StandInConnector, docbot: Bot, forge
) -> None:
    _, client = teams
    token = forge(issuer, connector.url)
    response = await post(client, payload("teams_personal_message.json", connector), token)

    assert response.status == 401
    assert connector.attempts == 0
    assert docbot.store.answers() == []


@contextlib.asynccontextmanager
async def trusting_issuer(
    tmp_path: Path, endorsements: tuple[str, ...]
) -> AsyncIterator[tuple[TestClient, StandInConnector, OpenIdIssuer, Bot]]:
    """A Teams endpoint that trusts a stand-in issuer whose keys are endorsed for
    `endorsements`: (test client, connector, issuer, bot)."""
    issuer = OpenIdIssuer(endorsements=endorsements).start()
    connector = await StandInConnector().start()
    settings = settings_for(
        tmp_path,
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword=PASSWORD,
        DOCBOT_TEAMS_OPENID_METADATA_URL=issuer.metadata_url,
    )
    bot = Bot.from_settings(settings)
    app = web.Application()
    app.add_routes(TeamsAdapter(bot, settings).routes())
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield client, connector, issuer, bot
    finally:
        bot.store.close()
        await connector.stop()
        issuer.stop()


async def test_key_not_endorsed_for_msteams_is_rejected(tmp_path: Path) -> None:
    async with trusting_issuer(tmp_path, ("slack",)) as (client, connector, issuer, _):
        body = payload("teams_personal_message.json", connector)
        response = await post(client, body, issuer.token(service_url=connector.url))
        assert response.status == 401


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"channelId": "webchat"}, id="other-channel"),
        pytest.param({"channelId": ""}, id="empty-channel"),
        pytest.param({"channelId": None}, id="no-channel"),
        pytest.param({"serviceUrl": None}, id="no-serviceurl"),
    ],
)
async def test_only_teams_activities_with_a_service_url_are_accepted(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    # botbuilder checks the key's endorsement against the activity's own channelId (skipped
    # when it is missing) and the `serviceurl` claim only when serviceUrl is present. Bot
    # Framework keys are endorsed for many channels: a Web Chat or Direct Line message (whose
    # client picks its own `from`) must not be answered as Teams, where user ids, the admins'
    # Entra object ids included, are vouched for by Teams.
    async with trusting_issuer(tmp_path, ("msteams", "webchat")) as (
        client,
        connector,
        issuer,
        bot,
    ):
        body = payload("teams_personal_message.json", connector)
        body.update(change)
        body = {key: value for key, value in body.items() if value is not None}
        response = await post(client, body, issuer.token(service_url=connector.url))
        assert response.status == 401
        assert connector.attempts == 0
        assert bot.store.answers() == []


async def test_malformed_requests_get_4xx(teams) -> None:
    _, client = teams
    response = await client.post(
        "/api/messages", data="hello", headers={"Content-Type": "text/plain"}
    )
    assert response.status == 415
    response = await client.post(
        "/api/messages", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    response = await client.post("/api/messages", json={"text": "no type"})
    assert response.status == 400


# --------------------------------------------------------------------------- flows over HTTP


async def test_builtin_feedback_invoke_returns_200_empty_json(
    teams, issuer: OpenIdIssuer, connector: StandInConnector, docbot: Bot
) -> None:
    _, client = teams
    question = payload("teams_personal_message.json", connector)
    assert (await post(client, question, issuer.token(service_url=connector.url))).status == 201
    rated = next(s for s in connector.sent if s.activity.get("channelData"))

    invoke = payload("extra_teams_feedback_submit_action.json", connector, replyToId=rated.id)
    response = await post(client, invoke, issuer.token(service_url=connector.url))

    assert response.status == 200
    assert await response.json() == {}
    assert docbot.store.answers()[0]["feedback"] == "down"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="no-value"),
        pytest.param({"action": {"type": "Action.Submit"}}, id="not-execute"),
        pytest.param({"trigger": "manual"}, id="no-action"),
    ],
)
async def test_a_malformed_adaptive_card_action_invoke_gets_400_not_500(
    teams, issuer: OpenIdIssuer, connector: StandInConnector, value: Any
) -> None:
    # botbuilder answers these with an error response whose value is an `Exception`, which its
    # own serializer cannot write: the client error must not turn into a 500.
    _, client = teams
    body = payload("teams_personal_message.json", connector)
    body.update({"type": "invoke", "name": "adaptiveCard/action", "text": None, "value": value})
    body = {key: item for key, item in body.items() if item is not None}
    response = await post(client, body, issuer.token(service_url=connector.url))

    assert response.status == 400
    error = await response.json()
    assert error["statusCode"] == 400
    assert error["type"] == "application/vnd.microsoft.error"
    assert error["value"]["code"] in ("BadRequest", "NotSupported")
    assert error["value"]["message"]
    assert "Traceback" not in json.dumps(error)


async def test_card_feedback_over_http(
    teams, issuer: OpenIdIssuer, connector: StandInConnector, docbot: Bot
) -> None:
    _, client = teams
    question = payload("teams_personal_message.json", connector)
    await post(client, question, issuer.token(service_url=connector.url))
    card = connector.messages()[-1]["attachments"][0]["content"]
    up = card["actions"][0]["data"]

    submit = payload("teams_personal_message.json", connector, id="9001", text="", value=up)
    response = await post(client, submit, issuer.token(service_url=connector.url))

    assert response.status == 201
    assert connector.messages()[-1]["text"].startswith("Thanks")
    assert docbot.store.answers()[0]["feedback"] == "up"


async def test_welcome_over_http(teams, issuer: OpenIdIssuer, connector: StandInConnector) -> None:
    _, client = teams
    update = payload(
        "teams_personal_message.json",
        connector,
        type="conversationUpdate",
        text=None,
        membersAdded=[{"id": "28:6b1f0e2d-3c4a-4b5e-8f7a-9d0c1b2a3e4f"}],
    )
    response = await post(client, update, issuer.token(service_url=connector.url))
    assert response.status == 201
    (welcome,) = connector.messages()
    assert "/docbot help" in welcome["text"]


async def test_throttled_sends_are_retried(
    teams, issuer: OpenIdIssuer, connector: StandInConnector
) -> None:
    _, client = teams
    # typing (not retried) swallows the first 429; then 429, 502 for the answer text, which
    # must still arrive, followed by its card.
    connector.fail_next = [(429, {}), (429, {"Retry-After": "0"}), (502, {})]
    body = payload("teams_personal_message.json", connector)
    response = await post(client, body, issuer.token(service_url=connector.url))

    assert response.status == 201
    assert len(connector.messages()) == 2
    assert connector.attempts == 5


async def test_a_connector_that_keeps_failing_does_not_crash_the_endpoint(
    teams, issuer: OpenIdIssuer, connector: StandInConnector, docbot: Bot
) -> None:
    _, client = teams
    connector.fail_next = [(429, {})] * 50
    body = payload("teams_personal_message.json", connector)
    response = await post(client, body, issuer.token(service_url=connector.url))
    assert response.status == 201  # the turn failed, but on_turn_error handled it
    # not completed, so the connector's redelivery is answered once the service recovers
    connector.fail_next = []
    again = await post(client, body, issuer.token(service_url=connector.url))
    assert again.status == 201
    assert any("No documentation" in (m.get("text") or "") for m in connector.messages())


async def test_a_partly_delivered_answer_is_not_posted_again_on_redelivery(
    teams, issuer: OpenIdIssuer, connector: StandInConnector
) -> None:
    _, client = teams
    connector.reject = lambda activity: 403 if activity.get("attachments") else None  # the card
    body = payload("teams_personal_message.json", connector)
    await post(client, body, issuer.token(service_url=connector.url))
    texts = [m for m in connector.messages() if "No documentation" in (m.get("text") or "")]
    assert len(texts) == 1

    connector.reject = None
    await post(client, body, issuer.token(service_url=connector.url))
    texts = [m for m in connector.messages() if "No documentation" in (m.get("text") or "")]
    assert len(texts) == 1


async def test_notify_posts_into_the_thread_later(
    teams, issuer: OpenIdIssuer, connector: StandInConnector
) -> None:
    adapter, _ = teams
    body = payload("teams_channel_mention.json", connector)
    from botbuilder.schema import Activity

    from adapters.teams.parse import reply_target

    target = ReplyTarget.from_json(reply_target(Activity().deserialize(body)).to_json())
    await adapter.notify(target, "Re-ingest finished: 214 pages.")

    (sent,) = connector.sent
    assert sent.activity["text"] == "Re-ingest finished: 214 pages."
    assert sent.conversation_id == body["conversation"]["id"]
    assert sent.reply_to_id == body["id"]


# --------------------------------------------------------------------------- startup rules


def test_missing_credentials_refuse_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MicrosoftAppId.*MicrosoftAppPassword"):
        check_startup(settings_for(tmp_path))
    with pytest.raises(ConfigError, match="MicrosoftAppPassword"):
        check_startup(settings_for(tmp_path, MicrosoftAppId=APP_ID))
    with pytest.raises(ConfigError, match="MicrosoftAppTenantId"):
        check_startup(
            settings_for(
                tmp_path,
                MicrosoftAppId=APP_ID,
                MicrosoftAppPassword=PASSWORD,
                MicrosoftAppType="SingleTenant",
            )
        )
    with pytest.raises(ConfigError, match="MicrosoftAppType"):
        check_startup(settings_for(tmp_path, MicrosoftAppId=APP_ID, MicrosoftAppType="Weird"))
    check_startup(settings_for(tmp_path, MicrosoftAppId=APP_ID, MicrosoftAppPassword=PASSWORD))
    check_startup(
        settings_for(
            tmp_path,
            MicrosoftAppId=APP_ID,
            MicrosoftAppType="UserAssignedMSI",
            MicrosoftAppTenantId="tenant",
        )
    )


def test_the_password_never_shows(tmp_path: Path) -> None:
    config = bot_framework_config(
        settings_for(tmp_path, MicrosoftAppId=APP_ID, MicrosoftAppPassword=PASSWORD)
    )
    assert config.APP_PASSWORD == PASSWORD  # botbuilder needs it...
    assert PASSWORD not in repr(config)  # ...logs and tracebacks don't


async def test_emulator_mode_needs_loopback_and_works_without_credentials(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, DOCBOT_TEAMS_EMULATOR="1")
    check_startup(settings)
    bot = Bot.from_settings(settings)
    connector = await StandInConnector().start()
    try:
        with caplog.at_level("WARNING"):
            adapter = TeamsAdapter(bot, settings)
        assert adapter.requires_loopback is True
        assert "127.0.0.1" in caplog.text and "emulator" in caplog.text
        app = web.Application()
        app.add_routes(adapter.routes())
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            body = payload("teams_personal_message.json", connector)
            response = await post(client, body, token=None)
            assert response.status == 201
        assert connector.messages()
        assert all(s.authorization is None for s in connector.sent)  # anonymous both ways
    finally:
        bot.store.close()
        await connector.stop()


def test_production_mode_does_not_require_loopback(settings: Settings, docbot: Bot) -> None:
    assert TeamsAdapter(docbot, settings).requires_loopback is False


def test_routes_mount_post_api_messages(settings: Settings, docbot: Bot) -> None:
    (route,) = TeamsAdapter(docbot, settings).routes()
    assert (route.method, route.path) == ("POST", "/api/messages")
    assert json.dumps(route.kwargs) == "{}"
