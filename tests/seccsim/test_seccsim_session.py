"""Complete sessions and the SECC's protocol duties, against a scripted PECC."""

from __future__ import annotations

import asyncio

from pecc_plugins.seccsim.runner import RunOptions, simulate
from pecc_plugins.seccsim.scenario import Scenario
from pecc_plugins.seccsim.session import SessionOptions
from pecc_plugins.seccsim.stats import RunStats

from .scripted_pecc import ScriptedPecc

FAST = SessionOptions(time_scale=100)


async def run(
    pecc: ScriptedPecc, car: Scenario, sessions: int = 1, options: SessionOptions = FAST
) -> RunStats:
    stats = RunStats()
    await simulate([pecc.url], car, RunOptions(sessions=sessions, session=options), stats)
    return stats


def phases(pecc: ScriptedPecc) -> list[str]:
    """The session as seen by the PECC: request kinds and targetValues phases, repeats collapsed."""
    steps: list[str] = []
    for m in pecc.received:
        step = m["payload"]["chargingState"] if m["kind"] == "targetValues" else m["kind"]
        if m["kind"] == "evConnectionState":
            step = m["payload"]["evConnectionState"]
        if not steps or steps[-1] != step:
            steps.append(step)
    return steps


async def test_a_session_runs_the_protocol_sequence_in_order(pecc: ScriptedPecc, small_car: Scenario) -> None:
    stats = await run(pecc, small_car)
    assert stats.passed, (stats.errors, stats.failures)
    assert stats.sessions_ok == 1
    assert phases(pecc) == [
        "configuration",
        "connected",
        "energyTransferAllowed",
        "chargingSession",
        "cableCheck",
        "contactorsStatus",
        "preCharge",
        "charge",
        "postCharge",
        "contactorsStatus",
        "reset",
        "disconnected",
    ]
    phases_timed = {
        "configuration",
        "cableCheck",
        "contactors",
        "preCharge",
        "charge",
        "postCharge",
        "open",
        "reset",
    }
    assert set(stats.phases) == phases_timed
    connected = next(m for m in pecc.received if m["kind"] == "evConnectionState")
    assert connected["payload"]["vehicleId"] == "SIMEV0001"
    seqs = [m["sequenceNumber"] for m in pecc.received if m["type"] == "request"]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_charge_follows_the_car_and_ends_at_the_target_soc(
    pecc: ScriptedPecc, small_car: Scenario
) -> None:
    stats = await run(pecc, small_car)
    charge = [
        m["payload"]
        for m in pecc.received
        if m["kind"] == "targetValues" and m["payload"]["chargingState"] == "charge"
    ]
    assert len(charge) >= 3
    socs = [p["batteryStateOfCharge"] for p in charge]
    assert socs == sorted(socs)
    assert 20 <= socs[0] < socs[-1] < 30
    assert stats.guns[0].soc >= 30
    assert all(p["targetCurrent"] <= 200 and p["targetVoltage"] <= 450 for p in charge)
    precharge = [
        m["payload"]
        for m in pecc.received
        if m["kind"] == "targetValues" and m["payload"]["chargingState"] == "preCharge"
    ]
    assert precharge[0]["targetCurrent"] == 2.0
    assert precharge[0]["targetVoltage"] == small_car.battery.voltage_empty + 0.2 * (
        small_car.battery.voltage_full - small_car.battery.voltage_empty
    )
    assert stats.latency["targetValues"]


async def test_sessions_repeat_on_one_connection(pecc: ScriptedPecc, small_car: Scenario) -> None:
    stats = await run(pecc, small_car, sessions=3)
    assert stats.passed, (stats.errors, stats.failures)
    assert stats.sessions_ok == 3
    assert pecc.kinds("request").count("reset") == 3


async def test_integer_mode_when_the_pecc_has_no_float_values(
    pecc: ScriptedPecc, small_car: Scenario
) -> None:
    del pecc.configuration["floatValues"]
    stats = await run(pecc, small_car)
    assert stats.passed, (stats.errors, stats.failures)
    numbers = [
        v
        for m in pecc.received
        if m["kind"] in ("targetValues", "chargingSession")
        for v in m["payload"].values()
    ]
    assert numbers and all(isinstance(v, (int, str)) for v in numbers)


async def test_duration_ends_the_running_session_gracefully_and_starts_no_more(
    pecc: ScriptedPecc, small_car: Scenario
) -> None:
    stats = RunStats()
    options = RunOptions(sessions=5, session=SessionOptions(time_scale=1), duration=1.0)
    await asyncio.wait_for(simulate([pecc.url], small_car, options, stats), 5)
    assert stats.sessions_ok == 1 and stats.passed
    assert stats.guns[0].soc < small_car.battery.target_soc
    assert pecc.kinds("request").count("reset") == 1
