"""PEP-WS against the real gun state machine on the whole sim station.

The gun tests own the charging semantics; these pin what the transport adds:
every message of a real session valid under the official schemas (in float
and integer mode), the state machine's refusals mapped to the protocol's
error categories, and a lost SECC taking the gun to standby.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pecc_core.model import Isolation
from pecc_core.testing import FAST_BUS

from .conftest import Pecc, StartPecc
from .helpers import PepClient

FAST = {
    **FAST_BUS,
    "timings.cable_check_ms": 200,
    "timings.control_cycle_ms": 50,
    "power.driver.params.poll_ms": 50,
    "services.0.params.tick_ms": 10,
    # a quicker simulated output: slews 4x faster, discharges in ~0.5 s
    "services.0.params.slew_v_per_s": 2000.0,
    "services.0.params.node_capacitance_f": 0.0005,
}


async def settled(pecc: Pecc) -> None:
    """Gun 1-1 (the one under test) has its modules and is verified in standby."""
    gun, pool = pecc.gun(), pecc.station.pool
    async with asyncio.timeout(5):
        while not (pool.modules_of(gun.id) and gun.in_standby()):
            await asyncio.sleep(0.02)


def target(voltage: float, current: float, phase: str) -> dict[str, Any]:
    return {"targetVoltage": voltage, "targetCurrent": current, "batteryStateOfCharge": 40, "chargingState": phase}


async def ok(client: PepClient, kind: str, payload: Any = None) -> dict[str, Any]:
    reply = await client.call(kind, payload)
    assert reply["type"] == "response", reply
    return reply["payload"]


async def ready(client: PepClient) -> None:
    """Cable check passed and contactors closed."""
    await ok(client, "cableCheck", {"voltage": 500})
    await client.until(lambda s: s["isolationStatus"] == "valid", 15, "isolation valid")
    await ok(client, "contactorsStatus", {"contactorsStatus": "closed"})


async def charge_to_the_end(client: PepClient) -> None:
    """A whole session from a settled gun: cable check, preCharge, charge, stop, reset to standby."""
    await ready(client)
    await ok(client, "targetValues", target(380.4, 2, "preCharge"))
    await client.until(lambda s: abs(s["measuredVoltage"] - 380) <= 8, 4, "precharged")
    await ok(client, "targetValues", target(400.6, 60.3, "charge"))
    await client.until(lambda s: s["measuredCurrent"] > 55, 5, "charging")
    await ok(client, "targetValues", target(0, 0, "postCharge"))
    await ok(client, "contactorsStatus", {"contactorsStatus": "open"})
    await client.until(lambda s: s["operationalStatus"] == "operative" and s["contactorsStatus"] == "open", 8, "open")
    await ok(client, "reset")
    await client.until(lambda s: s["measuredVoltage"] < 60 and s["drivenVoltage"] == 0, 8, "standby")


@pytest.mark.parametrize("float_values", [True, False], ids=["floats", "integers"])
async def test_a_whole_session_is_valid_to_the_letter(start_pecc: StartPecc, float_values: bool) -> None:
    pecc = await start_pecc({**FAST, "station.float_values": float_values})
    await settled(pecc)
    client = await pecc.connect()
    config = await ok(client, "configuration")
    assert config["floatValues"] is float_values
    await client.send({"type": "info", "kind": "evConnectionState", "payload": {"evConnectionState": "connected", "vehicleId": "EV1"}})
    await client.send({"type": "info", "kind": "chargingSession", "payload": {"evMaxVoltageVolts": 500, "evMaxCurrentAmperes": 150.5}})
    await charge_to_the_end(client)
    assert len(client.statuses) > 5  # all checked against the official schema at teardown


async def test_voltage_beyond_the_limits_is_a_value_error_and_nothing_changes(start_pecc: StartPecc) -> None:
    pecc = await start_pecc(FAST)
    await settled(pecc)
    client = await pecc.connect()
    await client.send({"type": "info", "kind": "chargingSession", "payload": {"evMaxVoltageVolts": 500}})
    await ready(client)
    reply = await client.call("targetValues", target(1200, 10, "preCharge"), seq=31)
    assert (reply["type"], reply["sequenceNumber"], reply["payload"]["errorCategory"]) == ("error", 31, "value")
    assert pecc.gun().target is None
    status = await client.until(lambda s: True, 1, "a status")
    assert (status["contactorsStatus"], status["drivenVoltage"]) == ("closed", 0)
    await ok(client, "contactorsStatus", {"contactorsStatus": "open"})
    await client.until(lambda s: s["operationalStatus"] == "operative" and s["measuredVoltage"] < 60, 8, "standby")


async def test_cp_pp_supervision_refusal_is_an_internal_error(start_pecc: StartPecc) -> None:
    pecc = await start_pecc(FAST)
    await settled(pecc)
    pecc.station.io.supervision.allow("1-1", False)
    client = await pecc.connect()
    reply = await client.call("contactorsStatus", {"contactorsStatus": "closed"}, seq=12)
    assert (reply["type"], reply["sequenceNumber"], reply["payload"]["errorCategory"]) == ("error", 12, "internal")
    assert "CP/PP" in reply["payload"]["errorDetails"]


@pytest.mark.parametrize("how", ["unresponsive", "closed"])
async def test_a_lost_secc_takes_the_gun_to_standby_and_a_new_one_finds_it_there(
    start_pecc: StartPecc, how: str
) -> None:
    pecc = await start_pecc({**FAST, "timings.ping_interval_ms": 100, "timings.secc_unresponsive_ms": 400})
    await settled(pecc)
    gun = pecc.gun()
    client = await pecc.connect()
    await ready(client)
    await ok(client, "targetValues", target(380, 2, "preCharge"))
    await client.until(lambda s: s["measuredVoltage"] > 300, 4, "precharging")
    if how == "unresponsive":
        client.stall()
    else:
        await client.close()
    async with asyncio.timeout(8):
        while not gun.in_standby():
            await asyncio.sleep(0.02)
    again = await pecc.connect()
    status = await again.until(lambda s: True, 1, "a status")
    assert (status["contactorsStatus"], status["drivenVoltage"], status["drivenCurrent"]) == ("open", 0, 0)
    await asyncio.sleep(0.3)
    assert gun.in_standby()  # no power without new requests


async def test_requests_while_inoperative_are_inoperative_errors(start_pecc: StartPecc) -> None:
    pecc = await start_pecc(FAST)
    await settled(pecc)
    client = await pecc.connect()
    await ready(client)
    # an isolation fault is an emergency: the contactors open at once and, the output
    # being discharged since the cable check, standby may follow within a status
    # period; slow contactors hold the gun in its way to standby long enough to see it
    pecc.station.io.contactors.opening_s = 1.0
    pecc.station.io.imd.inject("1-1", Isolation.FAULT)
    await client.until(lambda s: s["operationalStatus"] == "inoperative", 2, "inoperative")
    reply = await client.call("targetValues", target(380, 2, "preCharge"), seq=44)
    assert (reply["type"], reply["sequenceNumber"], reply["payload"]["errorCategory"]) == ("error", 44, "inoperative")
    pecc.station.io.imd.inject("1-1", None)
    pecc.station.io.contactors.opening_s = 0.02
    await client.until(lambda s: s["operationalStatus"] == "operative" and s["measuredVoltage"] < 60, 8, "standby")
