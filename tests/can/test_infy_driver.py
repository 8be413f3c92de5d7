"""What only the infy driver does: capabilities from the module, group addressing."""

from __future__ import annotations

from pecc_plugins.infy import InfyParams, codec

from pecc_core.testing import eventually


def all_online(driver) -> bool:
    return all(m.online for m in driver.modules.values())


async def test_capabilities_read_from_the_module_narrow_the_ratings(rig) -> None:
    weaker = ({"address": 1, "current_max": 60.0, "power_max": 20_000.0, "voltage_min": 200.0}, 2)
    async with rig("infy", modules=(1, 2), sim_modules=weaker) as r:
        changed: list[int] = []
        r.driver.add_listener(lambda m: changed.append(m.address))
        await eventually(lambda: all_online(r.driver))
        one = r.driver.modules[1]
        await eventually(lambda: one.current_max == 60.0, what="narrowed")
        assert (one.voltage_min, one.voltage_max, one.power_max) == (200.0, 1000.0, 20_000.0)
        assert r.driver.modules[2].current_max == 100.0  # the profile's own rating is the ceiling
        assert 1 in changed
        r.driver.export([1, 2], 500.0, 150.0)  # the split respects the narrowed rating
        await eventually(lambda: r.sim.modules[1].output.on)
        assert r.sim.modules[1].output.current_setpoint == 40.0  # 20 kW / 500 V
        assert r.sim.modules[2].output.current_setpoint == 60.0  # 30 kW / 500 V


async def test_group_addressing_polls_the_group_and_counts_its_modules(rig, spy_bus) -> None:
    async with rig("infy", modules=(1, 2, 3), sim_modules=(1, 2, 3, 4),
                   assignment={1: "g1", 2: "g1", 3: "g2", 4: None},
                   driver={"addressing": "group", "group": 0}) as r:
        await eventually(lambda: all_online(r.driver))
        await eventually(lambda: r.driver.group_count == 4, what="group count")
        r.driver.export([1, 2], 400.0, 20.0)
        await eventually(lambda: abs(r.driver.modules[1].voltage - 400.0) < 3.0)
        frames = list(iter(lambda: spy_bus.recv(0), None))
        reads = [codec.decode(m.arbitration_id, m.data) for m in frames]
        requests = [f for f in reads if f is not None and f.source == codec.CONTROLLER]
        polls = [f for f in requests if f.cmd == codec.Cmd.READ_VI]
        assert polls and all(f.device == codec.DEVICE_GROUP for f in polls)
        # setpoints still go to one module each, never to the group
        setpoints = [f for f in requests if f.cmd in (codec.Cmd.SET_VI, codec.Cmd.ON_OFF)]
        assert setpoints and all(f.device == codec.DEVICE_MODULE for f in setpoints)
        assert 4 not in r.driver.modules and r.driver.ignored_frames > 0


def test_default_offline_time_is_15_s() -> None:
    settings = InfyParams().load({"channel": "x"})
    assert settings.timing.offline_s == 15.0
