"""The shipped systemd unit and CAN bring-up files: valid, and true to the profiles they serve."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pecc_core.plugins import default_manager
from pecc_core.profile import load as load_profile
from pecc_core.testing import write_profile

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
UNIT = CONTRIB / "systemd" / "pecc@.service"
INSTALLED = "/opt/pecc/.venv/bin/pecc"


def ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed: the unit file is not verified here")
    # The unit names the installed pecc; verify checks that it is executable, so point it at ours.
    pecc = Path(sys.executable).with_name("pecc")
    (tmp_path / UNIT.name).write_text(UNIT.read_text().replace(INSTALLED, str(pecc)))
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / "pecc@cabinet-uu12.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr  # warnings (unknown keys) too


def test_the_unit_is_a_notify_service_with_state_and_working_directory() -> None:
    service = ini(UNIT)["Service"]
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["StateDirectory"] == "pecc/%i" and service["WorkingDirectory"] == "%S/pecc/%i"
    assert int(service["LimitNOFILE"]) >= 1024
    assert service["ExecStart"] == f"{INSTALLED} run --profile %i"


def test_the_unit_finds_the_profile_in_etc_pecc_by_instance_name(tmp_path: Path) -> None:
    environment = [line.partition("=")[2] for line in UNIT.read_text().splitlines() if line.startswith("Environment=")]
    assert "PECC_PROFILES_DIR=/etc/pecc" in environment
    etc = tmp_path / "etc-pecc"
    etc.mkdir()
    write_profile("sim", etc, {"station.name": "site-a"}).rename(etc / "site-a.toml")
    result = subprocess.run(
        [sys.executable, "-m", "pecc_core.cli", "profiles", "validate", "site-a"],
        env={**os.environ, "PECC_PROFILES_DIR": str(etc)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert str(etc / "site-a.toml") in result.stdout


def test_the_can_bus_files_bring_up_can1_as_the_cabinet_profile_expects() -> None:
    driver = load_profile("cabinet-uu12", default_manager()).power.buses[0].driver.raw
    network = ini(CONTRIB / "networkd" / "80-can1.network")
    assert network["Match"]["Name"] == driver["channel"] == "can1"
    assert int(network["CAN"]["BitRate"]) == driver["bitrate"]
    assert network["CAN"]["RestartSec"] == "100ms"  # automatic bus-off recovery, restart-ms 100
    link = ini(CONTRIB / "networkd" / "80-can1.link")
    assert link["Match"]["OriginalName"] == "can1"
    assert int(link["Link"]["TransmitQueueLength"]) >= 100


def test_the_two_bus_cabinet_validates_and_the_can_bus_files_bring_up_both_of_its_buses() -> None:
    profile = load_profile("cabinet-2bus", default_manager())  # validated, its bus budget judged
    drivers = [bus.driver.raw for bus in profile.power.buses]
    assert [d["channel"] for d in drivers] == ["can1", "can2"]
    assert all(d["interface"] == "socketcan" for d in drivers)
    for driver in drivers:
        channel = driver["channel"]
        network = ini(CONTRIB / "networkd" / f"80-{channel}.network")
        assert network["Match"]["Name"] == channel
        assert int(network["CAN"]["BitRate"]) == driver["bitrate"]
        assert network["CAN"]["RestartSec"] == "100ms"
        link = ini(CONTRIB / "networkd" / f"80-{channel}.link")
        assert link["Match"]["OriginalName"] == channel
        assert int(link["Link"]["TransmitQueueLength"]) >= 100


def test_the_two_bus_cabinet_validates_without_a_warning() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pecc_core.cli", "profiles", "validate", "cabinet-2bus"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
