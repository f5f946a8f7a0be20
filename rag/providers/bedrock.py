"""Amazon Bedrock through boto3 `bedrock-runtime` Converse and ConverseStream.

Credentials and region come the AWS way (environment, profile, instance or
task role); the client is created on first use, off the event loop. botocore
retries throttling adaptively; on top of that this module retries once more
after a pause for throttling and ModelTimeoutException (which botocore does
not retry), and maps every other error to a short `ProviderError` reason.
Models that reject a system prompt (Mistral 7B Instruct, Mixtral) get it
folded into the first user turn; a model not known to reject it but that
does is remembered after its first ValidationException.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)

from rag.generation import GenerationRequest, ProviderError
from rag.prompt import approx_tokens, build_messages, fold_system, rejects_system_role
from rag.providers._http import Sleep, backoff_delay

DEFAULT_MODEL_ID = "mistral.mistral-7b-instruct-v0:2"
# Substrings of model ids whose Converse API rejects `system` (AWS feature table;
# instructor issue #1753 for mistral-7b-instruct / mixtral).
NO_SYSTEM_PROMPT = ("mistral-7b-instruct", "mixtral-8x7b", "titan-text-lite", "titan-text-express")
# (substring of the model id, context window in tokens); first match wins.
CONTEXT_WINDOWS: tuple[tuple[str, int], ...] = (
    ("anthropic.claude", 200_000),
    ("mistral-7b", 32_000),
    ("mixtral", 32_000),
    ("mistral-large", 32_000),
    ("llama3-1", 128_000),
    ("llama3-2", 128_000),
    ("llama3", 8_000),
    ("titan-text", 8_000),
)
DEFAULT_CONTEXT_TOKENS = 8_000
# More context than this costs latency and money without better answers for top-k sources.
MAX_PROMPT_TOKENS = 24_000

RETRIED_CODES = frozenset(
    {
        "ThrottlingException",
        "ModelTimeoutException",
        "ModelNotReadyException",
        "ServiceUnavailableException",
    }
)


def context_window(model_id: str) -> int:
    lowered = model_id.lower()
    for needle, size in CONTEXT_WINDOWS:
        if needle in lowered:
            return size
    return DEFAULT_CONTEXT_TOKENS


def display_model_id(model_id: str) -> str:
    """How a model id is shown in chat: an ARN without its partition, region and account id.

    Provisioned throughput, application inference profiles and imported models are
    called by ARN (`arn:aws:bedrock:<region>:<account id>:provisioned-model/<id>`);
    the footer of every answer names the model, and an account id has no place there.
    """
    parts = model_id.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn":
        return parts[5]
    return model_id


def rejects_system_prompt(model_id: str) -> bool:
    lowered = model_id.lower()
    return any(needle in lowered for needle in NO_SYSTEM_PROMPT)


def error_reason(code: str, message: str) -> tuple[str, bool]:
    """(user-presentable reason, worth falling back/retrying later) for a Bedrock error code."""
    lowered = message.lower()
    if code in ("ThrottlingException", "throttlingException"):
        return "is throttled", True
    if code in ("ModelTimeoutException", "modelTimeoutException"):
        return "timed out", True
    if code in ("ServiceQuotaExceededException", "serviceQuotaExceededException"):
        return "is over its service quota", True
    if code in ("ModelNotReadyException",):
        return "is not ready yet", True
    if code in ("ServiceUnavailableException", "serviceUnavailableException"):
        return "is unavailable", True
    if code in ("InternalServerException", "internalServerException"):
        return "had an internal error", True
    if code in ("ModelStreamErrorException", "modelStreamErrorException", "ModelErrorException"):
        return "had a model error", True
    if code in ("AccessDeniedException", "UnrecognizedClientException"):
        return "denied access (check the AWS credentials and model access)", False
    if code == "ResourceNotFoundException":
        return "does not know this model id", False
    if code in ("ValidationException", "validationException"):
        if "on-demand throughput" in lowered or "inference profile" in lowered:
            return "needs an inference-profile id for this model (e.g. us.<model id>)", False
        if "too long" in lowered or "too many" in lowered or "context" in lowered:
            return "rejected the request as too long", False
        return "rejected the request", False
    return f"failed ({code})", True


class BedrockProvider:
    """A Bedrock model through Converse (or ConverseStream when `stream`)."""

    def __init__(
        self,
        model_id: str = DEFAULT_MODEL_ID,
        *,
        region: str = "",
        endpoint_url: str = "",
        timeout_s: float = 60.0,
        name: str = "bedrock",
        label: str | None = None,
        client: Any = None,
        client_factory: Callable[[], Any] | None = None,
        stream: bool = True,
        context_tokens: int | None = None,
        max_attempts: int = 2,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.model_id = model_id
        self.region = region
        self.endpoint_url = endpoint_url  # a VPC endpoint, or a local stand-in in tests
        self.timeout_s = timeout_s
        self.name = name
        self.label = label or f"Bedrock ({display_model_id(model_id)})"
        self.stream = stream
        self.context_tokens = min(context_tokens or context_window(model_id), MAX_PROMPT_TOKENS)
        self.max_attempts = max(1, max_attempts)
        self._client = client
        self._client_factory = client_factory
        self._client_lock = threading.Lock()
        self._sleep = sleep
        self._fold_system = rejects_system_prompt(model_id)

    # -- client -----------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        """A client was injected, or a region is known (credentials are checked on first call)."""
        if self._client is not None or self._client_factory is not None or self.region:
            return True
        try:
            import botocore.session

            # Environment or ~/.aws/config; remembered once found (this reads files).
            self.region = botocore.session.get_session().get_config_variable("region") or ""
        except Exception:  # a broken AWS config file must not break `status`
            return False
        return bool(self.region)

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"mode": "adaptive", "total_max_attempts": 3},
            read_timeout=self.timeout_s,
            connect_timeout=min(10.0, self.timeout_s),
            user_agent_extra="docbot",
        )
        session = boto3.session.Session()
        return session.client(
            "bedrock-runtime",
            region_name=self.region or None,
            endpoint_url=self.endpoint_url or None,
            config=config,
        )

    def client(self) -> Any:
        """The boto3 client, created once (blocking: call from a worker thread)."""
        with self._client_lock:
            if self._client is None:
                factory = self._client_factory or self._make_client
                self._client = factory()
            return self._client

    # -- requests -----------------------------------------------------------------------------

    def params(self, request: GenerationRequest) -> dict[str, Any]:
        """Keyword arguments for `converse` / `converse_stream`."""
        system, messages = build_messages(
            request, max_context_tokens=self.context_tokens, count_tokens=approx_tokens
        )
        if self._fold_system:
            messages = fold_system(system, messages)
        params: dict[str, Any] = {
            "modelId": self.model_id,
            "messages": [
                {"role": m["role"], "content": [{"text": m["content"]}]} for m in messages
            ],
            "inferenceConfig": {
                "maxTokens": request.max_tokens,
                "temperature": request.temperature,
            },
        }
        if not self._fold_system and system:
            params["system"] = [{"text": system}]
        return params

    def _error(self, exc: Exception) -> ProviderError:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            reason, retryable = error_reason(
                str(error.get("Code", "")), str(error.get("Message", ""))
            )
            return ProviderError(self.name, reason, retryable=retryable)
        if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, TimeoutError)):
            return ProviderError(self.name, "timed out")
        if isinstance(exc, EndpointConnectionError):
            return ProviderError(self.name, "is unreachable")
        if isinstance(exc, NoCredentialsError):
            return ProviderError(self.name, "has no AWS credentials", retryable=False)
        if isinstance(exc, NoRegionError):
            return ProviderError(self.name, "has no AWS region configured", retryable=False)
        if isinstance(exc, ParamValidationError):
            return ProviderError(self.name, "rejected the request", retryable=False)
        return ProviderError(self.name, "failed")

    async def _call(self, operation: str, request: GenerationRequest) -> Any:
        """Start a Converse call with bounded retries and the system-prompt fallback."""
        attempt = 1
        while True:
            params = self.params(request)
            try:
                client = await asyncio.to_thread(self.client)
                return await asyncio.to_thread(getattr(client, operation), **params)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code, message = str(error.get("Code", "")), str(error.get("Message", ""))
                if (
                    code == "ValidationException"
                    and rejects_system_role(message)
                    and not self._fold_system
                ):
                    self._fold_system = True  # remembered for later calls to this model
                    continue
                if code in RETRIED_CODES and attempt < self.max_attempts:
                    await self._sleep(backoff_delay(attempt, base_s=1.0))
                    attempt += 1
                    continue
                raise self._error(exc) from None
            except (BotoCoreError, TimeoutError) as exc:
                raise self._error(exc) from None

    async def generate(self, request: GenerationRequest) -> AsyncIterator[str]:
        if not await asyncio.to_thread(getattr, self, "configured"):  # may read AWS config files
            raise ProviderError(self.name, "has no AWS region configured", retryable=False)
        if not self.stream:
            response = await self._call("converse", request)
            yield converse_text(response)
            return
        response = await self._call("converse_stream", request)
        async for delta in self._iterate(response.get("stream")):
            yield delta

    async def _iterate(self, stream: Any) -> AsyncIterator[str]:
        """Deltas of a ConverseStream event stream, read in a worker thread.

        The stream is a blocking iterator; a thread pumps its events into a
        queue so the event loop only waits, and closing the stream (when the
        consumer stops early or times out) ends the thread.
        """
        if stream is None:
            raise ProviderError(self.name, "returned an unreadable response")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def put(item: tuple[str, Any]) -> None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def pump() -> None:
            try:
                for event in stream:
                    if stop.is_set():
                        break
                    put(("event", event))
            except Exception as exc:  # delivered to the consumer, mapped there
                put(("error", exc))
            finally:
                put(("end", None))

        loop.run_in_executor(None, pump)
        stopped = False
        try:
            while True:
                kind, item = await queue.get()
                if kind == "end":
                    break
                if kind == "error":
                    raise self._error(item)
                delta, stop_reason, error_code = parse_stream_event(item)
                if error_code:
                    reason, retryable = error_reason(error_code, "")
                    raise ProviderError(self.name, reason, retryable=retryable)
                if delta:
                    yield delta
                if stop_reason is not None:
                    stopped = True
                    if stop_reason == "model_context_window_exceeded":
                        raise ProviderError(
                            self.name, "rejected the request as too long", retryable=False
                        )
        finally:
            stop.set()
            close = getattr(stream, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        if not stopped:
            raise ProviderError(self.name, "stopped mid-answer")


def converse_text(response: Any) -> str:
    """The text of a Converse response (all text blocks joined)."""
    try:
        blocks = response["output"]["message"]["content"]
    except (KeyError, TypeError):
        raise ProviderError("bedrock", "returned an unreadable response") from None
    return "".join(block.get("text", "") for block in blocks if isinstance(block, dict))


def parse_stream_event(event: Any) -> tuple[str, str | None, str | None]:
    """(text delta, stop reason if the message ended, error code if the event is an error)."""
    if not isinstance(event, dict):
        return "", None, None
    for key in event:
        if key.endswith("Exception"):
            return "", None, key[0].upper() + key[1:]
    if "contentBlockDelta" in event:
        delta = event["contentBlockDelta"].get("delta") or {}
        text = delta.get("text")
        return (text if isinstance(text, str) else ""), None, None
    if "messageStop" in event:
        return "", str(event["messageStop"].get("stopReason") or "end_turn"), None
    return "", None, None
