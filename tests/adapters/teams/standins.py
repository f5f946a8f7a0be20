"""Local stand-ins for the services the Teams adapter talks to. Loopback only, no network.

- `OpenIdIssuer`: the Bot Framework's OpenID metadata + JWKS for a locally generated RSA key,
  served by a threaded `http.server` (botbuilder fetches it with blocking `requests`, from the
  event loop thread, so it must not be served by that same loop). It also mints channel JWTs.
- `StandInConnector`: the Bot Connector REST API (`/v3/conversations/...`) as an aiohttp server;
  records every outgoing activity, can fail on purpose (429, 502...) and checks bearer tokens.
- `StaticTokenCredentialsFactory`: outbound credentials carrying a token minted by the local
  issuer. botbuilder's own `MicrosoftAppCredentials` gets tokens through MSAL, which only
  accepts https Entra authorities and does instance discovery on the internet.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from aiohttp import web
from botframework.connector.auth import AppCredentials, ServiceClientCredentialsFactory
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.local_net import start_app

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
APP_ID = "6b1f0e2d-3c4a-4b5e-8f7a-9d0c1b2a3e4f"  # matches the fixtures' `28:<app id>` recipient


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OpenIdIssuer:
    """Serves `/v1/.well-known/openidconfiguration` and `/v1/.well-known/keys`; signs tokens."""

    def __init__(self, endorsements: tuple[str, ...] = ("msteams", "emulator")) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "endorsements": list(endorsements)})
        self.jwks = {"keys": [jwk]}
        self.requests = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                issuer.requests += 1
                base = f"http://127.0.0.1:{self.server.server_address[1]}"
                if self.path == "/v1/.well-known/openidconfiguration":
                    body = {
                        "issuer": BOT_FRAMEWORK_ISSUER,
                        "jwks_uri": f"{base}/v1/.well-known/keys",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                elif self.path == "/v1/.well-known/keys":
                    body = issuer.jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def metadata_url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/v1/.well-known/openidconfiguration"

    def start(self) -> OpenIdIssuer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def token(
        self,
        *,
        service_url: str,
        audience: str = APP_ID,
        issuer: str = BOT_FRAMEWORK_ISSUER,
        lifetime_s: float = 3600,
        key: rsa.RSAPrivateKey | None = None,
        **extra: Any,
    ) -> str:
        """A channel-to-bot token like the Bot Framework's."""
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "serviceurl": service_url,
            "nbf": now - 60,
            "iat": now - 60,
            "exp": int(now + lifetime_s),
            **extra,
        }
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    def unsigned_token(self, *, service_url: str) -> str:
        """`alg: none`: a token anyone can forge."""
        header = _b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": self.kid}).encode())
        claims = {
            "iss": BOT_FRAMEWORK_ISSUER,
            "aud": APP_ID,
            "serviceurl": service_url,
            "exp": int(time.time()) + 3600,
        }
        return f"{header}.{_b64url(json.dumps(claims).encode())}."

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        return jwt.decode(token, self.key.public_key(), algorithms=["RS256"], audience=audience)


# --------------------------------------------------------------------------- outbound auth


class StaticTokenCredentials(AppCredentials):
    """`AppCredentials` whose token comes from a callable instead of MSAL."""

    def __init__(self, app_id: str, get_token: Callable[[], str]) -> None:
        super().__init__(app_id=app_id)
        self._get_token = get_token

    def get_access_token(self, force_refresh: bool = False) -> str:
        return self._get_token()


class StaticTokenCredentialsFactory(ServiceClientCredentialsFactory):
    def __init__(self, app_id: str, get_token: Callable[[], str]) -> None:
        self.app_id = app_id
        self._get_token = get_token

    async def is_valid_app_id(self, app_id: str) -> bool:
        return app_id == self.app_id

    async def is_authentication_disabled(self) -> bool:
        return not self.app_id

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> StaticTokenCredentials:
        return StaticTokenCredentials(app_id, self._get_token)


# --------------------------------------------------------------------------- Bot Connector


@dataclass
class Sent:
    """One request the bot made to the stand-in connector."""

    method: str
    conversation_id: str
    reply_to_id: str | None
    activity: dict[str, Any]
    authorization: str | None
    id: str
    at: float = field(default_factory=time.perf_counter)  # when the connector received it


@dataclass
class StandInConnector:
    """The Bot Connector REST surface docbot uses, recording what it receives.

    `fail_next` holds (status, headers) answers to give before succeeding, for retry tests.
    `check_token`, when set, must accept the bearer token or the request gets 401.
    """

    sent: list[Sent] = field(default_factory=list)
    fail_next: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    attempts: int = 0
    check_token: Callable[[str], bool] | None = None
    reject: Callable[[dict[str, Any]], int | None] | None = None  # activity -> error status
    delay_s: float = 0.0
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> StandInConnector:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation_id}/activities", self._handle)
        app.router.add_post(
            "/v3/conversations/{conversation_id}/activities/{activity_id}", self._handle
        )
        app.router.add_put(
            "/v3/conversations/{conversation_id}/activities/{activity_id}", self._handle
        )
        self._runner, base = await start_app(app)
        self.url = f"{base}/"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        auth = request.headers.get("Authorization")
        if self.check_token is not None:
            token = auth.split(" ", 1)[1] if auth and auth.startswith("Bearer ") else ""
            if not self.check_token(token):
                return web.json_response({"error": {"code": "Unauthorized"}}, status=401)
        if self.fail_next:
            status, headers = self.fail_next.pop(0)
            return web.json_response(
                {"error": {"code": "Throttled", "message": "try later"}},
                status=status,
                headers=headers,
            )
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        body = await request.json()
        new_id = f"m{len(self.sent) + 1}"
        self.sent.append(
            Sent(
                method=request.method,
                conversation_id=request.match_info["conversation_id"],
                reply_to_id=request.match_info.get("activity_id"),
                activity=body,
                authorization=auth,
                id=new_id,
            )
        )
        return web.json_response({"id": new_id})

    def messages(self) -> list[dict[str, Any]]:
        """Sent activities other than typing indicators."""
        return [s.activity for s in self.sent if s.activity.get("type") != "typing"]
