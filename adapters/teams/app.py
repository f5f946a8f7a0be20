"""The Teams transport: `POST /api/messages` on docbot's aiohttp server.

botbuilder's `CloudAdapter` with `ConfigurationBotFrameworkAuthentication` validates the
channel's JWT (issuer, audience = our app id, expiry, signature from the OpenID metadata's JWKS,
`msteams` endorsement, `serviceurl` claim). Two hardening steps on top of botbuilder:

- botbuilder treats an empty app id as "authentication disabled" and accepts anonymous
  requests. `check_startup` refuses that unless `DOCBOT_TEAMS_EMULATOR=1` is set explicitly, and
  then the server must bind 127.0.0.1 (`TeamsAdapter.requires_loopback`); requests from other
  addresses are refused with 403 even so.
- botbuilder turns only `PermissionError` into 401; an expired token, an unknown key id or an
  unsigned token raise other exceptions (500). We authenticate first and map every failure of
  that step to 401, before any bot code runs.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from aiohttp import web
from botbuilder.core import TurnContext, serializer_helper
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import (
    Activity,
    AdaptiveCardInvokeResponse,
    CallerIdConstants,
    ConversationReference,
)
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    ServiceClientCredentialsFactory,
)

from adapters.teams import cards
from adapters.teams.bot_handler import BotLike, DocbotTeamsHandler, on_turn_error
from adapters.teams.retry import RetryPolicy, with_retry
from bot.config import ConfigError, Settings
from bot.types import ReplyTarget

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"
APP_TYPES = {
    "multitenant": "MultiTenant",
    "singletenant": "SingleTenant",
    "userassignedmsi": "UserAssignedMSI",
}
MAX_BODY_BYTES = 1 << 20  # activities are small; refuse anything absurd before parsing
# The only channels this endpoint answers. botbuilder checks the signing key's endorsement
# against the activity's own `channelId`, so any Bot Framework channel of the same Azure Bot
# (Web Chat, Direct Line, whose clients choose their own `from`) would otherwise pass as Teams.
TEAMS_CHANNELS = frozenset({"msteams"})
EMULATOR_CHANNELS = frozenset({"msteams", "emulator"})  # the Bot Framework Emulator's


def _app_type(settings: Settings) -> str:
    value = APP_TYPES.get((settings.teams_app_type or "MultiTenant").strip().lower())
    if value is None:
        raise ConfigError(
            "MicrosoftAppType must be MultiTenant, SingleTenant or UserAssignedMSI, "
            f"got {settings.teams_app_type!r}"
        )
    return value


def check_startup(settings: Settings) -> None:
    """Raise `ConfigError` unless the Teams adapter can run safely with these settings.

    Without `MicrosoftAppId` botbuilder disables authentication, so that is only allowed in the
    explicit local emulator mode.
    """
    app_type = _app_type(settings)
    if settings.teams_emulator and not settings.teams_app_id:
        return
    missing: list[str] = []
    if not settings.teams_app_id:
        missing.append("MicrosoftAppId")
    if app_type != "UserAssignedMSI" and not settings.teams_app_password:
        missing.append("MicrosoftAppPassword")
    if app_type != "MultiTenant" and not settings.teams_tenant_id:
        missing.append("MicrosoftAppTenantId")
    if missing:
        raise ConfigError(
            f"the Teams adapter needs {', '.join(missing)} (Azure Bot registration, see "
            "docs/teams-setup.md); for a local Bot Framework Emulator without credentials set "
            "DOCBOT_TEAMS_EMULATOR=1"
        )


@dataclass(frozen=True)
class BotFrameworkConfig:
    """The attribute bag `ConfigurationBotFrameworkAuthentication` reads (names are botbuilder's)."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str
    VALIDATE_AUTHORITY: bool = True
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: str | None = None
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER: str | None = None
    TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL: str | None = None
    TO_CHANNEL_FROM_BOT_LOGIN_URL: str | None = None
    TO_CHANNEL_FROM_BOT_OAUTH_SCOPE: str | None = None
    OAUTH_URL: str | None = None
    CALLER_ID: str | None = None

    def __repr__(self) -> str:  # never show the password
        return f"BotFrameworkConfig(APP_ID={self.APP_ID!r}, APP_TYPE={self.APP_TYPE!r})"


def bot_framework_config(settings: Settings) -> BotFrameworkConfig:
    """Map docbot settings onto botbuilder's configuration names.

    Overriding the OpenID metadata URL switches botbuilder to its "parameterized" authentication,
    which reads every endpoint from the configuration; the others are then set to the public
    cloud's values so only the metadata location changes.
    """
    app_type = _app_type(settings)
    if settings.teams_emulator and not settings.teams_app_id:
        app_type = "MultiTenant"  # the only type that allows the anonymous emulator mode
    base = {
        "APP_ID": settings.teams_app_id,
        "APP_PASSWORD": settings.teams_app_password.reveal(),
        "APP_TYPE": app_type,
        "APP_TENANTID": settings.teams_tenant_id,
    }
    if not settings.teams_openid_metadata_url:
        return BotFrameworkConfig(**base)
    return BotFrameworkConfig(
        **base,
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=settings.teams_openid_metadata_url,
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER,
        TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=(
            AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
        ),
        TO_CHANNEL_FROM_BOT_LOGIN_URL=(
            AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX
            + (settings.teams_tenant_id or AuthenticationConstants.DEFAULT_CHANNEL_AUTH_TENANT)
        ),
        TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
        OAUTH_URL=AuthenticationConstants.OAUTH_URL,
        CALLER_ID=CallerIdConstants.public_azure_channel,
    )


def _invoke_body(body: object) -> object:
    """JSON for an invoke response. botbuilder's `serializer_helper` handles only its models:
    a plain `{}` (what `message/submitAction` must answer) makes it raise."""
    if body is None or isinstance(body, dict | list | str | int | float | bool):
        return body
    if isinstance(body, AdaptiveCardInvokeResponse) and isinstance(body.value, Exception):
        # botbuilder answers a malformed `adaptiveCard/action` invoke with an error response
        # whose value is an `Exception` (code, message), which `serializer_helper` cannot write
        # (500). Send the Universal Actions error shape it means instead.
        code, message = (*(str(arg) for arg in body.value.args), "", "")[:2]
        return {
            "statusCode": int(body.status_code or 400),
            "type": body.type,
            "value": {"code": code, "message": message},
        }
    return serializer_helper(body)


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False


class TeamsAdapter:
    """Mounts docbot on the Bot Framework: `routes()` for the shared aiohttp app.

    `credentials_factory` replaces botbuilder's password/MSI credentials for outbound calls;
    production leaves it `None`. Tests pass a factory whose tokens a local stand-in Bot Connector
    checks, because MSAL only talks to https Entra endpoints (see docs/teams-setup.md).
    """

    path = MESSAGES_PATH

    def __init__(
        self,
        bot: BotLike,
        settings: Settings,
        *,
        credentials_factory: ServiceClientCredentialsFactory | None = None,
        retry_policy: RetryPolicy | None = None,
        render_options: cards.RenderOptions | None = None,
        typing_interval_s: float | None = None,
    ) -> None:
        check_startup(settings)
        self.settings = settings
        self.bot = bot
        self.emulator = settings.teams_emulator and not settings.teams_app_id
        self.channels = EMULATOR_CHANNELS if settings.teams_emulator else TEAMS_CHANNELS
        if settings.teams_emulator:
            log.warning(
                "Teams adapter in local emulator mode (DOCBOT_TEAMS_EMULATOR=1)%s: "
                "listening on 127.0.0.1 only, requests from other addresses are refused",
                ": authentication is OFF" if self.emulator else "",
            )
        self.auth = ConfigurationBotFrameworkAuthentication(
            bot_framework_config(settings), credentials_factory=credentials_factory
        )
        self.adapter = CloudAdapter(self.auth)
        self.adapter.on_turn_error = on_turn_error
        handler_options = (
            {} if typing_interval_s is None else {"typing_interval_s": typing_interval_s}
        )
        self.retry_policy = retry_policy or RetryPolicy()
        self.handler = DocbotTeamsHandler(
            bot, retry_policy=self.retry_policy, render_options=render_options, **handler_options
        )
        register = getattr(bot, "register_notifier", None)
        if callable(register):
            register("teams", self.notify)

    check_startup = staticmethod(check_startup)

    @property
    def requires_loopback(self) -> bool:
        """True in emulator mode: the server must bind 127.0.0.1 only."""
        return bool(self.settings.teams_emulator)

    def routes(self) -> list[web.RouteDef]:
        return [web.post(self.path, self.on_messages)]

    async def on_messages(self, request: web.Request) -> web.StreamResponse:
        if self.requires_loopback and not _is_loopback(request.remote):
            return web.json_response({"error": "emulator mode accepts loopback only"}, status=403)
        if "application/json" not in (request.content_type or ""):
            return web.json_response({"error": "expected application/json"}, status=415)
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.json_response({"error": "request too large"}, status=413)
        try:
            body = await request.json()
            activity = Activity().deserialize(body) if isinstance(body, dict) else None
        except Exception:  # noqa: BLE001 - any malformed body is the caller's error
            activity = None
        if activity is None or not activity.type:
            return web.json_response({"error": "expected a Bot Framework activity"}, status=400)

        auth = await self._authenticate(activity, request.headers.get("Authorization"))
        if auth is None:
            return web.json_response({"error": "unauthorized"}, status=401)

        invoke_response = await self.adapter.process_activity(auth, activity, self.handler.on_turn)
        if invoke_response:
            return web.json_response(
                data=_invoke_body(invoke_response.body), status=invoke_response.status
            )
        return web.Response(status=201)

    async def notify(self, target: ReplyTarget | None, text: str) -> None:
        """Post `text` into the conversation (and thread) of `target` after the turn is over.

        The core uses this for re-ingest progress. The message replies to the stored user
        message, exactly like an in-turn reply, so it lands in the same channel thread.
        """
        if target is None or target.platform != "teams" or "reference" not in target.data:
            return
        reference = ConversationReference().deserialize(target.data["reference"])

        async def callback(turn_context: TurnContext) -> None:
            for activity in cards.plain_text(text):
                TurnContext.apply_conversation_reference(activity, reference)
                await with_retry(
                    lambda a=activity: turn_context.adapter.send_activities(turn_context, [a]),
                    self.retry_policy,
                    what="notify",
                )

        await self.adapter.continue_conversation(
            reference, callback, self.settings.teams_app_id or None
        )

    async def _authenticate(
        self, activity: Activity, auth_header: str | None
    ) -> AuthenticateRequestResult | None:
        if activity.channel_id not in self.channels or not activity.service_url:
            # botbuilder skips the endorsement check without a channelId and the `serviceurl`
            # claim check without a serviceUrl; a valid token must not bypass either.
            log.warning("teams: rejected a request to %s: not a Teams activity", self.path)
            return None
        try:
            return await self.auth.authenticate_request(activity, auth_header)
        except Exception as error:  # noqa: BLE001 - every failure here means "not authenticated"
            # Type only: the message could quote the token.
            log.warning("teams: rejected a request to %s: %s", self.path, type(error).__name__)
            return None
