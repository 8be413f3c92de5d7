"""``pecc simulate`` through the real CLI app with every installed plugin's commands."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pecc_core.cli import app
from pecc_core.plugins import default_manager

from .test_harness import small


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    if not any(c.name == "simulate" for c in app.registered_commands):
        default_manager().add_commands(app)
    return CliRunner()


def test_simulate_prints_every_policy_side_by_side(runner: CliRunner, tmp_path) -> None:
    path = tmp_path / "small.json"
    path.write_text(small().to_json())
    result = runner.invoke(app, ["simulate", str(path), "--markdown"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("| |"))
    assert header == "| | dynamic | equal | static |"
    assert "| steps over the site cap | 0 | 0 | 0 |" in result.output
    again = runner.invoke(app, ["simulate", str(path), "--markdown"])
    assert again.output == result.output


def test_simulate_rich_table_for_one_policy(runner: CliRunner, tmp_path) -> None:
    path = tmp_path / "small.json"
    path.write_text(small().to_json())
    result = runner.invoke(app, ["simulate", str(path), "-P", "equal"])
    assert result.exit_code == 0, result.output
    assert "energy delivered (kWh)" in result.output
    assert "equal" in result.output and "dynamic" not in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["simulate", "no-such"], "no scenario 'no-such'"),
        (["simulate", "-P", "bogus"], "unknown limit policy 'bogus'"),
    ],
)
def test_simulate_bad_input_exit_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
