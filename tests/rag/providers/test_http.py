"""Shared HTTP helpers: SSE decoding, status wording, Retry-After."""

from __future__ import annotations

from rag.providers._http import SSEDecoder, backoff_delay, retry_after_s, status_error


def test_sse_events_split_across_chunks_and_crlf() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a"') == []
    assert decoder.feed(b": 1}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n") == ['{"a": 1}', "[DONE]"]


def test_sse_multiline_data_and_other_fields() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("event: message\nid: 3\ndata: one\ndata:two\n\n") == ["one\ntwo"]


def test_sse_flush_returns_an_unterminated_final_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("data: last") == []
    assert decoder.flush() == ["last"]
    assert decoder.flush() == []


def test_status_errors_are_worded_for_chat() -> None:
    assert status_error("cml", 429).reason == "is busy (HTTP 429)"
    assert status_error("cml", 503).reason == "failed (HTTP 503)"
    assert status_error("cml", 503).retryable
    assert not status_error("cml", 401).retryable
    assert not status_error("cml", 400).retryable


def test_retry_after_and_backoff() -> None:
    assert retry_after_s({"Retry-After": "2"}, 0.5) == 2.0
    assert retry_after_s({"Retry-After": "soon"}, 0.5) == 0.5
    assert retry_after_s({}, 0.5) == 0.5
    assert all(0 <= backoff_delay(a) <= 8.0 for a in range(1, 10))
