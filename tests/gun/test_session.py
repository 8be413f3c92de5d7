"""Whole charging sessions over a real WebSocket on the ``sim`` profile.

The full stack runs: PEP-WS server, gun state machine, static policy,
uugreen driver on a python-can ``virtual`` bus, simulated UU modules with
the car model (modsim), simulated contactors, IMD and CP/PP. The test is
the SECC. Bounds are loose (no flaky timing): the 4 s precharge budget
of PEP-WS and a few percent on the charging current.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pecc_core.model import Isolation
from pecc_core.testing import FAST_BUS, running, sim_overrides

from .secc import Secc, secc

FAST = {
    **FAST_BUS,
    "timings.cable_check_ms": 200,
    "timings.control_cycle_ms": 50,
    "power.driver.params.poll_ms": 50,
    "services.0.params.tick_ms": 10,
    "safety.ramp_a_per_s": 1000.0,  # these sessions are about the flow; the ramp has its own test
}


async def settled(runtime: Any) -> None:
    """Every module answering and dealt, every gun operative in standby."""
    station = runtime.station
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while not all(g.in_standby() and station.pool.modules_of(g.id) for g in station.guns.values()):
        assert loop.time() < deadline, "station did not settle"
        await asyncio.sleep(0.02)


async def charge_one(client: Secc, current: float, soc: float = 30.0) -> dict[str, float]:
    """One full session; returns the figures measured on the way."""
    figures: dict[str, float] = {}
    config = await client.ok("configuration")
    assert config["limitVoltageMax"] == 1000 and config["limitCurrentMax"] > 0
    await client.info("evConnectionState", {"evConnectionState": "connected", "vehicleId": "EV1"})
    await client.info("chargingSession", {"evMaxVoltageVolts": 500, "evMaxCurrentAmperes": 150})
    await client.info("evConnectionState", {"evConnectionState": "energyTransferAllowed"})

    await client.ok("cableCheck", {"voltage": 500})
    figures["cable_check_s"] = await client.until(
        lambda s: s["isolationStatus"] == "valid", 15.0, "isolation valid"
    )
    await client.ok("contactorsStatus", {"contactorsStatus": "closed"})
    assert client.status["contactorsStatus"] == "closed"

    over = await client.call("targetValues", {"targetVoltage": 501, "targetCurrent": 1,
                                              "batteryStateOfCharge": soc, "chargingState": "preCharge"})
    assert over["type"] == "error" and over["payload"]["errorCategory"] == "value"

    await client.target(380.0, 2.0, soc, "preCharge")
    figures["precharge_s"] = await client.until(
        lambda s: abs(s["measuredVoltage"] - 380.0) <= 380.0 * 0.02, 4.0, "precharge within 4 s"
    )
    await client.target(420.0, current, soc, "charge")
    figures["ramp_s"] = await client.until(
        lambda s: abs(s["measuredCurrent"] - current) <= current * 0.03, 5.0, f"{current} A"
    )
    await asyncio.sleep(0.5)  # steady: still at the requested current
    assert abs(client.status["measuredCurrent"] - current) <= current * 0.03, client.status
    assert client.status["drivenCurrent"] == current

    await client.target(0.0, 0.0, soc + 1, "postCharge")
    await client.until(lambda s: s["drivenVoltage"] == 0 and s["drivenCurrent"] == 0, 1.0, "outputs 0")
    await client.ok("contactorsStatus", {"contactorsStatus": "open"})
    await client.ok("reset")
    figures["standby_s"] = await client.until(
        lambda s: s["contactorsStatus"] == "open" and s["operationalStatus"] == "operative"
        and s["measuredVoltage"] < 60 and s["drivenVoltage"] == 0,
        8.0, "standby",
    )
    return figures


async def test_a_full_session_over_pep_ws(make_profile: Any, can_channel: str) -> None:
    profile = make_profile("sim", {**sim_overrides(can_channel), **FAST})
    async with running(profile) as runtime:
        station = runtime.station
        url = profile.url(profile.guns[0], port=runtime.transport.port)
        await settled(runtime)
        async with secc(url) as client:
            figures = await charge_one(client, 100.0)
        assert station.guns["1-1"].in_standby()
        print("session figures:", {k: round(v, 2) for k, v in figures.items()})


async def test_two_guns_charge_at_once_without_disturbing_each_other(make_profile: Any, can_channel: str) -> None:
    profile = make_profile("sim", {**sim_overrides(can_channel), **FAST})
    async with running(profile) as runtime:
        port = runtime.transport.port
        one, two = profile.guns[0], profile.guns[2]
        await settled(runtime)
        async with secc(profile.url(one, port=port)) as a, secc(profile.url(two, port=port)) as b:
            results = await asyncio.gather(charge_one(a, 120.0), charge_one(b, 60.0, soc=70.0))
        assert all(r["precharge_s"] < 4.0 for r in results)
        for gun in runtime.station.guns.values():
            assert gun.in_standby()


async def test_a_fault_during_charge_reaches_the_secc(make_profile: Any, can_channel: str) -> None:
    profile = make_profile("sim", {**sim_overrides(can_channel), **FAST})
    async with running(profile) as runtime:
        await settled(runtime)
        station = runtime.station
        async with secc(profile.url(profile.guns[0], port=runtime.transport.port)) as client:
            await client.ok("cableCheck", {"voltage": 450})
            await client.until(lambda s: s["isolationStatus"] == "valid", 15.0, "isolation valid")
            await client.target(380.0, 2.0, 30.0, "preCharge")
            await client.until(lambda s: abs(s["measuredVoltage"] - 380.0) < 5.0, 4.0, "precharged")
            await client.target(400.0, 80.0, 30.0, "charge")
            await client.until(lambda s: s["measuredCurrent"] > 75, 3.0, "charging")

            station.io.imd.inject("1-1", Isolation.FAULT)
            await client.until(lambda s: s["operationalStatus"] == "inoperative", 1.0, "inoperative")
            assert client.status["drivenCurrent"] == 0
            await client.until(lambda s: True, 0.5, "")
            assert any("isolation fault" in e for e in client.events), client.events
            refused = await client.call("targetValues", {"targetVoltage": 400, "targetCurrent": 80,
                                                         "batteryStateOfCharge": 30, "chargingState": "charge"})
            assert refused["type"] == "error" and refused["payload"]["errorCategory"] == "inoperative"

            station.io.imd.inject("1-1", None)
            await client.until(
                lambda s: s["operationalStatus"] == "operative" and s["contactorsStatus"] == "open"
                and s["measuredVoltage"] < 60,
                8.0, "operative standby",
            )
            assert client.status["isolationStatus"] == "fault"  # until the next cable check or reset
            await client.ok("reset")
            await client.until(lambda s: s["isolationStatus"] == "invalid", 1.0, "isolation reset")
