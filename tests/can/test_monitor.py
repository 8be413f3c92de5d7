"""``pecc can monitor`` against the sim station (uugreen driver and modsim on the timed bus).

The expected names and values are the protocol notes' (a UU voltage
reference is cmd 0x02 in mV; status bit 21 is "DC/DC failure"), written
here rather than taken from the decoders under test.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from pecc_core.plugins import default_manager
from pecc_core.profile import load
from pecc_core.testing import eventually, running, sim_overrides, write_profile
from pecc_plugins.canbus import Decoded, Kind
from pecc_plugins.canbus.command import can_app
from pecc_plugins.canbus.monitor import Traffic
from pecc_plugins.infy.decoder import InfyDecoder
from pecc_plugins.uugreen.decoder import UuDecoder

from .test_two_buses import two_buses

app = typer.Typer()
app.add_typer(can_app, name="can")


def json_frames(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def monitor_with_station(path: Path, *options: str, duration: str = "1.5") -> str:
    """The output of ``pecc can monitor`` on the profile at ``path``, its own station running ``duration`` s."""
    command = ["can", "monitor", "--profile", str(path), *options, "--with-station", "--duration", duration]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.system("`can monitor` runs its own asyncio loop in the CLI's thread for --duration s of wall time")
async def test_monitor_shows_each_modules_decoded_traffic(tmp_path: Path, can_channel: str) -> None:
    path = write_profile("sim", tmp_path, {**sim_overrides(can_channel), "log_level": "WARNING"})
    async with running(load(str(path), default_manager())) as runtime:
        driver = runtime.station.power.buses["can"]
        await eventually(lambda: all(m.online for m in driver.modules.values()), timeout=5.0, what="modules online")
        runtime.services[0].alarm(3, 1 << 21)  # module 3 reports a DC/DC failure
        driver.export([1, 2], 400.0, 30.0)
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["can", "monitor", "--profile", str(path), "--json", "--duration", "2"]
        )
    assert result.exit_code == 0, result.output
    decoded = [d for frame in json_frames(result.output) for d in frame["decoded"]]
    assert decoded, result.output
    kinds = {(d["module"], d["kind"], d["name"]) for d in decoded}
    assert (1, "poll", "Vout fast") in kinds
    assert (1, "reading", "Vout fast") in kinds
    readings = [d for d in decoded if d["module"] == 1 and d["kind"] == "reading" and d["name"] == "Vout fast"]
    assert all(d["unit"] == "V" for d in readings)
    status_3 = [d for d in decoded if d["module"] == 3 and d["kind"] == "status"]
    assert status_3 and all("DC/DC failure" in d["flags"] for d in status_3)


@pytest.mark.system("`can monitor --with-station` runs a station on its own asyncio loop for --duration s of wall time")
def test_monitor_runs_its_own_station_for_a_sim_profile(tmp_path: Path, can_channel: str) -> None:
    path = write_profile("sim", tmp_path, {**sim_overrides(can_channel), "log_level": "WARNING"})
    output = monitor_with_station(path, "--lines")
    assert "module 1 <- poll Vout fast" in output
    assert "module 1 -> reading Vout fast" in output


@pytest.mark.system("`can monitor --with-station` runs a station on its own asyncio loop for --duration s of wall time")
def test_monitor_watches_every_bus_of_the_profile_or_the_one_asked_for(tmp_path: Path, can_channel: str) -> None:
    path = write_profile("sim", tmp_path, {**two_buses(can_channel), "log_level": "WARNING"})
    frames = json_frames(monitor_with_station(path, "--json"))
    assert {f["bus"] for f in frames} == {"can1", "can2"}  # the UU bus and the Infy bus
    output = monitor_with_station(path, "--bus", "can2", "--lines", duration="1")
    lines = [line for line in output.splitlines() if " module " in line]
    assert lines and not any(line.startswith("can") for line in lines)  # one bus: no bus name before each line


def test_a_bus_the_profile_lacks_is_a_clear_message(tmp_path: Path, can_channel: str) -> None:
    path = write_profile("sim", tmp_path, two_buses(can_channel))
    result = CliRunner().invoke(app, ["can", "monitor", "--profile", str(path), "--bus", "can9", "--json"])
    assert result.exit_code == 2
    assert "--bus: got 'can9'; expected one of ['can1', 'can2']" in result.output


def test_a_bad_profile_is_a_clear_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["can", "monitor", "--profile", str(tmp_path / "missing.toml"), "--json"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_uu_frames_decode_as_the_notes_write_them() -> None:
    decoder = UuDecoder(group=0)
    # "module 1 voltage 500.0 V: id 0x02204000, data 00 02 00 00 00 07 A1 20"
    (setpoint,) = decoder.decode(0x02204000, bytes.fromhex("000200000007A120"))
    assert (setpoint.module, setpoint.from_module, setpoint.kind, setpoint.value, setpoint.unit) == (
        1, False, Kind.SETPOINT, 500.0, "V")
    # "module 1 current limit 50 A: 00 03 00 00 00 00 C3 50"
    (limit,) = decoder.decode(0x02204000, bytes.fromhex("000300000000C350"))
    assert (limit.kind, limit.value, limit.unit) == (Kind.SETPOINT, 50.0, "A")
    # "off: ... 00 01"
    (off,) = decoder.decode(0x02204000, bytes.fromhex("0004000000000001"))
    assert (off.kind, off.value) == (Kind.COMMAND, "off")
    # a status reply of module 2 (date/serial bits set) with bits 12, 21 and 25
    word = (1 << 12) | (1 << 21) | (1 << 25)
    (status,) = decoder.decode(0x02208000 | 0x2A5, bytes((0x03, 0x08, 0, 0)) + word.to_bytes(4, "big"))
    assert status.module == 2 and status.from_module
    assert status.flags == ("over-temperature", "DC/DC failure", "DC/DC off")
    assert decoder.decode(0x12345678, bytes(8)) == ()  # not a UU frame


def test_infy_frames_decode_as_the_notes_write_them() -> None:
    decoder = InfyDecoder(controller=0xF0)
    # "module 0 to 500 V / 50 A: id 0x029C00F0, data 00 07 A1 20 00 00 C3 50"
    volts, amps = decoder.decode(0x029C00F0, bytes.fromhex("0007A1200000C350"))
    assert (volts.module, volts.kind, volts.value, amps.value) == (0, Kind.SETPOINT, 500.0, 50.0)
    # a reply of module 3 with error code 3 (bits 28-26) to a status read
    (refusal,) = decoder.decode(3 << 26 | 0x0A << 22 | 0x04 << 16 | 0xF0 << 8 | 0x03, bytes(8))
    assert (refusal.module, refusal.kind, refusal.error) == (3, Kind.ERROR, "data invalid")
    # status of module 3: byte 6 bit 1 (module fault), byte 7 bit 0 (short circuit), 40 degC in byte 4
    status, temperature = decoder.decode(0x0A << 22 | 0x04 << 16 | 0xF0 << 8 | 0x03, bytes((0, 0, 0, 0, 40, 0, 0x02, 0x01)))
    assert status.flags == ("output short circuit", "module fault")
    assert (temperature.kind, temperature.value) == (Kind.READING, 40.0)


def test_traffic_keeps_the_latest_per_module() -> None:
    traffic = Traffic()
    traffic.add((Decoded(1, False, Kind.SETPOINT, "voltage reference", 400.0, "V"),))
    traffic.add((Decoded(1, False, Kind.SETPOINT, "voltage reference", 410.0, "V"),))
    traffic.add((Decoded(1, True, Kind.ERROR, "status refused", error="data invalid"),))
    traffic.add(())
    module = traffic.modules[1]
    assert module.setpoints == {"voltage reference": "410 V"}
    assert (module.errors, module.last_error, module.frames) == (1, "status refused: data invalid", 3)
    assert (traffic.frames, traffic.unknown) == (4, 1)
