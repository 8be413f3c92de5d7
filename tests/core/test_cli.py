"""The pecc command line, through typer's CliRunner and as a real process."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pecc_core import __version__
from pecc_core.cli import app
from pecc_core.plugins import default_manager
from pecc_core.profile import available
from pecc_core.profile import load as load_profile
from pecc_core.testing import sim_overrides, wait_serving, write_profile

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"pecc {__version__}"


def test_urls_of_the_sim_profile() -> None:
    result = runner.invoke(app, ["urls", "--profile", "sim"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "ws://127.0.0.1:8765/secc1/gun1",
        "ws://127.0.0.1:8765/secc1/gun2",
        "ws://127.0.0.1:8765/secc2/gun1",
        "ws://127.0.0.1:8765/secc2/gun2",
    ]


def test_urls_with_host_and_port() -> None:
    result = runner.invoke(app, ["urls", "-p", "sim", "--host", "10.0.0.5", "--port", "9000"])
    assert result.output.splitlines()[0] == "ws://10.0.0.5:9000/secc1/gun1"


def test_profiles_list_show_validate() -> None:
    listed = runner.invoke(app, ["profiles", "list"])
    assert {"sim", "sim-full", "cabinet-uu12"} <= {line.split()[0] for line in listed.output.splitlines()}
    shown = runner.invoke(app, ["profiles", "show", "sim"])
    assert shown.exit_code == 0 and 'path = "/secc2/gun2"' in shown.output
    for name in ("sim", "sim-full", "cabinet-uu12"):
        valid = runner.invoke(app, ["profiles", "validate", name])
        assert valid.exit_code == 0, valid.output
        assert "valid" in valid.output


@pytest.mark.parametrize("name", sorted(available()))
def test_profiles_show_prints_toml_with_defaults_that_validates_back_to_the_same_profile(
    name: str, tmp_path: Path
) -> None:
    shown = runner.invoke(app, ["profiles", "show", name])
    assert shown.exit_code == 0, shown.output
    data = tomllib.loads(shown.output)
    # defaults filled in: keys the shipped file does not write (independent of the schema's values)
    assert {"require_subprotocol", "max_frame_bytes"} <= set(data["server"])
    assert "precharge_current" in data["seccs"][0]["guns"][0]
    power = data["power"]
    assert all("params" in bus["driver"] for bus in power.get("buses", [power]))  # one bus, or several
    copy = tmp_path / f"{name}.toml"
    copy.write_text(shown.output)
    valid = runner.invoke(app, ["profiles", "validate", str(copy)])
    assert valid.exit_code == 0, valid.output
    plugins = default_manager()
    original, again = load_profile(name, plugins), load_profile(str(copy), plugins)
    assert dataclasses.replace(again, source=original.source) == original
    assert runner.invoke(app, ["profiles", "show", str(copy)]).output.splitlines()[1:] == shown.output.splitlines()[1:]


def test_invalid_profile_exits_2_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    path = write_profile("sim", tmp_path, {"server.port": "eighty", "power.driver.name": "acme"})
    for command in (["profiles", "validate", str(path)], ["run", "--profile", str(path)], ["urls", "-p", str(path)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "server.port: got 'eighty'; expected an integer" in result.output
        assert "Traceback" not in result.output


def test_unknown_plugin_name_lists_the_installed_ones(tmp_path: Path) -> None:
    path = write_profile("sim", tmp_path, {"power.driver.name": "acme"})
    result = runner.invoke(app, ["profiles", "validate", str(path)])
    assert result.exit_code == 2
    assert "power.driver.name: got 'acme'; unknown power driver 'acme' (installed:" in result.output
    assert "uugreen" in result.output


def test_bad_plugin_params_are_reported_with_their_key(tmp_path: Path) -> None:
    path = write_profile("sim", tmp_path, {"io.contactors.params": {"nonsense": 1}})
    result = runner.invoke(app, ["profiles", "validate", str(path)])
    assert result.exit_code == 2
    assert "io.contactors.params.nonsense: got 1;" in result.output


def test_plugins_list_shows_every_builtin_plugin() -> None:
    result = runner.invoke(app, ["plugins", "list"])
    assert result.exit_code == 0, result.output
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.output.splitlines() if "│" in line]
    assert {"pepws", "uugreen", "infy", "modsim", "simio", "gpio", "policies", "seccsim"} <= {r[0] for r in rows}
    assert "FAILED" not in result.output
    at = rows.index(["pepws", __version__, "pecc_addhooks"])  # a plugin's hooks, one a row, sorted
    assert rows[at + 1 : at + 4] == [
        ["", "", "pecc_doctor_checks"], ["", "", "pecc_register_message_handlers"], ["", "", "pecc_register_transports"]
    ]
    assert any(r[:3] == ["transport", "pepws", "pepws"] and r[3].startswith("PEP-WS") for r in rows)


def test_an_unknown_event_loop_is_refused_with_exit_2() -> None:
    result = runner.invoke(app, ["run", "--loop", "trio"])
    assert result.exit_code == 2
    assert "--loop: got 'trio'; expected auto, uvloop, asyncio" in result.output


@pytest.mark.system("a real `pecc run` process, stopped by SIGTERM, talking to a systemd notify socket")
@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_sigterm_stops_a_real_pecc_run_cleanly(tmp_path: Path, can_channel: str, loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed on this platform")
    path = write_profile("sim", tmp_path, sim_overrides(can_channel))  # port 0 everywhere
    log = tmp_path / "pecc.log"
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(tmp_path / "notify"))
    systemd.settimeout(5)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"}
    with systemd:
        serve_until_sigterm(["--loop", loop, "--profile", str(path)], log, env)
        notices = []
        systemd.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                notices.append(systemd.recv(4096).decode())
    assert notices[0].startswith("READY=1\nSTATUS=serving 4 guns on 127.0.0.1:")
    assert "WATCHDOG=1" in notices
    assert notices[-1] == "STOPPING=1"
    text = log.read_text()
    assert f"event loop: {loop}" in text
    assert "stopping: sessions ended, guns to standby, then connections closed and modules off" in text
    assert "Traceback" not in text


@pytest.mark.system("a real `pecc run` process, stopped by SIGTERM")
def test_pecc_run_takes_uvloop_by_default_where_it_is_installed(tmp_path: Path, can_channel: str) -> None:
    pytest.importorskip("uvloop", reason="uvloop is not installed on this platform")
    path = write_profile("sim", tmp_path, sim_overrides(can_channel))
    log = tmp_path / "pecc.log"
    serve_until_sigterm(["--profile", str(path)], log, {**os.environ, "PYTHONUNBUFFERED": "1"})
    assert "event loop: uvloop" in log.read_text()


def serve_until_sigterm(args: list[str], log: Path, env: dict[str, str]) -> None:
    """``pecc run ARGS`` logging to ``log``: once it serves, SIGTERM; it must exit 0 within 15 s."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pecc_core.cli", "run", *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )
        try:
            wait_serving(log, proc)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
