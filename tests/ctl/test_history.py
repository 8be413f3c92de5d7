"""Events, sessions and run-time limits in the history store, against a running sim station."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pecc_core.testing import running, sim_overrides
from pecc_plugins.ctl.keys import HISTORY, RECORDER

from .conftest import FAST, Ctl, Secc, charging


async def events(ctl: Ctl, query: str = "") -> list[dict[str, Any]]:
    """The stored events, oldest first."""
    status, body = await ctl.http("GET", f"/api/events?limit=10000{query}")
    assert status == 200, body
    return body["events"]


async def eventually_events(ctl: Ctl, query: str, predicate: Any, what: str) -> list[dict[str, Any]]:
    """The events once ``predicate`` holds for them (the writer stores them in the background)."""
    found: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(5):
            while not predicate(found := await events(ctl, query)):
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{what}: not stored within 5 s; stored: {found}") from None
    return found


def states(found: list[dict[str, Any]]) -> list[str]:
    return [e["to"] for e in found if e["kind"] == "state"]


async def stop_session(secc: Secc) -> None:
    await secc.ok("targetValues", {"targetVoltage": 0, "targetCurrent": 0, "batteryStateOfCharge": 80,
                                   "chargingState": "postCharge"})
    await secc.ok("contactorsStatus", {"contactorsStatus": "open"})


async def test_a_session_is_recorded_with_its_transitions_energy_and_outcome(ctl: Ctl) -> None:
    await ctl.settled()
    secc = await ctl.secc()
    await secc.send({"type": "info", "kind": "evConnectionState", "sequenceNumber": 0,
                     "payload": {"evConnectionState": "connected", "vehicleId": "VIN-TEST-1"}})
    await charging(secc, 60)
    await asyncio.sleep(0.5)
    status, body = await ctl.http("GET", "/api/guns/1-1")
    assert status == 200 and body["session"]["energy_wh"] > 0 and body["session"]["vehicle_id"] == "VIN-TEST-1"
    await stop_session(secc)
    await secc.close()
    found = await eventually_events(
        ctl, "&gun=1-1",
        lambda f: "standby" in states(f)[1:] and {"session", "secc_disconnected"} <= {e["kind"] for e in f},
        "session stopped and SECC gone",
    )
    assert states(found) == ["cableCheck", "ready", "preCharge", "charge", "postCharge", "stopping", "standby"]
    kinds = [e["kind"] for e in found]
    assert kinds[0] == "secc_connected" and "secc_disconnected" in kinds
    state_events = [e for e in found if e["kind"] == "state"]
    assert state_events[0]["from"] == "standby" and "cableCheck" in state_events[0]["reason"]
    assert all(e["gun"] == "1-1" for e in found)
    status, body = await ctl.http("GET", "/api/sessions?gun=1-1")
    (session,) = body["sessions"]
    assert session["gun"] == "1-1" and session["vehicle_id"] == "VIN-TEST-1"
    assert session["outcome"] == "completed" and session["end_reason"] == "contactorsStatus open"
    assert session["end"] > session["start"]
    assert 60 * 380 * 0.9 <= session["peak_power_w"] <= 60 * 400 * 1.1
    # the energy is the integral of V x I: at least 0.4 s at ~24 kW
    assert session["energy_wh"] >= 24_000 * 0.4 / 3600
    status, body = await ctl.http("GET", "/api/events?kind=state&gun=1-1&limit=2")
    assert [e["to"] for e in body["events"]] == ["stopping", "standby"]  # the newest two, oldest first


async def test_faults_refusals_operator_actions_and_limit_changes_are_events(ctl: Ctl) -> None:
    await ctl.settled()
    secc = await ctl.secc()
    await secc.send({"type": "request", "kind": "targetValues", "sequenceNumber": 7, "payload": {"bogus": 1}})
    await asyncio.wait_for(secc.replies.get(), 5)
    assert (await ctl.http("POST", "/api/sim/guns/1-1/supervision", {"allowed": False}))[0] == 200
    assert (await ctl.http("PUT", "/api/limits", {"guns": {"1-2": {"max_current_a": 50}}}))[0] == 200
    # a fault: every module of the charging gun goes silent
    await ctl.http("POST", "/api/sim/guns/1-1/supervision", {"allowed": True})
    await charging(secc, 30)
    for address in ctl.runtime.station.pool.modules_of("1-1"):
        await ctl.http("POST", f"/api/sim/modules/{address}/silence", {"silent": True})
    found = await eventually_events(ctl, "", lambda f: any(e["kind"] == "fault" for e in f), "a fault")
    refused = next(e for e in found if e["kind"] == "refused")
    assert refused["gun"] == "1-1" and refused["request"] == "targetValues" and refused["category"] == "format"
    assert "details" in refused
    operator = [e for e in found if e["kind"] == "operator"]
    assert operator[0]["action"] == "POST /api/sim/guns/1-1/supervision" and operator[0]["body"] == {"allowed": False}
    assert operator[0]["gun"] == "1-1"
    (limits,) = [e for e in found if e["kind"] == "limits"]
    assert limits["update"] == {"guns": {"1-2": {"max_current_a": 50}}} and limits["source"] == "operator"
    fault = next(e for e in found if e["kind"] == "fault")
    assert fault["gun"] == "1-1" and fault["fault"]
    await secc.close()


async def test_a_refusal_flood_is_stored_once_per_window_and_counted(ctl: Ctl) -> None:
    secc = await ctl.secc()
    for n in range(200):
        await secc.send({"type": "request", "kind": "nonsense", "sequenceNumber": n, "payload": {}})
    for _ in range(200):
        await asyncio.wait_for(secc.replies.get(), 5)
    found = await eventually_events(ctl, "&kind=refused", lambda f: len(f) >= 20, "refusals")
    assert len(found) == 20  # REFUSALS_PER_WINDOW; the rest are counted in the next window's summary
    await secc.close()


async def test_unknown_query_values_are_400(ctl: Ctl) -> None:
    for query, words in (("limit=0", "limit: got '0'"), ("since=yesterday", "since: got 'yesterday'"),
                         ("colour=red", "colour: got 'red'; unknown key"), ("after=-1", "after")):
        status, body = await ctl.http("GET", f"/api/events?{query}")
        assert status == 400 and words in body["error"], body
    assert (await ctl.http("GET", "/api/events?since=2020-01-01T00:00:00"))[0] == 200


async def test_history_and_limits_survive_a_restart_and_reset_goes_back_to_the_profile(
    make_profile: Any, can_channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    profile = make_profile("sim", {**sim_overrides(can_channel), **FAST})
    async with running(profile) as runtime:
        ctl = Ctl(runtime, runtime.services[-1].port)
        update = {"site_max_power_w": 50_000, "guns": {"1-1": {"max_current_a": 40}}, "policy": {"derate_floor": 0.4}}
        assert (await ctl.http("PUT", "/api/limits", update))[0] == 200
        assert (await ctl.http("PUT", "/api/limits", {"guns": {"1-1": {"priority": 2}}}))[0] == 200
        before = (await ctl.http("GET", "/api/events"))[1]["events"]
    async with running(profile) as runtime:
        ctl = Ctl(runtime, runtime.services[-1].port)
        limits = (await ctl.http("GET", "/api/limits"))[1]
        assert limits["site_max_power_w"] == 50_000
        assert limits["guns"]["1-1"] == {"max_current_a": 40, "max_power_w": None, "priority": 2}
        assert limits["policy"]["params"]["derate_floor"] == 0.4
        assert runtime.station.guns["1-1"].offered_limits().current_max == 40
        assert "run-time limits restored" in caplog.text
        after = await eventually_events(
            ctl, "", lambda f: any(e["kind"] == "limits" and e["source"] == "restored" for e in f), "restored"
        )
        assert [e["id"] for e in after[: len(before)]] == [e["id"] for e in before]
        status, body = await ctl.http("POST", "/api/limits/reset", {})
        assert status == 200 and body["site_max_power_w"] == profile.site.max_power_w
        assert body["guns"]["1-1"] == {"max_current_a": None, "max_power_w": None, "priority": 0}
        assert "derate_floor" not in body["policy"]["params"] or body["policy"]["params"]["derate_floor"] != 0.4
    caplog.clear()
    async with running(profile) as runtime:
        ctl = Ctl(runtime, runtime.services[-1].port)
        assert (await ctl.http("GET", "/api/limits"))[1]["guns"]["1-1"]["max_current_a"] is None
        assert "run-time limits restored" not in caplog.text


async def test_probes(ctl: Ctl) -> None:
    assert await ctl.http("GET", "/healthz") == (200, {"status": "ok"})
    status, body = await ctl.http("GET", "/readyz")
    assert status == 200 and body["ready"] is True
    checks = body["checks"]
    assert checks["started"] is True and checks["bus_open"] is True and checks["modules_answering"].endswith("/8")
    ctl.runtime.plugins.station_stopping(ctl.runtime.station)  # what the runtime says first when stopping
    await asyncio.sleep(0)  # the end of this loop turn: the station publishes its snapshot
    status, body = await ctl.http("GET", "/readyz")
    assert status == 503 and body["checks"]["started"] is False


async def test_listeners_get_every_event_and_a_broken_one_harms_nobody(
    ctl: Ctl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pecc_plugins.ctl.recorder")
    history = ctl.runtime.services[-1].app[HISTORY]
    seen: list[dict[str, Any]] = []
    history.listeners.append(seen.append)
    history.listeners.append(lambda event: 1 / 0)  # type: ignore[arg-type,func-returns-value]
    secc = await ctl.secc()
    await secc.ok("cableCheck", {"voltage": 500})
    await secc.until(lambda s: s["isolationStatus"] == "valid", 15, "isolation valid")
    await secc.close()
    kinds = [(e["gun"], e["kind"]) for e in seen]
    assert ("1-1", "secc_connected") in kinds and ("1-1", "state") in kinds
    assert next(e for e in seen if e["kind"] == "state")["to"] == "cableCheck"
    # the session bookkeeping went on although the first listener raised
    assert ctl.runtime.services[-1].app[RECORDER].guns["1-1"].sessions_started == 1
    # one line for the whole run of failures (the listener raises on every event), with its traceback
    logged = [r for r in caplog.records if r.getMessage().startswith("history: recording event listeners")]
    assert [(r.levelno, r.getMessage()) for r in logged] == [
        (logging.ERROR, "history: recording event listeners: failed (logged again only after it has worked)")
    ]
    assert logged[0].exc_info is not None and logged[0].exc_info[0] is ZeroDivisionError


def saved_limits(state: Path) -> Any:
    """The saved overrides as a PECC starting now would read them from its state directory."""
    connection = sqlite3.connect(state / "history.sqlite3")
    try:
        row = connection.execute("SELECT data FROM limits").fetchone()
    finally:
        connection.close()
    return None if row is None else json.loads(row[0])


async def test_a_limits_change_is_on_disk_when_it_is_answered(ctl: Ctl, own_state_dir: Path) -> None:
    update = {"site_max_power_w": 42_000, "guns": {"1-2": {"max_current_a": 33}}}
    assert (await ctl.http("PUT", "/api/limits", update))[0] == 200
    assert saved_limits(own_state_dir) == update  # read at once: nothing was left to a background writer
    assert (await ctl.http("PUT", "/api/limits", {"guns": {"1-2": {"priority": 3}}}))[0] == 200
    assert saved_limits(own_state_dir) == {"site_max_power_w": 42_000, "guns": {"1-2": {"max_current_a": 33,
                                                                                      "priority": 3}}}
    assert (await ctl.http("POST", "/api/limits/reset", {}))[0] == 200
    assert saved_limits(own_state_dir) is None


async def test_limits_that_cannot_be_saved_are_503_and_say_that_they_apply(ctl: Ctl) -> None:
    await ctl.runtime.services[-1].app[HISTORY].close()  # the store is gone (a disk that failed)
    status, body = await ctl.http("PUT", "/api/limits", {"site_max_power_w": 42_000})
    assert status == 503 and "apply now but could not be saved" in body["error"], body
    assert (await ctl.http("GET", "/api/limits"))[1]["site_max_power_w"] == 42_000


async def test_an_open_sessions_energy_is_written_every_5_s_until_it_ends(
    ctl: Ctl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/control-api.md: an open session is written when it opens, every 5 s, and when it ends."""
    history = ctl.runtime.services[-1].app[HISTORY]
    loop = asyncio.get_running_loop()
    rows: list[tuple[float, Any]] = []  # every session row the recorder writes: (loop time, row)
    write = history.session

    def spy(record: Any) -> None:
        rows.append((loop.time(), dataclasses.replace(record)))
        write(record)

    monkeypatch.setattr(history, "session", spy)
    await ctl.settled()
    secc = await ctl.secc()
    await charging(secc, 60)
    await asyncio.sleep(12)
    await stop_session(secc)
    ended = loop.time()
    await asyncio.sleep(11)  # no checkpoint after the end
    await secc.close()
    (opened_at, opened), *checkpoints, (ended_at, last) = rows
    assert opened.end is None and opened.energy_wh == 0.0
    assert last.end is not None and last.outcome == "completed" and ended_at <= ended
    assert [t for t, _ in checkpoints] == pytest.approx(
        [opened_at + 5.0 * k for k in range(1, len(checkpoints) + 1)], abs=1e-6
    )
    assert len(checkpoints) == int((ended_at - opened_at) // 5.0) >= 2
    assert all(row.end is None and row.id == opened.id for _, row in checkpoints)
    energies = [row.energy_wh for _, row in checkpoints]
    assert energies[0] > 0 and energies == sorted(energies) and energies[-1] <= last.energy_wh
    await history.stored()
    (stored,) = await history.sessions(gun="1-1")
    assert stored["energy_wh"] == last.energy_wh and stored["outcome"] == "completed"
