"""Safety invariants of every policy, for random pools, demands, failures and caps.

The station enforces limits again on every setpoint; these tests pin that
the policies never even ask for more than any limit allows, and never ask
the station to move a module under load.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pecc_core.plugins import default_manager
from pecc_core.policy import Allocation, GunDemand, PoolView
from pecc_core.power import Fault, ModuleId, ModuleState
from pecc_plugins.policies.assign import candidates, drawing
from pecc_plugins.policies.capacity import Rating, Thermal, module_power, reaches

POLICIES = ("static", "equal", "dynamic")
EPS = 1e-6


@st.composite
def pools(draw: st.DrawFn) -> tuple[list[str], PoolView]:
    guns = [f"g{i}" for i in range(draw(st.integers(1, 10)))]
    modules: dict[ModuleId, ModuleState] = {}
    reach: dict[ModuleId, frozenset[str]] = {}
    for n in range(1, draw(st.integers(1, 14)) + 1):
        # two buses, each numbering its modules from 1: the same address on both
        module = ModuleState(
            (n + 1) // 2,
            voltage_min=draw(st.sampled_from([50.0, 150.0, 300.0])),
            voltage_max=draw(st.sampled_from([500.0, 750.0, 1000.0])),
            current_max=draw(st.floats(10, 150)),
            power_max=draw(st.floats(5_000, 40_000)),
            online=draw(st.booleans() | st.just(True)),
            temperature=draw(st.floats(0, 110)),
            bus=("can1", "can2")[n % 2],
        )
        address = module.id
        if draw(st.integers(0, 5)) == 0:
            module.faults.add(draw(st.sampled_from(list(Fault))))
        modules[address] = module
        reach[address] = frozenset(draw(st.lists(st.sampled_from(guns), max_size=len(guns))))
    assigned: dict[ModuleId, str | None] = {}
    for address in modules:
        options = [g for g in guns if not reach[address] or g in reach[address]]
        assigned[address] = draw(st.none() | st.sampled_from(options)) if options else None
    pool = PoolView(
        modules=modules,
        reach=reach,
        assigned=assigned,
        max_modules_per_gun=draw(st.integers(0, 5)),
        site_power_max=draw(st.none() | st.floats(0, 400_000)),
    )
    return guns, pool


@st.composite
def twin_pools(draw: st.DrawFn) -> tuple[list[str], PoolView]:
    """Pools of a few module models: neighbours often share their reach and rating."""
    guns, pool = draw(pools())
    models = [pool.modules[a] for a in sorted(pool.modules)][:3]
    reach = dict(pool.reach)
    for address, module in pool.modules.items():
        model = draw(st.sampled_from(models))
        module.voltage_min, module.voltage_max = model.voltage_min, model.voltage_max
        module.current_max, module.power_max = model.current_max, model.power_max
        module.temperature, module.online, module.faults = model.temperature, model.online, set(model.faults)
        reach[address] = pool.reach[model.id]
    return guns, dataclasses.replace(pool, reach=reach)


def demands_for(guns: list[str]) -> st.SearchStrategy[list[GunDemand]]:
    one = st.builds(
        GunDemand,
        gun=st.just(""),
        active=st.booleans(),
        voltage=st.just(0.0) | st.floats(100, 1000),
        current=st.just(0.0) | st.floats(0, 400),
        power_max=st.floats(0, 400_000),
        priority=st.integers(0, 2),
        soc=st.none() | st.floats(0, 100),
        since=st.floats(0, 1000),
    )
    return st.lists(one, min_size=len(guns), max_size=len(guns)).map(
        lambda ds: [dataclasses.replace(d, gun=g) for d, g in zip(ds, guns, strict=True)]
    )


def check_limits(demands: list[GunDemand], pool: PoolView, alloc: Allocation) -> None:
    """Every limit the brief names, for one allocation."""
    thermal = Thermal()
    limit = pool.max_modules_per_gun or len(pool.modules)
    owner: dict[int, str] = {}
    for demand in demands:
        addresses = alloc.modules.get(demand.gun, ())
        assert len(addresses) <= limit
        for a in addresses:
            assert a not in owner, f"module {a} on {owner.get(a)} and {demand.gun}"
            owner[a] = demand.gun
            assert pool.modules[a].usable
            assert reaches(pool, a, demand.gun)
        power = alloc.power.get(demand.gun, 0.0)
        assert power >= 0.0
        if not demand.active:
            assert power == 0.0
        assert power <= demand.power_max + EPS
        ratings = sum(module_power(pool.modules[a], demand.voltage, thermal) for a in addresses)
        assert power <= ratings + EPS
    if pool.site_power_max is not None:
        assert sum(alloc.power.values()) <= pool.site_power_max + EPS


def check_no_hot_move(demands: list[GunDemand], pool: PoolView, alloc: Allocation) -> None:
    """A module on a gun drawing current stays there or is released, never handed over."""
    by_gun = {d.gun: d for d in demands}
    for gun, addresses in alloc.modules.items():
        for a in addresses:
            holder = pool.assigned.get(a)
            if holder is not None and holder != gun:
                assert not drawing(by_gun.get(holder)), f"module {a} moved from drawing {holder} to {gun}"


def applied(pool: PoolView, alloc: Allocation, modules: dict[int, ModuleState]) -> PoolView:
    """The pool after the station carried out ``alloc`` (released modules are free)."""
    assigned: dict[int, str | None] = dict.fromkeys(pool.modules)
    for gun, addresses in alloc.modules.items():
        for a in addresses:
            assigned[a] = gun
    return dataclasses.replace(pool, assigned=assigned, modules=modules)


@pytest.mark.parametrize("name", POLICIES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_allocation_respects_every_limit(name: str, data: st.DataObject) -> None:
    guns, pool = data.draw(pools())
    policy = default_manager().registry("limit_policy").get(name).factory({})
    for _ in range(data.draw(st.integers(1, 4))):
        demands = data.draw(demands_for(guns))
        alloc = policy.allocate(demands, pool)
        check_limits(demands, pool, alloc)
        check_no_hot_move(demands, pool, alloc)
        modules = dict(pool.modules)
        failing = data.draw(st.lists(st.sampled_from(sorted(modules)), max_size=2))
        for a in failing:
            modules[a] = dataclasses.replace(modules[a], online=not modules[a].online, faults=set())
        pool = applied(pool, alloc, modules)


@pytest.mark.parametrize("name", POLICIES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_steady_demand_moves_nothing(name: str, data: st.DataObject) -> None:
    """Stability: the same demands on the pool a policy made itself give the same answer."""
    guns, pool = data.draw(pools())
    demands = data.draw(demands_for(guns))
    policy = default_manager().registry("limit_policy").get(name).factory({})
    first = policy.allocate(demands, pool)
    pool = applied(pool, first, dict(pool.modules))
    second = policy.allocate(demands, pool)
    pool = applied(pool, second, dict(pool.modules))
    third = policy.allocate(demands, pool)
    assert third.modules == second.modules


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_dynamic_minimum_reaches_every_active_gun_within_two_steps(data: st.DataObject) -> None:
    """First-come protection: when the modules and the site cap suffice for every
    active gun's minimum, every active gun has it once released modules are free."""
    n_modules = data.draw(st.integers(1, 16))
    guns = [f"g{i}" for i in range(data.draw(st.integers(1, 12)))]
    modules = {
        ModuleId("can", a): ModuleState(a, 150.0, 1000.0, 100.0, 30_000.0, online=True, bus="can")
        for a in range(1, n_modules + 1)
    }
    active = data.draw(st.lists(st.sampled_from(guns), unique=True, max_size=n_modules))
    minimum = data.draw(st.floats(1_000, 30_000))
    demands = [
        GunDemand(
            g,
            g in active,
            data.draw(st.floats(300, 900)) if g in active else 0.0,
            data.draw(st.floats(0, 300)) if g in active else 0.0,
            data.draw(st.floats(minimum, 300_000)),
            since=data.draw(st.floats(0, 100)),
        )
        for g in guns
    ]
    pool = PoolView(
        modules=modules,
        reach=dict.fromkeys(modules, frozenset()),
        assigned={a: data.draw(st.none() | st.sampled_from(guns)) for a in modules},
        max_modules_per_gun=data.draw(st.integers(0, 4)),
        site_power_max=data.draw(st.none() | st.floats(minimum * len(guns), 1_000_000)),
    )
    policy = default_manager().registry("limit_policy").get("dynamic").factory({"min_power_w": minimum})
    for _ in range(2):
        alloc = policy.allocate(demands, pool)
        pool = applied(pool, alloc, modules)
    for demand in demands:
        if demand.active:
            assert alloc.power[demand.gun] >= minimum * (1 - 1e-6), demand.gun


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_candidates_are_what_each_module_rating_gives_at_each_guns_voltage(data: st.DataObject) -> None:
    """``candidates`` writes :meth:`Rating.at` out inline for speed: it must give what the rating says."""
    guns, pool = data.draw(pools() | twin_pools())
    active = [d for d in data.draw(demands_for(guns)) if d.active]
    thermal = Thermal()
    expected = {
        d.gun: [
            (r.module, r.at(d.voltage))
            for r in (Rating.of(pool.modules[a], thermal) for a in sorted(pool.modules))
            if r is not None and (not pool.reach.get(r.module) or d.gun in pool.reach[r.module])
            and r.at(d.voltage) > 0.0
        ]
        for d in active
    }
    found = candidates(pool, active, thermal)
    assert {gun: list(powers.items()) for gun, powers in found.items()} == expected  # in address order too
