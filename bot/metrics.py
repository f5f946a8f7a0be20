"""Prometheus metrics of one bot process, in their own registry (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "docbot_requests_total",
    "Messages addressed to the bot",
    ["platform", "kind"],
    registry=REGISTRY,
)
ANSWERS = Counter("docbot_answers_total", "Answers given", ["platform", "model"], registry=REGISTRY)
DECLINES = Counter(
    "docbot_declines_total",
    "Questions declined (docs don't cover them, or refused)",
    ["platform"],
    registry=REGISTRY,
)
FALLBACKS = Counter(
    "docbot_fallbacks_total",
    "Answers that needed a fallback model",
    ["platform"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "docbot_errors_total", "Failures turned into an error reply", ["platform"], registry=REGISTRY
)
RATE_LIMITED = Counter(
    "docbot_rate_limited_total",
    "Questions refused by the per-user rate limit",
    ["platform"],
    registry=REGISTRY,
)
FEEDBACK = Counter("docbot_feedback_total", "Feedback clicks", ["value"], registry=REGISTRY)
LATENCY = Histogram(
    "docbot_answer_seconds",
    "Time to answer a question",
    ["platform"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
    registry=REGISTRY,
)
RETRIEVAL = Histogram(
    "docbot_retrieval_seconds",
    "Time to retrieve sources",
    buckets=(0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
    registry=REGISTRY,
)
IN_FLIGHT = Gauge("docbot_answers_in_flight", "Answers being worked on", registry=REGISTRY)
INDEX_CHUNKS = Gauge("docbot_index_chunks", "Chunks in the live index version", registry=REGISTRY)
INDEX_PAGES = Gauge("docbot_index_pages", "Pages in the live index version", registry=REGISTRY)
INDEX_INFO = Gauge(
    "docbot_index_version_info", "The live index version (value 1)", ["version"], registry=REGISTRY
)


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def set_index(version: str, pages: int, chunks: int) -> None:
    INDEX_INFO.clear()
    if version:
        INDEX_INFO.labels(version=version).set(1)
    INDEX_PAGES.set(pages)
    INDEX_CHUNKS.set(chunks)
