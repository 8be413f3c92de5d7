"""A session's outcome comes from the event that ended it, never from the reason text.

Every way a session ends, driven on a gun of the instant rig (the state
machine's own tests' station, on virtual time) with the ctl recorder
listening through its hook; then transitions reported with a reason text
that says the opposite of their event.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pecc_core.gun import TRANSITIONS, Event, Gun, GunState
from pecc_core.model import Isolation
from pecc_core.power import Fault
from pecc_core.records import Session
from pecc_core.station import Station
from pecc_core.testing import eventually
from pecc_plugins.ctl.observers import RecorderHooks
from pecc_plugins.ctl.recorder import Recorder

from ..gun.gun_rig import instant, instant_profile, instant_station
from ..gun.helpers import FakeLink, bring_to, first_module, record

S, E = GunState, Event
#: How each event that takes a gun out of a session ends it: the SECC's own
#: requests complete it, everything else fails it.
OUTCOME = {
    E.OPEN: "completed",
    E.RESET: "completed",
    E.TEST_FAILED: "failed",
    E.SECC_LOST: "failed",
    E.FAULT: "failed",
    E.SHUTDOWN: "failed",
}
IN_SESSION = (S.CABLE_CHECK, S.READY, S.PRECHARGE, S.CHARGE, S.POSTCHARGE)


class Rows:
    """Stands in for the history store: keeps the session rows the recorder writes, as written."""

    def __init__(self) -> None:
        self.sessions: list[Session] = []

    def event(self, gun: str | None, kind: str, data: dict[str, Any], ts: float | None = None) -> None: ...

    def session(self, record: Session) -> None:
        self.sessions.append(dataclasses.replace(record))


@dataclasses.dataclass
class Rig:
    station: Station
    recorder: Recorder
    rows: Rows
    gun: Gun
    link: FakeLink


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """A started instant station whose gun 1-1 has an SECC, a recorder on a :class:`Rows`."""
    station = instant_station(instant_profile(tmp_path))
    rows = Rows()
    recorder = Recorder(station, rows, clock=asyncio.get_running_loop().time)  # type: ignore[arg-type]
    station.plugins.register(RecorderHooks(recorder), "ctl.recorder")  # as the ctl service does
    await station.start()
    await eventually(lambda: all(station.pool.modules_of(g) for g in station.guns), what="modules dealt")
    gun = station.guns["1-1"]
    link = FakeLink()
    gun.secc_attached(link)
    try:
        yield Rig(station, recorder, rows, gun, link)
    finally:
        instant(station.power).discharge()
        await station.stop()


async def contactors_open(rig: Rig) -> None:
    await rig.gun.set_contactors(False)


async def reset(rig: Rig) -> None:
    await rig.gun.reset()


async def module_fault(rig: Rig) -> None:
    instant(rig.station.power).fail(first_module(rig.gun), Fault.OVER_TEMPERATURE)


async def emergency_stop(rig: Rig) -> None:
    rig.station.io.estop.press(rig.gun.id)


async def isolation_fault(rig: Rig) -> None:
    rig.station.io.imd.inject(rig.gun.id, Isolation.FAULT)


async def secc_gone(rig: Rig) -> None:
    rig.gun.secc_detached(rig.link, "connection closed")


async def station_stopping(rig: Rig) -> None:
    await rig.gun.shutdown()


async def failed_isolation_test(rig: Rig) -> None:
    rig.station.io.imd.inject(rig.gun.id, Isolation.FAULT)  # seen once the (slow) self-test is over
    await eventually(lambda: rig.gun.state is not S.CABLE_CHECK, 60.0, "the isolation test's end")


End = Callable[[Rig], Awaitable[None]]
#: (the state the session is in, what ends it, the event that does).
WAYS: list[tuple[GunState, End, Event]] = [
    (S.CHARGE, contactors_open, E.OPEN),
    (S.POSTCHARGE, contactors_open, E.OPEN),
    (S.CHARGE, reset, E.RESET),
    (S.CABLE_CHECK, reset, E.RESET),
    (S.CHARGE, module_fault, E.FAULT),
    (S.CHARGE, emergency_stop, E.FAULT),
    (S.CHARGE, isolation_fault, E.FAULT),
    (S.CHARGE, secc_gone, E.SECC_LOST),
    (S.READY, secc_gone, E.SECC_LOST),
    (S.CHARGE, station_stopping, E.SHUTDOWN),
    (S.CABLE_CHECK, failed_isolation_test, E.TEST_FAILED),
]


def test_every_way_out_of_a_session_is_tested_and_has_an_outcome() -> None:
    """A new event that ends a session must be given an outcome here (and in the recorder)."""
    ends = {e for (s, e), o in TRANSITIONS.items() if s in IN_SESSION and o in (S.STOPPING, S.INOPERATIVE)}
    assert ends == set(OUTCOME) == {event for _, _, event in WAYS}


@pytest.mark.parametrize(("start", "end", "event"), WAYS, ids=[f"{end.__name__}-in-{start}" for start, end, _ in WAYS])
async def test_the_event_that_ends_a_session_decides_its_outcome(
    rig: Rig, start: GunState, end: End, event: Event
) -> None:
    await bring_to(rig.gun, start)
    (opened,) = rig.rows.sessions
    assert opened.end is None and opened.outcome is None
    told = record(rig.station)
    await end(rig)
    await eventually(lambda: rig.gun.state in (S.STOPPING, S.INOPERATIVE, S.STANDBY), what="out of the session")
    _, old, new, on, reason = told.transitions[0]
    assert (old, on) == (start, event) and new in (S.STOPPING, S.INOPERATIVE)
    ended = rig.rows.sessions[-1]
    assert (ended.id, ended.outcome, ended.end_reason) == (opened.id, OUTCOME[event], reason)
    assert ended.end is not None and ended.end >= opened.start
    kept = rig.recorder.guns["1-1"]
    assert (kept.sessions_started, kept.sessions_completed, kept.sessions_failed) == (
        (1, 1, 0) if OUTCOME[event] == "completed" else (1, 0, 1)
    )
    assert kept.session is None


@pytest.mark.parametrize(
    ("new", "event", "reason", "outcome"),
    [
        (S.STOPPING, E.SECC_LOST, "reset", "failed"),
        (S.INOPERATIVE, E.FAULT, "contactorsStatus open", "failed"),
        (S.STOPPING, E.SHUTDOWN, "reset", "failed"),
        (S.STOPPING, E.OPEN, "SECC detached (connection closed)", "completed"),
        (S.STOPPING, E.RESET, "station stopping", "completed"),
    ],
)
async def test_the_reason_text_does_not_decide(
    tmp_path: Path, new: GunState, event: Event, reason: str, outcome: str
) -> None:
    station = instant_station(instant_profile(tmp_path))
    rows = Rows()
    recorder = Recorder(station, rows, clock=asyncio.get_running_loop().time)  # type: ignore[arg-type]
    gun = station.guns["1-1"]
    recorder.state_changed(gun, S.STANDBY, S.CABLE_CHECK, E.CABLE_CHECK, "cableCheck at 500 V")
    recorder.state_changed(gun, S.CHARGE, new, event, reason)
    (ended,) = {row.id: row for row in rows.sessions}.values()
    assert (ended.outcome, ended.end_reason) == (outcome, reason)
