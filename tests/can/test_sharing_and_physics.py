"""The current split of every driver, and the simulator's physics on its own."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from pecc_core.sharing import fair_shares
from pecc_plugins.modsim.physics import (
    Battery,
    ModuleOutput,
    Node,
    PhysicsConfig,
    Plant,
)

caps = st.lists(st.floats(0, 200, allow_nan=False), min_size=1, max_size=12)


@given(caps, st.floats(-10, 3000, allow_nan=False))
def test_split_never_exceeds_a_cap_and_delivers_what_it_can(module_caps: list[float], total: float) -> None:
    shares = fair_shares(total, module_caps)
    assert all(0 <= s <= c + 1e-9 for s, c in zip(shares, module_caps, strict=True))
    assert math.isclose(sum(shares), min(max(total, 0), sum(module_caps)), abs_tol=1e-6)


def test_split_is_equal_when_nothing_is_capped() -> None:
    assert fair_shares(150, [100, 100, 100]) == [50, 50, 50]
    assert fair_shares(150, [20, 100, 100]) == [20, 65, 65]


def run(plant: Plant, node: Node, modules: list[ModuleOutput], seconds: float, dt: float = 0.01) -> None:
    for _ in range(round(seconds / dt)):
        plant.step(node, modules, dt)


def module(address: int = 1, **kw: float) -> ModuleOutput:
    return ModuleOutput(address, voltage_max=1000, current_max=100, power_max=30_000, **kw)


def test_an_idle_output_bleeds_below_60_volts_within_a_few_seconds() -> None:
    plant, node = Plant(), Node(voltage=1000.0)
    run(plant, node, [module()], 3.5)
    assert node.voltage < 60.0


def test_module_output_slews_toward_its_setpoint() -> None:
    plant, node = Plant(PhysicsConfig(slew_v_per_s=500)), Node()
    out = module(on=True, voltage_setpoint=400, current_setpoint=10)
    run(plant, node, [out], 0.4)
    assert 150 < node.voltage < 250  # halfway up the ramp
    run(plant, node, [out], 1.0)
    assert abs(node.voltage - 400) < 1


def test_battery_gives_constant_current_at_the_limit_shared_by_modules() -> None:
    cfg = PhysicsConfig(battery_ohm=0.05)
    plant = Plant(cfg)
    node = Node(voltage=380.0, battery=Battery(ocv0=380.0, soc0=40, soc=40, closed=True), contactors=True)
    outs = [module(a, on=True, voltage_setpoint=450, current_setpoint=60, reference=380.0) for a in (1, 2)]
    run(plant, node, outs, 1.0)
    assert math.isclose(sum(o.current for o in outs), 120.0, rel_tol=1e-6)
    assert math.isclose(node.voltage, 380.0 + 120 * 0.05, rel_tol=1e-6)
    node.battery.soc = 90  # type: ignore[union-attr]
    run(plant, node, outs, 0.1)
    assert node.voltage > 380.0 * (1 + cfg.ocv_per_soc * 50)


def test_module_power_limits_the_current() -> None:
    plant = Plant()
    node = Node(voltage=800.0, battery=Battery(ocv0=800.0, soc0=10, soc=10, closed=True), contactors=True)
    out = module(on=True, voltage_setpoint=900, current_setpoint=100, reference=800.0)
    run(plant, node, [out], 0.5)
    assert out.current <= 30_000 / 800.0 + 1e-6


def test_temperature_rises_with_load() -> None:
    plant = Plant(PhysicsConfig(thermal_tau_s=1.0))
    node = Node(voltage=600.0, battery=Battery(ocv0=600.0, soc0=10, soc=10, closed=True), contactors=True)
    out = module(on=True, voltage_setpoint=700, current_setpoint=50, reference=600.0, temperature=25.0)
    run(plant, node, [out], 5.0)
    assert out.temperature > 45.0


module_tables = st.lists(
    st.fixed_dictionaries(
        {
            "voltage_min": st.floats(0, 300),
            "voltage_max": st.floats(300, 1000),
            "current_max": st.floats(0, 150),
            "power_max": st.floats(0, 40_000),
        }
    ),
    min_size=1,
    max_size=6,
)


@given(
    tables=module_tables,
    usable=st.lists(st.booleans(), min_size=6, max_size=6),
    voltage=st.floats(0, 1200),
    current=st.floats(0, 1000),
    floor=st.sampled_from([0.0, 1.0]),
)
def test_export_never_commands_more_than_asked_or_rated(
    tables: list[dict[str, float]], usable: list[bool], voltage: float, current: float, floor: float
) -> None:
    from pecc_core.power import Fault, Mode
    from pecc_plugins.uugreen import UuParams
    from pecc_plugins.uugreen.driver import UuDriver

    from .can_rig import core_profile

    modules = tuple({"address": i + 1, **t} for i, t in enumerate(tables))
    params = UuParams().load({"channel": "unused", "min_current_a": floor})
    driver = UuDriver(params, core_profile(modules).power.modules)
    for state, ok in zip(driver.modules.values(), usable[: len(tables)], strict=True):
        state.online = True
        if not ok:
            state.faults.add(Fault.HARDWARE)
    driver.export(list(driver.modules), voltage, current)
    total = 0.0
    for state in driver.modules.values():
        if state.mode is Mode.OFF:
            assert (state.voltage_setpoint, state.current_setpoint) == (0.0, 0.0)
            continue
        assert state.usable
        assert state.voltage_setpoint <= min(voltage, state.voltage_max)
        assert state.voltage_setpoint >= state.voltage_min
        assert state.current_setpoint <= state.current_max + 1e-9
        assert state.current_setpoint * state.voltage_setpoint <= state.power_max + 1e-6
        total += state.current_setpoint
        assert state.current_setpoint >= floor - 1e-9  # never a limit below the module's minimum
    assert total <= current + 1e-6
