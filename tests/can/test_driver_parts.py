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
from pecc_plugins.canbus.setpoints import Deadband, Due, SentState

EVERY = Reading.MEASUREMENT | Reading.STATUS | Reading.TEMPERATURE
NO_BAND = Deadband()
BAND = Deadband(voltage=1.0, current=0.5)


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
    assert sent.changed_setpoints(module, NO_BAND) is None
    module.current_setpoint = 12.0
    assert sent.changed_setpoints(module, NO_BAND) == Due(False, True, 400.0, 10.0)  # with what it was last sent
    sent.forget(1)
    assert sent.whole_due(module)


def test_setpoints_of_an_off_module_are_not_sent() -> None:
    sent, module = SentState(), _module()
    sent.sent(module)
    module.current_setpoint = 5.0
    assert not sent.whole_due(module) and sent.changed_setpoints(module, NO_BAND) is None


def _exporting(sent: SentState, voltage: float = 400.0, current: float = 10.0) -> ModuleState:
    module = _module()
    module.mode, module.voltage_setpoint, module.current_setpoint = Mode.EXPORT, voltage, current
    sent.sent(module)
    return module


@pytest.mark.parametrize(
    ("voltage", "current", "due"),
    [
        (401.0, 10.5, None),  # raises up to the band: held
        (401.01, 10.0, Due(True, False, 400.0, 10.0)),  # above it: out
        (400.0, 10.51, Due(False, True, 400.0, 10.0)),
        (399.9, 10.0, Due(True, False, 400.0, 10.0)),  # a fall goes out however small
        (400.0, 9.99, Due(False, True, 400.0, 10.0)),
        (400.5, 9.9, Due(False, True, 400.0, 10.0)),  # a fall beside a held raise: the raise stays held
    ],
)
def test_the_deadband_holds_small_raises_only(voltage: float, current: float, due: Due | None) -> None:
    sent = SentState()
    module = _exporting(sent)
    module.voltage_setpoint, module.current_setpoint = voltage, current
    assert sent.changed_setpoints(module, BAND) == due


def test_held_raises_add_up_against_the_value_last_sent() -> None:
    sent = SentState()
    module = _exporting(sent)
    module.voltage_setpoint = 400.6
    assert sent.changed_setpoints(module, BAND) is None and sent.held(module)
    module.voltage_setpoint = 401.2
    due = sent.changed_setpoints(module, BAND)
    assert due == Due(True, False, 400.0, 10.0)
    sent.sent_setpoints(module, due)
    assert not sent.held(module)
    module.voltage_setpoint, module.current_setpoint = 401.5, 10.2
    due = sent.changed_setpoints(module, Deadband(voltage=1.0))  # no current band: the current goes
    assert due == Due(False, True, 401.2, 10.0)
    sent.sent_setpoints(module, due)
    assert sent.held(module)  # the voltage raise was not sent with it
    module.voltage_setpoint = 401.3  # below the held value, above the one sent: still a raise
    assert sent.changed_setpoints(module, BAND) is None


def test_a_held_raise_brings_the_refresh_within_one_period() -> None:
    plan = PollPlan(DriverTiming(), [1, 2])
    plan.refreshed(2, 20.0)  # stretched: due at 21.25
    plan.held(2, 20.1)
    assert plan.refresh_due(2, 21.09) is False and plan.refresh_due(2, 21.1) is True
    plan.held(2, 20.5)  # held since 20.1: not later
    assert plan.refresh_due(2, 21.1) is True


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
