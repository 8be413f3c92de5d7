"""The ``static`` policy: fixed, deterministic modules per gun."""

from __future__ import annotations

import dataclasses

import pytest
from marshmallow import ValidationError

from pecc_core.plugins import PluginManager
from pecc_core.policy import GunDemand, PoolView
from pecc_core.power import Fault, ModuleId, ModuleState
from pecc_core.profile import load
from pecc_plugins.policies.static import StaticSchema, make_static

from .pools import demands_of, ids, pool_of


@pytest.fixture(scope="module")
def sim():
    return load("sim")


def test_registered_and_builds_the_sim_profile_choice(pecc_plugins: PluginManager, sim) -> None:
    registration = pecc_plugins.registry("limit_policy").get("static")
    assert registration.params is StaticSchema
    assert sim.policy.name == "static"
    policy = registration.factory(StaticSchema().load(sim.policy.params))
    assert policy.allocate(demands_of(sim), pool_of(sim)).modules["2-2"] == ids(4, 8)


def test_sim_round_robin_two_modules_per_gun(sim) -> None:
    policy = make_static({})
    alloc = policy.allocate(demands_of(sim, active=["1-1"]), pool_of(sim))
    assert alloc.modules == {"1-1": ids(1, 5), "1-2": ids(2, 6), "2-1": ids(3, 7), "2-2": ids(4, 8)}
    # 2 x 30 kW at 400 V (100 A each -> 40 kW, capped by the 30 kW rating).
    assert alloc.power == {"1-1": 60000.0, "1-2": 0.0, "2-1": 0.0, "2-2": 0.0}


def test_failed_module_is_dropped_not_replaced(sim) -> None:
    pool = pool_of(sim)
    pool.modules[ids(5)[0]].faults.add(Fault.HARDWARE)
    alloc = make_static({}).allocate(demands_of(sim, active=["1-1", "1-2"]), pool)
    assert alloc.modules["1-1"] == ids(1)
    assert alloc.modules["1-2"] == ids(2, 6)
    assert alloc.power["1-1"] == 30000.0


def test_explicit_assignment_and_site_cap(sim) -> None:
    params = {"assignment": {"1-1": [1, 2, 3, 4, 5], "2-2": [8]}}
    pool = dataclasses.replace(pool_of(sim), site_power_max=50000.0)
    alloc = make_static(params).allocate(demands_of(sim, active=["1-1", "2-2"]), pool)
    assert alloc.modules["1-1"] == ids(1, 2, 3, 4)  # max_modules_per_gun = 4
    assert alloc.modules["2-2"] == ids(8)
    assert alloc.modules["1-2"] == ()
    assert sum(alloc.power.values()) <= 50000.0
    assert alloc.power["1-1"] == pytest.approx(4 * alloc.power["2-2"])


def test_an_assignment_names_a_module_by_bus_and_address_and_a_bare_address_on_one_bus_only() -> None:
    both = (ModuleId("can1", 1), ModuleId("can2", 1))  # the same address on two buses
    modules = {m: ModuleState(m.address, 150.0, 1000.0, 100.0, 30_000.0, online=True, bus=m.bus) for m in both}
    pool = PoolView(modules, dict.fromkeys(modules, frozenset()), dict.fromkeys(modules), 0, None)
    demands = [GunDemand(g, True, 400.0, 100.0, 60_000.0) for g in ("a", "b")]
    policy = make_static(StaticSchema().load({"assignment": {"a": ["can2:1"], "b": ["can1:1", 1]}}))
    alloc = policy.allocate(demands, pool)
    assert alloc.modules == {"a": (ModuleId("can2", 1),), "b": (ModuleId("can1", 1),)}  # a bare 1: which bus?
    one = {ModuleId("can", 1): ModuleState(1, 150.0, 1000.0, 100.0, 30_000.0, online=True, bus="can")}
    pool = PoolView(one, dict.fromkeys(one, frozenset()), dict.fromkeys(one), 0, None)
    assert make_static({"assignment": {"b": [1]}}).allocate(demands, pool).modules["b"] == (ModuleId("can", 1),)


def test_thermal_derating_lowers_the_cap(sim) -> None:
    pool = pool_of(sim)
    pool.modules[ids(1)[0]].temperature = 80.0  # halfway from 70 to 90 -> 0.65
    alloc = make_static({}).allocate(demands_of(sim, active=["1-1"]), pool)
    assert alloc.power["1-1"] == pytest.approx(30000.0 * 0.65 + 30000.0)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"assignment": {"a": [1], "b": [1]}}, "assignment"),
        ({"assignment": {"a": ["can1:x"]}}, "assignment"),
        ({"assignment": {"a": [True]}}, "assignment"),
        ({"derate_start_c": 95}, "derate_start_c"),
        ({"derate_floor": 2}, "derate_floor"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_params_refused(params, message) -> None:
    with pytest.raises(ValidationError) as err:
        StaticSchema().load(params)
    assert message in err.value.messages
