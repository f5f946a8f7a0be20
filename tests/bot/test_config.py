"""Settings.from_env: defaults, precedence, strict parsing, secrets that never print."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import PACKAGED_EMBEDDING_MODEL, ConfigError, Secret, Settings


def load(**env: str) -> Settings:
    return Settings.from_env(env, env_file=None)


def test_defaults_need_no_environment_at_all() -> None:
    s = load()
    assert s.data_dir == Path(".docbot")
    assert s.embedding_model == PACKAGED_EMBEDDING_MODEL
    assert s.default_model == "extractive"
    assert s.port == 8080
    assert s.top_k == 5
    assert s.keep_versions == 3
    assert s.max_page_loss == 0.2
    assert s.slack_mode == "socket"
    assert s.log_level == "INFO"
    assert s.default_language == "auto"
    assert s.admins == ()
    assert s.named_models == {}
    assert not s.slack_bot_token
    assert s.index_dir == Path(".docbot/index")
    assert s.state_path == Path(".docbot/state.sqlite3")
    assert not s.uses_chroma_server


def test_the_real_environment_beats_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DOCBOT_TOP_K=7\nDOCBOT_PORT=9000\nDOCBOT_MODEL=bedrock\n")
    s = Settings.from_env({"DOCBOT_PORT": "9100"}, env_file=env_file)
    assert s.port == 9100  # environment wins
    assert s.top_k == 7  # only in the file
    assert s.default_model == "bedrock"


def test_a_missing_env_file_is_not_an_error(tmp_path: Path) -> None:
    assert Settings.from_env({}, env_file=tmp_path / "absent.env").top_k == 5


def test_cml_app_port_is_the_default_port_and_docbot_port_wins() -> None:
    assert load(CDSW_APP_PORT="8100").port == 8100
    assert load(CDSW_APP_PORT="8100", DOCBOT_PORT="8200").port == 8200


def test_blank_values_count_as_unset() -> None:
    assert load(DOCBOT_TOP_K="   ").top_k == 5


def test_lists_accept_commas_and_semicolons() -> None:
    s = load(DOCBOT_ADMINS="U1, U2;U3 ,", DOCBOT_FALLBACK="bedrock,extractive")
    assert s.admins == ("U1", "U2", "U3")
    assert s.fallback_chain == ("bedrock", "extractive")


def test_named_models_are_parsed() -> None:
    s = load(DOCBOT_MODELS="claude=bedrock:anthropic.claude-3-haiku, mistral = cml:mistral-7b")
    assert s.named_models == {
        "claude": "bedrock:anthropic.claude-3-haiku",
        "mistral": "cml:mistral-7b",
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DOCBOT_PORT", "eighty"),
        ("DOCBOT_PORT", "70000"),
        ("DOCBOT_PORT", "-1"),
        ("CDSW_APP_PORT", "0"),
        ("CHROMA_PORT", "x"),
        ("DOCBOT_TOP_K", "0"),
        ("DOCBOT_TOP_K", "51"),
        ("DOCBOT_TOP_K", "2.5"),
        ("DOCBOT_KEEP_VERSIONS", "0"),
        ("DOCBOT_CML_GPUS", "9"),
        ("DOCBOT_INGEST_CONCURRENCY", "1000"),
        ("DOCBOT_MAX_QUESTION_CHARS", "5"),
        ("DOCBOT_RATE_LIMIT_PER_MINUTE", "-3"),
        ("DOCBOT_EMBEDDING_BATCH_SIZE", "many"),
    ],
)
def test_a_bad_integer_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load(**{name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DOCBOT_MAX_PAGE_LOSS", "1.5"),
        ("DOCBOT_MAX_PAGE_LOSS", "-0.1"),
        ("DOCBOT_MAX_PAGE_LOSS", "lots"),
        ("DOCBOT_MIN_RELEVANCE", "2"),
        ("DOCBOT_LLM_MIN_RELEVANCE", "1.5"),
        ("DOCBOT_LLM_MIN_RELEVANCE", "low"),
        ("DOCBOT_MODEL_TIMEOUT", "0"),
        ("DOCBOT_MODEL_TIMEOUT", "soon"),
    ],
)
def test_a_bad_float_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load(**{name: value})


@pytest.mark.parametrize("value", ["1", "true", "YES", "on", "True"])
def test_true_spellings(value: str) -> None:
    assert load(DOCBOT_TEAMS_EMULATOR=value).teams_emulator is True


@pytest.mark.parametrize("value", ["0", "false", "No", "OFF"])
def test_false_spellings(value: str) -> None:
    assert load(DOCBOT_SLACK_THREAD_FOLLOWUPS=value).slack_thread_followups is False


@pytest.mark.parametrize(
    "name",
    [
        "DOCBOT_TEAMS_EMULATOR",
        "DOCBOT_SLACK_THREAD_FOLLOWUPS",
        "DOCBOT_INGEST_ALLOW_PRIVATE",
        "DOCBOT_LOG_MESSAGE_TEXT",
    ],
)
def test_a_bad_boolean_names_the_variable(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load(**{name: "maybe"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DOCBOT_SLACK_MODE", "websocket"),
        ("DOCBOT_LOG_FORMAT", "xml"),
        ("DOCBOT_LOG_LEVEL", "verbose"),
        ("DOCBOT_LANGUAGE", "fr"),
        ("DOCBOT_FUSION", "rrf"),
    ],
)
def test_a_value_outside_the_choices_names_the_variable_and_the_choices(
    name: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=name) as err:
        load(**{name: value})
    assert "must be one of" in str(err.value)


def test_no_trained_decline_model_unless_one_is_named() -> None:
    assert load().gate_model == ""
    assert load(DOCBOT_GATE_MODEL="/data/gate").gate_model == "/data/gate"


def test_results_are_fused_by_score_unless_told_by_rank() -> None:
    assert load().fusion == "score"
    assert load(DOCBOT_FUSION="Rank").fusion == "rank"


def test_choices_are_case_insensitive() -> None:
    s = load(DOCBOT_SLACK_MODE="HTTP", DOCBOT_LOG_LEVEL="debug", DOCBOT_LOG_FORMAT="JSON")
    assert (s.slack_mode, s.log_level, s.log_format) == ("http", "DEBUG", "json")


@pytest.mark.parametrize("value", ["claude", "claude=bedrock", "=bedrock:x", "a=b:c,broken"])
def test_malformed_named_models_name_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="DOCBOT_MODELS"):
        load(DOCBOT_MODELS=value)


@pytest.mark.parametrize("value", ["auto", "cpu", "cuda", "cuda:1", "mps", "CPU"])
def test_embedding_devices_accepted(value: str) -> None:
    assert load(DOCBOT_EMBEDDING_DEVICE=value).embedding_device == value.lower()


@pytest.mark.parametrize("value", ["gpu", "tpu", "cuda0"])
def test_a_bad_embedding_device_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="DOCBOT_EMBEDDING_DEVICE"):
        load(DOCBOT_EMBEDDING_DEVICE=value)


def test_config_error_is_a_value_error_with_the_bad_value() -> None:
    with pytest.raises(ValueError, match="'eighty'"):
        load(DOCBOT_PORT="eighty")


SECRET_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-1111-2222-supersecretvalue",
    "SLACK_APP_TOKEN": "xapp-1-A111-secretappvalue",
    "SLACK_SIGNING_SECRET": "signing-secret-value-123",
    "MicrosoftAppPassword": "teams-password-value-456",
    "CDSW_APIV2_KEY": "cml-api-key-value-789",
    "DOCBOT_CAII_TOKEN": "caii-token-value-000",
    "DOCBOT_CML_MODEL_ACCESS_KEY": "model-access-key-abc",
}


def test_secrets_never_show_in_repr_str_or_format() -> None:
    s = load(**SECRET_ENV)
    shown = " ".join(
        [
            repr(s),
            str(s),
            f"{s}",
            f"{s.slack_bot_token}",
            f"{s.slack_bot_token!r}",
            str(s.caii_token),
        ]
    )
    for value in SECRET_ENV.values():
        assert value not in shown
    assert "**********" in repr(s.slack_bot_token)
    assert s.slack_bot_token.reveal() == SECRET_ENV["SLACK_BOT_TOKEN"]


def test_secrets_lists_every_configured_secret_value() -> None:
    s = load(**SECRET_ENV)
    assert sorted(s.secrets()) == sorted(SECRET_ENV.values())
    assert load().secrets() == []


def test_an_empty_secret_is_falsy_and_says_so() -> None:
    assert not Secret("")
    assert repr(Secret("")) == "Secret('')"
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


def test_a_password_in_the_state_url_never_prints_but_is_redacted() -> None:
    s = load(DOCBOT_STATE_URL="postgresql://docbot:pg-pass-4242@db.internal:5432/docbot")
    assert "pg-pass-4242" not in repr(s)
    assert "postgresql://docbot:" in repr(s) and "@db.internal:5432/docbot" in repr(s)
    assert s.state_url.endswith("@db.internal:5432/docbot")  # the real value is still usable
    assert "pg-pass-4242" in s.secrets()


def test_credentials_in_any_url_setting_never_print_but_are_redacted() -> None:
    s = load(
        DOCBOT_CML_MODEL_URL="https://modelservice.ml.example/model?accessKey=mk-4242secret",
        DOCBOT_INGEST_SOURCE="https://reader:src-pass-77@docs.example/sitemap.xml",
    )
    assert "mk-4242secret" not in repr(s) and "src-pass-77" not in repr(s)
    assert "accessKey=***" in repr(s) and "reader:***@docs.example" in repr(s)
    assert {"mk-4242secret", "src-pass-77"} <= set(s.secrets())
    assert s.cml_model_url.endswith("accessKey=mk-4242secret")  # still usable


def test_a_query_parameter_is_a_credential_by_the_words_of_its_name_not_a_substring() -> None:
    # `?design=docs` held "sig", `?keyword=` "key": their values were redacted from every
    # log line ("https://[redacted].example.com/[redacted]/install")
    s = load(
        DOCBOT_INGEST_SOURCE="https://docs.example/sitemap.xml?design=docs&keyword=install"
        "&X-Amz-Signature=0123456789abcdef&api_key=k-99887766"
    )
    assert s.secrets() == ["0123456789abcdef", "k-99887766"]
    assert "design=docs&keyword=install" in repr(s)


def test_a_percent_encoded_credential_is_masked_as_written_and_redacted_as_decoded() -> None:
    s = load(DOCBOT_CML_MODEL_URL="https://model.ml.example/m?accessKey=mk%2B4242%2Fsecret")
    assert "mk%2B4242%2Fsecret" not in repr(s) and "accessKey=***" in repr(s)
    assert {"mk%2B4242%2Fsecret", "mk+4242/secret"} <= set(s.secrets())


def test_a_short_query_credential_is_masked_but_not_redacted_from_every_log_line() -> None:
    # the log filter replaces a secret wherever it appears: a 4-letter value would take
    # ordinary words with it; URLs in logs and chat go through redact_url, which masks it
    s = load(DOCBOT_INGEST_SOURCE="https://docs.example/sitemap.xml?token=docs")
    assert "token=***" in repr(s)
    assert s.secrets() == []


def test_the_hash_salt_is_a_secret() -> None:
    s = load(DOCBOT_HASH_SALT="pepper-4242-salt")
    assert s.hash_salt.reveal() == "pepper-4242-salt"
    assert "pepper-4242-salt" not in repr(s) and "pepper-4242-salt" in s.secrets()
    assert not load().hash_salt  # unset: the built-in salt


def test_a_malformed_state_url_is_a_config_error_naming_it_without_its_password() -> None:
    # an unclosed IPv6 bracket: urlsplit raises ValueError, which was a traceback at startup
    with pytest.raises(ConfigError, match="^DOCBOT_STATE_URL") as err:
        load(DOCBOT_STATE_URL="postgresql://u:pg-pass-4242@[::1/db")
    assert "pg-pass-4242" not in str(err.value)


def test_a_state_url_without_a_password_is_shown_as_is() -> None:
    s = load(DOCBOT_STATE_URL="postgresql://db.internal/docbot")
    assert "postgresql://db.internal/docbot" in repr(s)
    assert s.secrets() == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DOCBOT_MIN_RELEVANCE", "nan"),
        ("DOCBOT_LLM_MIN_RELEVANCE", "NaN"),
        ("DOCBOT_MAX_PAGE_LOSS", "nan"),
        ("DOCBOT_MODEL_TIMEOUT", "inf"),
        ("DOCBOT_INGEST_MAX_CRAWL_DELAY", "nan"),
    ],
)
def test_not_a_number_and_infinity_are_refused_naming_the_variable(name: str, value: str) -> None:
    # NaN passes every range check and makes a relevance threshold that never declines
    with pytest.raises(ConfigError, match=f"{name} must be a finite number"):
        load(**{name: value})


@pytest.mark.parametrize(
    "value",
    ["extractive", "Bedrock", "cml", "caii", "offline", "aws", "claude", "bedrock:claude"],
)
def test_the_default_model_may_be_a_provider_an_alias_or_a_named_model(value: str) -> None:
    s = load(DOCBOT_MODEL=value, DOCBOT_MODELS="claude=bedrock:anthropic.claude-3-haiku")
    assert s.default_model == value


def test_an_unknown_default_model_names_the_variable_and_the_valid_names() -> None:
    with pytest.raises(ConfigError, match="DOCBOT_MODEL: unknown model 'bedorck'") as err:
        load(DOCBOT_MODEL="bedorck", DOCBOT_MODELS="claude=bedrock:anthropic.claude-3-haiku")
    assert "bedrock" in str(err.value) and "claude" in str(err.value)


def test_an_unknown_fallback_model_names_the_variable() -> None:
    assert load(DOCBOT_FALLBACK="cml, offline").fallback_chain == ("cml", "offline")
    with pytest.raises(ConfigError, match="DOCBOT_FALLBACK: unknown model 'cmll'"):
        load(DOCBOT_FALLBACK="bedrock,cmll")


@pytest.mark.parametrize(
    "value",
    [
        "postgresql+psycopg://docbot:pg-pass-4242@db/docbot",
        "mysql://docbot:pg-pass-4242@db/docbot",
        "sqlite:///var/docbot/state.sqlite3",
        "postgressql://docbot:pg-pass-4242@db/docbot",
    ],
)
def test_a_state_url_of_another_scheme_is_refused_without_showing_its_password(
    value: str,
) -> None:
    # taken for a SQLite path, it would give every replica its own state (double answers)
    with pytest.raises(ConfigError, match="DOCBOT_STATE_URL") as err:
        load(DOCBOT_STATE_URL=value)
    assert "pg-pass-4242" not in str(err.value)


@pytest.mark.parametrize(
    "value", ["postgresql://db.internal/docbot", "postgres://u@db/docbot", "/tmp/state.sqlite3"]
)
def test_a_state_url_may_be_postgres_or_a_sqlite_file(value: str) -> None:
    assert load(DOCBOT_STATE_URL=value).state_url == value


# the settings documentation against the code ----------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ("bot", "adapters", "rag", "ingest", "deploy")
READ = re.compile(r'\benv\.(?:str|int|float|bool|list|secret|choice|raw)\(\s*"([A-Za-z_0-9]+)"')
REFERENCES = [ROOT / "docs" / "configuration.md", ROOT / "docs" / "ko" / "configuration.md"]
# every page with a settings table: a table whose first column is headed Variable / 변수
SETTINGS_PAGES = sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "docs" / "ko").glob("*.md"))


def variables_read() -> set[str]:
    names: set[str] = set()
    for folder in CODE_DIRS:
        for source in (ROOT / folder).rglob("*.py"):
            names.update(READ.findall(source.read_text(encoding="utf-8")))
    return names


def settings_rows(page: Path) -> list[tuple[list[str], str | None]]:
    """(variable names, documented default) of each row of the page's settings tables. The
    default is None unless the table has a Default column holding one `value` in backticks."""
    rows: list[tuple[list[str], str | None]] = []
    header: list[str] | None = None
    for line in page.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if set(line) <= set("|-: ") or header[0] not in ("variable", "변수"):
            continue
        default = None
        if len(header) > 1 and header[1] in ("default", "기본값"):
            single = re.fullmatch(r"`([^`]*)`", cells[1])
            default = single.group(1) if single else None
        rows.append((re.findall(r"`([^`]+)`", cells[0]), default))
    return rows


def test_the_settings_tables_are_found() -> None:
    for reference in REFERENCES:
        assert len(settings_rows(reference)) >= 60, reference


@pytest.mark.parametrize("reference", REFERENCES, ids=["en", "ko"])
def test_every_variable_docbot_reads_is_in_the_configuration_reference(reference: Path) -> None:
    text = reference.read_text(encoding="utf-8")
    missing = sorted(name for name in variables_read() if f"`{name}`" not in text)
    assert not missing, f"{reference.relative_to(ROOT)} does not document {missing}"


@pytest.mark.parametrize("page", SETTINGS_PAGES, ids=lambda p: str(p.relative_to(ROOT / "docs")))
def test_every_documented_variable_is_read_with_its_documented_default(page: Path) -> None:
    read = variables_read()
    unset = load()
    for names, default in settings_rows(page):
        for name in names:
            assert name in read, f"{page.name} documents {name}, which docbot never reads"
        if default is not None:
            (name,) = names
            # setting a variable to its documented default changes nothing
            assert load(**{name: default}) == unset, f"{page.name}: {name} default {default!r}"
