"""A station of two CAN buses, each with its own vendor driver and simulated modules."""

from __future__ import annotations

import types
from typing import Any

import pytest

from pecc_core.model import Phase, Target
from pecc_core.power import Mode, ModuleId
from pecc_core.testing import eventually, running
from pecc_plugins.modsim.service import StationSim

FAST = {"timings.control_cycle_ms": 20, "timings.cable_check_ms": 50}
DRIVER = {"interface": "timedvirtual", "bitrate": 500_000, "poll_ms": 50}
#: No bus params: the simulator takes each bus (protocol, interface, channel, bitrate, group) from its driver.
SIM = {"slew_v_per_s": 5000.0}
#: Gun 1-1 has module 1 of can1 (UU) and modules 1 and 2 of can2 (Infy): the same address on both buses.
ON_THE_GUN = ("can1:1", "can2:1", "can2:2")


def two_buses(channel: str) -> dict[str, Any]:
    """Overrides of the ``sim`` profile: a UU bus and an Infy bus, one simulator for both."""
    return {
        **FAST,
        "server.port": 0,
        "power": {
            "max_modules_per_gun": 4,
            "buses": [
                {"name": "can1", "driver": {"name": "uugreen", "params": {**DRIVER, "channel": f"{channel}-1"}},
                 "modules": [{"address": a} for a in (1, 2)]},
                {"name": "can2", "driver": {"name": "infy", "params": {**DRIVER, "channel": f"{channel}-2"}},
                 "modules": [{"address": a, "current_max": 50.0} for a in (1, 2, 3)]},
            ],
        },
        "policy.params": {"assignment": {"1-1": list(ON_THE_GUN), "1-2": ["can1:2"], "2-1": ["can2:3"]}},
        "services": [{"name": "modsim", "params": SIM}],
    }


async def test_a_gun_with_modules_on_two_buses_charges_and_its_current_splits_between_them(
    make_profile: Any, can_channel: str
) -> None:
    profile = make_profile("sim", two_buses(can_channel))
    async with running(profile) as runtime:
        station = runtime.station
        assert set(station.power.buses) == {"can1", "can2"}
        gun = station.guns["1-1"]
        wanted = tuple(sorted(ModuleId.parse(m, ["can1", "can2"]) for m in ON_THE_GUN))
        await eventually(lambda: all(m.online for m in station.power.modules.values()), what="modules online")
        await eventually(lambda: station.pool.modules_of("1-1") == wanted, what="modules dealt")

        gun.ev_session_changed({"ev_max_voltage_volts": 450.0})  # UU's low range: its full 100 A
        await gun.cable_check(500)
        await eventually(lambda: gun.report().isolation.value == "valid", what="cable check", timeout=10.0)
        await gun.target_values(Target(380.0, 2.0, 40.0, Phase.PRECHARGE))
        await eventually(lambda: abs(gun.report().measured_voltage - 380.0) < 5.0, what="precharged", timeout=5.0)
        await gun.target_values(Target(420.0, 80.0, 40.0, Phase.CHARGE))
        await eventually(lambda: abs(gun.report().measured_current - 80.0) < 2.0, what="80 A", timeout=5.0)
        await eventually(lambda: gun.report().driven_current == 80.0, what="ramped up to 80 A")

        modules = station.power.modules
        assert [modules[m].current_max for m in wanted] == [100.0, 50.0, 50.0]
        setpoints = {str(m): modules[m].current_setpoint for m in wanted}
        # 200 A rated on the gun: can1's module 100 A, can2's two 50 A each; 80 A in that proportion
        assert setpoints == pytest.approx({"can1:1": 40.0, "can2:1": 20.0, "can2:2": 20.0}), setpoints
        sims = runtime.services[0].buses  # a simulator per bus, one physics: the gun's node is fed by both
        assert all(sims[m.bus].modules[m.address].output.on for m in wanted)
        assert not sims["can1"].modules[2].output.on and not sims["can2"].modules[3].output.on

        await gun.target_values(Target(420.0, 0.0, 41.0, Phase.POSTCHARGE))
        await gun.set_contactors(False)
        await eventually(lambda: all(modules[m].mode is Mode.OFF for m in wanted), what="modules off")
        await eventually(gun.in_standby, what="standby", timeout=5.0)


def test_the_simulator_without_bus_params_takes_each_bus_from_its_driver(make_profile: Any, can_channel: str) -> None:
    profile = make_profile("sim", two_buses(can_channel))
    sim = StationSim(profile.services[0].params, types.SimpleNamespace(profile=profile, guns={}))
    assert {name: (bus.settings.protocol, bus.link.config.channel) for name, bus in sim.buses.items()} == {
        "can1": ("uugreen", f"{can_channel}-1"), "can2": ("infy", f"{can_channel}-2"),
    }
    assert sim.simulates(ModuleId("can2", 3)) and not sim.simulates(ModuleId("can1", 3))
    assert (sim.buses["can1"].watchdog_s, sim.buses["can2"].watchdog_s) == (5.0, 10.0)  # each protocol's own
