"""``equal`` and ``dynamic`` on the sim profiles: who gets what, and how modules move."""

from __future__ import annotations

import dataclasses

import pytest
from marshmallow import ValidationError

from pecc_core.policy import Allocation, GunDemand, PoolView
from pecc_core.profile import load
from pecc_plugins.policies.dynamic import make_dynamic
from pecc_plugins.policies.equal import make_equal

from .pools import demands_of, pool_of


@pytest.fixture(scope="module")
def sim():
    return load("sim")


def after(pool: PoolView, alloc: Allocation) -> PoolView:
    """The pool once the station carried ``alloc`` out (released modules are free)."""
    owner = {a: g for g, addresses in alloc.modules.items() for a in addresses}
    return dataclasses.replace(pool, assigned={a: owner.get(a) for a in pool.modules})


def counts(alloc: Allocation) -> dict[str, int]:
    return {g: len(a) for g, a in alloc.modules.items()}


def test_equal_shares_by_count_and_idle_guns_keep_none(sim) -> None:
    policy = make_equal({})
    alloc = policy.allocate(demands_of(sim, active=["1-1", "2-1"]), pool_of(sim))
    assert counts(alloc) == {"1-1": 4, "1-2": 0, "2-1": 4, "2-2": 0}
    alloc = policy.allocate(demands_of(sim, active=["1-1", "1-2", "2-1"]), pool_of(sim))
    assert sorted(counts(alloc).values()) == [0, 2, 3, 3]


def test_a_new_car_gets_modules_released_not_hot_moved(sim) -> None:
    policy = make_equal({})
    pool = pool_of(sim)
    pool = after(pool, policy.allocate(demands_of(sim, active=["1-1", "1-2"]), pool))
    assert not any(a is None for a in pool.assigned.values())  # 4 + 4, all drawing
    three = demands_of(sim, active=["1-1", "1-2", "2-1"])
    first = policy.allocate(three, pool)
    assert first.modules["2-1"] == ()  # nothing handed over under load ...
    assert sum(counts(first).values()) == 6  # ... two released for it
    second = policy.allocate(three, after(pool, first))
    assert len(second.modules["2-1"]) == 2
    assert set(second.modules["1-1"]) <= set(first.modules["1-1"])  # the others kept theirs


def test_dynamic_gives_what_is_asked_plus_headroom(sim) -> None:
    policy = make_dynamic({"min_power_w": 0})
    pool = pool_of(sim)
    demands = demands_of(sim, active=["1-1"], voltage=500.0, current=100.0)  # 50 kW
    first = policy.allocate(demands, pool)
    assert counts(first)["1-1"] == 2  # 55 kW with headroom: two 30 kW modules
    assert first.power["1-1"] == 60_000.0
    pool = after(pool, first)
    rival = [demands[0], dataclasses.replace(demands[1], active=True, voltage=500.0, current=240.0), *demands[2:]]
    second = policy.allocate(rival, pool)
    assert counts(second) == {"1-1": 2, "1-2": 4, "2-1": 0, "2-2": 0}  # 120 kW: its limit
    pool = after(pool, second)
    more = [dataclasses.replace(rival[0], current=140.0), *rival[1:]]  # 70 kW > its 60 kW cap
    third = policy.allocate(more, pool)
    assert counts(third) == {"1-1": 4, "1-2": 4, "2-1": 0, "2-2": 0}
    assert policy.allocate(more, after(pool, third)).modules == third.modules


def test_dynamic_priority_and_minimum_when_modules_are_short() -> None:
    full = load("sim-full")
    guns = [g.id for g in full.guns]
    policy = make_dynamic({})
    demands = [
        GunDemand(g, True, 400.0, 300.0, 120_000.0, priority=2 if i == 60 else 0, since=float(i))
        for i, g in enumerate(guns[:61])
    ]
    alloc = policy.allocate(demands, pool_of(full))
    # 48 modules, 61 cars: one module each for the 48 first (priority first).
    assert counts(alloc)[guns[60]] == 1
    assert [counts(alloc)[g] for g in guns[:47]] == [1] * 47
    assert counts(alloc)[guns[47]] == 0  # arrived later: waits for a free module


def test_dynamic_newcomer_never_starves(sim) -> None:
    policy = make_dynamic({})
    pool = pool_of(sim)
    early = demands_of(sim, active=["1-1", "1-2"])
    for _ in range(3):
        pool = after(pool, policy.allocate(early, pool))
    late = [*early[:2], GunDemand("2-1", True, 400.0, 300.0, 120_000.0, since=100.0), early[3]]
    for _ in range(2):
        alloc = policy.allocate(late, pool)
        pool = after(pool, alloc)
    assert alloc.power["2-1"] >= 10_000.0
    assert counts(alloc)["2-1"] >= 1


def test_dynamic_site_cap_keeps_the_minimum_for_everyone(sim) -> None:
    policy = make_dynamic({"min_power_w": 15_000})
    pool = dataclasses.replace(pool_of(sim), site_power_max=100_000.0)
    demands = demands_of(sim, active=["1-1", "1-2", "2-1", "2-2"])
    for _ in range(3):
        alloc = policy.allocate(demands, pool)
        pool = after(pool, alloc)
    assert sum(alloc.power.values()) <= 100_000.0
    assert min(alloc.power.values()) >= 15_000.0
    assert max(alloc.power.values()) - min(alloc.power.values()) < 1.0  # same asks: same share


def test_dynamic_derates_hot_modules(sim) -> None:
    policy = make_dynamic({})
    pool = pool_of(sim)
    for module in pool.modules.values():
        module.temperature = 95.0  # past derate_end_c: 30 %
    alloc = policy.allocate(demands_of(sim, active=["1-1"]), pool)
    assert alloc.power["1-1"] == pytest.approx(4 * 30_000.0 * 0.3)


def test_every_policy_is_registered_with_a_schema(pecc_plugins) -> None:
    registry = pecc_plugins.registry("limit_policy")
    for name in ("static", "equal", "dynamic"):
        registration = registry.get(name)
        assert registration.plugin == "policies" and registration.summary
        policy = registration.factory(registration.params().load({}))
        assert policy.allocate([], pool_of(load("sim"))).modules == {}


@pytest.mark.parametrize(
    "params, key",
    [
        ({"min_power_w": -1}, "min_power_w"),
        ({"saturation": 1.0}, "saturation"),
        ({"headroom": "lots"}, "headroom"),
        ({"derate_end_c": 10}, "derate_start_c"),
        ({"min_power": 5}, "min_power"),
    ],
)
def test_dynamic_bad_params_are_refused_with_the_key(pecc_plugins, params, key) -> None:
    with pytest.raises(ValidationError) as err:
        pecc_plugins.registry("limit_policy").get("dynamic").params().load(params)
    assert key in err.value.messages
