"""The `docbot` command line: its JSON contracts, errors as one line, exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings
from rag.index_store import IndexStore

BASE = "https://docs.example.com/"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    """No DOCBOT_* from the outside, no .env file; logging restored after main() set it up."""
    for name in list(os.environ):
        if name.startswith(("DOCBOT_", "SLACK_", "CHROMA_", "CDSW_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def shared_env(
    tmp_path: Path, built_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Point the CLI at the shared (read-only) index; state in this test's tmp dir."""
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(built_settings.data_dir))
    monkeypatch.setenv("DOCBOT_STATE_URL", str(tmp_path / "state.sqlite3"))
    return built_settings


def run(
    capsys: pytest.CaptureFixture[str],
    *args: str,
    stdin: str | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["--env-file", "absent.env", *args])
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_ingest_path_json_summary(
    tmp_path: Path,
    corpus_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "data"))
    code, out, err = run(capsys, "ingest", "--path", str(corpus_dir), "--base-url", BASE, "--json")
    assert code == 0, err
    [summary] = json_lines(out)
    assert summary["scrape"]["pages"] == 5 and summary["scrape"]["new"] == 5
    assert summary["source"] == f"path {corpus_dir} (published at {BASE})"
    assert summary["index"]["published"] is True and summary["index"]["pages"] == 5
    assert summary["index"]["chunks_embedded"] == summary["index"]["chunks"]
    assert (
        summary["index"]["version"]
        == IndexStore(
            Settings.from_env({"DOCBOT_DATA_DIR": str(tmp_path / "data")}, env_file=None)
        ).current_id()
    )
    # the text form of a second run: everything reused
    code, out, err = run(capsys, "ingest", "--path", str(corpus_dir), "--base-url", BASE)
    assert code == 0 and " 0 embedded" in out
    assert (out + err).count("Ingest finished") == 1  # the result on stdout, said once
    assert out.startswith("Ingest finished: pages 5: 0 new, 0 changed, 5 unchanged, 0 removed")


def test_an_ingest_error_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "data"))
    code, out, err = run(capsys, "ingest", "--path", str(tmp_path / "nowhere"), "--base-url", BASE)
    assert code == 1 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("docbot: ingest failed: SourceError: not a folder:")
    code, out, err = run(
        capsys, "ingest", "--path", str(tmp_path / "nowhere"), "--base-url", BASE, "--json"
    )
    assert code == 1 and out == "" and err.count("\n") == 1  # --json: no progress lines either


def test_retrieve_json_contract(shared_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "retrieve", "--json", "-k", "3", "how", "do", "I", "restore", "a", "backup?"
    )
    assert code == 0, err
    [result] = json_lines(out)
    assert result["question"] == "how do I restore a backup?"
    assert len(result["results"]) == 3
    first = result["results"][0]
    assert set(first) == {"url", "title", "section", "score", "text"}
    assert first["url"] == BASE + "backup/#restore"
    scores = [r["score"] for r in result["results"]]
    assert scores[0] == max(scores)
    assert result["gate"] == "answer" and 0 < result["relevance"] <= 1


def test_retrieve_says_who_may_answer(
    shared_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "retrieve", "how", "do", "I", "restore", "a", "backup?")
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("relevance ") and "any model answers" in last
    assert "[thresholds: 0.29 offline, 0.20 language model]" in last


def test_retrieve_jsonl_answers_each_line(
    shared_env: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(
        capsys,
        "retrieve",
        "--jsonl",
        stdin="restore a backup\n\nvolume discount\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0
    results = json_lines(out)
    assert [r["question"] for r in results] == ["restore a backup", "volume discount"]
    assert results[1]["results"][0]["url"] == BASE + "guide/pricing/#discounts"


def test_retrieve_without_an_index_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "none"))
    code, out, err = run(capsys, "retrieve", "anything")
    assert code == 2 and out == ""
    assert err == "docbot: no index yet: run `docbot ingest --path DIR` first\n"


@pytest.mark.parametrize("k", ["-3", "0"])
def test_retrieve_refuses_a_k_below_one_in_one_line(
    k: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """-k -3 would silently drop the last three hits (a negative slice), -k 0 show none."""
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "none"))
    code, out, err = run(capsys, "retrieve", "-k", k, "anything")
    assert code == 2 and out == ""
    assert err == f"docbot: -k must be at least 1, got {k}\n"


def test_a_malformed_state_url_is_one_configuration_error_line_without_the_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCBOT_STATE_URL", "postgresql://u:pg-pass-4242@[::1/db")
    code, out, err = run(capsys, "retrieve", "x")
    assert code == 2 and out == ""
    assert err.startswith("docbot: configuration error: DOCBOT_STATE_URL")
    assert err.count("\n") == 1 and "pg-pass-4242" not in err


def test_index_rollback_is_refused_while_an_ingest_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.index_build import ingest_lock

    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "data"))
    settings = Settings.from_env({"DOCBOT_DATA_DIR": str(tmp_path / "data")}, env_file=None)
    with ingest_lock(settings):
        code, out, err = run(capsys, "index", "--rollback")
    assert code == 2 and out == ""  # busy, as for an ingest (the CML job's exit status too)
    assert err == "docbot: another ingest is running\n"


def test_ask_without_an_index_is_a_clear_error_not_a_declined_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 0 with the chat's "nothing indexed" reply would pass a script every decline."""
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("DOCBOT_STATE_URL", str(tmp_path / "state.sqlite3"))
    code, out, err = run(capsys, "ask", "--json", "anything")
    assert code == 2 and out == ""
    assert err == "docbot: no index yet: run `docbot ingest --path DIR` first\n"


@pytest.mark.parametrize("command", ["ask", "retrieve"])
def test_a_blank_question_is_refused_like_a_missing_one(
    command: str, shared_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, command, "--json", "   ")
    assert code == 2 and out == ""
    assert err.splitlines()[-1] == "docbot: give a question, or --jsonl with questions on stdin"


ASK_KEYS = {"question", "answer", "citations", "declined", "model", "rag", "notices", "timings_ms"}


def test_ask_json_contract(shared_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "ask", "--json", "How do I restore a backup?")
    assert code == 0, err
    [answer] = json_lines(out)
    assert ASK_KEYS <= set(answer)
    assert answer["question"] == "How do I restore a backup?"
    assert answer["declined"] is False and answer["rag"] is True
    assert answer["model"].startswith("extractive")
    assert answer["citations"][0]["n"] == 1
    assert answer["citations"][0]["url"] == BASE + "backup/#restore"
    assert {"n", "url", "title"} <= set(answer["citations"][0])
    assert "[1]" in answer["answer"]
    assert answer["timings_ms"]["total"] > 0


def test_ask_jsonl_with_a_decline(
    shared_env: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(
        capsys,
        "ask",
        "--jsonl",
        stdin="How do I install widgetron?\nWhat is the capital of Australia?\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0
    first, second = json_lines(out)
    assert ASK_KEYS <= set(first) and ASK_KEYS <= set(second)
    assert first["declined"] is False and first["citations"][0]["url"].startswith(BASE + "install/")
    assert second["declined"] is True and second["citations"] == []


def test_ask_jsonl_answers_a_batch_without_the_chat_rate_limit(
    shared_env: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the per-user limit protects a chat from one user's flood; an operator's local batch
    # got "you're asking too fast" after 20 questions, with exit status 0
    monkeypatch.setenv("DOCBOT_RATE_LIMIT_PER_MINUTE", "2")
    code, out, _ = run(
        capsys,
        "ask",
        "--jsonl",
        stdin="How do I install widgetron?\n" * 4,
        monkeypatch=monkeypatch,
    )
    assert code == 0
    answers = json_lines(out)
    assert len(answers) == 4 and not any(a["declined"] for a in answers)


def test_ask_no_rag(shared_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ask", "--no-rag", "--json", "How do I install widgetron?")
    assert code == 0
    [answer] = json_lines(out)
    assert answer["rag"] is False and answer["citations"] == []
    assert "RAG is off" in answer["answer"]


def test_ask_text_output_renders_sources(
    shared_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "ask", "How do I restore a backup?")
    assert code == 0 and "Sources:" in out and BASE + "backup/#restore" in out


def test_an_unknown_model_exits_2_with_a_clear_line(
    shared_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "ask", "--model", "gpt-9", "hello")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "unknown model 'gpt-9'" in err and "extractive" in err and "Traceback" not in err


def test_a_config_error_exits_2_naming_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCBOT_TOP_K", "lots")
    code, _, err = run(capsys, "retrieve", "x")
    assert code == 2 and err.startswith("docbot: configuration error: DOCBOT_TOP_K")


def test_index_rollback(
    tmp_path: Path,
    corpus_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "data"))
    assert run(capsys, "ingest", "--path", str(corpus_dir), "--base-url", BASE, "--json")[0] == 0
    first = IndexStore(
        Settings.from_env({"DOCBOT_DATA_DIR": str(tmp_path / "data")}, env_file=None)
    ).current_id()
    code, _, err = run(capsys, "index", "--rollback")
    assert code == 2  # nothing to do, said plainly (as by the CML index job)
    assert err == "docbot: no earlier index version to roll back to\n"
    with open(corpus_dir / "backup.md", "a", encoding="utf-8") as fh:
        fh.write("\n## Retention\n\nBackups are kept for thirty days.\n")
    assert run(capsys, "ingest", "--path", str(corpus_dir), "--base-url", BASE, "--json")[0] == 0
    code, out, _ = run(capsys, "index", "--rollback")
    assert code == 0 and out.startswith(f"live index is now {first} (5 pages")


@pytest.mark.slow
def test_demo_runs_offline_and_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "demo",
        "--data-dir",
        str(tmp_path / "demo"),
        "How do I connect docbot to Slack?",
        "What is the capital of Australia?",
    )
    assert code == 0, err
    assert "Ingest finished" in out
    assert "? How do I connect docbot to Slack?" in out
    answer = out.split("? How do I connect docbot to Slack?")[1].split("? What is the capital")[0]
    assert "Sources:" in answer and "[1]" in answer
    assert "couldn't find this in the docs" in out.split("? What is the capital of Australia?")[1]
    assert "demo finished" in out


@pytest.mark.slow
def test_the_installed_console_script(shared_env: Settings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCBOT_")}
    env.update(
        DOCBOT_DATA_DIR=str(shared_env.data_dir), DOCBOT_STATE_URL=str(tmp_path / "s.sqlite3")
    )
    done = subprocess.run(
        ["docbot", "--env-file", "absent.env", "retrieve", "--json", "restore a backup"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["url"] == BASE + "backup/#restore"
    bad = subprocess.run(
        ["docbot", "--env-file", "absent.env", "ask", "--model", "gpt-9", "hi"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]


def test_stats_drafts_the_logged_questions_to_review(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.state import StateStore

    state = tmp_path / "state.sqlite3"
    monkeypatch.setenv("DOCBOT_STATE_URL", str(state))
    store = StateStore(str(state))
    for question, declined in (("how do i install katib", False), ("mobile app?", True)):
        store.log_answer(
            platform="slack",
            user_id="U1",
            conversation_id="C1",
            question=question,
            sources=[] if declined else [BASE + "katib/#install"],
            model="extractive",
            latency_ms=10.0,
            declined=declined,
        )
    store.close()
    code, out, err = run(capsys, "stats", "--draft-questions", "drafts.jsonl")
    assert code == 0, err
    assert out.startswith("2 questions of the last 30 days drafted to drafts.jsonl")
    drafts = json_lines((tmp_path / "drafts.jsonl").read_text())
    assert [d["kind"] for d in drafts] == ["unanswerable", "single"]
    # not a label yet: docbot eval refuses it, in one line
    code, _, err = run(capsys, "eval", "drafts.jsonl")
    assert code == 2 and "not reviewed yet" in err and "Traceback" not in err
    code, _, err = run(capsys, "stats", "--draft-questions", "no/such/dir/d.jsonl")
    assert code == 2 and err.startswith("error: cannot write no/such/dir/d.jsonl")


def test_stats_reports_the_logged_answers_and_feedback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.state import StateStore

    state = tmp_path / "state.sqlite3"
    monkeypatch.setenv("DOCBOT_STATE_URL", str(state))
    store = StateStore(str(state))
    answer_id = store.log_answer(
        platform="teams",
        user_id="U1",
        conversation_id="C1",
        question="모바일 앱이 있나요?",
        sources=[],
        model="",
        latency_ms=80.0,
        declined=True,
    )
    store.record_feedback(answer_id, "teams:U1", "down")
    store.close()
    code, out, err = run(capsys, "stats", "--days", "7")
    assert code == 0, err
    assert out.splitlines()[:3] == [
        "docbot usage, last 7 days",
        "Answers: 1 · declined: 1 (100%)",
        "Feedback: 👍 0 · 👎 1 (0% positive)",
    ]
    code, out, err = run(capsys, "stats", "--json")
    stats = json.loads(out)
    assert (stats["answers"], stats["feedback_down"], stats["latency_ms_p95"]) == (1, 1, 80.0)


@pytest.mark.parametrize("days", ["0", "-3"])
def test_stats_refuses_a_period_that_is_not_a_positive_number_of_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, days: str
) -> None:
    monkeypatch.setenv("DOCBOT_STATE_URL", str(tmp_path / "state.sqlite3"))
    code, out, err = run(capsys, "stats", "--days", days)
    assert (code, out) == (2, "")  # not "docbot usage, last -3 days: Answers: 0"
    assert err.strip() == f"docbot: --days must be at least 1, got {days}"


def test_stats_without_a_state_database_says_where_it_looked_and_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong DOCBOT_DATA_DIR must not read as "Answers: 0" (and leave an empty database)."""
    monkeypatch.setenv("DOCBOT_DATA_DIR", str(tmp_path / "typo"))
    for args in (("stats",), ("stats", "--draft-questions", "d.jsonl")):
        code, out, err = run(capsys, *args)
        assert code == 2 and out == ""
        assert err.strip() == (
            f"docbot: no state database at {tmp_path / 'typo' / 'state.sqlite3'} "
            "(set DOCBOT_DATA_DIR or DOCBOT_STATE_URL to the bot's)"
        )
    assert not (tmp_path / "typo").exists()
