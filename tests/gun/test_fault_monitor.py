"""The fault monitor on its own: what it keeps, what it latches, what it tells the gun.

No station and no gun: the monitor is given two callbacks and checked
through its read-only views and the changes it reports.
"""

from __future__ import annotations

import pytest

from pecc_core.gun.faults import FaultChange, FaultMonitor


class Told:
    """What the monitor told its gun, and what its views showed at that moment."""

    def __init__(self) -> None:
        self.changes: list[FaultChange] = []
        self.seen: list[dict[str, str]] = []
        self.notices: list[str] = []
        self.monitor = FaultMonitor("1-1", self.changed, self.notices.append)

    def changed(self, change: FaultChange) -> None:
        self.changes.append(change)
        self.seen.append(dict(self.monitor.faults))


def test_a_condition_is_kept_and_told_once_when_it_appears_and_when_it_goes() -> None:
    told = Told()
    told.monitor.condition("estop", True, "emergency stop pressed", emergency=True)
    told.monitor.condition("estop", True, "emergency stop pressed", emergency=True)
    assert told.monitor.faults == {"estop": "gun 1-1: emergency stop pressed"}
    told.monitor.condition("estop", False, "")
    told.monitor.condition("estop", False, "")
    assert told.monitor.faults == {}
    assert told.changes == [
        FaultChange("estop", True, "gun 1-1: emergency stop pressed", "emergency stop pressed", True),
        FaultChange("estop", False, "gun 1-1: emergency stop pressed", "", False),
    ]


def test_the_gun_is_told_after_the_record_has_changed() -> None:
    """The gun decides on what the monitor now holds (the last fault gone: back to standby)."""
    told = Told()
    told.monitor.condition("module", True, "power module 3 is not answering")
    told.monitor.condition("module", False, "")
    assert told.seen == [{"module": "gun 1-1: power module 3 is not answering"}, {}]


def test_an_over_voltage_stays_until_unlatched() -> None:
    told = Told()
    told.monitor.condition("over_voltage", True, "over-voltage")
    told.monitor.condition("emergency_over_voltage", True, "emergency over-voltage", emergency=True)
    told.monitor.condition("pe_voltage", True, "voltage to PE", emergency=True)
    told.monitor.condition("over_voltage", False, "")
    told.monitor.condition("emergency_over_voltage", False, "")
    assert set(told.monitor.faults) == {"over_voltage", "emergency_over_voltage", "pe_voltage"}
    told.monitor.unlatch()
    assert set(told.monitor.faults) == {"pe_voltage"}
    assert sorted(c.kind for c in told.changes if not c.raised) == ["emergency_over_voltage", "over_voltage"]


def test_unlatch_without_a_latched_condition_tells_nothing() -> None:
    told = Told()
    told.monitor.condition("discharge", True, "output still at 80 V")
    told.monitor.unlatch()
    assert set(told.monitor.faults) == {"discharge"}
    assert len(told.changes) == 1


def test_a_notice_is_kept_and_given_to_the_secc_when_it_appears() -> None:
    told = Told()
    told.monitor.notice("stale", True, "measured voltage unknown")
    assert set(told.monitor.notices) == {"stale"}
    assert told.notices == ["gun 1-1: measured voltage unknown"]
    told.monitor.notice("stale", False, "measured voltage unknown")
    assert set(told.monitor.notices) == set()
    assert told.notices == ["gun 1-1: measured voltage unknown"]
    assert told.changes == []  # a notice is no fault


def test_the_views_cannot_be_written() -> None:
    told = Told()
    told.monitor.condition("internal", True, "boom")
    told.monitor.notice("waiting", True, "no power module free")
    with pytest.raises(TypeError):
        told.monitor.faults["internal"] = "gone"  # type: ignore[index]
    assert not hasattr(told.monitor.notices, "add")
    assert not hasattr(told.monitor.notices, "discard")
