"""The module pool: reach, grouping, measurement, capability and safe moves."""

from __future__ import annotations

import asyncio

import pytest

from pecc_core.model import Status
from pecc_core.pool import NO_SUPPLY, ModulePool, PoolError, Supply
from pecc_core.power import Fault
from pecc_core.profile.model import ModuleConfig, PluginChoice, PowerBusConfig, PowerConfig
from pecc_core.stage import PowerStage
from pecc_plugins.simio import SimRelayMatrix

from .gun_rig import InstantModules, instant

MODULES = (
    ModuleConfig(1, 150.0, 1000.0, 100.0, 30_000.0, (), "can"),
    ModuleConfig(2, 150.0, 1000.0, 100.0, 30_000.0, (), "can"),
    ModuleConfig(3, 200.0, 750.0, 50.0, 20_000.0, ("b",), "can"),
)
M = {m.address: m.id for m in MODULES}


def make_pool(max_per_gun: int = 0) -> ModulePool:
    config = PowerConfig((PowerBusConfig("can", PluginChoice("x"), MODULES),), max_per_gun)
    power = PowerStage({"can": InstantModules(MODULES)})
    pool = ModulePool(config, ["a", "b"], power, SimRelayMatrix(switching_ms=0), 100_000.0)
    pool.sync()
    return pool


def test_reach_and_potential() -> None:
    pool = make_pool()
    assert pool.reach == {M[1]: frozenset({"a", "b"}), M[2]: frozenset({"a", "b"}), M[3]: frozenset({"b"})}
    assert pool.potential("a") == Supply(150.0, 1000.0, 200.0, 60_000.0)
    assert pool.potential("b") == Supply(200.0, 750.0, 250.0, 80_000.0)
    assert pool.view.site_power_max == 100_000.0
    pool.set_site_power_max(None)
    assert pool.view.site_power_max is None and pool.view.assigned is not None
    assert make_pool(max_per_gun=1).potential("b") == Supply(150.0, 1000.0, 100.0, 30_000.0)


async def test_moves_group_and_measure() -> None:
    pool = make_pool()
    assert pool.modules_of("a") == () and pool.supply("a").current_max == 0.0
    assert pool.supply("a").voltage_max == 1000.0  # a voltage it could reach
    await pool.move(M[2], "a")
    await pool.move(M[1], "a")
    assert pool.modules_of("a") == (M[1], M[2]) and pool.view.assigned[M[1]] == "a"
    assert pool.supply("a") == Supply(150.0, 1000.0, 200.0, 60_000.0)
    driver = instant(pool.power)
    driver.load = {M[1]: 30.0, M[2]: 20.0}
    pool.power.export([M[1], M[2]], 400.0, 100.0)
    pool.power.modules[M[2]].temperature = 61.0
    status = Status()
    assert pool.measure("a", status, 0.0)[:2] == (True, 400.0)
    assert (status.measured_voltage, status.measured_current, status.temperature) == (400.0, 50.0, 61.0)
    driver.fail(M[1], Fault.HARDWARE)
    assert pool.supply("a") == Supply(150.0, 1000.0, 100.0, 30_000.0)
    assert pool.first_unusable("a").address == 1


async def test_a_voltage_read_before_the_bound_is_not_a_fresh_reading_though_its_module_was_heard() -> None:
    """UU and Infy read the voltage in a frame of its own: a module heard just now (its current,
    its status) may carry a voltage whose poll was lost; a comparison must not take it as read."""
    pool = make_pool()
    await pool.move(M[1], "a")
    await pool.move(M[2], "a")
    t = asyncio.get_running_loop().time() + 10.0
    instant(pool.power).load = {M[1]: 30.0, M[2]: 20.0}
    pool.power.export([M[1], M[2]], 400.0, 100.0)
    modules = pool.power.modules
    for m in modules.values():
        m.last_seen = t
    modules[M[1]].voltage_seen, modules[M[2]].voltage_seen = t, t - 8.0  # module 2's voltage read 8 s earlier
    modules[M[2]].voltage = 999.0
    status = Status()
    assert pool.measure("a", status, t - 1.0) == (True, 400.0, t)  # module 2's 999 V was read 8 s ago
    assert (status.measured_voltage, status.measured_current) == (999.0, 50.0)  # the status: the pessimistic one
    modules[M[1]].voltage_seen = t - 8.0
    assert pool.measure("a", status, t - 1.0) == (True, None, 0.0)
    for m in modules.values():
        m.last_seen = t - 8.0
    status = Status(measured_voltage=123.0)
    assert pool.measure("a", status, t - 1.0) == (False, None, 0.0)
    assert status.measured_voltage == 123.0  # unknown keeps the last value


async def test_a_voltage_read_on_the_gun_a_module_left_counts_for_neither_value() -> None:
    """A module moved from a gun whose car is at 200 V onto one whose car is at 347 V: until its next
    voltage reading it still carries the 200 V, which is not a measurement of its new gun."""
    pool = make_pool()
    await pool.move(M[1], "a")
    await pool.move(M[2], "b")
    await asyncio.sleep(0.1)  # the readings come after the switches
    modules = pool.power.modules
    now = asyncio.get_running_loop().time()
    modules[M[1]].voltage, modules[M[2]].voltage = 347.0, 200.0
    for m in modules.values():
        m.last_seen = m.voltage_seen = now
    await pool.move(M[2], "a")  # at the same loop time as its reading: that reading is of gun b
    status = Status()
    assert pool.measure("a", status, now - 1.0) == (True, 347.0, now)
    assert status.measured_voltage == 347.0
    await pool.move(M[1], "b")  # module 2 alone on gun a, heard since (its current, its status), not read
    modules[M[2]].last_seen = asyncio.get_running_loop().time() + 1.0
    status = Status(measured_voltage=123.0)
    assert pool.measure("a", status, now - 1.0) == (True, None, 0.0)  # heard, but no voltage of this gun
    assert status.measured_voltage == 123.0
    modules[M[2]].voltage, modules[M[2]].voltage_seen = 347.0, modules[M[2]].last_seen
    assert pool.measure("a", status, now - 1.0) == (True, 347.0, modules[M[2]].last_seen)
    assert status.measured_voltage == 347.0


async def test_moves_refused_when_unsafe() -> None:
    pool = make_pool(max_per_gun=1)
    with pytest.raises(PoolError, match="cannot reach gun a"):
        await pool.move(M[3], "a")
    await pool.move(M[1], "a")
    with pytest.raises(PoolError, match="already has 1 modules"):
        await pool.move(M[2], "a")
    instant(pool.power).load = {M[1]: 5.0}
    pool.power.export([M[1]], 400.0, 10.0)
    with pytest.raises(PoolError, match="under load"):
        await pool.move(M[1], "b")
    assert pool.modules_of("a") == (M[1],) and pool.matrix.gun_of(M[1]) == "a"
    pool.power.off([M[1]])
    instant(pool.power).fail(M[1], Fault.COMMUNICATION)
    with pytest.raises(PoolError, match="not answering"):
        await pool.move(M[1], "b")
    instant(pool.power).fail(M[1], None)
    await pool.move(M[1], "b")
    assert pool.modules_of("a") == () and pool.modules_of("b") == (M[1],)


async def test_a_module_not_heard_within_the_stale_bound_is_not_moved() -> None:
    """Still online (going offline takes longer), but its last reading cannot show it off, and a gun
    given it would find it silent at once."""
    pool = make_pool()
    module = pool.power.modules[M[2]]
    module.last_seen = asyncio.get_running_loop().time() - 1.5  # the bound: 1000 ms
    with pytest.raises(PoolError, match=r"module can:2 not heard for 1\.\d s"):
        await pool.move(M[2], "a")
    assert pool.modules_of("a") == () and pool.matrix.gun_of(M[2]) is None
    module.last_seen = asyncio.get_running_loop().time()
    await pool.move(M[2], "a")
    assert pool.modules_of("a") == (M[2],)


async def test_detach_takes_a_module_out_of_its_group_only() -> None:
    pool = make_pool()
    await pool.move(M[1], "a")
    assert pool.detach(M[1]) == "a"
    assert pool.modules_of("a") == () and pool.matrix.gun_of(M[1]) == "a"
    assert pool.supply("a") is not NO_SUPPLY
