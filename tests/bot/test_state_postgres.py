"""The state store on a real PostgreSQL (Debian's server, started on loopback for these tests).

Several bot processes share settings, processed events and the answer log through it,
so the dedupe guarantee must hold across connections, not only inside one process.
Skipped when no PostgreSQL server binaries are installed (CI installs them).
"""

from __future__ import annotations

import threading
import time

import pytest

from bot.state import StateStore
from tests.pg_server import postgres_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


@pytest.fixture
def connect(pg_url: str):
    """`connect()` -> a StateStore on the test server, closed after the test."""
    stores: list[StateStore] = []

    def open_store() -> StateStore:
        stores.append(StateStore(pg_url))
        return stores[-1]

    yield open_store
    for store in stores:
        store.close()


def test_settings_and_answers_survive_reconnecting(connect) -> None:
    store = connect()
    store.update_settings("slack:T1:C1", model="bedrock", temperature=0.7)
    answer_id = store.log_answer(
        platform="slack",
        user_id="U1",
        conversation_id="C1",
        question="q?",
        sources=["https://x/#a"],
        model="m",
        latency_ms=12.0,
        declined=False,
    )
    store.close()
    again = connect()
    assert again.backend == "postgresql"
    assert again.get_settings("slack:T1:C1").model == "bedrock"
    assert again.record_feedback(answer_id, "slack:U1", "up") is True
    assert again.feedback_counts()["up"] == 1
    assert any(a["id"] == answer_id for a in again.answers())


def test_an_event_is_claimed_once_across_many_connections(connect) -> None:
    stores = [connect() for _ in range(8)]
    wins: list[int] = []
    barrier = threading.Barrier(len(stores))

    def claim(i: int) -> None:
        barrier.wait()
        if stores[i].claim_event("slack:Ev-burst", lease_s=60):
            wins.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    stores[wins[0]].complete_event("slack:Ev-burst")
    assert not any(s.claim_event("slack:Ev-burst") for s in stores)


def test_a_crashed_attempt_lets_the_retry_answer(connect) -> None:
    first, second = connect(), connect()
    assert first.claim_event("slack:Ev-crash", lease_s=0.2)
    assert not second.claim_event("slack:Ev-crash")  # the first attempt may still be working
    time.sleep(0.3)  # ...but it never completes: its lease runs out
    assert second.claim_event("slack:Ev-crash")


def test_replicas_starting_at_once_create_the_schema_without_colliding(pg_url: str) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE fresh_start")
    url = pg_url.rsplit("/", 1)[0] + "/fresh_start"
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        try:
            StateStore(url).close()
        except BaseException as exc:  # collected, so the assertion names it
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_database_of_an_earlier_docbot_gets_the_new_columns(pg_url: str) -> None:
    import psycopg

    from tests.bot.test_state import OLD_ANSWERS

    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE earlier_docbot")
    url = pg_url.rsplit("/", 1)[0] + "/earlier_docbot"
    with psycopg.connect(url, autocommit=True) as old:
        old.execute(OLD_ANSWERS)
        old.execute(
            "INSERT INTO answers VALUES ('a1', 1.0, 'slack', 'u', 'c', 'old?', '[]', 'm', 1.0, 0, "
            "'en', NULL)"
        )
    store = StateStore(url)
    store.log_answer(
        platform="slack",
        user_id="U1",
        conversation_id="C1",
        question="new?",
        sources=[],
        model="m",
        latency_ms=1.0,
        declined=True,
        thread_id="T1",
    )
    old_row, new_row = store.answers()
    assert old_row["thread_hash"] is None and new_row["thread_hash"] is not None
    store.close()
    StateStore(url).close()


def test_two_replicas_changing_one_scope_at_once_keep_both_changes(connect) -> None:
    """One replica reads the scope's settings; before it writes, another replica changes a
    different setting of the same scope. Neither change may be lost."""
    slow, fast = connect(), connect()
    slow_has_read, fast_is_done = threading.Event(), threading.Event()
    real_load = slow._load_scope

    def load_then_stall(scope: str) -> dict:
        data = real_load(scope)
        slow_has_read.set()
        fast_is_done.wait(timeout=1.0)  # a correct store makes `fast` wait for us instead
        return data

    slow._load_scope = load_then_stall  # type: ignore[method-assign]

    def change_from_the_other_replica() -> None:
        slow_has_read.wait(timeout=5.0)
        fast.update_settings("slack:T1:C-race", temperature=0.9)
        fast_is_done.set()

    other = threading.Thread(target=change_from_the_other_replica)
    other.start()
    slow.update_settings("slack:T1:C-race", model="bedrock")
    other.join()
    merged = connect().get_settings("slack:T1:C-race")
    assert (merged.model, merged.temperature) == ("bedrock", 0.9)


def test_votes_from_two_replicas_keep_a_thumbs_down_and_purge_keeps_recent_feedback(
    connect,
) -> None:
    """Two users vote on one answer through two replicas: the 👎 stays visible in the log;
    the retention purge drops an old answer's feedback only."""
    first, second = connect(), connect()
    log = dict(platform="teams", conversation_id="C-votes", sources=[], model="m", latency_ms=1.0)
    recent = first.log_answer(user_id="U1", question="recent?", declined=False, **log)
    old = first.log_answer(
        user_id="U1", question="old?", declined=True, ts=time.time() - 100 * 86400, **log
    )
    assert first.record_feedback(recent, "teams:U1", "down")
    assert second.record_feedback(recent, "teams:U2", "up")
    assert second.record_feedback(old, "teams:U2", "down")
    feedback = {a["id"]: a["feedback"] for a in second.answers()}
    assert (feedback[recent], feedback[old]) == ("down", "down")
    second.purge(answer_retention_days=90)
    assert old not in {a["id"] for a in first.answers()}
    assert first.record_feedback(old, "teams:U2", "up") is False  # too old now
    assert {a["id"]: a["feedback"] for a in first.answers()}[recent] == "down"
    assert first.feedback_counts(time.time() - 86400)["up"] >= 1
