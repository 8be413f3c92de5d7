"""The simulator's car and output model as the station's targets drive it."""

from __future__ import annotations

import pytest

from pecc_core.model import Phase, Target
from pecc_core.testing import eventually


async def test_the_car_follows_the_secc_targets(rig) -> None:
    async with rig() as r:
        gun, node = r.station.guns["g1"], r.sim.nodes["g1"]
        gun.target = Target(380.0, 2.0, 40.0, Phase.PRECHARGE)
        await eventually(lambda: node.battery is not None)
        assert (node.battery.ocv0, node.battery.soc0, node.battery.closed) == (380.0, 40.0, False)
        gun.target = Target(450.0, 50.0, 40.0, Phase.CHARGE)
        await eventually(lambda: node.battery.closed, what="car contactors closed")
        ocv = node.battery.ocv(r.sim.plant.config)
        gun.target = Target(450.0, 50.0, 60.0, Phase.CHARGE)
        await eventually(lambda: node.battery.ocv(r.sim.plant.config) > ocv, what="OCV rises with SOC")
        assert node.battery.ocv(r.sim.plant.config) == pytest.approx(380.0 * (1 + 0.002 * 20))
        gun.target = Target(450.0, 0.0, 60.0, Phase.POSTCHARGE)
        await eventually(lambda: not node.battery.closed, what="car contactors open")
        gun.target = None
        await eventually(lambda: node.battery is None, what="session over")


async def test_an_idle_output_discharges_below_60_v(rig) -> None:
    async with rig(sim={"node_capacitance_f": 0.0005}) as r:  # tau 0.25 s
        await eventually(lambda: all(m.online for m in r.driver.modules.values()))
        r.driver.export([1, 2], 800.0, 5.0)
        await eventually(lambda: r.sim.nodes["g1"].voltage > 790.0, what="charged to 800 V", timeout=5.0)
        r.driver.off([1, 2])
        await eventually(lambda: r.driver.modules[1].voltage < 60.0, what="bled below 60 V", timeout=3.0)
