"""``pecc replay``: an incident the suite records, replayed against a fresh ``sim`` station.

The incident is made as ``test_incidents.py`` makes it (a real WebSocket
SECC charges gun 1-1, a module fault mid-charge) and downloaded from the
control API; the recording station is then stopped and the replay runs a
station of the same profile on the test's loop (virtual time). The
expected names (reply outcomes, the status fields) are written from the
PEP-WS summary (shared/pep-ws/PROTOCOL.md), not taken from the comparison.
"""

from __future__ import annotations

import asyncio
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from pecc_core.plugins import default_manager
from pecc_core.power import Fault
from pecc_core.profile.model import Profile
from pecc_core.testing import eventually
from pecc_plugins.ctl.replay.archive import Frame, decoded, read
from pecc_plugins.ctl.replay.compare import Difference, behaviour
from pecc_plugins.ctl.replay.engine import replay
from pecc_plugins.ctl.replay.report import check

from .conftest import Api, Ctl, charging

runner = CliRunner(env={"COLUMNS": "200"})
app = typer.Typer()
default_manager().add_commands(app)


async def record(ctl: Ctl, tmp_path: Path) -> tuple[Path, Profile]:
    """A module fault mid-charge on gun 1-1, as an incident archive; the recording station stopped."""
    runtime = ctl.runtime
    station, sim = runtime.station, runtime.services[0]
    await ctl.settled()
    secc = await ctl.secc()
    await charging(secc, 60)
    sim.fault(station.pool.modules_of("1-1")[0], Fault.HARDWARE)
    await eventually(lambda: "module" in station.guns["1-1"].faults, what="the gun's module fault")
    await asyncio.sleep(4.0)  # written 3 s after the fault
    status, body = await ctl.http("GET", "/api/incidents")
    assert status == 200 and len(body["incidents"]) == 1, body
    incident = body["incidents"][0]["id"]
    status, _, archive = await Api(ctl.api_port)("GET", f"/api/incidents/{incident}")
    assert status == 200
    await secc.close()
    await runtime.stop()  # the replay's station takes its place (the same CAN channel)
    path = tmp_path / "incident.zip"
    path.write_bytes(archive)
    return path, runtime.profile


def edited(path: Path, out: Path, change: Callable[[dict[str, Any]], bool]) -> Path:
    """``path``'s archive with the first PECC frame ``change`` edits (it says True) changed."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("pepws.jsonl"):
                lines, done = [], False
                for line in data.decode().splitlines():
                    entry = json.loads(line)
                    if entry["dir"] == "tx" and not done:
                        message = json.loads(entry["frame"])
                        if change(message):
                            entry["frame"], done = json.dumps(message), True
                    lines.append(json.dumps(entry))
                assert done, "no frame to edit"
                data = "\n".join(lines).encode()
            target.writestr(info, data)
    return out


async def test_a_replayed_incident_behaves_as_recorded(ctl: Ctl, tmp_path: Path) -> None:
    path, profile = await record(ctl, tmp_path)
    incident = read(path)
    seen = behaviour(f for f in incident.frames if f.gun == "1-1")
    # what is compared is there: the session's replies, the fault's states and event
    assert seen.replies["cableCheck #1"] == "response" and seen.replies["contactorsStatus #2"] == "response"
    assert "inoperative/open/valid" in seen.states or "inoperative/closed/valid" in seen.states, seen.states
    assert any("power module" in e and "hardware" in e for e in seen.events), seen.events

    report = await check(incident, profile, default_manager())

    assert report.differences == [] and report.matches, report.differences
    assert report.notes == []


async def test_the_statuses_come_at_their_recorded_offsets(ctl: Ctl, tmp_path: Path) -> None:
    """PECC sends statuses on its loop clock's grid: the replay lays the recording at its phase of that grid."""
    path, profile = await record(ctl, tmp_path)
    incident = read(path)
    origin = incident.frames[0].ts

    def statuses(frames: list[Frame]) -> list[float]:
        return [round(f.ts - origin, 6) for f in frames if not f.rx and decoded(f.data).get("kind") == "status"]

    replayed = await replay(incident, profile, default_manager())

    recorded = statuses([f for f in incident.frames if f.gun == "1-1"])
    assert len(recorded) > 20  # connected, a charge, the fault, 3 s after it
    assert statuses(replayed.frames["1-1"]) == recorded


async def test_a_changed_status_and_reply_are_the_differences(ctl: Ctl, tmp_path: Path) -> None:
    path, profile = await record(ctl, tmp_path)

    def contactors_refused(message: dict[str, Any]) -> bool:
        if (message["type"], message["kind"], message.get("sequenceNumber")) != ("response", "contactorsStatus", 2):
            return False
        message.update(type="error", payload={"errorCategory": "internal", "errorDetails": ""})
        return True

    def isolation_warning(message: dict[str, Any]) -> bool:
        status = message["payload"]
        if message["kind"] != "status" or status["contactorsStatus"] != "closed" or status["measuredCurrent"] < 50:
            return False
        status["isolationStatus"] = "warning"
        return True

    changed = edited(edited(path, tmp_path / "a.zip", contactors_refused), tmp_path / "b.zip", isolation_warning)

    report = await check(read(changed), profile, default_manager())

    assert not report.matches
    reply, states = report.differences
    assert reply == Difference("1-1", "reply", "contactorsStatus #2", "error internal", "response")
    assert (states.gun, states.what, states.replayed) == ("1-1", "states", "-"), states
    assert states.recorded == "operative/closed/warning, operative/closed/valid", states


def test_an_unreadable_archive_exits_2_with_a_message(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    result = runner.invoke(app, ["replay", str(junk)])
    assert result.exit_code == 2 and "not an incident archive" in result.stderr, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)

    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("x/readme.txt", "hello")
    result = runner.invoke(app, ["replay", str(empty)])
    assert result.exit_code == 2 and "manifest.json" in result.stderr, result.stderr

    result = runner.invoke(app, ["replay", str(tmp_path / "missing.zip")])
    assert result.exit_code == 2 and "cannot read it" in result.stderr, result.stderr


@pytest.mark.system("the command runs its replay on a real loop: the recording's seconds of wall time")
async def test_the_command_exits_1_with_the_difference_as_json(ctl: Ctl, tmp_path: Path) -> None:
    path, profile = await record(ctl, tmp_path)

    def contactors_refused(message: dict[str, Any]) -> bool:
        if (message["type"], message["kind"]) != ("response", "contactorsStatus"):
            return False
        message.update(type="error", payload={"errorCategory": "internal", "errorDetails": ""})
        return True

    changed = edited(path, tmp_path / "changed.zip", contactors_refused)
    result = await asyncio.to_thread(
        runner.invoke, app, ["replay", str(changed), "--profile", str(profile.source), "--json"]
    )
    assert result.exit_code == 1, (result.stdout, result.stderr)
    answer = json.loads(result.stdout)
    assert answer["matches"] is False
    assert {"gun": "1-1", "what": "reply", "at": "contactorsStatus #2", "recorded": "error internal",
            "replayed": "response"} in answer["differences"]
