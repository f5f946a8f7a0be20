"""Bedrock Converse / ConverseStream: botocore Stubber, a stand-in event stream, a local endpoint."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.exceptions import EventStreamError
from botocore.stub import Stubber

from bot.types import Turn
from rag.condense import condense_with_model
from rag.generation import CONDENSE, CONDENSE_MAX_TOKENS, GenerationRequest, ProviderError, Source
from rag.prompt import CONDENSE_RULES
from rag.providers.bedrock import (
    BedrockProvider,
    context_window,
    error_reason,
    parse_stream_event,
    rejects_system_prompt,
)
from tests.fake_bedrock import FakeBedrock, converse_reply, last_user_text

MISTRAL = "mistral.mistral-7b-instruct-v0:2"
CLAUDE = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
REQUEST = GenerationRequest(
    question="How do I install Kubeflow?",
    sources=[Source(1, "Install", "https://docs/install#k", "Kubeflow", "Apply the manifests.")],
    temperature=0.0,
    length="short",
)


async def no_sleep(_: float) -> None:
    """Backoff without waiting, so retry tests stay fast."""


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="not-a-secret",
    )


def stubbed(client: Any, model_id: str = MISTRAL, **kwargs: Any) -> tuple[BedrockProvider, Stubber]:
    provider = BedrockProvider(model_id, client=client, stream=False, sleep=no_sleep, **kwargs)
    return provider, Stubber(client)


async def collect(provider: BedrockProvider, request: GenerationRequest = REQUEST) -> list[str]:
    return [delta async for delta in provider.generate(request)]


# -- Converse through the Stubber ---------------------------------------------------------------


async def test_converse_success_folds_the_system_prompt_for_mistral(client: Any) -> None:
    provider, stub = stubbed(client)
    params = provider.params(REQUEST)
    assert "system" not in params
    first_user = params["messages"][0]["content"][0]["text"]
    assert first_user.startswith("You are docbot") and "[1] Install › Kubeflow" in first_user
    assert params["inferenceConfig"] == {"maxTokens": REQUEST.max_tokens, "temperature": 0.0}
    stub.add_response("converse", converse_reply("Apply the manifests [1]."), params)
    with stub:
        assert await collect(provider) == ["Apply the manifests [1]."]
    stub.assert_no_pending_responses()


async def test_a_follow_up_is_condensed_through_converse_with_its_thread(client: Any) -> None:
    request = GenerationRequest(
        question="and from the terminal?",
        history=[
            Turn("user", "how do i upload a pipeline in the ui?"),
            Turn("assistant", "Use Upload [1]."),
        ],
        use_docs=False,
        temperature=0.0,
        task=CONDENSE,
    )
    provider, stub = stubbed(client, CLAUDE)
    params = provider.params(request)
    assert params["system"] == [{"text": CONDENSE_RULES}]
    assert [m["role"] for m in params["messages"]] == ["user", "assistant", "user"]
    assert params["messages"][-1]["content"][0]["text"].startswith(
        "Follow-up: and from the terminal?"
    )
    assert params["inferenceConfig"] == {"maxTokens": CONDENSE_MAX_TOKENS, "temperature": 0.0}
    stub.add_response(
        "converse", converse_reply("How do I upload a pipeline with the CLI?"), params
    )
    with stub:
        assert await condense_with_model(provider, request.question, request.history) == (
            "How do I upload a pipeline with the CLI?"
        )
    stub.assert_no_pending_responses()


async def test_claude_gets_a_real_system_prompt(client: Any) -> None:
    provider, stub = stubbed(client, CLAUDE)
    params = provider.params(REQUEST)
    assert params["system"][0]["text"].startswith("You are docbot")
    assert params["modelId"] == CLAUDE
    stub.add_response("converse", converse_reply("ok"), params)
    with stub:
        assert await collect(provider) == ["ok"]


async def test_throttling_then_success(client: Any) -> None:
    provider, stub = stubbed(client)
    stub.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
    stub.add_response("converse", converse_reply("after retry"))
    with stub:
        assert await collect(provider) == ["after retry"]
    stub.assert_no_pending_responses()


async def test_throttling_that_persists(client: Any) -> None:
    provider, stub = stubbed(client, max_attempts=2)
    for _ in range(2):
        stub.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
    with stub, pytest.raises(ProviderError) as err:
        await collect(provider)
    assert err.value.reason == "is throttled" and err.value.retryable


async def test_validation_error(client: Any) -> None:
    provider, stub = stubbed(client)
    stub.add_client_error("converse", "ValidationException", "Malformed input request", 400)
    with stub, pytest.raises(ProviderError) as err:
        await collect(provider)
    assert err.value.reason == "rejected the request" and not err.value.retryable


async def test_model_that_rejects_system_messages_is_retried_folded_and_remembered(
    client: Any,
) -> None:
    provider, stub = stubbed(client, "mistral.some-new-model-v1:0")
    assert "system" in provider.params(REQUEST)
    stub.add_client_error(
        "converse",
        "ValidationException",
        "This model doesn't support system messages. Try again without a system message.",
        400,
    )
    stub.add_response("converse", converse_reply("folded"))
    with stub:
        assert await collect(provider) == ["folded"]
    assert "system" not in provider.params(REQUEST)


async def test_model_timeout_then_success_and_persistent_timeout(client: Any) -> None:
    provider, stub = stubbed(client)
    stub.add_client_error("converse", "ModelTimeoutException", "Model timed out", 408)
    stub.add_response("converse", converse_reply("second try"))
    stub.add_client_error("converse", "ModelTimeoutException", "Model timed out", 408)
    stub.add_client_error("converse", "ModelTimeoutException", "Model timed out", 408)
    with stub:
        assert await collect(provider) == ["second try"]
        with pytest.raises(ProviderError) as err:
            await collect(provider)
    assert err.value.reason == "timed out"


async def test_quota_and_inference_profile_errors(client: Any) -> None:
    provider, stub = stubbed(client, "anthropic.claude-3-7-sonnet-20250219-v1:0", max_attempts=1)
    stub.add_client_error("converse", "ServiceQuotaExceededException", "quota", 400)
    stub.add_client_error(
        "converse",
        "ValidationException",
        "Invocation of model ID anthropic.claude-3-7 with on-demand throughput isn't supported.",
        400,
    )
    with stub:
        with pytest.raises(ProviderError, match="over its service quota"):
            await collect(provider)
        with pytest.raises(ProviderError, match="inference-profile id"):
            await collect(provider)


async def test_client_is_created_lazily_once() -> None:
    made: list[int] = []

    class Client:
        def converse(self, **params: Any) -> dict[str, Any]:
            return converse_reply("x")

    def factory() -> Client:
        made.append(1)
        return Client()

    provider = BedrockProvider(MISTRAL, client_factory=factory, stream=False)
    assert made == []
    await collect(provider)
    await collect(provider)
    assert made == [1]


def test_not_configured_without_a_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert not BedrockProvider(MISTRAL).configured
    assert BedrockProvider(MISTRAL, region="eu-west-1").configured
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert BedrockProvider(MISTRAL).configured


# -- ConverseStream through a stand-in at the client boundary ------------------------------------


class FakeEventStream:
    """What botocore returns under response["stream"]: a blocking iterator of event dicts."""

    def __init__(self, events: list[Any], *, delay: float = 0.0) -> None:
        self.events = events
        self.delay = delay
        self.closed = threading.Event()

    def __iter__(self) -> Any:
        for event in self.events:
            if self.closed.is_set():
                return
            if self.delay:
                time.sleep(self.delay)
            if isinstance(event, Exception):
                raise event
            yield event

    def close(self) -> None:
        self.closed.set()


class StreamClient:
    def __init__(self, stream: FakeEventStream) -> None:
        self.stream = stream
        self.calls: list[dict[str, Any]] = []

    def converse_stream(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        return {"ResponseMetadata": {}, "stream": self.stream}


def delta(text: str) -> dict[str, Any]:
    return {"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0}}


START = [
    {"messageStart": {"role": "assistant"}},
    {"contentBlockStart": {"start": {}, "contentBlockIndex": 0}},
]
STOP = [
    {"contentBlockStop": {"contentBlockIndex": 0}},
    {"messageStop": {"stopReason": "end_turn"}},
    {
        "metadata": {
            "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
            "metrics": {"latencyMs": 9},
        }
    },
]


async def test_converse_stream_yields_text_deltas() -> None:
    stream = FakeEventStream([*START, delta("Apply "), delta("manifests [1]."), *STOP])
    client = StreamClient(stream)
    provider = BedrockProvider(MISTRAL, client=client)
    assert await collect(provider) == ["Apply ", "manifests [1]."]
    assert client.calls[0]["modelId"] == MISTRAL and "system" not in client.calls[0]
    assert stream.closed.is_set()


async def test_throttling_event_inside_the_stream() -> None:
    stream = FakeEventStream(
        [*START, delta("part"), {"throttlingException": {"message": "slow down"}}]
    )
    provider = BedrockProvider(MISTRAL, client=StreamClient(stream))
    got: list[str] = []
    with pytest.raises(ProviderError) as err:
        async for d in provider.generate(REQUEST):
            got.append(d)
    assert got == ["part"] and err.value.reason == "is throttled"


async def test_event_stream_error_raised_by_botocore() -> None:
    error = EventStreamError(
        {"Error": {"Code": "modelStreamErrorException", "Message": "boom"}}, "ConverseStream"
    )
    provider = BedrockProvider(MISTRAL, client=StreamClient(FakeEventStream([*START, error])))
    with pytest.raises(ProviderError, match="model error"):
        await collect(provider)


async def test_stream_cut_before_message_stop() -> None:
    provider = BedrockProvider(
        MISTRAL, client=StreamClient(FakeEventStream([*START, delta("half")]))
    )
    with pytest.raises(ProviderError, match="stopped mid-answer"):
        await collect(provider)


async def test_consumer_that_stops_early_closes_the_stream() -> None:
    stream = FakeEventStream([*START, *(delta(f"t{i} ") for i in range(50)), *STOP], delay=0.01)
    provider = BedrockProvider(MISTRAL, client=StreamClient(stream))
    agen = provider.generate(REQUEST)
    assert await agen.__anext__() == "t0 "
    await agen.aclose()
    await asyncio.sleep(0.05)
    assert stream.closed.is_set()


# -- The real botocore client against a local stand-in endpoint ---------------------------------


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)


async def test_botocore_adaptive_retry_recovers_from_throttling(serve, aws_env: None) -> None:
    paths: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        paths.append(request.path)
        if len(paths) == 1:
            return web.json_response(
                {"message": "Too many requests"},
                status=429,
                headers={"x-amzn-ErrorType": "ThrottlingException"},
            )
        return web.json_response(converse_reply("via botocore"))

    url = await serve(handler)
    provider = BedrockProvider(
        MISTRAL, region="us-east-1", endpoint_url=url, stream=False, max_attempts=1
    )
    assert await collect(provider) == ["via botocore"]
    assert len(paths) == 2 and paths[0].endswith("/converse")


async def test_read_timeout_on_every_call(serve, aws_env: None) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.json_response(converse_reply("late"))

    url = await serve(handler)
    provider = BedrockProvider(
        MISTRAL, region="us-east-1", endpoint_url=url, stream=False, timeout_s=0.2, max_attempts=1
    )
    with pytest.raises(ProviderError) as err:
        await collect(provider)
    assert err.value.reason == "timed out"


# -- the real wire format: a stand-in Bedrock Runtime over HTTP -----------------------------------


@pytest.fixture
def fake_bedrock(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A stand-in service, found the way an operator points docbot at a VPC endpoint."""
    fake = FakeBedrock(lambda body: f"You asked: {last_user_text(body)[-30:]} [1]")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.start())
    yield fake
    fake.stop()


async def test_converse_stream_is_parsed_from_real_event_stream_frames(fake_bedrock: Any) -> None:
    provider = BedrockProvider(CLAUDE, region="us-east-1", max_attempts=1)
    deltas = await collect(provider)
    assert len(deltas) > 1  # streamed in pieces, not one block
    assert "".join(deltas).startswith("You asked: ") and "".join(deltas).endswith(" [1]")
    [(model, op, body)] = fake_bedrock.requests
    assert (model, op) == (CLAUDE, "converse-stream")
    assert body["inferenceConfig"]["temperature"] == 0.0
    assert "Apply the manifests." in body["system"][0]["text"] + last_user_text(body)


async def test_an_error_inside_the_stream_is_a_provider_error(fake_bedrock: Any) -> None:
    fake_bedrock.fail_next("throttlingException")
    provider = BedrockProvider(CLAUDE, region="us-east-1", max_attempts=1)
    with pytest.raises(ProviderError) as err:
        await collect(provider)
    assert err.value.reason == "is throttled" and err.value.retryable


async def test_access_denied_before_the_stream_is_final(fake_bedrock: Any) -> None:
    fake_bedrock.fail_next("AccessDeniedException", status=403)
    provider = BedrockProvider(CLAUDE, region="us-east-1", max_attempts=3)
    with pytest.raises(ProviderError) as err:
        await collect(provider)
    assert err.value.reason.startswith("denied access") and not err.value.retryable
    assert len(fake_bedrock.requests) == 1  # not retried: new credentials are needed


async def test_converse_without_streaming_over_the_wire(fake_bedrock: Any) -> None:
    provider = BedrockProvider(MISTRAL, region="us-east-1", stream=False, max_attempts=1)
    [text] = await collect(provider)
    assert text.endswith("[1]")
    [(_, op, body)] = fake_bedrock.requests
    assert op == "converse" and "system" not in body  # Mistral: rules folded into the user turn


# -- pure helpers --------------------------------------------------------------------------------


def test_model_capabilities() -> None:
    assert rejects_system_prompt(MISTRAL)
    assert rejects_system_prompt("mistral.mixtral-8x7b-instruct-v0:1")
    assert not rejects_system_prompt(CLAUDE)
    assert context_window(CLAUDE) == 200_000
    assert context_window(MISTRAL) == 32_000
    assert context_window("unknown.model") == 8_000


def test_the_footer_label_of_a_model_arn_does_not_show_the_aws_account_id() -> None:
    arns = {
        "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/a1b2c3": "provisioned-model/a1b2c3",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x9": (
            "application-inference-profile/x9"
        ),
        "arn:aws:bedrock:us-east-1::foundation-model/" + MISTRAL: "foundation-model/" + MISTRAL,
    }
    for arn, shown in arns.items():
        provider = BedrockProvider(arn, region="us-east-1")
        assert "123456789012" not in provider.label
        assert provider.label == f"Bedrock ({shown})"
        assert provider.model_id == arn  # still called by its full ARN
    assert BedrockProvider(CLAUDE, region="us-east-1").label == f"Bedrock ({CLAUDE})"


def test_error_reasons_and_stream_events() -> None:
    assert error_reason("AccessDeniedException", "") == (
        "denied access (check the AWS credentials and model access)",
        False,
    )
    assert error_reason("ValidationException", "Input is too long for requested model.")[0] == (
        "rejected the request as too long"
    )
    assert parse_stream_event(delta("x")) == ("x", None, None)
    assert parse_stream_event({"messageStop": {"stopReason": "max_tokens"}}) == (
        "",
        "max_tokens",
        None,
    )
    assert parse_stream_event({"validationException": {}}) == ("", None, "ValidationException")
    assert parse_stream_event("junk") == ("", None, None)
