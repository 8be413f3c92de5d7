"""The ``sim`` profile end to end below PEP-WS: gun state machine -> uugreen -> modsim.

A whole station runs from the embedded profile; the test plays the SECC
through the gun's own methods and checks that the simulated car is charged
with the current it asked for, measured back through the CAN driver.
"""

from __future__ import annotations

from typing import Any

from pecc_core.gun import GunState
from pecc_core.model import Phase, Target
from pecc_core.power import Mode, ModuleId
from pecc_core.testing import FAST_BUS, eventually, running, sim_overrides

FAST = {
    **FAST_BUS,
    "timings.cable_check_ms": 100,
    "power.driver.params.poll_ms": 50,
    "power.driver.params.mode_switch_ms": 100,
    "services.0.params.tick_ms": 10,
    "services.0.params.slew_v_per_s": 2000.0,
    "services.0.params.node_capacitance_f": 0.0005,  # tau 0.25 s: a quick discharge
}


async def test_sim_profile_charges_a_car_through_the_uugreen_driver(make_profile: Any, can_channel: str) -> None:
    profile = make_profile("sim", {**sim_overrides(can_channel), **FAST})
    async with running(profile) as runtime:
        station = runtime.station
        gun = station.guns["1-1"]
        driver, sim = station.power.buses["can"], runtime.services[0]
        await eventually(lambda: all(m.online for m in driver.modules.values()), what="modules online")
        await eventually(lambda: station.pool.modules_of("1-1"), what="modules dealt")
        modules = [m.address for m in station.pool.modules_of("1-1")]

        await gun.cable_check(500)
        await eventually(lambda: gun.report().isolation.value == "valid", what="cable check")
        await gun.target_values(Target(380.0, 2.0, 40.0, Phase.PRECHARGE))
        await eventually(lambda: abs(gun.report().measured_voltage - 380.0) < 5.0, what="precharged")

        await gun.target_values(Target(450.0, 100.0, 40.0, Phase.CHARGE))
        await eventually(lambda: abs(gun.report().measured_current - 100.0) < 2.0, what="100 A", timeout=5.0)
        # constant current: the battery sits at 380 V + 100 A x 0.05 ohm, far below the 450 V asked
        assert 380.0 < gun.report().measured_voltage < 395.0
        assert all(sim.modules[a].output.on for a in modules)

        await gun.target_values(Target(450.0, 0.0, 41.0, Phase.POSTCHARGE))
        await gun.set_contactors(False)
        await eventually(lambda: all(driver.modules[a].mode is Mode.OFF for a in modules), what="modules off")
        await eventually(lambda: not any(sim.modules[a].output.on for a in modules), what="outputs off")
        # the bleeder discharges the output; the gun then reaches standby by itself
        await eventually(gun.in_standby, what="standby", timeout=5.0)
        assert gun.report().measured_voltage < 60.0


async def test_a_dead_bus_makes_the_guns_inoperative_until_it_is_back(make_profile: Any, can_channel: str) -> None:
    overrides = {**sim_overrides(can_channel), **FAST, "power.driver.params.reopen_min_ms": 200}
    async with running(make_profile("sim", overrides)) as runtime:
        station = runtime.station
        driver = station.power.buses["can"]
        await eventually(lambda: all(m.online for m in driver.modules.values()), what="modules online")
        await eventually(lambda: all(g.state is GunState.STANDBY for g in station.guns.values()), what="standby")
        driver.link.bus.shutdown()  # the next poll finds the bus gone
        await eventually(lambda: all(g.state is GunState.INOPERATIVE for g in station.guns.values()), what="down")
        assert not driver.bus_ok
        await eventually(lambda: driver.bus_ok, what="bus reopened")
        await eventually(lambda: all(g.state is GunState.STANDBY for g in station.guns.values()), what="back")


async def charge(gun: Any, station: Any, volts: float) -> None:
    """Cable check, precharge and charge at ``volts`` (the car's battery is at 380 V)."""
    await gun.cable_check(500)
    await eventually(lambda: gun.report().isolation.value == "valid", what="cable check", timeout=5.0)
    await gun.target_values(Target(380.0, 2.0, 40.0, Phase.PRECHARGE))
    await eventually(lambda: abs(gun.report().measured_voltage - 380.0) < 5.0, what="precharged", timeout=5.0)
    await gun.set_contactors(True)
    await gun.target_values(Target(volts, 40.0, 40.0, Phase.CHARGE))


async def test_the_range_is_chosen_once_per_session(make_profile: Any, can_channel: str) -> None:
    async with running(make_profile("sim", {**sim_overrides(can_channel), **FAST})) as runtime:
        station = runtime.station
        gun, sim, driver = station.guns["1-1"], runtime.services[0], station.power.buses["can"]
        await eventually(lambda: all(m.online for m in driver.modules.values()), what="modules online")
        await eventually(lambda: station.pool.modules_of("1-1"), what="modules dealt")
        modules = [m.address for m in station.pool.modules_of("1-1")]
        gun.ev_session_changed({"ev_max_voltage_volts": 800.0})  # chargingSession: an 800 V car
        await charge(gun, station, 450.0)
        for volts in (480.0, 520.0, 650.0, 470.0):  # the charge crosses 500 V both ways
            await gun.target_values(Target(volts, 40.0, 41.0, Phase.CHARGE))
            await eventually(lambda: abs(gun.report().measured_current - 40.0) < 2.0, what=f"40 A at {volts}")
        # one switch per module at the start of the session (power-on low range -> high), never after
        assert all(sim.responder.mode_switches[a] == 1 for a in modules)
        assert all(driver.range_switches[a] == 1 for a in modules)
        assert sim.responder.unsafe_mode_switches == 0


async def test_a_dc_dc_failure_takes_the_module_out_and_the_gun_down_when_none_is_left(
    make_profile: Any, can_channel: str
) -> None:
    # modules 1 and 2 reach gun 1-1 only; the others serve the other guns
    modules = [{"address": a, "guns": ["1-1"]} for a in (1, 2)]
    modules += [{"address": a, "guns": ["1-2", "2-1", "2-2"]} for a in range(3, 9)]
    overrides = {**sim_overrides(can_channel), **FAST, "power.modules": modules}
    async with running(make_profile("sim", overrides)) as runtime:
        station = runtime.station
        gun, sim, driver, pool = station.guns["1-1"], runtime.services[0], station.power.buses["can"], station.pool
        await eventually(lambda: all(m.online for m in driver.modules.values()), what="modules online")
        await eventually(lambda: pool.modules_of("1-1") == (ModuleId("can", 1), ModuleId("can", 2)), what="modules dealt")
        gun.ev_session_changed({"ev_max_voltage_volts": 450.0})
        await charge(gun, station, 420.0)
        await eventually(lambda: abs(gun.report().measured_current - 40.0) < 2.0, what="charging on 1 and 2")
        sim.inject(1, 21)  # DC/DC failure
        await eventually(lambda: not driver.modules[1].usable, what="module 1 unusable")
        await eventually(lambda: pool.modules_of("1-1") == (ModuleId("can", 2),), what="the allocation shrinks to module 2")
        assert pool.supply("1-1").current_max == driver.modules[2].current_max
        await eventually(lambda: not sim.modules[1].output.on, what="module 1 off")
        sim.inject(2, 21)
        await eventually(lambda: "no_modules" in gun.faults, what="no usable module can reach it")
        assert gun.state is GunState.INOPERATIVE
        assert not any(sim.modules[a].output.on for a in (1, 2))
