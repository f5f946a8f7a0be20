"""A model hosted on CML through the (legacy) CML Models endpoint.

POST `https://modelservice.<domain>/model` with `{"accessKey": ..., "request": {...}}`
(or the key already in the URL's `?accessKey=` query). The lab's Mistral
model takes `{"prompt", "temperature", "max_new_tokens", ...}` and returns the
decoded text *including the prompt*; the envelope nests it under `response`
(and `prediction` when the model records metrics). HTTP 429 (`model.busy`:
no replica free within 30 s) is retried with backoff. Non-streaming: yields once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.config import Secret
from rag.generation import GenerationRequest, ProviderError
from rag.prompt import approx_tokens, build_messages, render_instruct_prompt
from rag.providers._http import (
    RETRY_STATUSES,
    SessionHolder,
    Sleep,
    backoff_delay,
    parse_json,
    retry_after_s,
    status_error,
)

# Mistral-7B-Instruct v0.2 has a 32k window, but CML replicas are often sized
# for less; 8k keeps latency and GPU memory sane. Override per deployment.
DEFAULT_CONTEXT_TOKENS = 8192
_TEXT_KEYS = ("response", "result", "text", "generated_text", "completion", "output", "answer")


def model_url(url: str, domain: str) -> str:
    """The configured URL, or the lab's `https://modelservice.<domain>/model` from CDSW_DOMAIN."""
    if url:
        return url
    if domain:
        host = domain.removeprefix("https://").removeprefix("http://").strip("/")
        return f"https://modelservice.{host}/model"
    return ""


def extract_text(payload: Any, depth: int = 0) -> str | None:
    """The generated text from the response shapes of the lab's models.

    Handles `{"response": {"prediction": {"response": str}}}` (metrics on),
    `{"response": {"result": str}}` (the Korean fork), `{"response": str}`,
    and `outputs[0].text` / OpenAI-like `choices[0]` shapes.
    """
    if depth > 4:
        return None
    if isinstance(payload, str):
        return payload
    if isinstance(payload, list):
        return extract_text(payload[0], depth + 1) if payload else None
    if not isinstance(payload, dict):
        return None
    if "prediction" in payload:
        found = extract_text(payload["prediction"], depth + 1)
        if found is not None:
            return found
    for key in _TEXT_KEYS:
        if key in payload:
            found = extract_text(payload[key], depth + 1)
            if found is not None:
                return found
    for key in ("outputs", "choices"):
        items = payload.get(key)
        if isinstance(items, list) and items and isinstance(items[0], dict):
            first = items[0]
            if isinstance(first.get("message"), dict):
                return extract_text(first["message"].get("content"), depth + 1)
            return extract_text(first.get("text"), depth + 1)
    return None


def strip_echo(text: str, prompt: str) -> str:
    """Drop the prompt the model echoes before its answer.

    The tokenizer's decode drops `<s>` and may differ in leading whitespace, so
    try the prompt with and without it, then fall back to the last `[/INST]`.
    """
    for candidate in (prompt, prompt.removeprefix("<s>"), prompt.removeprefix("<s>").lstrip()):
        if candidate and text.startswith(candidate):
            return text[len(candidate) :].strip()
    stripped = text.lstrip()
    for candidate in (prompt.removeprefix("<s>").strip(),):
        if candidate and stripped.startswith(candidate):
            return stripped[len(candidate) :].strip()
    if "[/INST]" in text:
        return text.rsplit("[/INST]", 1)[1].removesuffix("</s>").strip()
    return text.strip()


class CMLModelProvider:
    """The CML Models endpoint, as used by the lab (non-streaming)."""

    def __init__(
        self,
        url: str,
        access_key: Secret,
        *,
        timeout_s: float = 60.0,
        name: str = "cml",
        label: str | None = None,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        max_attempts: int = 3,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.url = url
        self._access_key = access_key
        self.timeout_s = timeout_s
        self.name = name
        self.label = label or f"CML model ({urlsplit(url).hostname or 'modelservice'})"
        self.context_tokens = context_tokens
        self.max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._sessions = SessionHolder()

    @property
    def configured(self) -> bool:
        return bool(self.url) and (bool(self._access_key) or "accessKey=" in self.url)

    def payload(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        """(prompt, request body) for `request`."""
        system, messages = build_messages(
            request, max_context_tokens=self.context_tokens, count_tokens=approx_tokens
        )
        prompt = render_instruct_prompt(system, messages)
        body: dict[str, Any] = {
            "request": {
                "prompt": prompt,
                "temperature": request.temperature,
                "max_new_tokens": request.max_tokens,
                "top_p": 1.0,
                "top_k": 0,
                "repetition_penalty": 1.0,
                "num_beams": 1,
            }
        }
        if self._access_key and "accessKey=" not in self.url:
            # In the body rather than the query string: URLs end up in proxy and access logs.
            body["accessKey"] = self._access_key.reveal()
        return prompt, body

    async def _post(self, body: dict[str, Any]) -> Any:
        session = self._sessions.get()
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with session.post(self.url, json=body, timeout=timeout) as resp:
                    raw = await resp.read()
                    if resp.status in RETRY_STATUSES and attempt < self.max_attempts:
                        await self._sleep(retry_after_s(resp.headers, backoff_delay(attempt)))
                        continue
                    if resp.status >= 400:
                        raise status_error(self.name, resp.status)
                    return parse_json(self.name, raw)
            except asyncio.TimeoutError:
                raise ProviderError(self.name, "timed out") from None
            except aiohttp.ClientError:
                raise ProviderError(self.name, "is unreachable") from None
        raise ProviderError(self.name, "is busy")  # unreachable: the loop returns or raises

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str]:
        if not self.configured:
            raise ProviderError(self.name, "is not configured", retryable=False)
        prompt, body = self.payload(request)
        data = await self._post(body)
        if isinstance(data, dict) and data.get("success") is False:
            raise ProviderError(self.name, "reported an error")
        envelope = data.get("response", data) if isinstance(data, dict) else data
        text = extract_text(envelope)
        if text is None:
            raise ProviderError(self.name, "returned an unreadable response")
        yield strip_echo(text, prompt)

    async def aclose(self) -> None:
        await self._sessions.aclose()
