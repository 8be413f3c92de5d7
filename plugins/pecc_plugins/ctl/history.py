"""Event and session history in SQLite, written by one thread, never by the loop.

The loop only puts rows on a bounded queue (:meth:`History.event`,
:meth:`History.session`, :meth:`History.save_limits`): a full queue drops
the row and counts it, it never waits. The writer thread takes whatever is
queued, inserts it in one transaction (so the write rate follows the load
in batches, not row by row) and prunes the tables to the retention bounds
(rows and age) now and then. Readers open their own connection in a worker
thread; WAL lets them read while the writer writes.

Tables (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`):

- ``events``: ``id``, ``ts`` (Unix time), ``gun`` (or NULL for the
  station), ``kind``, ``data`` (a JSON object);
- ``sessions``: one row per charging session, inserted when it starts and
  replaced when it ends;
- ``limits``: one row, the operator's run-time limit overrides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pecc_core.errors import ConfigError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
QUEUE_SIZE = 20_000  # rows waiting for the writer; beyond that they are dropped (and counted)
BATCH = 1000  # rows per transaction at most
PRUNE_EVERY_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    gun TEXT,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_gun ON events (gun, id);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, id);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    gun TEXT NOT NULL,
    vehicle_id TEXT,
    start REAL NOT NULL,
    end REAL,
    energy_wh REAL NOT NULL,
    peak_power_w REAL NOT NULL,
    end_reason TEXT,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS sessions_start ON sessions (start);
CREATE TABLE IF NOT EXISTS limits (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    ts REAL NOT NULL,
    data TEXT NOT NULL
);
"""


class HistoryError(ConfigError):
    """The history database cannot be opened (path, permissions, a newer schema).

    A configuration error: ``pecc run`` reports it and exits 2 rather than
    run without the operator's saved limits.
    """


@dataclass(slots=True)
class Session:
    """One charging session of one gun (``end`` None while it runs)."""

    id: str
    gun: str
    vehicle_id: str | None
    start: float
    end: float | None = None
    energy_wh: float = 0.0
    peak_power_w: float = 0.0
    end_reason: str | None = None
    outcome: str | None = None  # "completed" or "failed" once ended


@dataclass(frozen=True, slots=True)
class Retention:
    max_rows: int  # per table
    max_age_s: float


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=5.0, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


class History:
    """The store; :meth:`open` before use, :meth:`close` after (both from the loop)."""

    def __init__(self, path: Path, retention: Retention) -> None:
        self.path = path
        self.retention = retention
        #: Rows dropped because the writer fell behind; rows written.
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        #: Called on the loop with every event as it is recorded, shaped as
        #: :meth:`events` returns it without ``id`` (the dashboard's live feed).
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    async def open(self) -> dict[str, Any] | None:
        """Create or check the database and start the writer; the saved limit overrides."""
        connection = await asyncio.to_thread(self._prepare)
        self._thread = threading.Thread(target=self._write, args=(connection,), name="pecc-history", daemon=True)
        self._thread.start()
        return await asyncio.to_thread(self._saved_limits)

    async def close(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._thread is None:
            return
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    # -- from the loop: never blocks ------------------------------------------------

    def event(self, gun: str | None, kind: str, data: dict[str, Any], ts: float | None = None) -> None:
        ts = time.time() if ts is None else ts
        self._put("event", (ts, gun, kind, json.dumps(data, default=str)))
        for listener in self.listeners:
            listener({"ts": ts, "gun": gun, "kind": kind, **data})

    def session(self, record: Session) -> None:
        self._put("session", tuple(asdict(record).values()))

    def save_limits(self, overrides: dict[str, Any] | None) -> None:
        """Store the operator's overrides (None: forget them)."""
        self._put("limits", None if overrides is None else (time.time(), json.dumps(overrides)))

    def _put(self, what: str, row: Any) -> None:
        try:
            self._queue.put_nowait((what, row))
        except queue.Full:
            self.dropped += 1

    # -- reading (worker threads) --------------------------------------------------------

    async def events(
        self, gun: str | None = None, kind: str | None = None, since: float | None = None,
        after: int | None = None, limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` events matching, oldest first."""
        where, args = _where(("gun = ?", gun), ("kind = ?", kind), ("ts >= ?", since), ("id > ?", after))
        sql = f"SELECT id, ts, gun, kind, data FROM events{where} ORDER BY id DESC LIMIT ?"
        rows = await asyncio.to_thread(self._query, sql, (*args, limit))
        return [
            {"id": i, "ts": ts, "gun": g, "kind": k, **json.loads(data)} for i, ts, g, k, data in reversed(rows)
        ]

    async def sessions(
        self, gun: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` sessions matching, oldest first."""
        where, args = _where(("gun = ?", gun), ("start >= ?", since))
        names = ", ".join(Session.__slots__)
        sql = f"SELECT {names} FROM sessions{where} ORDER BY start DESC LIMIT ?"
        rows = await asyncio.to_thread(self._query, sql, (*args, limit))
        return [dict(zip(Session.__slots__, row, strict=True)) for row in reversed(rows)]

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5.0)
        try:
            return connection.execute(sql, args).fetchall()
        finally:
            connection.close()

    def _saved_limits(self) -> dict[str, Any] | None:
        rows = self._query("SELECT data FROM limits WHERE id = 1", ())
        return json.loads(rows[0][0]) if rows else None

    # -- the writer thread -----------------------------------------------------------------

    def _prepare(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = connect(self.path)
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                connection.close()
                raise HistoryError(
                    f"{self.path}: schema version {version} is newer than this PECC's ({SCHEMA_VERSION})"
                )
            connection.executescript(_SCHEMA)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            # Sessions still open were cut by a PECC that did not stop cleanly.
            connection.execute(
                "UPDATE sessions SET outcome = 'failed', end_reason = 'PECC ended without closing it' "
                "WHERE end IS NULL"
            )
        except (sqlite3.Error, OSError) as exc:
            raise HistoryError(f"services.ctl.params.state_dir: {self.path}: {exc}") from None
        return connection

    def _write(self, connection: sqlite3.Connection) -> None:
        pruned = time.monotonic()
        running = True
        while running:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            running = None not in batch
            try:
                self._insert(connection, [item for item in batch if item is not None])
                if time.monotonic() - pruned > PRUNE_EVERY_S or not running:
                    self._prune(connection)
                    pruned = time.monotonic()
            except sqlite3.Error:
                log.exception("history: writing %d rows to %s failed", len(batch), self.path)
        connection.close()

    def _insert(self, connection: sqlite3.Connection, batch: list[tuple[str, Any]]) -> None:
        events = [row for what, row in batch if what == "event"]
        sessions = [row for what, row in batch if what == "session"]
        limits = [row for what, row in batch if what == "limits"]
        with connection:
            connection.execute("BEGIN")
            if events:
                connection.executemany("INSERT INTO events (ts, gun, kind, data) VALUES (?, ?, ?, ?)", events)
            if sessions:
                connection.executemany(
                    f"INSERT OR REPLACE INTO sessions VALUES ({', '.join('?' * len(Session.__slots__))})", sessions
                )
            for row in limits:  # in order: the last one wins
                if row is None:
                    connection.execute("DELETE FROM limits")
                else:
                    connection.execute("INSERT OR REPLACE INTO limits VALUES (1, ?, ?)", row)
        self.written += len(batch)

    def _prune(self, connection: sqlite3.Connection) -> None:
        oldest = time.time() - self.retention.max_age_s
        keep = self.retention.max_rows
        with connection:
            connection.execute("BEGIN")
            connection.execute("DELETE FROM events WHERE ts < ?", (oldest,))
            connection.execute("DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?", (keep,))
            connection.execute("DELETE FROM sessions WHERE start < ? AND end IS NOT NULL", (oldest,))
            connection.execute(
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions ORDER BY start DESC LIMIT -1 OFFSET ?)",
                (keep,),
            )


def _where(*conditions: tuple[str, Any]) -> tuple[str, tuple[Any, ...]]:
    used = [(sql, value) for sql, value in conditions if value is not None]
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(sql for sql, _ in used), tuple(value for _, value in used)
