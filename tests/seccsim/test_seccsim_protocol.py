"""The SECC's protocol duties and how PECC mistakes are counted (scripted PECC)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from websockets.asyncio.client import connect

from pecc_plugins.seccsim.client import PepClient
from pecc_plugins.seccsim.runner import RunOptions, simulate
from pecc_plugins.seccsim.scenario import Scenario
from pecc_plugins.seccsim.session import SessionOptions
from pecc_plugins.seccsim.stats import RunStats

from .scripted_pecc import ScriptedPecc

FAST = SessionOptions(time_scale=100)


@contextlib.asynccontextmanager
async def charging(
    pecc: ScriptedPecc, car: Scenario, options: SessionOptions = FAST
) -> AsyncIterator[tuple[RunStats, asyncio.Task[None]]]:
    """A simulator running one session against ``pecc``, once it is in charge."""
    stats = RunStats()
    task = asyncio.create_task(simulate([pecc.url], car, RunOptions(sessions=1, session=options), stats))
    async with asyncio.timeout(5):
        while not stats.guns or stats.guns[0].state != "charge":
            await asyncio.sleep(0.02)
    yield stats, task
    await asyncio.wait_for(task, 10)


async def test_get_input_and_set_output_known_and_unknown(pecc: ScriptedPecc, small_car: Scenario) -> None:
    slow = SessionOptions(time_scale=1)
    async with charging(pecc, small_car, slow) as (stats, _):
        reply = await pecc.request("getInput", {"inputIdentifiers": ["d1", "a1", "t1"]})
        assert reply["type"] == "response"
        assert reply["payload"] == {"inputValues": {"d1": True, "a1": 12.0, "t1": 25.0}}
        reply = await pecc.request("getInput", {"inputIdentifiers": ["d1", "x9"]})
        assert reply["type"] == "error" and reply["kind"] == "getInput"
        assert reply["payload"]["errorCategory"] == "value" and "x9" in reply["payload"]["errorDetails"]
        assert (await pecc.request("setOutput", {"outputValues": {"o2": True}}))["type"] == "response"
        reply = await pecc.request("setOutput", {"outputValues": {"o2": 3}})
        assert reply["payload"]["errorCategory"] == "value"
        await pecc.request("stopCharging", {})
    assert stats.passed, (stats.errors, stats.failures)


async def test_stop_charging_ends_the_session_gracefully(pecc: ScriptedPecc, small_car: Scenario) -> None:
    async with charging(pecc, small_car, SessionOptions(time_scale=1)) as (stats, _):
        reply = await pecc.request("stopCharging", {})
        assert reply == {"type": "response", "kind": "stopCharging", "sequenceNumber": 1, "payload": {}}
    assert stats.sessions_ok == 1 and stats.passed
    assert stats.guns[0].soc < small_car.battery.target_soc
    assert pecc.kinds("request")[-2:] == ["contactorsStatus", "reset"]


async def test_a_wrong_peer_sequence_number_and_unknown_kind_are_errors(
    pecc: ScriptedPecc, small_car: Scenario
) -> None:
    async with charging(pecc, small_car, SessionOptions(time_scale=1)) as (stats, _):
        await pecc.request("getInput", {"inputIdentifiers": ["d1"]}, seq=5)
        await pecc.request("getInput", {"inputIdentifiers": ["d1"]}, seq=9)  # should be 6
        reply = await pecc.request("reboot", {})
        assert reply["type"] == "error" and reply["kind"] == "error"
        await pecc.request("stopCharging", {})
    assert stats.error_count == 3  # the gap, the unknown kind, and its number (7 after 9)
    assert any("sequence number should be 6" in e for e in stats.errors)


async def test_a_missed_target_values_reply_is_counted_but_not_fatal(
    pecc: ScriptedPecc, small_car: Scenario
) -> None:
    async with charging(pecc, small_car, SessionOptions(time_scale=1)) as (stats, _):
        pecc.reply_delay["targetValues"] = 0.6
        await asyncio.sleep(0.7)
        pecc.reply_delay.clear()
        await pecc.request("stopCharging", {})
    assert stats.sessions_ok == 1
    assert stats.error_count >= 1 and not stats.passed
    assert all("no reply within 500 ms" in e for e in stats.errors)  # late replies are not counted twice


async def test_a_missed_cable_check_reply_fails_the_session(pecc: ScriptedPecc, small_car: Scenario) -> None:
    pecc.reply_delay["cableCheck"] = 0.6
    stats = RunStats()
    await simulate([pecc.url], small_car, RunOptions(session=FAST), stats)
    assert stats.sessions_failed == 1
    assert "cableCheck" in stats.failures[0] and "no reply within 500 ms" in stats.failures[0]
    # the simulator still leaves the gun in standby
    assert pecc.kinds("request")[-2:] == ["contactorsStatus", "reset"]


async def fail_once(pecc: ScriptedPecc, car: Scenario) -> str:
    """Run one session that must fail; its reason."""
    stats = RunStats()
    options = RunOptions(session=SessionOptions(time_scale=100, precharge_budget=0.3))
    await simulate([pecc.url], car, options, stats)
    assert stats.sessions_failed == 1
    return stats.failures[0]


async def test_an_isolation_fault_fails_the_session(pecc: ScriptedPecc, small_car: Scenario) -> None:
    pecc.status["isolationStatus"] = "fault"
    assert "isolation fault" in await fail_once(pecc, small_car)


async def test_a_charger_that_cannot_reach_the_battery_voltage_fails(
    pecc: ScriptedPecc, small_car: Scenario
) -> None:
    pecc.configuration["limitVoltageMax"] = 300
    assert "cannot charge this car" in await fail_once(pecc, small_car)


async def test_precharge_that_misses_the_budget_fails(pecc: ScriptedPecc, small_car: Scenario) -> None:
    pecc.follow_targets = False
    reason = await fail_once(pecc, small_car)
    assert "measured 0 V after 0.3 s, wanted 346 V" in reason


async def test_an_inoperative_pecc_ends_the_session(pecc: ScriptedPecc, small_car: Scenario) -> None:
    async with charging(pecc, small_car, SessionOptions(time_scale=1)) as (stats, _):
        pecc.status["operationalStatus"] = "inoperative"
    assert stats.sessions_failed == 1
    assert "the PECC reports inoperative" in stats.failures[0]


@contextlib.asynccontextmanager
async def bare_client(pecc: ScriptedPecc, **options: float) -> AsyncIterator[tuple[PepClient, RunStats]]:
    """A client connected to ``pecc`` with its receive loop running, no session."""
    stats = RunStats()
    async with connect(pecc.url, subprotocols=["pep1.5"], proxy=None) as ws:
        client = PepClient(ws, stats.add_gun(pecc.url), stats, **options)
        receiver = asyncio.create_task(client.receive())
        await pecc.connected.wait()
        yield client, stats
        await ws.close()
        await asyncio.wait_for(receiver, 3)


async def test_garbage_and_stray_replies_are_protocol_errors(pecc: ScriptedPecc) -> None:
    async with bare_client(pecc) as (_, stats):
        await pecc.send("{not json")
        await pecc.send({"type": "response", "kind": "reset", "sequenceNumber": 42, "payload": {}})
        await pecc.send({"type": "info", "kind": "status"})
        await pecc.send(
            {"type": "info", "kind": "status", "payload": {**pecc.status, "contactorsStatus": "ajar"}}
        )
        await pecc.send({"type": "info", "kind": "hello", "payload": {}})
        await pecc.send(b"\x00")
        await asyncio.sleep(0.2)
    assert stats.error_count == 6, stats.errors
    texts = " | ".join(stats.errors)
    for fragment in (
        "unparsable",
        "answers no pending request",
        "invalid status: message: must contain ['payload']",
        "invalid status: payload.contactorsStatus:",
        "unexpected info kind",
        "binary",
    ):
        assert fragment in texts


async def test_no_status_for_too_long_means_the_pecc_is_unresponsive(pecc: ScriptedPecc) -> None:
    async with bare_client(pecc, unresponsive_after=0.3) as (client, stats):
        await asyncio.sleep(0.2)
        pecc.send_status = False
        async with asyncio.timeout(3):
            while not client.closed_reason:
                await asyncio.sleep(0.05)
    assert "PECC unresponsive" in client.closed_reason
    assert stats.error_count == 1


async def test_an_invalid_pecc_request_gets_a_format_error_with_its_number(pecc: ScriptedPecc) -> None:
    async with bare_client(pecc) as (_, stats):
        reply = await pecc.request("getInput", {"identifiers": ["d1"]}, seq=7)
    assert reply["type"] == "error" and reply["kind"] == "getInput" and reply["sequenceNumber"] == 7
    assert reply["payload"]["errorCategory"] == "format"
    assert "inputIdentifiers" in reply["payload"]["errorDetails"]
    assert stats.error_count == 1


async def test_request_numbers_wrap_after_2_to_the_31_minus_1(pecc: ScriptedPecc) -> None:
    async with bare_client(pecc) as (client, stats):
        client._seq.last = 2**31 - 2  # white box: skip two billion requests
        for _ in range(3):
            await client.request("configuration", {})
    assert [m["sequenceNumber"] for m in pecc.received] == [2**31 - 1, 1, 2]
    assert stats.passed
