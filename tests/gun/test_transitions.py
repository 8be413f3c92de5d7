"""Every row of the transition table, driven through the gun's public API."""

from __future__ import annotations

import pytest

from pecc_core.errors import Refused
from pecc_core.gun import TRANSITIONS, Event, Gun, GunState, Outcome
from pecc_core.station import Station
from pecc_core.testing import eventually

from .gun_rig import instant
from .helpers import FakeLink, bring_to, fire, record

S, E = GunState, Event
INTERNAL = {E.TEST_PASSED, E.TEST_FAILED, E.SAFE, E.CLEARED}
ROWS = sorted(
    ((state, event) for (state, event) in TRANSITIONS if event not in INTERNAL),
    key=lambda row: (list(S).index(row[0]), list(E).index(row[1])),
)


def test_table_covers_every_request_in_every_state() -> None:
    requests = (E.CABLE_CHECK, E.CLOSE, E.OPEN, E.TARGET_STANDBY, E.TARGET_PRECHARGE,
                E.TARGET_CHARGE, E.TARGET_POSTCHARGE, E.RESET)
    missing = [(s, e) for s in S for e in requests if (s, e) not in TRANSITIONS]
    assert missing == []


@pytest.mark.parametrize(("state", "event"), ROWS, ids=[f"{s}-{e}".replace(" ", "_") for s, e in ROWS])
async def test_row(station: Station, state: GunState, event: Event) -> None:
    gun: Gun = station.guns["1-1"]
    link = FakeLink()
    gun.secc_attached(link)
    await bring_to(gun, state)
    recorder = record(station)
    driven = (gun.report().driven_voltage, gun.report().driven_current)
    expected = TRANSITIONS[(state, event)]

    if isinstance(expected, type) and issubclass(expected, Refused):
        with pytest.raises(expected):
            await fire(gun, event, link)
        assert gun.state is state
        assert (gun.report().driven_voltage, gun.report().driven_current) == driven
        return
    await fire(gun, event, link)
    if expected is Outcome.IGNORED:
        assert gun.state is state
        assert (gun.report().driven_voltage, gun.report().driven_current) == driven
        return
    assert isinstance(expected, GunState)
    if expected is S.STOPPING:
        instant(station.power).discharge()
        await eventually(lambda: gun.state is S.STANDBY, what="standby after stopping")
        assert gun.in_standby()
    else:
        await eventually(lambda: gun.state is expected, what=str(expected))
    if expected is not state:  # the observers are told the transition and the event that caused it
        assert (state, expected, event) in [(old, new, ev) for _, old, new, ev, _ in recorder.transitions]
