"""``pecc secc-sim`` on the command line: arguments, exit codes, report."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pecc_plugins import seccsim

from .scripted_pecc import ScriptedPecc


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    seccsim.pecc_add_commands(app)

    @app.callback()
    def main() -> None:
        """Several commands, as in ``pecc``."""

    return app


def invoke(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["secc-sim", *args])
    return result.exit_code, result.output


def test_without_urls_or_profile_it_says_what_to_give(app: typer.Typer) -> None:
    code, out = invoke(app)
    assert code == 2
    assert "give at least one ws:// URL, or --profile NAME" in out


def test_a_bad_scenario_is_exit_code_2_with_the_problem(app: typer.Typer, tmp_path: Path) -> None:
    bad = tmp_path / "car.toml"
    bad.write_text("[battery]\nstart_soc = 101\n")
    code, out = invoke(app, "ws://127.0.0.1:1/x", "--scenario", str(bad))
    assert code == 2
    assert "battery.start_soc: got 101; expected a value from 0 to 100" in out


def test_an_unknown_profile_is_exit_code_2(app: typer.Typer) -> None:
    code, out = invoke(app, "--profile", "no-such-profile")
    assert code == 2
    assert "no profile of that name" in out


def test_profile_urls_with_host_and_port_overrides() -> None:
    from pecc_plugins.seccsim.command import gun_urls

    urls = gun_urls([], "sim", "10.0.0.7", 9000)
    assert urls[0] == "ws://10.0.0.7:9000/secc1/gun1"
    assert len(urls) == 4


async def test_sessions_pass_with_exit_code_0_and_a_json_report(
    app: typer.Typer, pecc: ScriptedPecc, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    car = tmp_path / "car.toml"
    car.write_text("[battery]\ncapacity_kwh = 10\nstart_soc = 20\ntarget_soc = 30\n")
    args = [
        pecc.url,
        "--sessions",
        "2",
        "--time-scale",
        "100",
        "--scenario",
        str(car),
        "--no-live",
        "--report",
        str(report),
    ]
    code, out = await asyncio.to_thread(invoke, app, *args)
    assert code == 0, out
    assert "PASS  2 sessions completed, 0 failed, 0 protocol errors" in out
    assert "session phases" in out
    data = json.loads(report.read_text())
    assert data["sessions_ok"] == 2 and data["protocol_errors"] == 0
    assert data["latency"]["targetValues"]["count"] > 0


async def test_a_failed_session_is_exit_code_1(app: typer.Typer, pecc: ScriptedPecc) -> None:
    pecc.status["isolationStatus"] = "fault"
    code, out = await asyncio.to_thread(invoke, app, pecc.url, "--no-live")
    assert code == 1
    assert "FAIL  0 sessions completed, 1 failed" in out
    assert "isolation fault" in out


async def test_an_unwritable_report_is_a_message_not_a_traceback(
    app: typer.Typer, pecc: ScriptedPecc, tmp_path: Path
) -> None:
    pecc.status["isolationStatus"] = "fault"  # a quick run
    report = tmp_path / "no-such-dir" / "report.json"
    code, out = await asyncio.to_thread(invoke, app, pecc.url, "--no-live", "--report", str(report))
    assert code == 1
    assert "cannot write the report" in out and "Traceback" not in out
