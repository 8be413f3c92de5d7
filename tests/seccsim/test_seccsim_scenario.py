"""Scenario files: defaults, overrides and problems reported all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from pecc_plugins.seccsim.scenario import ScenarioError, load


def test_no_file_gives_the_default_car() -> None:
    car = load(None)
    assert (car.battery.start_soc, car.battery.target_soc) == (20.0, 80.0)
    assert car.ev.max_voltage >= car.battery.voltage_full


def test_a_file_overrides_single_keys(tmp_path: Path) -> None:
    path = tmp_path / "car.toml"
    path.write_text(
        "curve = [[0, 1.0], [60, 1.0], [100, 0.2]]\n"
        "[battery]\ncapacity_kwh = 100\nstart_soc = 5\n[ev]\nmax_current = 350\n"
    )
    car = load(path)
    assert car.battery.capacity_kwh == 100
    assert car.battery.start_soc == 5
    assert car.battery.target_soc == 80  # default kept
    assert car.ev.max_current == 350
    assert car.curve == ((0.0, 1.0), (60.0, 1.0), (100.0, 0.2))


def test_every_problem_is_listed_with_its_key_and_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[battery]\nstart_soc = 90\ntarget_soc = 120\ncolour = 'red'\n[ev]\nmax_current = -1\n")
    with pytest.raises(ScenarioError) as info:
        load(path)
    text = str(info.value)
    assert "battery.target_soc: got 120; expected a value from 0 to 100" in text
    assert "battery.colour: got 'red'; unknown key" in text
    assert "ev.max_current: got -1; expected a value > 0" in text


def test_cross_checks_name_what_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[battery]\nstart_soc = 90\ntarget_soc = 80\n")
    with pytest.raises(ScenarioError, match="expected start_soc < target_soc"):
        load(path)
    path.write_text("curve = [[10, 1.0], [100, 0.5]]\n")
    with pytest.raises(ScenarioError, match="curve: expected SOC points rising strictly from 0 to 100"):
        load(path)
    path.write_text("[ev]\nmax_voltage = 400\n")
    with pytest.raises(ScenarioError, match=r"ev: expected ev\.max_voltage >= battery\.voltage_full"):
        load(path)


def test_unreadable_or_broken_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[battery\n")
    with pytest.raises(ScenarioError, match="invalid scenario"):
        load(broken)
