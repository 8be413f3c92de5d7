"""effective_limits and setpoint_current: the one definition of a gun's limits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pecc_core.errors import ValueRefused
from pecc_core.gun.limits import effective_limits, setpoint_current
from pecc_core.model import EvSession
from pecc_core.pool import NO_SUPPLY, Supply, group_supply
from pecc_core.power import ModuleState
from pecc_core.profile.model import GunConfig

GUN = GunConfig("g", "s", "/g", 150.0, 1000.0, 0.0, 200.0, 120_000.0, 2.0, False)
HW = Supply(150.0, 1000.0, 200.0, 60_000.0)


def test_gun_alone_is_bounded_by_its_modules() -> None:
    limits = effective_limits(GUN, HW, EvSession(), None)
    assert (limits.voltage_min, limits.voltage_max) == (150.0, 1000.0)
    assert (limits.current_max, limits.power_max) == (200.0, 60_000.0)
    assert limits.discharge_current_max is None


def test_car_and_allocation_lower_the_limits() -> None:
    ev = EvSession(ev_max_voltage_volts=450.0, ev_max_current_amperes=150.0,
                   ev_max_power_watts=50_000.0, charging_profile_max_power_limit_watts=40_000.0)
    limits = effective_limits(GUN, HW, ev, 30_000.0)
    assert (limits.voltage_max, limits.current_max, limits.power_max) == (450.0, 150.0, 30_000.0)


def test_no_modules_means_no_current_and_consistent_minimums() -> None:
    limits = effective_limits(GUN, NO_SUPPLY, EvSession(), None)
    assert limits.voltage_max == limits.current_max == limits.power_max == 0.0
    assert limits.voltage_min <= limits.voltage_max and limits.current_min <= limits.current_max


def test_bidirectional_reports_negative_discharge_limits() -> None:
    gun = GunConfig("g", "s", "/g", 150.0, 1000.0, 0.0, 200.0, 120_000.0, 2.0, True)
    limits = effective_limits(gun, HW, EvSession(), None)
    assert limits.discharge_current_max == -200.0 and limits.discharge_power_max == -60_000.0


def test_group_capability_intersects_voltage_and_sums_the_rest() -> None:
    a = ModuleState(1, 150.0, 1000.0, 100.0, 30_000.0)
    b = ModuleState(2, 200.0, 750.0, 80.0, 20_000.0)
    assert group_supply([a, b]) == Supply(200.0, 750.0, 180.0, 50_000.0)
    assert group_supply([]) is NO_SUPPLY
    c = ModuleState(3, 800.0, 1000.0, 50.0, 20_000.0)
    assert group_supply([b, c]) is NO_SUPPLY  # ranges do not overlap


def test_setpoint_refuses_voltage_and_degrades_current() -> None:
    limits = effective_limits(GUN, HW, EvSession(), None)
    with pytest.raises(ValueRefused, match=r"1000\.1 V is above the limit 1000 V"):
        setpoint_current(limits, 1000.1, 10.0)
    assert setpoint_current(limits, 1000.0, 10.0) == 10.0
    assert setpoint_current(limits, 400.0, 500.0) == 150.0  # 60 kW at 400 V
    assert setpoint_current(limits, 200.0, 500.0) == 200.0  # the current limit
    assert setpoint_current(limits, 0.0, 5.0) == 5.0


def number(hi: float) -> st.SearchStrategy[float]:
    """Physical values: no subnormal floats (a 1e-313 W cap is rounding noise)."""
    return st.floats(0, hi, allow_subnormal=False)


optional = st.one_of(st.none(), number(2000))


@given(
    hw=st.builds(Supply, number(500), number(1200), number(500), number(2e5)),
    ev_v=optional, ev_i=optional, ev_p=optional, profile_p=optional, cap=optional,
    voltage=number(1500), current=number(1000),
)
def test_limits_never_exceed_any_input(hw, ev_v, ev_i, ev_p, profile_p, cap, voltage, current) -> None:  # type: ignore[no-untyped-def]
    ev = EvSession(ev_max_voltage_volts=ev_v, ev_max_current_amperes=ev_i, ev_max_power_watts=ev_p,
                   charging_profile_max_power_limit_watts=profile_p)
    limits = effective_limits(GUN, hw, ev, cap)
    for bound in (GUN.voltage_max, hw.voltage_max, ev_v):
        assert bound is None or limits.voltage_max <= bound
    for bound in (GUN.current_max, hw.current_max, ev_i):
        assert bound is None or limits.current_max <= bound
    for bound in (GUN.power_max, hw.power_max, ev_p, profile_p, cap):
        assert bound is None or limits.power_max <= bound
    assert 0 <= limits.voltage_min <= limits.voltage_max
    assert 0 <= limits.current_min <= limits.current_max
    try:
        driven = setpoint_current(limits, voltage, current)
    except ValueRefused:
        assert voltage > limits.voltage_max
        return
    assert 0 <= driven <= min(current, limits.current_max)
    assert voltage * driven <= limits.power_max * (1 + 1e-9) or math.isclose(voltage * driven, limits.power_max)
