"""Every control API route against a running sim station, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging

import pytest

from .conftest import Ctl, charging


async def test_reading_routes_describe_guns_modules_and_limits(ctl: Ctl) -> None:
    await ctl.settled()
    status, body = await ctl.http("GET", "/api/guns")
    assert status == 200
    guns = {g["id"]: g for g in body["guns"]}
    assert set(guns) == set(ctl.runtime.station.guns)
    gun = guns["1-1"]
    assert gun["state"] == "standby" and gun["contactors"] == "open" and gun["secc_connected"] is False
    assert gun["modules"] and gun["limits"]["voltage_max"] > 0 and gun["path"].startswith("/")
    assert gun["modules"] == [str(m) for m in ctl.runtime.station.pool.modules_of("1-1")]  # "can:1"
    status, body = await ctl.http("GET", "/api/modules")
    assert status == 200
    assert {(m["id"], m["bus"], m["address"]) for m in body["modules"]} == {
        (f"can:{m.address}", "can", m.address) for m in ctl.runtime.station.power.modules
    }
    assert all(m["online"] for m in body["modules"])
    status, body = await ctl.http("GET", "/api/limits")
    assert status == 200 and body["site_max_power_w"] == ctl.runtime.profile.site.max_power_w
    assert body["guns"]["1-1"] == {"max_current_a": None, "max_power_w": None, "priority": 0}


async def test_unknown_routes_methods_and_bodies_are_json_errors(ctl: Ctl) -> None:
    assert await ctl.http("GET", "/api/nothing") == (404, {"error": "no API route /api/nothing"})
    status, body = await ctl.http("DELETE", "/api/limits")
    assert status == 405 and "use GET, HEAD, PUT" in body["error"]
    status, body = await ctl.http("PUT", "/api/limits", raw=b"{not json")
    assert status == 400 and "not valid JSON" in body["error"]
    status, body = await ctl.http("POST", "/api/guns/nope/stop-charging")
    assert status == 404 and "no gun 'nope'" in body["error"]


async def test_a_limit_update_changes_configuration_and_driven_current_at_once(
    ctl: Ctl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pecc_core.caps")
    await ctl.settled()
    secc = await ctl.secc()
    await charging(secc, 60)
    gun = ctl.runtime.station.guns["1-1"]
    status, body = await ctl.http("PUT", "/api/limits", {"guns": {"1-1": {"max_current_a": 30}}})
    assert status == 200 and body["guns"]["1-1"]["max_current_a"] == 30
    assert "run-time limits changed: {'guns': {'1-1': {'max_current_a': 30}}}" in caplog.text
    assert gun.report().driven_current <= 30  # applied before the answer: within one cycle
    assert (await secc.ok("configuration"))["limitCurrentMax"] == 30
    await secc.until(lambda s: s["measuredCurrent"] <= 31, 3, "current follows the cap")
    # site cap and priority too, in one update
    status, body = await ctl.http("PUT", "/api/limits", {"site_max_power_w": 8000, "guns": {"1-1": {"priority": 3}}})
    assert status == 200 and body["site_max_power_w"] == 8000
    assert gun.demand().priority == 3
    # the power counts at the present voltage (IEC 61851-23 / EVerest), not the target's
    assert gun.report().driven_current * gun.report().measured_voltage <= 8000 + 1
    assert (await secc.ok("configuration"))["limitPowerMax"] <= 8000
    await secc.close()


async def test_a_bad_update_is_refused_naming_the_key_and_changes_nothing(ctl: Ctl) -> None:
    before = (await ctl.http("GET", "/api/limits"))[1]
    for update, words in (
        ({"site_max_power_w": 1000, "guns": {"1-1": {"max_current_a": -5}}}, "guns.1-1.max_current_a: got -5"),
        ({"guns": {"9-9": {"max_power_w": 1}}}, "guns.9-9: unknown gun"),
        ({"site_max_power_w": "lots"}, "site_max_power_w: got 'lots'; expected a number"),
        ({"sitecap": 1}, "sitecap: got 1; unknown key"),
        ({"policy": {"modules_per_gun": "x"}}, "policy"),
    ):
        status, body = await ctl.http("PUT", "/api/limits", update)
        assert status == 400, (update, body)
        assert words in body["error"], body
    assert (await ctl.http("GET", "/api/limits"))[1] == before


async def test_stop_charging_reaches_the_secc_and_returns_its_answer(ctl: Ctl) -> None:
    assert (await ctl.http("POST", "/api/guns/1-1/stop-charging"))[0] == 409  # no SECC yet
    secc = await ctl.secc()
    call = asyncio.create_task(ctl.http("POST", "/api/guns/1-1/stop-charging"))
    request = await secc.pecc_request()
    assert request["kind"] == "stopCharging"
    await secc.answer(request)
    assert await call == (200, {"gun": "1-1", "stopCharging": "accepted"})
    call = asyncio.create_task(ctl.http("POST", "/api/guns/1-1/stop-charging"))
    await secc.answer(await secc.pecc_request(), error="busy")
    status, body = await call
    assert status == 502 and "busy" in body["error"]
    status, body = await ctl.http("POST", "/api/guns/1-1/stop-charging")  # never answered
    assert status == 504 and "did not answer" in body["error"]
    assert body["error"].startswith("gun 1-1: ") and body["error"].count("1-1") == 1, body["error"]
    await secc.pecc_request()
    await secc.close()


async def test_inputs_and_outputs_reach_the_secc(ctl: Ctl) -> None:
    secc = await ctl.secc()
    call = asyncio.create_task(ctl.http("POST", "/api/guns/1-1/inputs", {"ids": ["door", "temp"]}))
    request = await secc.pecc_request()
    assert request["kind"] == "getInput" and request["payload"]["inputIdentifiers"] == ["door", "temp"]
    await secc.answer(request, {"inputValues": {"door": "closed", "temp": 31}})
    assert await call == (200, {"gun": "1-1", "inputs": {"door": "closed", "temp": 31}})
    call = asyncio.create_task(ctl.http("POST", "/api/guns/1-1/outputs", {"values": {"led": "green"}}))
    request = await secc.pecc_request()
    assert request["kind"] == "setOutput" and request["payload"]["outputValues"] == {"led": "green"}
    await secc.answer(request)
    assert await call == (200, {"gun": "1-1", "outputs": {"led": "green"}})
    status, body = await ctl.http("POST", "/api/guns/1-1/inputs", {"ids": "door"})
    assert status == 400 and "ids" in body["error"]
    await secc.close()


async def test_sim_routes_inject_imd_results_and_supervision(ctl: Ctl, monkeypatch: object) -> None:
    station = ctl.runtime.station
    status, _ = await ctl.http("POST", "/api/sim/guns/1-1/imd", {"result": "warning"})
    # IEC 61851-23:2014's warning band: 100 kΩ .. 500 kΩ (500 Ω/V at 1000 V)
    assert status == 200 and 100e3 <= station.io.imd.resistance("1-1") < 500e3
    assert (await ctl.http("POST", "/api/sim/guns/1-1/imd", {"result": None}))[0] == 200
    assert station.io.imd.resistance("1-1") >= 500e3
    status, body = await ctl.http("POST", "/api/sim/guns/1-1/imd", {"result": "maybe"})
    assert status == 400 and "maybe" in body["error"]
    assert (await ctl.http("POST", "/api/sim/guns/1-1/supervision", {"allowed": False}))[0] == 200
    assert station.io.supervision.allowed("1-1") is False


async def test_sim_routes_set_the_insulation_resistance_and_fail_the_self_test(ctl: Ctl) -> None:
    imd = ctl.runtime.station.io.imd
    assert (await ctl.http("POST", "/api/sim/guns/1-1/imd/resistance", {"ohm": 50_000}))[0] == 200
    assert imd.resistance("1-1") == 50_000.0
    assert (await ctl.http("POST", "/api/sim/guns/1-1/imd/resistance", {"ohm": None}))[0] == 200
    assert imd.resistance("1-1") >= 500e3
    for bad in (-1, "50k", True):
        status, body = await ctl.http("POST", "/api/sim/guns/1-1/imd/resistance", {"ohm": bad})
        assert status == 400 and body["error"].startswith("ohm: got"), body
    assert (await ctl.http("POST", "/api/sim/guns/1-1/imd/self-test", {"fails": True}))[0] == 200
    assert not await imd.self_test("1-1", 500.0)
    assert (await ctl.http("POST", "/api/sim/guns/1-1/imd/self-test", {"fails": False}))[0] == 200
    status, _ = await ctl.http("POST", "/api/sim/guns/nope/imd/resistance", {"ohm": 1})
    assert status == 404


async def test_sim_routes_are_404_without_simulated_io(ctl: Ctl) -> None:
    class RealImd:  # no inject(): a hardware driver
        pass

    io = ctl.runtime.station.io
    real = io.imd
    io.imd = RealImd()  # type: ignore[assignment]
    try:
        status, body = await ctl.http("POST", "/api/sim/guns/1-1/imd", {"result": "fault"})
    finally:
        io.imd = real
    assert status == 404 and "not simulated" in body["error"]


async def test_sim_module_routes_silence_and_fault_a_module(ctl: Ctl) -> None:
    await ctl.settled()
    station = ctl.runtime.station
    address = station.pool.modules_of("1-1")[0]
    module = station.power.modules[address]
    status, _ = await ctl.http("POST", f"/api/sim/modules/{address}/fault", {"fault": "hardware"})
    assert status == 200
    async with asyncio.timeout(3):
        while module.usable:
            await asyncio.sleep(0.02)
    assert (await ctl.http("POST", f"/api/sim/modules/{address.address}/clear"))[0] == 200  # one bus: the address
    status, _ = await ctl.http("POST", f"/api/sim/modules/{address}/silence", {"silent": True})
    assert status == 200
    async with asyncio.timeout(5):
        while module.online:
            await asyncio.sleep(0.02)
    assert (await ctl.http("POST", f"/api/sim/modules/{address}/silence", {"silent": False}))[0] == 200
    async with asyncio.timeout(5):
        while not module.online:
            await asyncio.sleep(0.02)
    status, body = await ctl.http("POST", "/api/sim/modules/999/silence", {"silent": True})
    assert status == 404 and "no module '999'" in body["error"]
    status, body = await ctl.http("POST", f"/api/sim/modules/can2:{address.address}/silence", {"silent": True})
    assert status == 404 and f"no module 'can2:{address.address}'" in body["error"]
    status, body = await ctl.http("POST", f"/api/sim/modules/{address}/fault", {"fault": "gremlins"})
    assert status == 400 and "gremlins" in body["error"]
    status, _ = await ctl.http("POST", f"/api/sim/modules/{address}/fault", {"bit": 21})  # DC/DC failure
    assert status == 200
    async with asyncio.timeout(3):
        while module.usable:
            await asyncio.sleep(0.02)
    status, body = await ctl.http("POST", f"/api/sim/modules/{address}/fault", {"bit": 32})
    assert status == 400 and "bit: got 32" in body["error"]
    status, body = await ctl.http("POST", f"/api/sim/modules/{address}/fault", {"fault": "over_current"})
    assert status == 400 and "no status bit" in body["error"]  # a UU module has none for it
    station.services = ()  # a station without a module simulator
    status, body = await ctl.http("POST", f"/api/sim/modules/{address}/clear")
    assert status == 404 and "no module simulator" in body["error"]
