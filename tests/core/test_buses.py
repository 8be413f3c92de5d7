"""Several buses of power modules: the profile's forms, module names, and the power stage."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from pecc_core.cli import app
from pecc_core.power import ModuleId, ModuleListener, ModuleState
from pecc_core.profile import schema
from pecc_core.profile.dump import to_mapping
from pecc_core.stage import PowerStage

GUNS = [{"id": g, "voltage_max": 1000, "current_max": 200, "power_max": 120000} for g in ("g1", "g2")]
IO = {role: {"name": "sim"} for role in ("contactors", "imd", "supervision", "matrix")}


def raw(power: dict[str, Any]) -> dict[str, Any]:
    return {"seccs": [{"id": "s", "guns": GUNS}], "power": power, "io": IO}


def bus(name: str, *addresses: int, driver: str = "uugreen", **module: Any) -> dict[str, Any]:
    return {"name": name, "driver": {"name": driver}, "modules": [{"address": a, **module} for a in addresses]}


def build(power: dict[str, Any]) -> Any:
    return schema.build(raw(power), name="buses", source=Path("buses.toml"))


def refused(power: dict[str, Any]) -> Any:
    with pytest.raises(ValidationError) as err:
        build(power)
    return err.value.messages["power"]


def test_a_profile_of_two_buses_names_each_module_by_bus_and_address() -> None:
    profile = build({"buses": [bus("can1", 1, 2), bus("can2", 1, driver="infy")], "max_modules_per_gun": 3})
    assert [b.name for b in profile.power.buses] == ["can1", "can2"]
    assert [b.driver.name for b in profile.power.buses] == ["uugreen", "infy"]
    assert [m.id for m in profile.power.modules] == [ModuleId("can1", 1), ModuleId("can1", 2), ModuleId("can2", 1)]
    assert profile.power.buses[1].modules[0].bus == "can2"
    assert profile.power.max_modules_per_gun == 3


def test_the_single_bus_form_is_one_bus_named_can_unless_it_says() -> None:
    plain = build({"driver": {"name": "uugreen"}, "modules": [{"address": 1}]})
    assert [(b.name, b.driver.name) for b in plain.power.buses] == [("can", "uugreen")]
    assert plain.power.modules[0].id == ModuleId("can", 1)
    named = build({"bus": "left", "driver": {"name": "uugreen"}, "modules": [{"address": 1}]})
    assert named.power.modules[0].id == ModuleId("left", 1)


def test_an_address_is_unique_on_its_bus_only() -> None:
    build({"buses": [bus("can1", 1), bus("can2", 1)]})  # the same address on two buses
    assert refused({"buses": [bus("can1", 1), bus("can2", 4, 4)]}) == {
        "buses": {1: {"modules": ["expected unique module addresses on bus 'can2', 4 is used twice"]}}
    }
    assert refused({"driver": {"name": "uugreen"}, "modules": [{"address": 2}, {"address": 2}]}) == {
        "modules": ["expected unique module addresses, 2 is used twice"]
    }


@pytest.mark.parametrize(
    "power, expected",
    [
        ({"buses": [bus("can1", 1), bus("can1", 2)]}, {"buses": ["expected unique bus names, 'can1' is used twice"]}),
        ({"buses": [bus("can1", 1)], "driver": {"name": "uugreen"}},
         {"driver": ["expected either buses or the single-bus driver, not both"]}),
        ({"buses": [bus("CAN 1", 1)]}, {"buses": {0: {"name": ["expected a name of a-z, 0-9, '_' and '-'"]}}}),
        ({"buses": []}, {"buses": ["expected at least one bus"]}),
        ({"modules": [{"address": 1}]}, {"driver": ["required key is missing"]}),
        ({"buses": [{"name": "can1", "driver": {"name": "uugreen"}}]},
         {"buses": {0: {"modules": ["required key is missing"]}}}),
    ],
)
def test_a_power_table_of_neither_form_or_both_is_refused(power: dict[str, Any], expected: Any) -> None:
    assert refused(power) == expected


def test_a_module_reaching_an_unknown_gun_is_named_by_its_bus() -> None:
    assert refused({"buses": [bus("can1", 1), bus("can2", 1, guns=["nope"])]}) == {
        "buses": {1: {"modules": {0: {"guns": ["expected gun ids of this profile, unknown: ['nope']"]}}}}
    }


def test_a_module_id_reads_and_writes_as_bus_colon_address() -> None:
    module = ModuleId("can1", 5)
    assert str(module) == "can1:5"
    assert ModuleId.parse("can1:5", ["can1", "can2"]) == module
    assert ModuleId.parse("5", ["can1"]) == module  # a bare address on a station of one bus
    assert sorted([ModuleId("can2", 1), ModuleId("can1", 7), ModuleId("can1", 2)]) == [
        ModuleId("can1", 2), ModuleId("can1", 7), ModuleId("can2", 1),
    ]
    for text, buses in (("5", ["can1", "can2"]), ("can3:5", ["can1"]), ("can1:x", ["can1"]), ("can1:", ["can1"])):
        with pytest.raises(ValueError):
            ModuleId.parse(text, buses)


def test_profiles_show_writes_each_form_as_it_was_written(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pecc_core.plugins import default_manager
    from pecc_core.profile import load
    from pecc_core.testing import write_profile

    path = write_profile("sim", tmp_path, {"power": {
        "max_modules_per_gun": 2,
        "buses": [
            {"name": "can1", "driver": {"name": "uugreen", "params": {"interface": "virtual", "channel": "a"}},
             "modules": [{"address": 1}, {"address": 2}]},
            {"name": "can2", "driver": {"name": "infy", "params": {"interface": "virtual", "channel": "b"}},
             "modules": [{"address": 1, "guns": ["1-1"]}]},
        ],
    }})
    shown = CliRunner().invoke(app, ["profiles", "show", str(path)])
    assert shown.exit_code == 0, shown.output
    power = tomllib.loads(shown.output)["power"]
    assert [b["name"] for b in power["buses"]] == ["can1", "can2"] and "driver" not in power
    assert power["buses"][1]["modules"][0]["guns"] == ["1-1"]
    assert "poll_ms" in power["buses"][1]["driver"]["params"]  # the driver's defaults filled in
    plugins = default_manager()
    again = tmp_path / "again.toml"
    again.write_text(shown.output)
    assert load(str(again), plugins).power == load(str(path), plugins).power
    single = to_mapping(load("sim", plugins), plugins)["power"]
    assert single["bus"] == "can" and single["driver"]["name"] == "uugreen" and "buses" not in single


class Bus:
    """A driver of one bus as the stage sees it: what it was asked, by address."""

    def __init__(self, name: str, *modules: tuple[int, float], fail_start: bool = False) -> None:
        self.modules = {
            a: ModuleState(a, 150.0, 1000.0, rated, 30_000.0, online=True, bus=name) for a, rated in modules
        }
        self.bus_ok = True
        self.exported: list[tuple[list[int], float, float]] = []
        self.offed: list[list[int]] = []
        self.started = self.stopped = False
        self.fail_start = fail_start
        self.listeners: list[ModuleListener] = []

    async def start(self) -> None:
        await asyncio.sleep(0.1)
        if self.fail_start:
            raise OSError("no adapter")
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def export(self, addresses: Sequence[int], voltage: float, current: float, voltage_max: float | None = None) -> None:
        self.exported.append((list(addresses), voltage, current))

    def off(self, addresses: Sequence[int]) -> None:
        self.offed.append(list(addresses))
        if addresses == [99]:
            raise RuntimeError("bus refused")

    async def wait_off(self, addresses: Sequence[int], timeout: float) -> bool:
        await asyncio.sleep(timeout if 2 in addresses else 0.0)
        return 2 not in addresses

    def add_listener(self, listener: ModuleListener) -> None:
        self.listeners.append(listener)


def test_the_stage_names_every_module_by_bus_and_exports_the_current_by_each_buss_rated_share() -> None:
    one, two = Bus("can1", (1, 100.0), (2, 100.0)), Bus("can2", (1, 50.0), (3, 100.0))
    stage = PowerStage({"can1": one, "can2": two})
    assert list(stage.modules) == [ModuleId("can1", 1), ModuleId("can1", 2), ModuleId("can2", 1), ModuleId("can2", 3)]
    stage.modules[ModuleId("can2", 3)].online = False  # not usable: no share for it
    stage.export([ModuleId("can1", 1), ModuleId("can2", 1), ModuleId("can2", 3), ModuleId("can1", 2)], 400.0, 100.0)
    assert one.exported == [([1, 2], 400.0, 80.0)]  # 200 A rated of 250 A usable
    assert two.exported == [([1, 3], 400.0, 20.0)]  # the driver turns module 3 off itself
    stage.export([ModuleId("can2", 1)], 400.0, 30.0)  # one bus: all of it, as asked
    assert two.exported[-1] == ([1], 400.0, 30.0) and len(one.exported) == 1


def test_the_stage_switches_every_bus_off_even_when_one_refuses() -> None:
    one, two = Bus("can1", (99, 100.0)), Bus("can2", (1, 100.0))
    stage = PowerStage({"can1": one, "can2": two})
    with pytest.raises(RuntimeError, match="bus refused"):
        stage.off(list(stage.modules))
    assert one.offed == [[99]] and two.offed == [[1]]


async def test_the_stage_waits_for_every_bus_at_once() -> None:
    one, two = Bus("can1", (1, 100.0), (2, 100.0)), Bus("can2", (1, 100.0))
    stage = PowerStage({"can1": one, "can2": two})
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await stage.wait_off([ModuleId("can2", 1)], 2.0) is True
    assert not await stage.wait_off(list(stage.modules), 2.0)  # can1's module 2 stays on
    assert loop.time() - start == 2.0  # the buses waited side by side, not one after the other


async def test_a_bus_whose_driver_fails_to_start_fails_the_start_and_the_others_are_stopped() -> None:
    one, two = Bus("can1", (1, 100.0)), Bus("can2", (1, 100.0), fail_start=True)
    stage = PowerStage({"can1": one, "can2": two})
    with pytest.raises(OSError, match="no adapter"):
        await stage.start()
    assert one.started and one.stopped and not two.stopped


def test_the_stage_listens_to_every_bus_and_takes_the_longest_watchdog() -> None:
    one, two = Bus("can1", (1, 100.0)), Bus("can2", (1, 100.0))
    two.watchdog_s = 30.0  # type: ignore[attr-defined]
    stage = PowerStage({"can1": one, "can2": two})
    stage.add_listener(print)
    assert one.listeners == [print] and two.listeners == [print]
    assert stage.watchdog_s == 30.0
    two.bus_ok = False
    assert not stage.bus_ok


def test_a_driver_whose_modules_are_on_another_bus_is_refused() -> None:
    with pytest.raises(ValueError, match="bus 'can2': its driver's module 1 is on bus 'can1'"):
        PowerStage({"can2": Bus("can1", (1, 100.0))})
