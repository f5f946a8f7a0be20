"""The state store on a real PostgreSQL (Debian's server, started on loopback for these tests).

Several bot processes share settings, processed events and the answer log through it,
so the dedupe guarantee must hold across connections, not only inside one process.
Skipped when no PostgreSQL server binaries are installed (CI installs them).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from bot.state import StateStore

pytestmark = pytest.mark.slow


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_url():
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    # not under pytest's tmp dir: that is private to root, and the server may run as `postgres`
    base = Path(tempfile.mkdtemp(prefix="docbot-pg-"))
    base.chmod(0o755)
    data = base / "data"
    port = _free_port()
    # initdb refuses to run as root: run the server as the `postgres` system user then.
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no postgres user to run the server as")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "docbot", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    log = data.parent / "pg.log"
    subprocess.run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o",
         f"-p {port} -k {data.parent} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
        check=True, capture_output=True,
    )
    try:
        yield f"postgresql://docbot@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_settings_and_answers_survive_reconnecting(pg_url: str) -> None:
    store = StateStore(pg_url)
    store.update_settings("slack:T1:C1", model="bedrock", temperature=0.7)
    answer_id = store.log_answer(platform="slack", user_id="U1", conversation_id="C1", question="q?",
                                 sources=["https://x/#a"], model="m", latency_ms=12.0, declined=False)
    store.close()
    again = StateStore(pg_url)
    assert again.backend == "postgresql"
    assert again.get_settings("slack:T1:C1").model == "bedrock"
    assert again.record_feedback(answer_id, "slack:U1", "up") is True
    assert again.feedback_counts()["up"] == 1
    assert any(a["id"] == answer_id for a in again.answers())


def test_an_event_is_claimed_once_across_many_connections(pg_url: str) -> None:
    stores = [StateStore(pg_url) for _ in range(8)]
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


def test_a_crashed_attempt_lets_the_retry_answer(pg_url: str) -> None:
    first, second = StateStore(pg_url), StateStore(pg_url)
    assert first.claim_event("slack:Ev-crash", lease_s=0.2)
    assert not second.claim_event("slack:Ev-crash")  # the first attempt may still be working
    time.sleep(0.3)  # ...but it never completes: its lease runs out
    assert second.claim_event("slack:Ev-crash")
