"""Event and session history in SQLite, written by one thread, never by the loop.

The loop only appends rows to a bounded backlog (:meth:`History.event`,
:meth:`History.session`): a full backlog drops the row and counts it, it
never waits. One writer task on the loop hands whatever is waiting to the
writer thread (a one-worker executor: ``run_in_executor``, so the loop
knows a write is under way, which keeps virtual time in step with it in
the tests), which inserts it in one transaction (the write rate follows
the load in batches, not row by row) and prunes the tables to the
retention bounds (rows and age) now and then. :meth:`History.stored`
waits until what was put so far is written: rows put after the call do
not hold it up.

Rows are committed with ``synchronous=NORMAL``: a commit is in the
operating system's hands when it returns, so it survives the process
being killed, though not a power cut right after it. The operator's limit
overrides must survive both, so :meth:`History.save_limits` is a
coroutine of its own that never waits behind the backlog: its one
transaction (atomic, as every SQLite transaction) is committed with
``synchronous=FULL``, which fsyncs the write-ahead log (and, the first
time, its directory) before the commit returns.

Readers open their own connection in a worker thread; WAL lets them read
while the writer writes.

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
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pecc_core.asyncutil import cancel
from pecc_core.clock import wall
from pecc_core.errors import ConfigError
from pecc_core.records import Session

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BACKLOG = 20_000  # rows waiting for the writer; beyond that they are dropped (and counted)
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
        self._backlog: list[tuple[str, Any]] = []
        #: Rows taken into the backlog so far; rows whose write has been tried (in order).
        self._accepted = 0
        self._handled = 0
        #: :meth:`stored` callers: each waits until ``_handled`` reaches its mark.
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._writer: asyncio.Task[None] | None = None
        self._pruned_at = 0.0
        #: Called on the loop with every event as it is recorded, shaped as
        #: :meth:`events` returns it without ``id`` (the dashboard's live feed,
        #: the other plugins' ``pecc_event_recorded``).
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        #: Called on the loop with a copy of every session row as it is written:
        #: when it opens, at each checkpoint, when it ends (the other plugins'
        #: ``pecc_session_recorded``). Must not raise: the recorder writes rows
        #: in the middle of its own bookkeeping.
        self.session_listeners: list[Callable[[Session], None]] = []

    async def open(self) -> dict[str, Any] | None:
        """Create or check the database and start the writer; the saved limit overrides."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="pecc-history")
        loop = asyncio.get_running_loop()
        try:
            self._connection = await loop.run_in_executor(self._executor, self._prepare)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        self._pruned_at = loop.time()
        return await asyncio.to_thread(self._saved_limits)

    async def close(self) -> None:
        """Write what is waiting, prune, then stop the writer."""
        executor, connection = self._executor, self._connection
        if executor is None or connection is None:
            return
        try:
            await self.stored()
            await asyncio.get_running_loop().run_in_executor(executor, self._close, connection)
        finally:
            await cancel(self._writer)
            self._writer = self._executor = self._connection = None
            self._wake()  # nothing more will be written
            executor.shutdown(wait=False)

    async def stored(self) -> None:
        """Return once every row put so far is written (or its write has failed and been logged).

        Rows put meanwhile are not waited for: a steady stream of events
        cannot hold a caller up for longer than the backlog it found.
        """
        if self._handled >= self._accepted:
            return
        done = asyncio.get_running_loop().create_future()
        self._waiters.append((self._accepted, done))
        await done

    # -- from the loop: never blocks ------------------------------------------------

    def event(self, gun: str | None, kind: str, data: dict[str, Any], ts: float | None = None) -> None:
        ts = wall() if ts is None else ts
        self._put("event", (ts, gun, kind, json.dumps(data, default=str)))
        for listener in self.listeners:
            listener({"ts": ts, "gun": gun, "kind": kind, **data})

    def session(self, record: Session) -> None:
        self._put("session", tuple(asdict(record).values()))
        if self.session_listeners:
            copy = replace(record)  # the recorder goes on updating its own
            for listener in self.session_listeners:
                listener(copy)

    async def save_limits(self, overrides: dict[str, Any] | None) -> None:
        """Store the operator's overrides (None: forget them); return once they are on disk.

        Run by the writer thread ahead of the backlog, fsynced (see the
        module doc). :class:`sqlite3.Error` if they could not be stored
        (also when the store is closed).
        """
        if self._connection is None:
            raise sqlite3.ProgrammingError(f"{self.path}: the history store is closed")
        row = None if overrides is None else (wall(), json.dumps(overrides))
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write_limits, self._connection, row)

    def _put(self, what: str, row: Any) -> None:
        if len(self._backlog) >= BACKLOG or self._connection is None:
            self.dropped += 1
            return
        self._backlog.append((what, row))
        self._accepted += 1
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write(), name="pecc-history")

    async def _write(self) -> None:
        """Hand the backlog to the writer thread, a batch at a time, until it is empty."""
        loop = asyncio.get_running_loop()
        while self._backlog and self._connection is not None:
            batch, self._backlog = self._backlog[:BATCH], self._backlog[BATCH:]
            prune = loop.time() - self._pruned_at > PRUNE_EVERY_S
            if prune:
                self._pruned_at = loop.time()
            try:
                await loop.run_in_executor(self._executor, self._store, self._connection, batch, prune)
            finally:
                self._handled += len(batch)
                self._wake()

    def _wake(self) -> None:
        """Release the :meth:`stored` callers whose rows have all been handled (on their own loops)."""
        waiting = []
        for mark, done in self._waiters:
            if mark <= self._handled or self._connection is None:
                done.get_loop().call_soon_threadsafe(_release, done)
            else:
                waiting.append((mark, done))
        self._waiters = waiting

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

    def _store(self, connection: sqlite3.Connection, batch: list[tuple[str, Any]], prune: bool) -> None:
        try:
            self._insert(connection, batch)
            if prune:
                self._prune(connection)
        except sqlite3.Error:
            log.exception("history: writing %d rows to %s failed", len(batch), self.path)

    def _write_limits(self, connection: sqlite3.Connection, row: tuple[float, str] | None) -> None:
        connection.execute("PRAGMA synchronous=FULL")
        try:
            with connection:
                connection.execute("BEGIN")
                if row is None:
                    connection.execute("DELETE FROM limits")
                else:
                    connection.execute("INSERT OR REPLACE INTO limits VALUES (1, ?, ?)", row)
        finally:
            connection.execute("PRAGMA synchronous=NORMAL")
        self.written += 1

    def _close(self, connection: sqlite3.Connection) -> None:
        try:
            self._prune(connection)
        except sqlite3.Error:
            log.exception("history: pruning %s failed", self.path)
        connection.close()

    def _insert(self, connection: sqlite3.Connection, batch: list[tuple[str, Any]]) -> None:
        events = [row for what, row in batch if what == "event"]
        sessions = [row for what, row in batch if what == "session"]
        with connection:
            connection.execute("BEGIN")
            if events:
                connection.executemany("INSERT INTO events (ts, gun, kind, data) VALUES (?, ?, ?, ?)", events)
            if sessions:
                connection.executemany(
                    f"INSERT OR REPLACE INTO sessions VALUES ({', '.join('?' * len(Session.__slots__))})", sessions
                )
        self.written += len(batch)

    def _prune(self, connection: sqlite3.Connection) -> None:
        oldest = wall() - self.retention.max_age_s
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


def _release(done: asyncio.Future[None]) -> None:
    if not done.done():  # not cancelled meanwhile
        done.set_result(None)


def _where(*conditions: tuple[str, Any]) -> tuple[str, tuple[Any, ...]]:
    used = [(sql, value) for sql, value in conditions if value is not None]
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(sql for sql, _ in used), tuple(value for _, value in used)
