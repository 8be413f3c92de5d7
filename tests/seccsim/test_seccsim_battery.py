"""The battery model: curve, limits and SOC integration."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pecc_plugins.seccsim.battery import Battery, ChargerLimits, Curve
from pecc_plugins.seccsim.scenario import DEFAULT_CURVE, from_mapping

ROOMY = ChargerLimits(voltage_max=1000, current_max=500, power_max=400_000)


def test_curve_interpolates_between_points_and_holds_at_the_ends() -> None:
    curve = Curve(((0.0, 0.5), (50.0, 1.0), (100.0, 0.0)))
    assert curve(0) == 0.5
    assert curve(25) == pytest.approx(0.75)
    assert curve(75) == pytest.approx(0.5)
    assert curve(-5) == 0.5
    assert curve(120) == 0.0


def test_full_current_at_low_soc_and_a_taper_near_full() -> None:
    car = from_mapping({"ev": {"max_power": 1e9}})
    battery = Battery(car)
    battery.soc = 30
    _, mid = battery.request(ROOMY)
    battery.soc = 85
    _, late = battery.request(ROOMY)
    assert mid == pytest.approx(car.ev.max_current)
    assert late < 0.5 * mid


def test_voltage_asked_is_the_terminal_voltage_and_rises_with_soc() -> None:
    car = from_mapping({"ev": {"max_power": 1e9}})
    battery = Battery(car)
    battery.soc = 40
    v40, i40 = battery.request(ROOMY)
    assert v40 == pytest.approx(battery.open_circuit_voltage() + i40 * car.battery.internal_resistance_ohm)
    battery.soc = 60
    v60, _ = battery.request(ROOMY)
    assert v60 > v40


def test_power_cap_of_the_car_or_the_charger_holds() -> None:
    battery = Battery(from_mapping({"ev": {"max_power": 50_000}}))
    battery.soc = 30
    voltage, current = battery.request(ROOMY)
    assert voltage * current == pytest.approx(50_000, rel=1e-6)
    voltage, current = battery.request(ChargerLimits(1000, 500, 20_000))
    assert voltage * current == pytest.approx(20_000, rel=1e-6)


def test_soc_integrates_the_measured_current_with_time_scale() -> None:
    car = from_mapping({"battery": {"capacity_kwh": 37.0, "voltage_empty": 330.0, "voltage_full": 410.0}})
    battery = Battery(car, time_scale=60)
    start = battery.soc
    # 370 V nominal -> 100 Ah; 50 A for half a simulated hour (30 s x 60) is 25 Ah.
    battery.integrate(measured_current=50.0, measured_voltage=370.0, dt=30.0)
    assert battery.soc - start == pytest.approx(25.0)
    assert battery.energy_wh == pytest.approx(50 * 370 * 0.5)


@given(
    soc=st.floats(0, 100),
    charger=st.builds(
        ChargerLimits,
        voltage_max=st.floats(420, 1000),
        current_max=st.floats(1, 500),
        power_max=st.floats(1000, 400_000),
    ),
    ev_current=st.floats(10, 500),
    ev_power=st.floats(1000, 400_000),
)
def test_requests_never_exceed_the_car_or_the_charger(
    soc: float, charger: ChargerLimits, ev_current: float, ev_power: float
) -> None:
    car = from_mapping({"ev": {"max_current": ev_current, "max_power": ev_power}})
    battery = Battery(car)
    battery.soc = soc
    voltage, current = battery.request(charger)
    assert 0 <= current <= min(ev_current, charger.current_max) + 1e-9
    assert voltage <= min(car.ev.max_voltage, charger.voltage_max) + 1e-9
    assert voltage * current <= min(ev_power, charger.power_max) * (1 + 1e-9)


@given(steps=st.lists(st.tuples(st.floats(0, 500), st.floats(0, 2)), max_size=50))
def test_soc_never_falls_and_never_passes_100(steps: list[tuple[float, float]]) -> None:
    battery = Battery(from_mapping({}), time_scale=1000)
    last = battery.soc
    for current, dt in steps:
        battery.integrate(current, 400.0, dt)
        assert last <= battery.soc <= 100
        last = battery.soc


def test_default_curve_is_a_valid_scenario_curve() -> None:
    assert from_mapping({}).curve == DEFAULT_CURVE
