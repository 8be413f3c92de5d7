"""The module pool: reach, grouping, measurement, capability and safe moves."""

from __future__ import annotations

import pytest

from pecc_core.model import Status
from pecc_core.pool import NO_SUPPLY, ModulePool, PoolError, Supply
from pecc_core.power import Fault
from pecc_core.profile.model import ModuleConfig, PluginChoice, PowerConfig
from pecc_plugins.simio import SimRelayMatrix

from .gun_rig import InstantModules

MODULES = (
    ModuleConfig(1, 150.0, 1000.0, 100.0, 30_000.0, ()),
    ModuleConfig(2, 150.0, 1000.0, 100.0, 30_000.0, ()),
    ModuleConfig(3, 200.0, 750.0, 50.0, 20_000.0, ("b",)),
)


def make_pool(max_per_gun: int = 0) -> ModulePool:
    config = PowerConfig(PluginChoice("x"), MODULES, max_per_gun)
    pool = ModulePool(config, ["a", "b"], InstantModules(MODULES), SimRelayMatrix(switching_ms=0), 100_000.0)
    pool.sync()
    return pool


def test_reach_and_potential() -> None:
    pool = make_pool()
    assert pool.reach == {1: frozenset({"a", "b"}), 2: frozenset({"a", "b"}), 3: frozenset({"b"})}
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
    await pool.move(2, "a")
    await pool.move(1, "a")
    assert pool.modules_of("a") == (1, 2) and pool.view.assigned[1] == "a"
    assert pool.supply("a") == Supply(150.0, 1000.0, 200.0, 60_000.0)
    driver = pool.driver
    driver.load = {1: 30.0, 2: 20.0}
    driver.export([1, 2], 400.0, 100.0)
    driver.modules[2].temperature = 61.0
    status = Status()
    assert pool.measure("a", status, 0.0) == (True, 400.0)
    assert (status.measured_voltage, status.measured_current, status.temperature) == (400.0, 50.0, 61.0)
    driver.fail(1, Fault.HARDWARE)
    assert pool.supply("a") == Supply(150.0, 1000.0, 100.0, 30_000.0)
    assert pool.first_unusable("a").address == 1


async def test_a_voltage_read_before_the_bound_is_not_a_fresh_reading_though_its_module_was_heard() -> None:
    """UU and Infy read the voltage in a frame of its own: a module heard just now (its current,
    its status) may carry a voltage whose poll was lost; a comparison must not take it as read."""
    pool = make_pool()
    await pool.move(1, "a")
    await pool.move(2, "a")
    pool.driver.load = {1: 30.0, 2: 20.0}
    pool.driver.export([1, 2], 400.0, 100.0)
    modules = pool.driver.modules
    for m in modules.values():
        m.last_seen = 10.0
    modules[1].voltage_seen, modules[2].voltage_seen = 10.0, 2.0  # module 2's voltage read 8 s earlier
    modules[2].voltage = 999.0
    status = Status()
    assert pool.measure("a", status, 9.0) == (True, 400.0)  # module 2's 999 V was read 8 s ago
    assert (status.measured_voltage, status.measured_current) == (999.0, 50.0)  # the status: the pessimistic one
    modules[1].voltage_seen = 2.0
    assert pool.measure("a", status, 9.0) == (True, None)
    for m in modules.values():
        m.last_seen = 2.0
    status = Status(measured_voltage=123.0)
    assert pool.measure("a", status, 9.0) == (False, None)
    assert status.measured_voltage == 123.0  # unknown keeps the last value


async def test_moves_refused_when_unsafe() -> None:
    pool = make_pool(max_per_gun=1)
    with pytest.raises(PoolError, match="cannot reach gun a"):
        await pool.move(3, "a")
    await pool.move(1, "a")
    with pytest.raises(PoolError, match="already has 1 modules"):
        await pool.move(2, "a")
    pool.driver.load = {1: 5.0}
    pool.driver.export([1], 400.0, 10.0)
    with pytest.raises(PoolError, match="under load"):
        await pool.move(1, "b")
    assert pool.modules_of("a") == (1,) and pool.matrix.gun_of(1) == "a"
    pool.driver.off([1])
    pool.driver.fail(1, Fault.COMMUNICATION)
    with pytest.raises(PoolError, match="not answering"):
        await pool.move(1, "b")
    pool.driver.fail(1, None)
    await pool.move(1, "b")
    assert pool.modules_of("a") == () and pool.modules_of("b") == (1,)


async def test_detach_takes_a_module_out_of_its_group_only() -> None:
    pool = make_pool()
    await pool.move(1, "a")
    assert pool.detach(1) == "a"
    assert pool.modules_of("a") == () and pool.matrix.gun_of(1) == "a"
    assert pool.supply("a") is not NO_SUPPLY
