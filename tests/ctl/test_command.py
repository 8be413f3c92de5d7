"""``pecc ctl`` against a running sim station (typer's CliRunner in a thread, real HTTP)."""

from __future__ import annotations

import asyncio
import json
import socket

import typer
from typer.testing import CliRunner

from pecc_core import caps
from pecc_core.plugins import default_manager

from .conftest import Ctl, charging

runner = CliRunner()
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
