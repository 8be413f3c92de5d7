"""``pecc ctl`` against a running sim station (typer's CliRunner in a thread, real HTTP)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys

import pytest
import typer
from typer.testing import CliRunner

from pecc_core import caps
from pecc_core.plugins import default_manager
from pecc_core.testing import ctrl_c_reaches_it

from .conftest import Ctl, charging

runner = CliRunner(env={"COLUMNS": "200"})  # wide enough for every table column
app = typer.Typer()  # what `pecc` gets from the plugins' pecc_add_commands hooks
default_manager().add_commands(app)


async def pecc(*args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(runner.invoke, app, list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_set_limits_changes_configuration_and_driven_current(ctl: Ctl) -> None:
    await ctl.settled()
    secc = await ctl.secc()
    await charging(secc, 60)
    code, out, err = await pecc("ctl", "--url", ctl.url, "--json", "set-limits", "--gun", "1-1", "--max-current", "25")
    assert code == 0, err
    assert json.loads(out)["guns"]["1-1"]["max_current_a"] == 25
    assert ctl.runtime.station.guns["1-1"].report().driven_current <= 25
    assert (await secc.ok("configuration"))["limitCurrentMax"] == 25
    await secc.until(lambda s: s["measuredCurrent"] <= 26, 3, "current follows the cap")
    code, out, _ = await pecc("ctl", "guns", "--url", ctl.url, "--json")  # options after the command too
    assert code == 0
    gun = next(g for g in json.loads(out)["guns"] if g["id"] == "1-1")
    assert gun["state"] == "charge" and gun["secc_connected"] and gun["limits"]["current_max"] == 25
    await secc.close()


async def test_policy_params_change_at_run_time(ctl: Ctl) -> None:
    policy = ctl.runtime.station.allocator.policy
    code, out, err = await pecc("ctl", "--url", ctl.url, "--json", "set-limits", "--policy", "derate_floor=0.5")
    assert code == 0, err
    assert json.loads(out)["policy"]["params"]["derate_floor"] == 0.5
    assert ctl.runtime.station.allocator.policy is not policy  # rebuilt with the new params


async def test_a_bad_value_is_refused_with_exit_2_and_changes_nothing(ctl: Ctl) -> None:
    before = caps.snapshot(ctl.runtime.station)
    code, out, err = await pecc(
        "ctl", "--url", ctl.url, "set-limits", "--site-max-power-w", "5000", "--gun", "1-1", "--max-power", "-1"
    )
    assert code == 2 and out == ""
    assert "HTTP 400" in err and "guns.1-1.max_power_w: got -1.0; expected a value >= 0" in err
    assert caps.snapshot(ctl.runtime.station) == before


async def test_other_commands_reach_the_api(ctl: Ctl) -> None:
    for args in (("modules",), ("limits",), ("sim", "imd", "1-1", "warning"), ("sim", "supervision", "1-1", "true")):
        code, out, err = await pecc("ctl", "--url", ctl.url, "--json", *args)
        assert code == 0, (args, err)
        json.loads(out)
    code, _, err = await pecc("ctl", "--url", ctl.url, "stop-charging", "1-1")
    assert code == 2 and "HTTP 409" in err and "no SECC is connected to gun 1-1" in err
    secc = await ctl.secc()
    call = asyncio.create_task(pecc("ctl", "--url", ctl.url, "--json", "get-input", "1-1", "door"))
    await secc.answer(await secc.pecc_request(), {"inputValues": {"door": "open"}})
    code, out, _ = await call
    assert code == 0 and json.loads(out)["inputs"] == {"door": "open"}
    call = asyncio.create_task(pecc("ctl", "--url", ctl.url, "set-output", "1-1", "led=green", "fan=1"))
    request = await secc.pecc_request()
    assert request["payload"]["outputValues"] == {"led": "green", "fan": 1}
    await secc.answer(request)
    assert (await call)[0] == 0
    await secc.close()


async def test_no_service_is_exit_1_without_a_traceback() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    code, out, err = await pecc("ctl", "--url", f"http://127.0.0.1:{port}", "guns")
    assert code == 1 and "no control API at" in err and "Traceback" not in err + out


async def test_tables_are_the_default_with_rounded_numbers_and_totals(ctl: Ctl) -> None:
    await ctl.settled()
    secc = await ctl.secc()
    await charging(secc, 60)
    code, out, err = await pecc("ctl", "--url", ctl.url, "guns")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("│ 1-1"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[2] == "charge" and cells[3] == "closed"
    volts = cells[5]
    assert volts.count(".") == 1 and len(volts.split(".")[1]) == 1  # one decimal
    assert "4 guns" in out and "1 charging" in out
    code, out, _ = await pecc("ctl", "gun", "1-1", "--url", ctl.url)
    assert code == 0 and "Gun 1-1" in out and "session" in out and "kWh" in out
    code, out, _ = await pecc("ctl", "modules", "--url", ctl.url)
    assert code == 0 and "8 online" in out
    code, out, _ = await pecc("ctl", "limits", "--url", ctl.url)
    assert code == 0 and "site cap none" in out and "1-2" in out
    code, out, err = await pecc("ctl", "--url", ctl.url, "gun", "9-9")
    assert code == 2 and "no gun '9-9'" in err
    await secc.close()


async def test_caps_can_be_removed_and_limits_reset(ctl: Ctl) -> None:
    code, _, err = await pecc("ctl", "set-limits", "--url", ctl.url, "--gun", "1-1", "--max-current", "30",
                              "--max-power", "20000", "--site-max-power-w", "70000")
    assert code == 0, err
    code, out, err = await pecc("ctl", "set-limits", "--url", ctl.url, "--gun", "1-1", "--max-current", "none",
                                "--json")
    assert code == 0, err
    assert json.loads(out)["guns"]["1-1"] == {"max_current_a": None, "max_power_w": 20000, "priority": 0}
    code, _, err = await pecc("ctl", "set-limits", "--url", ctl.url, "--gun", "1-1", "--max-current", "lots")
    assert code == 2 and "--max-current: got 'lots'; expected a number or 'none'" in err
    code, out, err = await pecc("ctl", "limits", "--reset", "--url", ctl.url, "--json")
    assert code == 0, err
    limits = json.loads(out)
    assert limits["guns"]["1-1"]["max_power_w"] is None and limits["site_max_power_w"] is None


async def test_events_and_sessions_commands(ctl: Ctl) -> None:
    await ctl.settled()
    secc = await ctl.secc()
    await charging(secc, 40)
    await secc.ok("contactorsStatus", {"contactorsStatus": "open"})
    await secc.close()
    async with asyncio.timeout(5):
        while True:
            code, out, err = await pecc("ctl", "sessions", "--url", ctl.url, "--json")
            assert code == 0, err
            if json.loads(out)["sessions"] and json.loads(out)["sessions"][0]["outcome"]:
                break
            await asyncio.sleep(0.05)
    code, out, _ = await pecc("ctl", "sessions", "--url", ctl.url)
    assert code == 0 and "completed" in out and "1 sessions" in out
    code, out, _ = await pecc("ctl", "events", "--gun", "1-1", "--kind", "state", "--url", ctl.url)
    assert code == 0 and "standby -> cableCheck" in out and "charge -> stopping" in out
    code, out, _ = await pecc("ctl", "--url", ctl.url, "--json", "events", "--limit", "1")
    assert code == 0 and len(json.loads(out)["events"]) == 1


@pytest.mark.system("`pecc ctl events --follow` in its own process")
async def test_events_follow_prints_new_events_until_ctrl_c(ctl: Ctl) -> None:
    follower = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pecc_core.cli", "ctl", "events", "--follow", "--json", "--url", ctl.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=ctrl_c_reaches_it,
    )
    assert follower.stdout is not None
    first = json.loads(await asyncio.wait_for(follower.stdout.readuntil(b"\n}\n"), 30))  # the JSON page
    assert "events" in first
    assert (await ctl.http("POST", "/api/sim/guns/1-2/supervision", {"allowed": False}))[0] == 200
    # the station's own events (a gun's state changes) may come first: every new one is printed
    async def operator_event() -> dict:
        while (line := json.loads(await follower.stdout.readline()))["kind"] != "operator":  # type: ignore[union-attr]
            pass
        return line

    line = await asyncio.wait_for(operator_event(), 30)
    assert line["gun"] == "1-2"
    follower.send_signal(signal.SIGINT)
    # Read its output to the end while it exits: a follower whose pipe is full (a busy station
    # logs many events) blocks flushing stdout at exit for as long as nobody reads.
    _, err = await asyncio.wait_for(follower.communicate(), 10)
    assert follower.returncode == 0
    assert b"Traceback" not in err
