"""``pecc profiles validate`` accepts exactly what ``pecc run`` accepts.

A corpus of bad profiles and bad flags goes through both commands: both
refuse with exit code 2, the same ``key: got VALUE; expected ...`` line and
no traceback. ``run`` here is the real command (CliRunner), so a profile
that slipped through would start a station; the corpus makes sure none does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import pecc_profiles
from pecc_core.cli import app
from pecc_core.testing import sim_overrides, write_profile

runner = CliRunner()

MODULES = [{"address": a} for a in (1, 2, 3, 4, 5, 6, 7, 200)]

# (overrides of the sim profile, the problem line both commands must print)
BAD_PROFILES: dict[str, tuple[dict[str, Any], str]] = {
    "uu-address-200": (
        {"power.modules": MODULES},  # the schema allows 0..255; the UU protocol does not
        "power.modules[7].address: got 200; expected a UU address from 1 to",
    ),
    "port-text": ({"server.port": "eighty"}, "server.port: got 'eighty'; expected an integer"),
    "unknown-driver": ({"power.driver.name": "acme"}, "power.driver.name: got 'acme'; unknown power driver"),
    "bad-io-params": ({"io.contactors.params": {"nonsense": 1}}, "io.contactors.params.nonsense: got 1;"),
    "unknown-transport": ({"server.transport": "carrier-pigeon"}, "server.transport: got 'carrier-pigeon';"),
    # 13 UU modules exporting at 125 kbit/s, each measured every 200 ms and, ramping, sent a new
    # voltage and current every 100 ms cycle, all answered: 13 x 62.4 frames/s at up to 160 bits
    "bus-overloaded": (
        {"power.modules": [{"address": a} for a in range(1, 14)]},
        (
            "at 125 kbit/s with 13 modules exporting: estimated 47 % charging (369 frames/s), 104 % with every "
            "gun ramping (811 frames/s); at most 100 % fits — split the modules over more buses or raise the bitrate"
        ),
    ),
}

#: sim with one UU module more than its 8: above 30 % charging, a warning.
NINE_MODULES = {"power.modules": [{"address": a} for a in range(1, 10)]}

BAD_FLAGS: dict[str, tuple[list[str], str]] = {
    "port-high": (["--port", "99999"], "--port: got 99999; expected a value from 0 to 65535"),
    "port-negative": (["--port", "-5"], "--port: got -5; expected a value from 0 to 65535"),
}


def refused(args: list[str], line: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (args, result.output, result.exception)
    assert line in result.output, (args, result.output)
    assert "Traceback" not in result.output
    return result.output


@pytest.mark.parametrize("case", BAD_PROFILES, ids=list(BAD_PROFILES))
def test_a_bad_profile_is_refused_alike_by_validate_and_run(tmp_path: Path, can_channel: str, case: str) -> None:
    overrides, line = BAD_PROFILES[case]
    path = str(write_profile("sim", tmp_path, {**sim_overrides(can_channel), **overrides}))
    validate = refused(["profiles", "validate", path], line)
    run = refused(["run", "--profile", path], line)
    assert validate == run


@pytest.mark.parametrize("case", BAD_FLAGS, ids=list(BAD_FLAGS))
@pytest.mark.parametrize("command", [["run"], ["urls"], ["secc-sim"]], ids=lambda c: c[0])
def test_a_bad_flag_is_refused_like_a_profile_key(command: list[str], case: str) -> None:
    """As a real process: ``secc-sim`` is a plugin's command, added when ``pecc`` starts."""
    flags, line = BAD_FLAGS[case]
    done = subprocess.run(
        [sys.executable, "-m", "pecc_core.cli", *command, *flags], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done
    assert line in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_the_shipped_profiles_validate(tmp_path: Path) -> None:
    shipped = sorted(path.stem for path in Path(pecc_profiles.__file__).parent.glob("*.toml"))
    assert {"sim", "sim-full", "cabinet-uu12"} <= set(shipped)
    for name in shipped:
        result = runner.invoke(app, ["profiles", "validate", name])
        assert result.exit_code == 0, result.output


def test_a_busy_bus_validates_with_its_warning(tmp_path: Path, can_channel: str) -> None:
    """sim with 9 UU modules at 125 kbit/s, every one exporting: charging, 9 x 28.4 frames/s at up to
    160 bits, 33 %; ramping, 9 x 62.4, 72 %."""
    path = str(write_profile("sim", tmp_path, sim_overrides(can_channel) | NINE_MODULES))
    result = runner.invoke(app, ["profiles", "validate", path])
    assert result.exit_code == 0, result.output
    assert (
        f"warning: power: bus {can_channel} at 125 kbit/s with 9 modules exporting: estimated 33 % charging "
        "(256 frames/s), 72 % with every gun ramping (562 frames/s); above 30 % " in result.output
    )
    assert result.output.rstrip().endswith("valid (2 SECCs, 4 guns)")


def test_run_logs_the_warning_validate_prints(
    tmp_path: Path, can_channel: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """``run`` logs it once its log is set up (to stderr, where the log goes); the station is not started here."""
    monkeypatch.setattr("pecc_core.asyncutil.run", lambda main, loop: main.close())
    path = str(write_profile("sim", tmp_path, sim_overrides(can_channel) | NINE_MODULES))
    result = runner.invoke(app, ["run", "--profile", path])
    assert result.exit_code == 0, result.output
    logged = capfd.readouterr().err
    assert (
        f"WARNING pecc_core.cli: profile sim: power: bus {can_channel} at 125 kbit/s with 9 modules exporting: "
        "estimated 33 % charging (256 frames/s), 72 % with every gun ramping (562 frames/s); above 30 % " in logged
    )
