"""One settings object, read from the environment and an optional `.env` file.

Every variable docbot reads is declared here and nowhere else. A wrong value
fails at start with a `ConfigError` naming the variable and what it expected.
Secrets are wrapped in `Secret`, whose repr and str never show the value.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit

from dotenv import dotenv_values

PACKAGED_EMBEDDING_MODEL = "packaged:all-MiniLM-L6-v2"
# The providers DOCBOT_MODEL and DOCBOT_FALLBACK may name besides DOCBOT_MODELS' names and the
# spellings in rag.router.ALIASES ("offline", "aws", ...)
BUILTIN_MODELS = ("extractive", "bedrock", "cml", "caii")
# What StateStore connects to; any other scheme would silently become a SQLite file path
STATE_URL_SCHEMES = ("postgresql://", "postgres://")
# "score": cosine plus relative BM25 (the default, measured better); "rank": reciprocal ranks
FUSIONS = ("score", "rank")


class ConfigError(ValueError):
    """A configuration value is missing or malformed. The message names the variable."""


class Secret:
    """A string that never prints. Call `reveal()` at the one place that needs it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class Env:
    """Typed, strict reads of an environment mapping."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def raw(self, name: str) -> str | None:
        value = self._values.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def str(self, name: str, default: str = "") -> str:
        value = self.raw(name)
        return default if value is None else value

    def secret(self, name: str) -> Secret:
        return Secret(self.raw(name) or "")

    def int(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            result = int(value)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {value!r}") from None
        _check_range(name, result, minimum, maximum)
        return result

    def float(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            result = float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {value!r}") from None
        # float() takes "nan" and "inf": NaN passes every range check and compares false
        # with everything (a threshold that never declines), so refuse both here.
        if not math.isfinite(result):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
        _check_range(name, result, minimum, maximum)
        return result

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), got {value!r}")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.str(name, default).lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def list(self, name: str) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return ()
        return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be <= {maximum}, got {value}")


def _device(env: Env) -> str:
    value = env.str("DOCBOT_EMBEDDING_DEVICE", "auto").lower()
    if value in {"auto", "cpu", "cuda", "mps"} or value.startswith("cuda:"):
        return value
    raise ConfigError(
        f"DOCBOT_EMBEDDING_DEVICE must be auto, cpu, cuda, cuda:N or mps, got {value!r}"
    )


def _named_models(env: Env) -> dict[str, str]:
    """`DOCBOT_MODELS=claude=bedrock:anthropic.claude-3-haiku...,mistral=cml:...` style aliases."""
    out: dict[str, str] = {}
    for item in env.list("DOCBOT_MODELS"):
        if "=" not in item:
            raise ConfigError(
                f"DOCBOT_MODELS entries must look like name=provider:model_id, got {item!r}"
            )
        name, spec = (part.strip() for part in item.split("=", 1))
        if ":" not in spec or not name:
            raise ConfigError(
                f"DOCBOT_MODELS entries must look like name=provider:model_id, got {item!r}"
            )
        out[name] = spec
    return out


def _state_url(env: Env) -> str:
    """Empty (SQLite under the data dir), a PostgreSQL URL, or a SQLite file path.

    A URL of another scheme (`postgresql+psycopg://`, `mysql://`, a typo) would otherwise be
    taken for a file path: each replica would keep its own SQLite state and answer twice.
    """
    value = env.str("DOCBOT_STATE_URL")
    if "://" in value and not value.startswith(STATE_URL_SCHEMES):
        scheme = value.split("://", 1)[0]  # only the scheme: the rest may hold a password
        raise ConfigError(
            "DOCBOT_STATE_URL must be a postgresql://user@host:5432/db URL "
            f"(or empty for SQLite under DOCBOT_DATA_DIR), got a {scheme}:// URL"
        )
    if value.startswith(STATE_URL_SCHEMES):
        try:
            urlsplit(value)  # what secrets() and the masked repr parse at startup
        except ValueError:
            # neither the value nor urlsplit's message: either may show the password
            raise ConfigError(
                "DOCBOT_STATE_URL is not a valid postgresql://user@host:5432/db URL "
                "(check the host: an IPv6 address goes in [brackets])"
            ) from None
    return value


def _check_model_names(
    default_model: str, fallback: tuple[str, ...], named: dict[str, str]
) -> None:
    """DOCBOT_MODEL and DOCBOT_FALLBACK name models docbot knows (the router would otherwise
    answer with the offline model, or skip the fallback, on every question)."""
    known = set(BUILTIN_MODELS)
    for alias, spec in named.items():
        known.add(alias.lower())
        known.add(f"{spec.split(':', 1)[0].strip().lower()}:{alias.lower()}")  # "bedrock:claude"
    checks = [("DOCBOT_MODEL", default_model)] + [("DOCBOT_FALLBACK", m) for m in fallback]
    for variable, name in checks:
        key = " ".join(name.split()).lower()
        if key in known:
            continue
        from rag.router import ALIASES  # not at the top: rag.router imports this module

        if key in ALIASES:
            continue
        raise ConfigError(
            f"{variable}: unknown model {name!r}; use {', '.join(BUILTIN_MODELS)}"
            + (f" or a name from DOCBOT_MODELS ({', '.join(named)})" if named else "")
        )


@dataclass(frozen=True)
class Settings:
    # storage
    data_dir: Path = Path(".docbot")
    state_url: str = ""  # empty: SQLite under data_dir; postgresql://... for shared state
    # embedding and index
    embedding_model: str = PACKAGED_EMBEDDING_MODEL
    embedding_device: str = "auto"
    embedding_batch_size: int = 0  # 0: pick by device
    reranker_model: str = ""
    gate_model: str = ""  # a decline model from `docbot train-gate` (rag.trained_gate)
    fusion: str = "score"  # how dense and keyword results combine: "score" or "rank" (rag.retrieve)
    synonyms_file: str = ""  # the docs' own words for chat shorthand, added to rag.synonyms
    chroma_host: str = ""
    chroma_port: int = 8000
    min_relevance: float = -1.0  # < 0: the calibrated default in rag.retrieve
    llm_min_relevance: float = -1.0  # < 0: the calibrated default in rag.retrieve
    condense_followups: bool = True  # a language model rewrites follow-ups for search
    top_k: int = 5
    keep_versions: int = 3
    max_page_loss: float = 0.2
    # answering
    default_model: str = "extractive"
    fallback_chain: tuple[str, ...] = ()
    named_models: dict[str, str] = field(default_factory=dict)
    model_timeout_s: float = 60.0
    bedrock_model_id: str = "mistral.mistral-7b-instruct-v0:2"
    aws_region: str = ""
    cml_model_url: str = ""
    cml_model_access_key: Secret = Secret("")
    caii_url: str = ""
    caii_model: str = ""
    caii_token: Secret = Secret("")
    # chat platforms
    admins: tuple[str, ...] = ()
    slack_admin_group: str = ""
    slack_mode: str = "socket"
    slack_bot_token: Secret = Secret("")
    slack_app_token: Secret = Secret("")
    slack_signing_secret: Secret = Secret("")
    slack_api_url: str = ""
    slack_thread_followups: bool = True
    teams_app_id: str = ""
    teams_app_password: Secret = Secret("")
    teams_app_type: str = "MultiTenant"
    teams_tenant_id: str = ""
    teams_emulator: bool = False
    teams_openid_metadata_url: str = ""  # tests point this at a local server
    # server
    host: str = "127.0.0.1"
    port: int = 8080
    # CML
    cml_domain: str = ""
    cml_api_key: Secret = Secret("")
    cml_project_id: str = ""
    cml_runtime_id: str = ""
    cml_gpus: int = 1
    cml_scrape_schedule: str = ""
    cml_app_subdomain: str = "docbot"
    # Labelled question sets (glob patterns, relative to the project root) for the
    # "train decline model" job; empty: no such job (rag/gate_job.py)
    cml_gate_sets: str = ""
    cml_gate_base_model: str = ""  # the job's --base-model; empty: the embedding model
    # ingest
    ingest_source: str = ""  # default source for reingest: a path, links file/URL, sitemap URL
    ingest_base_url: str = ""  # a folder source's publish URL (citation links)
    ingest_allow_private: bool = False
    ingest_concurrency: int = 16
    ingest_per_host: int = 8
    ingest_max_crawl_delay: float = 10.0  # cap on a robots.txt Crawl-delay, seconds (0: ignore it)
    # operations
    log_format: str = "text"
    log_level: str = "INFO"
    log_message_text: bool = False
    max_question_chars: int = 2000
    rate_limit_per_minute: int = 20
    max_concurrent_answers: int = 8
    answer_log_retention_days: int = 90
    # salts the user, conversation and thread hashes of the answer log; unset: a built-in one
    hash_salt: Secret = Secret("")
    default_language: str = "auto"

    def __repr__(self) -> str:
        # Secrets hide themselves; credentials written into a URL setting are masked here.
        def shown(name: str) -> str:
            value = getattr(self, name)
            if isinstance(value, str):
                for credential in url_credentials(value):
                    value = value.replace(credential, "***")
            return f"{name}={value!r}"

        return f"Settings({', '.join(shown(f.name) for f in fields(self))})"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def state_path(self) -> Path:
        return self.data_dir / "state.sqlite3"

    @property
    def uses_chroma_server(self) -> bool:
        return bool(self.chroma_host)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
    ) -> Settings:
        """Read settings; real environment variables win over the `.env` file."""
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        env = Env(values)
        port_default = env.int("CDSW_APP_PORT", 8080, minimum=1, maximum=65535)
        named_models = _named_models(env)
        default_model = env.str("DOCBOT_MODEL", "extractive")
        fallback_chain = env.list("DOCBOT_FALLBACK")
        _check_model_names(default_model, fallback_chain, named_models)
        return cls(
            data_dir=Path(env.str("DOCBOT_DATA_DIR", ".docbot")).expanduser(),
            state_url=_state_url(env),
            embedding_model=env.str("DOCBOT_EMBEDDING_MODEL", PACKAGED_EMBEDDING_MODEL),
            embedding_device=_device(env),
            embedding_batch_size=env.int("DOCBOT_EMBEDDING_BATCH_SIZE", 0, minimum=0),
            reranker_model=env.str("DOCBOT_RERANKER_MODEL"),
            gate_model=env.str("DOCBOT_GATE_MODEL"),
            fusion=env.choice("DOCBOT_FUSION", "score", FUSIONS),
            synonyms_file=env.str("DOCBOT_SYNONYMS_FILE"),
            chroma_host=env.str("CHROMA_HOST"),
            chroma_port=env.int("CHROMA_PORT", 8000, minimum=1, maximum=65535),
            min_relevance=env.float("DOCBOT_MIN_RELEVANCE", -1.0, maximum=1.0),
            llm_min_relevance=env.float("DOCBOT_LLM_MIN_RELEVANCE", -1.0, maximum=1.0),
            condense_followups=env.bool("DOCBOT_CONDENSE_FOLLOWUPS", True),
            top_k=env.int("DOCBOT_TOP_K", 5, minimum=1, maximum=50),
            keep_versions=env.int("DOCBOT_KEEP_VERSIONS", 3, minimum=1),
            max_page_loss=env.float("DOCBOT_MAX_PAGE_LOSS", 0.2, minimum=0.0, maximum=1.0),
            default_model=default_model,
            fallback_chain=fallback_chain,
            named_models=named_models,
            model_timeout_s=env.float("DOCBOT_MODEL_TIMEOUT", 60.0, minimum=0.1),
            bedrock_model_id=env.str("DOCBOT_BEDROCK_MODEL_ID", "mistral.mistral-7b-instruct-v0:2"),
            aws_region=env.str("AWS_REGION", env.str("AWS_DEFAULT_REGION")),
            cml_model_url=env.str("DOCBOT_CML_MODEL_URL"),
            cml_model_access_key=env.secret("DOCBOT_CML_MODEL_ACCESS_KEY"),
            caii_url=env.str("DOCBOT_CAII_URL"),
            caii_model=env.str("DOCBOT_CAII_MODEL"),
            caii_token=env.secret("DOCBOT_CAII_TOKEN"),
            admins=env.list("DOCBOT_ADMINS"),
            slack_admin_group=env.str("DOCBOT_SLACK_ADMIN_GROUP"),
            slack_mode=env.choice("DOCBOT_SLACK_MODE", "socket", ("socket", "http")),
            slack_bot_token=env.secret("SLACK_BOT_TOKEN"),
            slack_app_token=env.secret("SLACK_APP_TOKEN"),
            slack_signing_secret=env.secret("SLACK_SIGNING_SECRET"),
            slack_api_url=env.str("DOCBOT_SLACK_API_URL"),
            slack_thread_followups=env.bool("DOCBOT_SLACK_THREAD_FOLLOWUPS", True),
            teams_app_id=env.str("MicrosoftAppId"),
            teams_app_password=env.secret("MicrosoftAppPassword"),
            teams_app_type=env.str("MicrosoftAppType", "MultiTenant"),
            teams_tenant_id=env.str("MicrosoftAppTenantId"),
            teams_emulator=env.bool("DOCBOT_TEAMS_EMULATOR", False),
            teams_openid_metadata_url=env.str("DOCBOT_TEAMS_OPENID_METADATA_URL"),
            host=env.str("DOCBOT_HOST", "127.0.0.1"),
            port=env.int("DOCBOT_PORT", port_default, minimum=0, maximum=65535),
            cml_domain=env.str("CDSW_DOMAIN"),
            cml_api_key=env.secret("CDSW_APIV2_KEY"),
            cml_project_id=env.str("CDSW_PROJECT_ID"),
            cml_runtime_id=env.str("DOCBOT_CML_RUNTIME_ID"),
            cml_gpus=env.int("DOCBOT_CML_GPUS", 1, minimum=0, maximum=8),
            cml_scrape_schedule=env.str("DOCBOT_CML_SCRAPE_SCHEDULE"),
            cml_app_subdomain=env.str("DOCBOT_CML_APP_SUBDOMAIN", "docbot"),
            cml_gate_sets=env.str("DOCBOT_CML_GATE_SETS"),
            cml_gate_base_model=env.str("DOCBOT_CML_GATE_BASE_MODEL"),
            ingest_source=env.str("DOCBOT_INGEST_SOURCE"),
            ingest_base_url=env.str("DOCBOT_INGEST_BASE_URL"),
            ingest_allow_private=env.bool("DOCBOT_INGEST_ALLOW_PRIVATE", False),
            ingest_concurrency=env.int("DOCBOT_INGEST_CONCURRENCY", 16, minimum=1, maximum=256),
            ingest_per_host=env.int("DOCBOT_INGEST_PER_HOST", 8, minimum=1, maximum=64),
            ingest_max_crawl_delay=env.float(
                "DOCBOT_INGEST_MAX_CRAWL_DELAY", 10.0, minimum=0.0, maximum=3600.0
            ),
            log_format=env.choice("DOCBOT_LOG_FORMAT", "text", ("text", "json")),
            log_level=env.choice(
                "DOCBOT_LOG_LEVEL", "info", ("debug", "info", "warning", "error")
            ).upper(),
            log_message_text=env.bool("DOCBOT_LOG_MESSAGE_TEXT", False),
            max_question_chars=env.int("DOCBOT_MAX_QUESTION_CHARS", 2000, minimum=10),
            rate_limit_per_minute=env.int("DOCBOT_RATE_LIMIT_PER_MINUTE", 20, minimum=0),
            max_concurrent_answers=env.int("DOCBOT_MAX_CONCURRENT_ANSWERS", 8, minimum=1),
            answer_log_retention_days=env.int("DOCBOT_ANSWER_LOG_RETENTION_DAYS", 90, minimum=1),
            hash_salt=env.secret("DOCBOT_HASH_SALT"),
            default_language=env.choice("DOCBOT_LANGUAGE", "auto", ("auto", "en", "ko")),
        )

    def secrets(self) -> list[str]:
        """Every secret value, for redaction filters: the `Secret` settings, and credentials
        written into a URL setting (a password, an `?accessKey=` value)."""
        values = [
            v.reveal() for f in fields(self) if isinstance(v := getattr(self, f.name), Secret) and v
        ]
        for url in (self.state_url, self.cml_model_url, self.caii_url, self.ingest_source):
            values.extend(url_credentials(url, min_query_chars=MIN_QUERY_SECRET))
        return values


# Words of a query parameter's name that make its value a credential (`?accessKey=`,
# `?api_key=`, `?X-Amz-Signature=`, `?sig=`). Whole words of the name, not substrings:
# `?design=` or `?keyword=` are not secrets, and their values must not be redacted.
SECRET_WORDS = frozenset(
    {"token", "key", "apikey", "accesskey", "sig", "signature", "secret", "password"}
    | {"passwd", "pwd", "auth", "authorization", "credential", "credentials", "session"}
    | {"sessionid", "accesstoken", "authtoken", "apitoken", "sas"}
)
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# Query values shorter than this are not handed to the log filter, which replaces them
# anywhere in any line: `?key=docs` would otherwise redact every "docs" in every URL.
MIN_QUERY_SECRET = 8


def is_secret_param(name: str) -> bool:
    """Whether a query parameter's value is a credential, by the words of its name."""
    if name.lower() in SECRET_WORDS:
        return True
    return any(word.lower() in SECRET_WORDS for word in _NAME_WORDS.findall(name))


def url_credentials(url: str, *, min_query_chars: int = 1) -> list[str]:
    """The credentials written into a URL: its password and secret-looking query values
    of at least `min_query_chars`, each as written in the URL and as decoded (`ab%2Bc`
    and `ab+c`)."""
    if "://" not in url:
        return []  # a path, or empty
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
    except ValueError:  # unparseable: its settings check refuses it
        return []
    for pair in parts.query.split("&"):
        name, _, raw = pair.partition("=")
        if raw and is_secret_param(unquote_plus(name)):
            forms = dict.fromkeys((raw, unquote_plus(raw)))
            found += [form for form in forms if len(form) >= min_query_chars]
    return found
