"""The parts of ModuleDriver on their own: the polling budget, what was sent, silence and recovery.

The drivers' tests cover them through the bus; these pin each part's own
rules with plain numbers (default timing: poll 0.2 s, idle 1 s, status 1 s,
temperature 5 s, refresh 1 s, offline 6 s, off current 2 A).
"""

from __future__ import annotations

import pytest

from pecc_core.power import Mode, ModuleState
from pecc_plugins.canbus.polling import DriverTiming, PollPlan, Reading
from pecc_plugins.canbus.recovery import Recovery
from pecc_plugins.canbus.setpoints import SentState

EVERY = Reading.MEASUREMENT | Reading.STATUS | Reading.TEMPERATURE


def _module(address: int = 1) -> ModuleState:
    return ModuleState(address, 150.0, 1000.0, 40.0, 30_000.0)


def test_first_reads_are_spread_over_each_period() -> None:
    plan = PollPlan(DriverTiming(), [1, 2])
    plan.restart(10.0)
    first, second = _module(1), _module(2)
    assert plan.readings_due(first, 10.0) == EVERY
    assert plan.readings_due(second, 10.0) == Reading(0)
    assert plan.readings_due(second, 10.1) == Reading.MEASUREMENT  # half a poll period later
    assert plan.readings_due(second, 10.5) == Reading.STATUS  # idle: measured again at 11.1
    assert plan.readings_due(second, 12.5) == EVERY  # half a temperature period later
    assert plan.refresh_due(1, 10.99) is False and plan.refresh_due(1, 11.0) is True
    assert plan.refresh_due(2, 11.49) is False and plan.refresh_due(2, 11.5) is True


@pytest.mark.parametrize(
    ("mode", "current", "voltage", "next_measurement"),
    [
        (Mode.EXPORT, 0.0, 0.0, 0.2),  # feeding a gun
        (Mode.OFF, 2.5, 0.0, 0.2),  # still carrying current
        (Mode.OFF, 0.0, 60.0, 0.2),  # a live output
        (Mode.OFF, 2.0, 59.9, 1.0),  # idle
    ],
)
def test_active_modules_are_measured_at_the_fast_rate(
    mode: Mode, current: float, voltage: float, next_measurement: float
) -> None:
    plan, module = PollPlan(DriverTiming(), [1]), _module()
    module.mode, module.current, module.voltage = mode, current, voltage
    assert Reading.MEASUREMENT in plan.readings_due(module, 0.0)
    assert Reading.MEASUREMENT not in plan.readings_due(module, next_measurement - 0.01)
    assert Reading.MEASUREMENT in plan.readings_due(module, next_measurement)


def test_a_module_starting_is_measured_on_the_next_tick() -> None:
    plan, module = PollPlan(DriverTiming(), [1]), _module()
    plan.readings_due(module, 0.0)
    plan.measure_soon(1)
    assert plan.readings_due(module, 0.05) == Reading.MEASUREMENT


def test_setpoints_sent_push_the_refresh_back_by_a_stretched_period() -> None:
    plan = PollPlan(DriverTiming(), [1, 2])
    plan.refreshed(2, 20.0)  # the second of two modules: phase 0.5, period stretched by a quarter
    assert plan.refresh_due(2, 21.24) is False and plan.refresh_due(2, 21.25) is True


def test_the_whole_state_goes_first_and_after_a_mode_change_then_only_changed_setpoints() -> None:
    sent, module = SentState(), _module()
    assert sent.whole_due(module)
    sent.sent(module)
    assert not sent.whole_due(module)
    module.mode, module.voltage_setpoint, module.current_setpoint = Mode.EXPORT, 400.0, 10.0
    assert sent.whole_due(module)
    sent.sent(module)
    assert sent.changed_setpoints(module) is None
    module.current_setpoint = 12.0
    assert sent.changed_setpoints(module) == (400.0, 10.0)  # what it was last sent
    sent.forget(1)
    assert sent.whole_due(module)


def test_setpoints_of_an_off_module_are_not_sent() -> None:
    sent, module = SentState(), _module()
    sent.sent(module)
    module.current_setpoint = 5.0
    assert not sent.whole_due(module) and sent.changed_setpoints(module) is None


def test_silence_counts_from_the_last_frame_or_the_restart() -> None:
    recovery, module = Recovery(DriverTiming()), _module()
    recovery.restart(100.0)
    module.last_seen = 50.0
    assert not recovery.silent(module, 106.0) and recovery.silent(module, 106.01)
    module.last_seen = 104.0
    assert not recovery.silent(module, 110.0) and recovery.silent(module, 110.01)


def test_recovery_reapplies_once_and_completes_a_poll_later() -> None:
    recovery = Recovery(DriverTiming())
    assert recovery.begin(1, 5.0) is True  # the first frame: re-apply the cached state
    assert recovery.begin(1, 5.1) is False
    assert not recovery.ready(1, 5.19) and recovery.ready(1, 5.2)
    recovery.end(1)
    assert recovery.begin(1, 9.0) is True  # lost again and heard: a new recovery
