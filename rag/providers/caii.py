"""A model served by Cloudera AI Inference (CAII), OpenAI-compatible.

POST `<base>/chat/completions` (base like
`https://<caii-domain>/namespaces/serving-default/endpoints/<name>/v1`) with a
bearer JWT: DOCBOT_CAII_TOKEN, else the `access_token` of `/tmp/jwt`, which
CML workbench sessions carry and refresh (so it is read on every call).
Streams over SSE (`data: {...}` chunks, `data: [DONE]` at the end); a stream
that ends without `[DONE]` or a finish reason was cut off and counts as a failure.
Chat templates without a system role (Mistral's, Gemma's) answer HTTP 400: the
request is sent again with the instructions in the first user turn, and that
is remembered for the model (as for Bedrock).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.config import Secret
from rag.generation import GenerationRequest, ProviderError
from rag.prompt import approx_tokens, build_messages, fold_system, rejects_system_role
from rag.providers._http import (
    RETRY_STATUSES,
    SessionHolder,
    Sleep,
    SSEDecoder,
    backoff_delay,
    parse_json,
    retry_after_s,
    status_error,
)

DEFAULT_JWT_PATH = Path("/tmp/jwt")
DEFAULT_CONTEXT_TOKENS = 8192


def completions_url(base_url: str) -> str:
    """`<base>/chat/completions`, accepting a base that already ends with it."""
    base = base_url.rstrip("/")
    base = base.removesuffix("/chat/completions")
    return f"{base}/chat/completions"


def read_jwt(path: Path) -> str:
    """The `access_token` of a CML session's JWT file, or "" when absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    token = data.get("access_token") if isinstance(data, dict) else None
    return token if isinstance(token, str) else ""


def chunk_text(chunk: Any) -> tuple[str, bool]:
    """(text delta, finished) from one streamed chat-completions chunk."""
    if not isinstance(chunk, dict):
        return "", False
    choices = chunk.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return "", False
    choice = choices[0]
    delta = choice.get("delta") or {}
    text = delta.get("content") if isinstance(delta, dict) else None
    return (text if isinstance(text, str) else ""), bool(choice.get("finish_reason"))


class CAIIProvider:
    """Cloudera AI Inference chat completions, streamed."""

    def __init__(
        self,
        base_url: str,
        model: str,
        token: Secret | None = None,
        *,
        timeout_s: float = 60.0,
        name: str = "caii",
        label: str | None = None,
        jwt_path: Path = DEFAULT_JWT_PATH,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        stream: bool = True,
        max_attempts: int = 3,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.url = completions_url(base_url) if base_url else ""
        self.model = model
        self._token = token or Secret("")
        self.timeout_s = timeout_s
        self.name = name
        self.label = label or f"Cloudera AI Inference ({model or urlsplit(self.url).hostname})"
        self.jwt_path = jwt_path
        self.context_tokens = context_tokens
        self.stream = stream
        self.max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._sessions = SessionHolder()
        self._fold_system = False  # set once the model has rejected a system message

    @property
    def configured(self) -> bool:
        return bool(self.url and self.model)

    def _bearer(self) -> str:
        token = self._token.reveal() if self._token else read_jwt(self.jwt_path)
        if not token:
            raise ProviderError(
                self.name, "has no token (set DOCBOT_CAII_TOKEN or run inside CML)", retryable=False
            )
        return token

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        system, messages = build_messages(
            request, max_context_tokens=self.context_tokens, count_tokens=approx_tokens
        )
        if self._fold_system:
            messages = fold_system(system, messages)
        else:
            messages = [{"role": "system", "content": system}, *messages]
        return {
            "model": self.model,
            "messages": messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "stream": self.stream,
        }

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str]:
        if not self.configured:
            raise ProviderError(self.name, "is not configured", retryable=False)
        headers = {"Authorization": f"Bearer {self._bearer()}", "Accept": "text/event-stream"}
        body = self.body(request)
        session = self._sessions.get()
        # Streams may legitimately run long; bound the wait for each read instead of the total.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout_s, sock_read=self.timeout_s
        )
        attempt = 1
        while True:
            try:
                async with session.post(
                    self.url, json=body, headers=headers, timeout=timeout
                ) as resp:
                    if resp.status in RETRY_STATUSES and attempt < self.max_attempts:
                        await resp.read()
                        await self._sleep(retry_after_s(resp.headers, backoff_delay(attempt)))
                        attempt += 1
                        continue
                    if resp.status >= 400:
                        detail = await resp.read()
                        if (
                            resp.status == 400
                            and not self._fold_system
                            and rejects_system_role(detail.decode("utf-8", "replace"))
                        ):
                            # not a retry of the same request: it does not use up an attempt
                            self._fold_system = True  # remembered for later calls to this model
                            body = self.body(request)
                            continue
                        if resp.status == 401:
                            raise ProviderError(
                                self.name, "rejected the token (expired?)", retryable=False
                            )
                        raise status_error(self.name, resp.status)
                    if "text/event-stream" in resp.headers.get("Content-Type", ""):
                        async for delta in self._read_stream(resp):
                            yield delta
                    else:
                        yield self._read_whole(parse_json(self.name, await resp.read()))
                    return
            except asyncio.TimeoutError:
                raise ProviderError(self.name, "timed out") from None
            except aiohttp.ClientPayloadError:
                raise ProviderError(self.name, "stopped mid-answer") from None
            except aiohttp.ClientError:
                raise ProviderError(self.name, "is unreachable") from None

    async def _read_stream(self, resp: aiohttp.ClientResponse) -> AsyncIterator[str]:
        decoder = SSEDecoder()
        finished = False
        async for chunk in resp.content.iter_any():
            for data in decoder.feed(chunk):
                if data.strip() == "[DONE]":
                    return
                event = parse_json(self.name, data.encode())
                if isinstance(event, dict) and event.get("error"):
                    raise ProviderError(self.name, "reported an error mid-answer")
                text, done = chunk_text(event)
                finished = finished or done
                if text:
                    yield text
        for data in decoder.flush():
            if data.strip() == "[DONE]":
                return
        if not finished:
            raise ProviderError(self.name, "stopped mid-answer")

    def _read_whole(self, data: Any) -> str:
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ProviderError(self.name, "returned an unreadable response") from None
        if not isinstance(content, str):
            raise ProviderError(self.name, "returned an unreadable response")
        return content

    async def aclose(self) -> None:
        await self._sessions.aclose()
