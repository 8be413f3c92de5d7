"""The station: control loop, allocation applied safely, stop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from pecc_core.gun import GunState
from pecc_core.model import Phase, Target
from pecc_core.policy import Allocation, GunDemand, PoolView
from pecc_core.power import Mode, ModuleId
from pecc_core.station import Station
from pecc_core.testing import eventually

from .gun_rig import ids, instant, instant_profile, instant_station
from .helpers import FakeLink, bring_to, one_cycle

S = GunState


class Scripted:
    """A policy answering what the test says (modules and power per gun)."""

    def __init__(self, modules: dict[str, tuple[ModuleId, ...]], power: float = 60_000.0) -> None:
        self.modules = modules
        self.power = power
        self.demands: Sequence[GunDemand] = ()

    def allocate(self, demands: Sequence[GunDemand], pool: PoolView) -> Allocation:
        self.demands = demands
        return Allocation(
            modules=self.modules,
            power={d.gun: self.power if d.active else 0.0 for d in demands},
        )


async def test_demands_follow_the_session(station: Station) -> None:
    gun = station.guns["1-1"]
    demand = gun.demand()
    assert not demand.active and demand.power_max == 120_000.0  # 4 reachable modules
    await bring_to(gun, S.CHARGE)
    demand = gun.demand()
    assert demand.active and demand.voltage == 400.0 and demand.current == 50.0 and demand.soc == 40.0
    assert station.allocator.allocation is not None and station.allocator.allocation.power["1-1"] > 0


async def test_a_gun_losing_a_module_is_capped_first_and_the_module_moves_off(tmp_path: Path) -> None:
    station = instant_station(instant_profile(tmp_path))
    policy = Scripted({"1-1": ids(1, 5), "1-2": ids(2)})
    station.allocator.policy = policy
    await station.start()
    try:
        await eventually(lambda: station.pool.modules_of("1-1") == ids(1, 5), what="dealt")
        gun = station.guns["1-1"]
        await bring_to(gun, S.CHARGE)
        await gun.target_values(Target(400, 150, 50, Phase.CHARGE))
        await one_cycle(station)  # the raised current climbs on the control cycle (the up-ramp)
        assert gun.report().driven_current == 150.0
        instant(station.power).load = dict.fromkeys(ids(1, 5), 75.0)
        gun.refresh_output()
        policy.modules = {"1-1": ids(1), "1-2": ids(2, 5)}
        policy.power = 20_000.0
        station.allocator.allocate()
        assert gun.report().driven_current == 50.0  # capped at once: 20 kW at 400 V
        await eventually(lambda: station.pool.modules_of("1-2") == ids(2, 5), what="moved")
        assert station.pool.modules_of("1-1") == ids(1)
        five = station.power.modules[ids(5)[0]]
        assert five.mode is Mode.OFF and five.current == 0.0
        assert station.allocator.moves >= 4
        assert gun.state is S.CHARGE and gun.report().driven_current == 50.0
    finally:
        await station.stop()


async def test_stop_ends_in_standby_with_modules_off(tmp_path: Path) -> None:
    station = instant_station(instant_profile(tmp_path))
    await station.start()
    await eventually(lambda: all(station.pool.modules_of(g) for g in station.guns), what="dealt")
    for gun_id in ("1-1", "2-2"):
        await bring_to(station.guns[gun_id], S.CHARGE)
    await station.stop()
    for gun in station.guns.values():
        assert gun.in_standby(), gun
    assert all(m.mode is Mode.OFF for m in station.power.modules.values())


class ActiveOnly(Scripted):
    """Gives its modules to a gun only while the gun is active (like ``dynamic``)."""

    def allocate(self, demands: Sequence[GunDemand], pool: PoolView) -> Allocation:
        self.demands = demands
        active = {d.gun for d in demands if d.active}
        return Allocation(
            modules={g: m for g, m in self.modules.items() if g in active},
            power={d.gun: self.power if d.active else 0.0 for d in demands},
        )


async def test_a_stopping_gun_keeps_its_modules_until_discharged(tmp_path: Path) -> None:
    station = instant_station(instant_profile(tmp_path))
    station.allocator.policy = ActiveOnly({"1-1": ids(1, 5)})
    await station.start()
    try:
        gun = station.guns["1-1"]
        await gun.cable_check(500)
        await eventually(lambda: gun.state is S.READY and station.pool.modules_of("1-1") == ids(1, 5), what="ready")
        for module in ids(1, 5):
            instant(station.power).residual[module] = 300.0  # the output holds its voltage for now
        await gun.target_values(Target(300, 10, 50, Phase.CHARGE))
        await gun.set_contactors(False)
        for _ in range(5):
            station.tick()
            await asyncio.sleep(0.02)
        assert gun.state is S.STOPPING and station.pool.modules_of("1-1") == ids(1, 5)
        assert gun.report().measured_voltage == 300.0
        instant(station.power).discharge()
        await eventually(gun.in_standby, what="standby")
        await eventually(lambda: station.pool.modules_of("1-1") == (), what="modules released")
    finally:
        await station.stop()


async def test_a_gun_that_can_get_no_module_says_so_and_comes_back_when_one_frees(tmp_path: Path) -> None:
    """No silent starvation (sim-full: 72 guns, 48 modules): inoperative with an event, not a failed precharge."""
    station = instant_station(instant_profile(tmp_path, {"safety.module_wait_ms": 2000}))
    busy = {"1-1": ids(1, 2, 3, 4), "1-2": ids(5, 6, 7, 8)}
    station.allocator.policy = Scripted(busy)
    await station.start()
    try:
        one, two, starved = station.guns["1-1"], station.guns["1-2"], station.guns["2-1"]
        await eventually(lambda: station.pool.modules_of("1-2") == busy["1-2"], what="dealt")
        await bring_to(one, S.CHARGE)
        await bring_to(two, S.CHARGE)
        link = FakeLink()
        starved.secc_attached(link)
        await starved.cable_check(500)
        await eventually(lambda: any("no power module free: waiting" in e for e in link.events), what="told")
        assert starved.state is S.CABLE_CHECK  # a module may still free within the bound
        await eventually(lambda: starved.state is S.INOPERATIVE, timeout=5.0, what="inoperative")
        assert "no_module_free" in starved.faults
        assert any("cannot deliver" in e for e in link.events), link.events
        await asyncio.sleep(0.2)
        assert starved.state is S.INOPERATIVE  # as long as every module it can reach is in use
        await two.reset()  # a session ends: its modules are free for the policy
        await eventually(starved.in_standby, timeout=5.0, what="operative again")
        assert starved.report().operational.value == "operative"
    finally:
        await station.stop()
