"""StateStore on SQLite: settings, event dedupe with leases, answer log, feedback."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bot.state import ConversationSettings, StateStore, hash_id


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.sqlite3"


@pytest.fixture
def state(path: Path) -> StateStore:
    store = StateStore(path)
    yield store
    store.close()


# settings -----------------------------------------------------------------------------
def test_settings_default_then_conversation_then_user(state: StateStore) -> None:
    assert state.get_settings("conv", "conv:user:u1") == ConversationSettings()
    state.update_settings("conv", model="bedrock", length="long")
    state.update_settings("conv:user:u1", length="short")
    mine = state.get_settings("conv", "conv:user:u1")
    theirs = state.get_settings("conv", "conv:user:u2")
    assert (mine.model, mine.length) == ("bedrock", "short")
    assert (theirs.model, theirs.length) == ("bedrock", "long")


def test_update_merges_with_earlier_changes(state: StateStore) -> None:
    state.update_settings("s", rag=False)
    state.update_settings("s", temperature=0.9)
    got = state.get_settings("s")
    assert got.rag is False and got.temperature == 0.9


def test_reset_drops_only_that_scope(state: StateStore) -> None:
    state.update_settings("conv", model="bedrock")
    state.update_settings("conv:user:u1", length="short")
    state.reset_settings("conv:user:u1")
    got = state.get_settings("conv", "conv:user:u1")
    assert got.model == "bedrock" and got.length == "medium"


def test_unknown_keys_in_stored_settings_are_ignored(state: StateStore) -> None:
    state.update_settings("s", colour="blue", length="long")
    assert state.get_settings("s").length == "long"


def test_custom_defaults(path: Path) -> None:
    store = StateStore(path, defaults=ConversationSettings(model="bedrock"))
    assert store.get_settings("x").model == "bedrock"
    store.close()


def test_settings_survive_reopening_the_file(path: Path) -> None:
    first = StateStore(path)
    first.update_settings("conv", language="ko", rag=False)
    first.close()
    again = StateStore(path)
    got = again.get_settings("conv")
    assert got.language == "ko" and got.rag is False
    again.close()


# events -------------------------------------------------------------------------------
def test_the_first_claim_wins_and_a_second_loses(state: StateStore) -> None:
    assert state.claim_event("slack:Ev1") is True
    assert state.claim_event("slack:Ev1") is False
    assert state.claim_event("slack:Ev2") is True


def test_concurrent_claims_from_two_processes_have_one_winner(path: Path) -> None:
    stores = [StateStore(path) for _ in range(4)]
    results: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def claim(store: StateStore) -> None:
        barrier.wait()
        results.append(store.claim_event("teams:activity-1"))

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == [False, False, False, True]
    for s in stores:
        s.close()


def test_a_completed_event_is_never_claimed_again(state: StateStore) -> None:
    assert state.claim_event("e", lease_s=0.01)
    state.complete_event("e")
    time.sleep(0.05)
    assert state.claim_event("e", lease_s=0.01) is False


def test_an_expired_lease_is_claimable_again_after_a_crash(state: StateStore) -> None:
    assert state.claim_event("e", lease_s=0.5)
    # the attempt crashes: no complete_event, no release
    assert state.claim_event("e") is False  # lease still running
    time.sleep(0.6)
    assert state.claim_event("e") is True  # the redelivery is answered
    assert state.claim_event("e") is False


def test_a_released_event_can_be_claimed_at_once(state: StateStore) -> None:
    assert state.claim_event("e")
    state.release_event("e")
    assert state.claim_event("e")


def test_completing_an_unclaimed_event_blocks_later_claims(state: StateStore) -> None:
    state.complete_event("seen-elsewhere")
    assert state.claim_event("seen-elsewhere") is False


# answers and feedback -----------------------------------------------------------------
def log(
    state: StateStore,
    question: str = "how?",
    *,
    declined: bool = False,
    ts: float | None = None,
    **kw: object,
) -> str:
    return state.log_answer(
        platform="slack",
        user_id="U1",
        conversation_id="C1",
        question=question,
        sources=["https://docs.example.com/a/#x"],
        model="extractive",
        latency_ms=120.0,
        declined=declined,
        ts=ts,
        **kw,  # type: ignore[arg-type]
    )


def test_answers_are_logged_with_hashed_users(state: StateStore) -> None:
    answer_id = log(state, language="ko")
    [row] = state.answers()
    assert row["id"] == answer_id
    assert row["user_hash"] == hash_id("U1") and "U1" not in row["user_hash"]
    assert row["sources"] == ["https://docs.example.com/a/#x"]
    assert row["declined"] is False and row["feedback"] is None
    assert state.answer_language(answer_id) == "ko"
    assert state.answer_language("nope") is None


def test_feedback_only_for_known_answers(state: StateStore) -> None:
    assert state.record_feedback("unknown", "slack:U1", "up") is False
    assert state.feedback_counts() == {"up": 0, "down": 0}


def test_feedback_value_must_be_up_or_down(state: StateStore) -> None:
    answer_id = log(state)
    with pytest.raises(ValueError):
        state.record_feedback(answer_id, "slack:U1", "meh")


def test_a_users_last_click_wins(state: StateStore) -> None:
    answer_id = log(state)
    assert state.record_feedback(answer_id, "slack:U1", "up")
    assert state.record_feedback(answer_id, "slack:U1", "down")
    assert state.feedback_counts() == {"up": 0, "down": 1}
    assert state.answers()[0]["feedback"] == "down"
    assert state.record_feedback(answer_id, "slack:U1", "up")  # changes their mind
    assert state.answers()[0]["feedback"] == "up"


def test_another_users_thumbs_up_does_not_hide_a_thumbs_down(state: StateStore) -> None:
    """An answer's feedback in the log is 'down' while any user's vote is 👎: one colleague's
    👍 must not hide that another says it is wrong (drafts put 👎 answers first)."""
    answer_id = log(state)
    assert state.record_feedback(answer_id, "slack:U1", "down")
    assert state.record_feedback(answer_id, "slack:U2", "up")
    assert state.feedback_counts() == {"up": 1, "down": 1}
    assert state.answers()[0]["feedback"] == "down"
    assert state.record_feedback(answer_id, "slack:U1", "up")  # the 👎 withdrawn
    assert state.answers()[0]["feedback"] == "up"


def test_answers_and_feedback_since(state: StateStore) -> None:
    old = log(state, "old?", ts=time.time() - 10 * 86400)
    new = log(state, "new?")
    state.record_feedback(old, "u", "down")
    state.record_feedback(new, "u", "up")
    since = time.time() - 86400
    assert [a["question"] for a in state.answers(since)] == ["new?"]
    assert state.feedback_counts(since) == {"up": 1, "down": 0}


def test_purge_drops_answers_older_than_the_retention_and_their_feedback(state: StateStore) -> None:
    old = log(state, "old?", ts=time.time() - 100 * 86400)
    log(state, "recent?")
    state.record_feedback(old, "u", "up")
    state.purge(answer_retention_days=90)
    assert [a["question"] for a in state.answers()] == ["recent?"]
    assert state.feedback_counts() == {"up": 0, "down": 0}


def test_purge_drops_feedback_left_without_its_answer(path: Path, state: StateStore) -> None:
    """A click stored while another replica purged its answer must not outlive the retention."""
    import sqlite3

    kept = log(state, "recent?")
    state.record_feedback(kept, "u", "up")
    with sqlite3.connect(path) as other:  # what the race leaves: feedback of a purged answer
        other.execute("INSERT INTO feedback VALUES ('purged', 'h', 'down', 1.0)")
    other.close()
    state.purge(answer_retention_days=90)
    with sqlite3.connect(path) as other:
        rows = other.execute("SELECT answer_id FROM feedback").fetchall()
    other.close()
    assert rows == [(kept,)]


def test_purge_without_retention_keeps_answers(state: StateStore) -> None:
    log(state, "old?", ts=time.time() - 1000 * 86400)
    state.purge()
    assert len(state.answers()) == 1


def test_the_answer_log_survives_reopening(path: Path) -> None:
    first = StateStore(path)
    answer_id = log(first)
    first.close()
    again = StateStore(path)
    assert again.record_feedback(answer_id, "u", "up")
    again.close()


def test_an_answer_keeps_its_thread_as_a_hash(state: StateStore) -> None:
    log(state, "first?", thread_id="1700000000.000100")
    log(state, "in the same thread?", thread_id="1700000000.000100")
    log(state, "a direct message, no thread")
    first, second, direct = state.answers()
    assert first["thread_hash"] == second["thread_hash"] == hash_id("C1:1700000000.000100")
    assert "1700000000" not in first["thread_hash"] and direct["thread_hash"] is None


# The answers table as docbot made it before it kept the thread (no thread_hash column).
OLD_ANSWERS = """CREATE TABLE answers (
    id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, platform TEXT NOT NULL,
    user_hash TEXT NOT NULL, conversation_hash TEXT NOT NULL, question TEXT NOT NULL,
    sources TEXT NOT NULL, model TEXT NOT NULL, latency_ms DOUBLE PRECISION NOT NULL,
    declined INTEGER NOT NULL, language TEXT NOT NULL, feedback TEXT)"""


def test_a_question_the_docs_were_not_searched_for_is_logged_as_such(state: StateStore) -> None:
    log(state, "searched?", declined=True)
    log(state, "not searched?", declined=True, unavailable=True)
    assert [a["unavailable"] for a in state.answers()] == [False, True]


def test_ids_are_hashed_with_the_configured_salt(tmp_path: Path) -> None:
    # with the public default salt, anyone holding the database and the workspace's user
    # list could tell whose hash is whose; a secret salt (DOCBOT_HASH_SALT) prevents that
    default = StateStore(tmp_path / "a.sqlite3")
    salted = StateStore(tmp_path / "b.sqlite3", salt="s3cret-pepper")
    log(default, "how?")
    log(salted, "how?")
    [plain], [secret] = default.answers(), salted.answers()
    assert plain["user_hash"] == hash_id("U1")
    assert secret["user_hash"] == hash_id("U1", "s3cret-pepper") != plain["user_hash"]
    default.close()
    salted.close()


def test_a_database_of_an_earlier_docbot_gets_the_new_columns(path: Path) -> None:
    import sqlite3

    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as old:
        old.execute(OLD_ANSWERS)
        old.execute(
            "INSERT INTO answers VALUES ('a1', 1.0, 'slack', 'u', 'c', 'old?', '[]', 'm', 1.0, 0, "
            "'en', NULL)"
        )
    old.close()
    store = StateStore(path)
    log(store, "new?", thread_id="T1")
    old_row, new_row = store.answers()
    assert old_row["question"] == "old?" and old_row["thread_hash"] is None
    assert new_row["thread_hash"] == hash_id("C1:T1")
    assert old_row["unavailable"] is False and new_row["unavailable"] is False
    store.close()
    StateStore(path).close()  # and opening it again changes nothing


def test_shared_values_expire(tmp_path) -> None:
    import time as _time

    from bot.state import StateStore

    store = StateStore(tmp_path / "kv.sqlite3")
    store.put("teams:msg:1", "ans-1", ttl_s=60)
    store.put("teams:msg:2", "ans-2", ttl_s=0.05)
    store.put("teams:msg:1", "ans-1b", ttl_s=60)  # the last write wins
    _time.sleep(0.1)
    assert store.get("teams:msg:1") == "ans-1b"
    assert store.get("teams:msg:2") is None
    store.purge()
    assert store.get("teams:msg:1") == "ans-1b"
