"""Logging set up once: text or JSON lines, with every configured secret redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from bot.config import Settings

# Token shapes that must never reach a log even when not configured here
# (a token pasted into a question, a header echoed in an error). Slack's capability URLs
# too: a command's response_url and the Socket Mode ticket URL, which the SDK logs at debug
# level, JSON-escaped ("\/") or not.
_TOKEN_SHAPES = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,}|AKIA[0-9A-Z]{16}|Bearer\s+[A-Za-z0-9._~+/=-]{12,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+"
    r"|(?:hooks|wss-[a-z0-9-]+)\.slack(?:-gov)?\.com(?:\\*/[^\s'\"<>\\/]*)+)"
)
REDACTED = "[redacted]"


def redact_token_shapes(text: str) -> str:
    """`text` without anything shaped like a token (Slack, AWS, bearer, JWT, Slack hook
    URLs), for text kept where no configured secret list is at hand."""
    return _TOKEN_SHAPES.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return redact_token_shapes(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Exception text is rendered later by the formatter; render it now, redacted.
            formatter = logging.Formatter()
            record.exc_text = self.redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        for key in ("platform", "event_id", "latency_ms", "model"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(settings: Settings, *, stream: object = None) -> RedactingFilter:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    redactor = RedactingFilter(settings.secrets())
    handler.addFilter(redactor)
    # libraries that set their own loggers to DEBUG still stop here
    handler.setLevel(settings.log_level)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Libraries that are chatty at INFO
    for noisy in (
        "httpx",
        "chromadb",
        "sentence_transformers",
        "urllib3",
        "botocore",
        "bm25s",
        "transformers",
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return redactor


def configure(prog: str, env_file: str | None = ".env") -> Settings:
    """Read settings and set up logging for a command or job; on a bad setting, one line and exit 2."""
    import sys

    from bot.config import ConfigError

    try:
        settings = Settings.from_env(env_file=env_file)
    except ConfigError as exc:
        print(f"{prog}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings)
    return settings
