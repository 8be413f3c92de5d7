"""The SQLite history store on its own: schema version, WAL, retention, a writer that never blocks the caller."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from pecc_plugins.ctl.history import BACKLOG, History, HistoryError, Retention, Session


async def test_rows_are_written_in_wal_mode_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    history = History(path, Retention(max_rows=1000, max_age_s=3600))
    assert await history.open() is None
    history.event("1-1", "state", {"from": "standby", "to": "cableCheck", "reason": "x"})
    history.event(None, "station", {"what": "started"})
    history.session(Session("s1", "1-1", "VIN", time.time() - 10, time.time(), 12.5, 30_000.0, "reset", "completed"))
    await history.save_limits({"site_max_power_w": 1000})
    await history.close()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA user_version").fetchone()[0] >= 1
    connection.close()
    again = History(path, Retention(max_rows=1000, max_age_s=3600))
    assert await again.open() == {"site_max_power_w": 1000}
    events = await again.events()
    assert [(e["gun"], e["kind"]) for e in events] == [("1-1", "state"), (None, "station")]
    assert events[0]["to"] == "cableCheck" and events[0]["id"] < events[1]["id"]
    assert [e["kind"] for e in await again.events(gun="1-1")] == ["state"]
    (session,) = await again.sessions(gun="1-1")
    assert session["energy_wh"] == 12.5 and session["outcome"] == "completed"
    await again.save_limits(None)
    await again.close()
    third = History(path, Retention(max_rows=1000, max_age_s=3600))
    assert await third.open() is None
    await third.close()


async def test_retention_keeps_the_newest_rows_and_drops_old_ones(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3", Retention(max_rows=50, max_age_s=3600))
    await history.open()
    now = time.time()
    history.event("1-1", "state", {"n": -1}, ts=now - 7200)  # older than the age bound
    for n in range(200):
        history.event("1-1", "state", {"n": n}, ts=now)
    await history.close()  # prunes on the way out
    reopened = History(tmp_path / "h.sqlite3", Retention(max_rows=50, max_age_s=3600))
    await reopened.open()
    kept = await reopened.events(limit=1000)
    assert [e["n"] for e in kept] == list(range(150, 200))
    await reopened.close()


async def test_a_session_left_open_by_a_crash_is_closed_as_failed(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3", Retention(max_rows=50, max_age_s=3600))
    await history.open()
    history.session(Session("s1", "1-1", None, time.time()))
    await history.close()
    reopened = History(tmp_path / "h.sqlite3", Retention(max_rows=50, max_age_s=3600))
    await reopened.open()
    (session,) = await reopened.sessions()
    assert session["outcome"] == "failed" and session["end"] is None and "without closing" in session["end_reason"]
    await reopened.close()


async def test_a_newer_schema_is_refused_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 999")
    connection.close()
    with pytest.raises(HistoryError, match="schema version 999 is newer"):
        await History(path, Retention(10, 10)).open()


async def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path: Path) -> None:
    unopened = History(tmp_path / "unopened.sqlite3", Retention(10, 10))
    for n in range(3):  # not opened: nothing would ever write them
        unopened.event("1-1", "refused", {"n": n})
    assert unopened.dropped == 3
    history = History(tmp_path / "h.sqlite3", Retention(max_rows=2 * BACKLOG, max_age_s=3600))
    await history.open()
    for n in range(BACKLOG + 5):  # no await: the writer cannot take any of them meanwhile
        history.event("1-1", "refused", {"n": n})
    assert history.dropped == 5
    await history.stored()
    assert [e["n"] for e in await history.events(limit=2 * BACKLOG)] == list(range(BACKLOG))
    await history.close()


def saved_limits(path: Path) -> str | None:
    """The limits row as another process would read it now."""
    connection = sqlite3.connect(path)
    try:
        row = connection.execute("SELECT data FROM limits").fetchone()
        return None if row is None else str(row[0])
    finally:
        connection.close()


async def test_saved_limits_are_on_disk_when_the_call_returns_and_never_wait_behind_the_backlog(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.sqlite3"
    history = History(path, Retention(max_rows=2 * BACKLOG, max_age_s=3600))
    await history.open()
    for n in range(BACKLOG):  # a full backlog: 20 batches of events waiting
        history.event("1-1", "state", {"n": n})
    await history.save_limits({"site_max_power_w": 1000})
    assert saved_limits(path) == '{"site_max_power_w": 1000}'
    assert len(await history.events(limit=2 * BACKLOG)) < BACKLOG  # the events were still being written
    await history.save_limits(None)
    assert saved_limits(path) is None
    await history.close()
    assert len(await history.events(limit=2 * BACKLOG)) == BACKLOG
    with pytest.raises(sqlite3.Error, match="closed"):
        await history.save_limits({"site_max_power_w": 1})


async def test_stored_waits_for_the_rows_put_before_it_not_for_those_put_after(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3", Retention(max_rows=10**6, max_age_s=3600))
    await history.open()
    for n in range(10):
        history.event("1-1", "state", {"n": n})
    waiting = asyncio.create_task(history.stored())
    put = 0
    while not waiting.done() and put < 100_000:  # a steady stream of events meanwhile
        history.event("1-1", "state", {"n": 10 + put})
        put += 1
        await asyncio.sleep(0)
    assert waiting.done(), f"stored() still waiting after {put} more rows"
    stored = await history.events(limit=10**6)
    assert [e["n"] for e in stored[:10]] == list(range(10))
    await history.close()
