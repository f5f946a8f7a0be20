"""A stand-in Bedrock Runtime on 127.0.0.1: Converse and ConverseStream over HTTP.

botocore's Stubber cannot stub ConverseStream and moto implements neither
Converse call (/work/shared/reference/cml_and_bedrock.md §5.5), so this server
speaks the wire format itself: JSON for `POST /model/{id}/converse`, and for
`POST /model/{id}/converse-stream` the AWS event stream, binary frames with
CRC32 checksums that botocore parses into `messageStart`, `contentBlockDelta`,
`messageStop` and `metadata` events. Requests must carry a SigV4 signature
header, as the real service checks; every request body is recorded.

What the "model" says comes from `reply(body) -> str`, a plain function of the
Converse request (its `messages`, `system`, `inferenceConfig`). `fail_next`
queues errors: an HTTP error before the stream starts, or an exception event
inside it.
"""

from __future__ import annotations

import json
import re
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

Reply = Callable[[dict[str, Any]], str]

_PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream)$")
STREAM_CHUNK_CHARS = 12  # deltas of this many characters, as a model streams tokens


def request_text(body: dict[str, Any]) -> str:
    """All text of a Converse request (system prompt and messages), for `reply` to read."""
    parts = [block.get("text", "") for block in body.get("system", [])]
    for message in body.get("messages", []):
        parts += [block.get("text", "") for block in message.get("content", [])]
    return "\n".join(parts)


def last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return "".join(b.get("text", "") for b in users[-1]["content"]) if users else ""


def converse_reply(text: str) -> dict[str, Any]:
    """A Converse response body whose answer is `text` (also what the Stubber tests return)."""
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 100, "outputTokens": 20, "totalTokens": 120},
        "metrics": {"latencyMs": 5},
    }


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude, string headers, payload, CRC32s."""
    encoded = b"".join(
        bytes([len(name)])
        + name.encode()
        + b"\x07"
        + struct.pack(">H", len(value))
        + value.encode()
        for name, value in headers.items()
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(kind: str, body: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(body).encode())


def exception_event(kind: str, message: str) -> bytes:
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, json.dumps({"message": message}).encode())


def stream_events(text: str) -> bytes:
    """A whole ConverseStream reply of `text`, in small deltas."""
    chunks = [text[i : i + STREAM_CHUNK_CHARS] for i in range(0, len(text), STREAM_CHUNK_CHARS)]
    return b"".join(
        [
            event("messageStart", {"role": "assistant"}),
            *(
                event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": c}})
                for c in chunks
            ),
            event("contentBlockStop", {"contentBlockIndex": 0}),
            event("messageStop", {"stopReason": "end_turn"}),
            event(
                "metadata",
                {
                    "usage": {"inputTokens": 100, "outputTokens": 20, "totalTokens": 120},
                    "metrics": {"latencyMs": 5},
                },
            ),
        ]
    )


@dataclass(frozen=True)
class Failure:
    """`status` > 0: an HTTP error of that status and `code`; 0: `code` inside the stream."""

    code: str
    status: int = 0
    message: str = "stand-in failure"


@dataclass
class FakeBedrock:
    reply: Reply
    requests: list[tuple[str, str, dict[str, Any]]] = field(
        default_factory=list
    )  # (model, op, body)
    failures: list[Failure] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, code: str, status: int = 0) -> None:
        self.failures.append(Failure(code, status))

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet test output
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        match = _PATH.match(http.path)
        raw = http.rfile.read(int(http.headers.get("Content-Length") or 0))
        if match is None:
            return _json(http, 404, {"message": "Unknown operation"}, "UnknownOperationException")
        if not (http.headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256 "):
            return _json(http, 403, {"message": "Missing signature"}, "UnrecognizedClientException")
        body = json.loads(raw or b"{}")
        model, op = unquote(match["model"]), match["op"]  # botocore encodes the ":" of an id
        with self._lock:
            self.requests.append((model, op, body))
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None and failure.status:
            return _json(http, failure.status, {"message": failure.message}, failure.code)
        text = self.reply(body)
        if op == "converse":
            return _json(http, 200, converse_reply(text))
        payload = (
            event("messageStart", {"role": "assistant"})
            + exception_event(failure.code, failure.message)
            if failure is not None
            else stream_events(text)
        )
        http.send_response(200)
        http.send_header("Content-Type", "application/vnd.amazon.eventstream")
        http.send_header("Content-Length", str(len(payload)))
        http.end_headers()
        http.wfile.write(payload)


def _json(http: BaseHTTPRequestHandler, status: int, body: dict[str, Any], error: str = "") -> None:
    data = json.dumps(body).encode()
    http.send_response(status)
    http.send_header("Content-Type", "application/json")
    if error:
        http.send_header("x-amzn-ErrorType", error)
    http.send_header("Content-Length", str(len(data)))
    http.end_headers()
    http.wfile.write(data)
