"""The bot's state behind one interface: settings, processed events, answer log, feedback.

SQLite under the data dir by default; PostgreSQL by URL (`DOCBOT_STATE_URL=
postgresql://...`) when several bot processes share it. The SQL is the common
subset of both (upserts with `ON CONFLICT`), with `?` placeholders rewritten
for psycopg. No secrets are stored; users are stored as salted hashes (DOCBOT_HASH_SALT).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS settings (
        scope TEXT PRIMARY KEY, data TEXT NOT NULL, updated DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS events (
        key TEXT PRIMARY KEY, state TEXT NOT NULL, lease_until DOUBLE PRECISION NOT NULL,
        updated DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS answers (
        id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, platform TEXT NOT NULL, user_hash TEXT NOT NULL,
        conversation_hash TEXT NOT NULL, question TEXT NOT NULL, sources TEXT NOT NULL, model TEXT NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL, declined INTEGER NOT NULL, language TEXT NOT NULL,
        feedback TEXT, thread_hash TEXT, unavailable INTEGER)""",
    """CREATE TABLE IF NOT EXISTS feedback (
        answer_id TEXT NOT NULL, user_hash TEXT NOT NULL, value TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (answer_id, user_hash))""",
    """CREATE TABLE IF NOT EXISTS kv (
        key TEXT PRIMARY KEY, value TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS answers_ts ON answers (ts)",
    "CREATE INDEX IF NOT EXISTS events_updated ON events (updated)",
]

# Columns added to a table after it was first released: (table, column, type). A database
# made by an earlier docbot gets them at start-up; its old rows hold NULL.
ADDED_COLUMNS = [("answers", "thread_hash", "TEXT"), ("answers", "unavailable", "INTEGER")]

EVENT_TTL_S = 24 * 3600
SCHEMA_LOCK_ID = 0x646F63626F74  # "docbot": the advisory lock that serialises schema creation
# with hashtext(scope), the two-key advisory lock that serialises changes to one settings scope
SETTINGS_LOCK_ID = 0x646F6373  # "docs" (fits the int4 key)
LENGTHS = ("short", "medium", "long")
LANGUAGES = ("auto", "en", "ko")


@dataclass(frozen=True)
class ConversationSettings:
    model: str = "extractive"
    rag: bool = True
    temperature: float = 0.2
    length: str = "medium"
    language: str = "auto"


def _without_password(text: str, url: str) -> str:
    """`text` with the URL's password masked (the whole URL when it does not parse)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return text.replace(url, "<DOCBOT_STATE_URL>")
    return text.replace(password, "***") if password else text


DEFAULT_SALT = "docbot"  # public: set DOCBOT_HASH_SALT so hashes can't be matched to a user list


def hash_id(value: str, salt: str = DEFAULT_SALT) -> str:
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:16]


class StateStore:
    def __init__(
        self,
        url_or_path: str | Path,
        *,
        defaults: ConversationSettings | None = None,
        salt: str = DEFAULT_SALT,
    ) -> None:
        self.defaults = defaults or ConversationSettings()
        self._salt = salt or DEFAULT_SALT
        target = str(url_or_path)
        self._lock = threading.RLock()
        self.is_postgres = target.startswith(("postgresql://", "postgres://"))
        if self.is_postgres:
            import psycopg

            try:
                self._conn: Any = psycopg.connect(target, autocommit=True)
            except psycopg.Error as exc:  # libpq quotes a URL it cannot parse, password and all
                raise type(exc)(_without_password(str(exc), target)) from None
            self.backend = "postgresql"
        else:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                target, check_same_thread=False, timeout=2.0, isolation_level=None
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=2000")  # then degrade (see Bot), not hang
            self.backend = "sqlite"
        self._create_schema()

    def _create_schema(self) -> None:
        if self.is_postgres:
            # Concurrent CREATE ... IF NOT EXISTS from several replicas starting at once
            # can still collide in PostgreSQL's catalog: serialise it with an advisory lock.
            with self._lock, self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
                for statement in SCHEMA:
                    self._conn.execute(statement)
                for table, column, kind in ADDED_COLUMNS:
                    self._conn.execute(
                        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}"
                    )
            return
        for statement in SCHEMA:
            self._execute(statement)
        for table, column, kind in ADDED_COLUMNS:
            if column not in {row[1] for row in self._query(f"PRAGMA table_info({table})")}:
                try:
                    self._execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                except sqlite3.OperationalError as exc:  # another process added it just now
                    if "duplicate column" not in str(exc):
                        raise

    # plumbing --------------------------------------------------------------
    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.is_postgres else statement

    def _execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            cur = self._conn.execute(self._sql(statement), tuple(params))
            return cur.rowcount

    def _query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            cur = self._conn.execute(self._sql(statement), tuple(params))
            return list(cur.fetchall())

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            if self.is_postgres:
                with self._conn.transaction():
                    yield
            else:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # settings --------------------------------------------------------------
    def _load_scope(self, scope: str) -> dict[str, Any]:
        rows = self._query("SELECT data FROM settings WHERE scope = ?", (scope,))
        return json.loads(rows[0][0]) if rows else {}

    def get_settings(self, *scopes: str) -> ConversationSettings:
        """Effective settings: defaults, overridden by each scope in order (broad to narrow)."""
        merged: dict[str, Any] = {}
        for scope in scopes:
            merged.update(self._load_scope(scope))
        known = {f.name for f in fields(ConversationSettings)}
        return replace(self.defaults, **{k: v for k, v in merged.items() if k in known})

    def update_settings(self, scope: str, **changes: Any) -> None:
        with self._transaction():
            if self.is_postgres:
                # READ COMMITTED lets two replicas read the same row, and the second upsert
                # would drop the first one's change: serialise changes to one scope. (SQLite's
                # BEGIN IMMEDIATE already takes the write lock before the read.)
                self._execute(
                    "SELECT pg_advisory_xact_lock(?, hashtext(?))", (SETTINGS_LOCK_ID, scope)
                )
            data = self._load_scope(scope)
            data.update(changes)
            self._execute(
                "INSERT INTO settings (scope, data, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (scope) DO UPDATE SET data = excluded.data, updated = excluded.updated",
                (scope, json.dumps(data), time.time()),
            )

    def reset_settings(self, scope: str) -> None:
        self._execute("DELETE FROM settings WHERE scope = ?", (scope,))

    # events (dedupe) ---------------------------------------------------------
    def claim_event(self, key: str, lease_s: float = 120.0) -> bool:
        """True when this attempt should handle the event.

        False when it was completed already, or when another attempt holds a lease
        that has not run out. A crashed attempt's lease runs out, so a later
        redelivery is still answered.
        """
        now = time.time()
        changed = self._execute(
            "INSERT INTO events (key, state, lease_until, updated) VALUES (?, 'pending', ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET lease_until = excluded.lease_until, updated = excluded.updated "
            "WHERE events.state = 'pending' AND events.lease_until < ?",
            (key, now + lease_s, now, now),
        )
        return changed == 1

    def complete_event(self, key: str) -> None:
        now = time.time()
        self._execute(
            "INSERT INTO events (key, state, lease_until, updated) VALUES (?, 'done', ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET state = 'done', updated = excluded.updated",
            (key, now, now),
        )

    def release_event(self, key: str) -> None:
        """Give up a claim so that a redelivery is handled (the attempt failed cleanly)."""
        self._execute("DELETE FROM events WHERE key = ? AND state = 'pending'", (key,))

    def purge(self, *, answer_retention_days: int | None = None) -> None:
        now = time.time()
        self._execute("DELETE FROM events WHERE updated < ?", (now - EVENT_TTL_S,))
        self._execute("DELETE FROM kv WHERE expires < ?", (now,))
        if answer_retention_days:
            cutoff = now - answer_retention_days * 86400
            self._execute("DELETE FROM answers WHERE ts < ?", (cutoff,))
            # their feedback, and any click stored while another replica purged its answer
            self._execute(
                "DELETE FROM feedback WHERE NOT EXISTS "
                "(SELECT 1 FROM answers a WHERE a.id = feedback.answer_id)"
            )

    # small shared values (adapters' per-thread memory) ---------------------------
    def put(self, key: str, value: str, ttl_s: float) -> None:
        """Keep `value` under `key` for `ttl_s` seconds, visible to every replica."""
        now = time.time()
        self._execute(
            "INSERT INTO kv (key, value, expires) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires",
            (key, value, now + ttl_s),
        )

    def get(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM kv WHERE key = ? AND expires > ?", (key, time.time()))
        return str(rows[0][0]) if rows else None

    # answer log and feedback -----------------------------------------------------
    def log_answer(
        self,
        *,
        platform: str,
        user_id: str,
        conversation_id: str,
        question: str,
        sources: list[str],
        model: str,
        latency_ms: float,
        declined: bool,
        language: str = "en",
        answer_id: str | None = None,
        ts: float | None = None,
        thread_id: str | None = None,
        unavailable: bool = False,
    ) -> str:
        """Log one answer. `thread_id`: the thread it answered in (hashed, as the ids are), so
        that a follow-up's earlier questions can be found again (`bot.drafts`). `unavailable`:
        declined without searching the docs (no index, RAG off offline): no doc gap."""
        answer_id = answer_id or uuid.uuid4().hex[:12]
        thread_hash = hash_id(f"{conversation_id}:{thread_id}", self._salt) if thread_id else None
        self._execute(
            "INSERT INTO answers (id, ts, platform, user_hash, conversation_hash, question, sources, model, "
            "latency_ms, declined, language, feedback, thread_hash, unavailable) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            (
                answer_id,
                ts if ts is not None else time.time(),
                platform,
                hash_id(user_id, self._salt),
                hash_id(conversation_id, self._salt),
                question,
                json.dumps(sources),
                model,
                float(latency_ms),
                int(declined),
                language,
                thread_hash,
                int(unavailable),
            ),
        )
        return answer_id

    def record_feedback(self, answer_id: str, user_id: str, value: str) -> bool:
        """Store 'up' or 'down' from one user for one answer (their last click wins)."""
        if value not in ("up", "down"):
            raise ValueError("feedback value must be 'up' or 'down'")
        with self._transaction():
            if not self._query("SELECT 1 FROM answers WHERE id = ?", (answer_id,)):
                return False
            self._execute(
                "INSERT INTO feedback (answer_id, user_hash, value, ts) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (answer_id, user_hash) DO UPDATE SET value = excluded.value, ts = excluded.ts",
                (answer_id, hash_id(user_id, self._salt), value, time.time()),
            )
            # the latest click by anyone, for earlier docbots sharing this database (`answers`
            # reads the feedback table instead)
            self._execute("UPDATE answers SET feedback = ? WHERE id = ?", (value, answer_id))
        return True

    def answer_language(self, answer_id: str) -> str | None:
        rows = self._query("SELECT language FROM answers WHERE id = ?", (answer_id,))
        return str(rows[0][0]) if rows else None

    def answers(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The answers logged since `since`, oldest first. `feedback`: 'down' while any user's
        vote is 👎 (one colleague's 👍 does not hide another's 👎), else 'up' or None."""
        rows = self._query(
            "SELECT id, ts, platform, user_hash, question, sources, model, latency_ms, declined, language, "
            "CASE WHEN EXISTS (SELECT 1 FROM feedback f WHERE f.answer_id = answers.id AND f.value = 'down') "
            "THEN 'down' WHEN EXISTS (SELECT 1 FROM feedback f WHERE f.answer_id = answers.id) "
            "THEN 'up' END, thread_hash, unavailable FROM answers WHERE ts >= ? ORDER BY ts",
            (since,),
        )
        keys = (
            "id",
            "ts",
            "platform",
            "user_hash",
            "question",
            "sources",
            "model",
            "latency_ms",
            "declined",
            "language",
            "feedback",
            "thread_hash",
            "unavailable",
        )
        out = []
        for row in rows:
            item = dict(zip(keys, row, strict=True))
            item["sources"] = json.loads(item["sources"])
            item["declined"] = bool(item["declined"])
            item["unavailable"] = bool(item["unavailable"])  # NULL in an earlier docbot's rows
            out.append(item)
        return out

    def feedback_counts(self, since: float = 0.0) -> dict[str, int]:
        rows = self._query(
            "SELECT f.value, COUNT(*) FROM feedback f JOIN answers a ON a.id = f.answer_id WHERE a.ts >= ? GROUP BY f.value",
            (since,),
        )
        counts = {"up": 0, "down": 0}
        counts.update({value: int(n) for value, n in rows})
        return counts


def settings_to_dict(settings: ConversationSettings) -> dict[str, Any]:
    return asdict(settings)
