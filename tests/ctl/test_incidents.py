"""A module fault mid-charge on ``sim`` leaves an incident: listed, archived, readable with python-can.

The whole station runs (PEP-WS, uugreen driver on the timed virtual bus,
module simulator, control API) on virtual time; the SECC is a real
WebSocket client. The CAN identifiers expected are written here from the
UU protocol notes (shared/power-modules/CAN-PROTOCOLS.md: module *n* is
``0x02200000 | n << 14``, replies matched with the mask ``0x1FFFC000``),
not taken from the driver.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import can
import typer
from typer.testing import CliRunner

from pecc_core import hookimpl
from pecc_core.plugins import default_manager
from pecc_core.power import Fault
from pecc_core.shutdown import wind_down
from pecc_core.testing import eventually

from .conftest import Api, Ctl, charging, ctl_of

UU_MODULE_ID = 0x02200000  # protocol version 1, monitor address 1
UU_MODULE_SHIFT = 14
UU_ADDRESS_MASK = 0x1FFFC000

runner = CliRunner(env={"COLUMNS": "200"})
app = typer.Typer()
default_manager().add_commands(app)


def uu_id(module: int) -> int:
    return UU_MODULE_ID | module << UU_MODULE_SHIFT


async def listed(ctl: Ctl) -> list[dict[str, Any]]:
    status, body = await ctl.http("GET", "/api/incidents")
    assert status == 200, body
    return list(body["incidents"])


async def test_a_module_fault_mid_charge_is_written_as_an_incident(ctl: Ctl, tmp_path: Path) -> None:
    runtime = ctl.runtime
    station, sim = runtime.station, runtime.services[0]
    await ctl.settled()
    secc = await ctl.secc()
    await charging(secc, 60)
    module = station.pool.modules_of("1-1")[0]
    other = station.pool.modules_of("1-2")[0]
    sim.fault(module, Fault.HARDWARE)
    await eventually(lambda: "module" in station.guns["1-1"].faults, what="the gun's module fault")
    await asyncio.sleep(1.0)
    sim.fault(other, Fault.HARDWARE)  # another gun's, within the 3 s: the same incident
    await eventually(lambda: "module" in station.guns["1-2"].faults, what="the other gun's module fault")
    assert await listed(ctl) == []  # written 3 s after the first fault, not before
    await asyncio.sleep(2.5)
    found = await listed(ctl)
    assert len(found) == 1, found
    incident = found[0]
    assert incident["guns"] == ["1-1", "1-2"] and incident["reason"] == "fault" and incident["size"] > 0

    status, headers, archive = await Api(ctl.api_port)("GET", f"/api/incidents/{incident['id']}")
    assert status == 200 and headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive)) as files:
        names = {Path(n).name for n in files.namelist()}
        assert names == {"can.blf", "pepws.jsonl", "timeline.json", "manifest.json"}
        files.extractall(tmp_path)
    folder = tmp_path / incident["id"]

    manifest = json.loads((folder / "manifest.json").read_text())
    assert str(module) in manifest["modules"]["1-1"] and str(other) in manifest["modules"]["1-2"]
    assert [c["gun"] for c in manifest["causes"]] == ["1-1", "1-2"]
    assert manifest["causes"][0]["kind"] == "module" and f"power module {module}" in manifest["causes"][0]["detail"]
    assert manifest["profile"]["sha256"] and manifest["pecc_version"]
    assert [(b["name"], b["channel"], b["driver"]) for b in manifest["buses"]] == [("can", 0, "uugreen")]

    frames = list(can.BLFReader(folder / "can.blf"))
    ours = [f for f in frames if f.is_extended_id and f.arbitration_id & UU_ADDRESS_MASK == uu_id(module.address)]
    assert any(not f.is_rx for f in ours), "no frame sent to the faulted module"
    assert any(f.is_rx for f in ours), "no frame from the faulted module"
    assert {f.channel for f in frames} == {0}  # the profile's one bus
    # the window: the charge before the fault, and what came after it
    span = frames[-1].timestamp - frames[0].timestamp
    assert span >= 3.0, span
    fault_ts = manifest["causes"][0]["ts"]
    assert any(f.timestamp > fault_ts for f in ours) and any(f.timestamp < fault_ts - 1.0 for f in ours)

    lines = [json.loads(line) for line in (folder / "pepws.jsonl").read_text().splitlines()]
    assert {line["gun"] for line in lines} == {"1-1"}
    sent = [json.loads(line["frame"]) for line in lines if line["dir"] == "tx"]
    received = [json.loads(line["frame"]) for line in lines if line["dir"] == "rx"]
    assert any(m["kind"] == "status" and m["payload"]["operationalStatus"] == "inoperative" for m in sent)
    assert any(m["kind"] == "event" and f"power module {module}" in m["payload"]["eventDetails"] for m in sent)
    assert any(m["kind"] == "targetValues" for m in received)

    timeline = json.loads((folder / "timeline.json").read_text())
    assert any(e["kind"] == "state" and e["to"] == "inoperative" for e in timeline)
    assert any(e["kind"] == "reading" and e["current"] > 50 for e in timeline)
    setpoints = [e for e in timeline if e["kind"] == "setpoint" and e["gun"] == "1-1"]
    assert any(e["voltage"] == 400 and e["current"] > 50 for e in setpoints), setpoints  # up the ramp to 60 A
    assert setpoints[-1]["current"] == 0  # the faulted gun drives nothing

    status, drawn = await ctl.http("GET", f"/api/incidents/{incident['id']}/timeline")
    assert status == 200 and drawn["timeline"] == timeline and drawn["causes"] == manifest["causes"]
    assert {k: drawn[k] for k in incident} == incident and drawn["window"] == manifest["window"]
    for unknown in ("nope", "..%2Fhistory.sqlite3", incident["id"] + "x"):
        status, body = await ctl.http("GET", f"/api/incidents/{unknown}/timeline")
        assert status == 404 and "no incident" in body["error"], (unknown, body)

    status, body = await ctl.http("GET", "/api/events?kind=incident")
    assert status == 200
    (event,) = body["events"]  # one incident, one event: of its first gun, naming both
    assert event == {"id": event["id"], "ts": event["ts"], "gun": "1-1", "kind": "incident",
                     "incident": incident["id"], "guns": ["1-1", "1-2"], "reason": "fault", "size": incident["size"]}

    code = await asyncio.to_thread(runner.invoke, app, ["ctl", "--url", ctl.url, "incidents"])
    assert code.exit_code == 0 and incident["id"] in code.stdout, code.stdout
    out = tmp_path / "down.zip"
    result = await asyncio.to_thread(
        runner.invoke, app, ["ctl", "--url", ctl.url, "incidents", incident["id"], "--out", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == archive
    result = await asyncio.to_thread(runner.invoke, app, ["ctl", "--url", ctl.url, "incidents", "nope"])
    assert result.exit_code == 2 and "no incident" in result.stderr
    await secc.close()


async def test_losing_the_secc_in_a_session_is_an_incident(ctl: Ctl) -> None:
    await ctl.settled()
    secc = await ctl.secc()
    await charging(secc, 30)
    await secc.close()
    await asyncio.sleep(4.0)
    found = await listed(ctl)
    assert [(i["guns"], i["reason"]) for i in found] == [(["1-1"], "secc_lost")]


class Announced:
    """A plugin told of every recorded event: keeps each incident event and what was on disk then."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.seen: list[tuple[dict[str, Any], bool, list[str]]] = []

    @hookimpl
    def pecc_event_recorded(self, station: Any, event: Mapping[str, Any]) -> None:
        if event["kind"] == "incident":
            manifest = self.directory / event["incident"] / "manifest.json"
            self.seen.append((dict(event), manifest.is_file(), sorted(p.name for p in self.directory.iterdir())))


async def test_the_incident_event_comes_once_the_incident_is_on_disk(ctl: Ctl) -> None:
    announced = Announced(ctl_of(ctl.runtime).flight.store.directory)
    ctl.runtime.plugins.register(announced, "test.announced")
    try:
        await ctl.settled()
        secc = await ctl.secc()
        await charging(secc, 30)
        await secc.close()
        await asyncio.sleep(2.9)
        assert announced.seen == []  # written 3 s after the SECC was lost
        await asyncio.sleep(1.0)
    finally:
        ctl.runtime.plugins.unregister("test.announced")
    (incident,) = await listed(ctl)
    (event, complete, names), = announced.seen
    assert complete and names == [incident["id"]]  # renamed into place, no temporary left
    assert {k: v for k, v in event.items() if k != "ts"} == {
        "gun": "1-1", "kind": "incident", "incident": incident["id"], "guns": ["1-1"], "reason": "secc_lost",
        "size": incident["size"],
    }
    result = await asyncio.to_thread(runner.invoke, app, ["ctl", "--url", ctl.url, "events", "--kind", "incident"])
    assert result.exit_code == 0, result.stderr
    assert f"{incident['id']}: secc_lost, guns 1-1" in result.stdout


async def test_a_stop_past_its_bound_is_one_incident_of_the_guns_it_took_down(ctl: Ctl) -> None:
    station = ctl.runtime.station
    for gun in ("1-1", "1-2"):
        await ctl.settled(gun)
    seccs = [await ctl.secc("1-1"), await ctl.secc("1-2")]
    for secc in seccs:
        await charging(secc, 30)
    # the SECCs never answer stopCharging and the guns' own safe-down takes longer than the bound
    assert not await wind_down(station, bound=0.5, grace=0.2)
    await asyncio.sleep(2.9)
    assert await listed(ctl) == []  # written 3 s after
    await asyncio.sleep(0.5)
    (incident,) = await listed(ctl)
    assert incident["guns"] == ["1-1", "1-2"] and incident["reason"] == "emergency_shutdown"
    folder = ctl_of(ctl.runtime).flight.store.directory / incident["id"]
    causes = json.loads((folder / "manifest.json").read_text())["causes"]
    assert [(c["gun"], c["reason"], c["kind"]) for c in causes] == [
        ("1-1", "emergency_shutdown", "station_stop"), ("1-2", "emergency_shutdown", "station_stop"),
    ]
    assert "not safe within 0.5 s of the stop" in causes[0]["detail"]
    for secc in seccs:
        await secc.close()


async def test_an_incident_s_reason_and_kinds_come_from_the_faults_not_their_text(ctl: Ctl) -> None:
    station = ctl.runtime.station
    guns = list(station.guns)
    estop: Any = station.io.estop
    await ctl.settled()
    estop.press(None)  # the station's E-stop: an emergency shutdown of every gun at once
    await eventually(lambda: all("estop" in gun.faults for gun in station.guns.values()), what="every E-stop fault")
    station.guns["1-1"].fail("emergency stop pressed")  # says what the E-stop fault says; an internal fault
    assert station.guns["1-1"].faults == {"estop": "gun 1-1: emergency stop pressed",
                                          "internal": "gun 1-1: emergency stop pressed"}
    await asyncio.sleep(3.5)
    (incident,) = await listed(ctl)
    assert incident["guns"] == guns and incident["reason"] == "emergency_shutdown"
    folder = ctl_of(ctl.runtime).flight.store.directory / incident["id"]
    causes = json.loads((folder / "manifest.json").read_text())["causes"]
    assert [(c["gun"], c["reason"], c["kind"]) for c in causes] == [
        *((gun, "emergency_shutdown", "estop") for gun in guns), ("1-1", "fault", "internal"),
    ]
    estop.press(None, False)


async def test_a_stopped_recorder_takes_its_taps_off(ctl: Ctl) -> None:
    flight = ctl_of(ctl.runtime).flight
    await ctl.settled()
    assert len(flight.bus) > 0  # the modules' polls
    await flight.stop()
    before = (len(flight.bus), len(flight.frames))
    secc = await ctl.secc()
    await secc.until(lambda s: True, 1.0, "a status")
    await asyncio.sleep(1.0)
    assert (len(flight.bus), len(flight.frames)) == before
    await secc.close()
