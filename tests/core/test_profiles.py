"""Profiles: loading, environment overrides and every class of invalid profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from pecc_core.profile import ProfileError, load
from pecc_core.testing import write_profile


def test_sim_profile_has_two_seccs_with_two_guns() -> None:
    profile = load("sim")
    assert [s.id for s in profile.seccs] == ["secc1", "secc2"]
    assert [g.path for g in profile.guns] == ["/secc1/gun1", "/secc1/gun2", "/secc2/gun1", "/secc2/gun2"]
    assert profile.server.host == "127.0.0.1"
    assert profile.timings.status_interval_ms == 200
    assert profile.timings.request_timeout_ms == 500
    assert profile.timings.secc_unresponsive_ms == 5000
    assert profile.power.buses[0].driver.name == "uugreen"
    assert profile.power.buses[0].driver.params["interface"] == "timedvirtual"


def test_sim_full_profile_has_72_guns() -> None:
    profile = load("sim-full")
    assert len(profile.seccs) == 6
    assert all(len(s.guns) == 12 for s in profile.seccs)
    assert len({g.path for g in profile.guns}) == 72


def test_field_cabinet_profile_describes_the_hardware() -> None:
    profile = load("cabinet-uu12")
    params = profile.power.buses[0].driver.params
    assert (params["interface"], params["channel"], params["bitrate"], params["group"]) == (
        "socketcan", "can1", 125000, 1,
    )
    assert len(profile.power.modules) == 12
    assert len(profile.guns) == 6


def test_profile_by_path(tmp_path: Path) -> None:
    path = write_profile("sim", tmp_path, {"station.name": "by-path"})
    assert load(str(path)).station.name == "by-path"


MINIMAL = """
[[seccs]]
id = "a"
[[seccs.guns]]
id = "g"
voltage_max = 500
current_max = 100
power_max = 50000

[power]
driver = { name = "uugreen" }
modules = [{ address = 1 }]

[io]
contactors = { name = "sim" }
imd = { name = "sim" }
supervision = { name = "sim" }
matrix = { name = "sim" }
"""


def test_defaults_fill_what_a_profile_leaves_out(tmp_path: Path) -> None:
    path = tmp_path / "minimal.toml"
    path.write_text(MINIMAL)
    profile = load(str(path))
    assert profile.timings.status_interval_ms == 200
    assert profile.timings.cable_check_ms == 37000
    assert profile.server.subprotocols == ("pep1.5",)
    assert profile.guns[0].path == "/a/g"
    assert profile.policy.name == "static"
    assert profile.station.float_values is True


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PECC_SERVER__PORT", "9000")
    monkeypatch.setenv("PECC_TIMINGS__STATUS_INTERVAL_MS", "100")
    monkeypatch.setenv("PECC_SITE__MAX_POWER_W", "50000")
    profile = load("sim")
    assert profile.server.port == 9000
    assert profile.timings.status_interval_ms == 100
    assert profile.site.max_power_w == 50000


def test_environment_override_with_bad_value_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PECC_SERVER__PORT", "eighty")
    with pytest.raises(ProfileError) as err:
        load("sim")
    assert "server.port: got 'eighty'; expected an integer" in str(err.value)


def test_unknown_profile_name_lists_the_available_ones() -> None:
    with pytest.raises(ProfileError) as err:
        load("no-such-profile")
    assert "available:" in str(err.value) and "sim" in str(err.value)


def _invalid(tmp_path: Path, overrides: dict[str, object]) -> str:
    path = write_profile("sim", tmp_path, overrides)
    with pytest.raises(ProfileError) as err:
        load(str(path))
    return str(err.value)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"server.prot": 1}, "server.prot: got 1; unknown key"),
        ({"server.port": "x"}, "server.port: got 'x'; expected an integer"),
        ({"server.port": 70000}, "server.port: got 70000; expected a value from 0 to 65535"),
        ({"seccs.0.guns.0.voltage_max": "high"}, "seccs[0].guns[0].voltage_max: got 'high'; expected a number"),
        ({"seccs.0.guns.0.voltage_min": 900, "seccs.0.guns.0.voltage_max": 500},
         "seccs[0].guns[0].voltage_min: got 900; expected voltage_min <= voltage_max"),
        ({"seccs.0.guns.1.path": "/secc1/gun1"}, "expected a unique URL path per gun, '/secc1/gun1' is used twice"),
        ({"seccs.1.guns.0.id": "1-1"}, "expected unique gun ids, '1-1' is used twice"),
        ({"power.modules.1.address": 1}, "expected unique module addresses, 1 is used twice"),
        ({"power.modules.0.guns": ["9-9"]}, "power.modules[0].guns: expected gun ids of this profile, unknown: ['9-9']"),
        ({"timings.ping_interval_ms": 6000}, "expected ping_interval_ms < secc_unresponsive_ms"),
        ({"server.subprotocols": ["ocpp1.6"]}, "server.subprotocols[0]: got 'ocpp1.6'; expected 'pep1.<minor>'"),
        ({"log_level": "LOUD"}, "log_level: got 'LOUD'; expected one of DEBUG, INFO, WARNING, ERROR"),
    ],
)
def test_invalid_profiles_name_key_value_and_expectation(
    tmp_path: Path, overrides: dict[str, object], expected: str
) -> None:
    assert expected in _invalid(tmp_path, overrides)


def _secc(i: int, guns: int) -> dict[str, object]:
    return {
        "id": f"s{i}",
        "guns": [
            {"id": f"{i}-{g}", "voltage_max": 1000, "current_max": 200, "power_max": 60000}
            for g in range(guns)
        ],
    }


def test_more_than_six_seccs_needs_explicit_permission(tmp_path: Path) -> None:
    seccs = [_secc(i, 1) for i in range(7)]
    assert "expected at most 6 SECCs, got 7" in _invalid(tmp_path, {"seccs": seccs})
    path = write_profile("sim", tmp_path, {"seccs": seccs, "station.allow_oversize": True})
    assert len(load(str(path)).seccs) == 7


def test_more_than_twelve_guns_per_secc_needs_explicit_permission(tmp_path: Path) -> None:
    message = _invalid(tmp_path, {"seccs": [_secc(0, 13)]})
    assert "seccs[0].guns: expected at most 12 guns per SECC, got 13" in message


def test_io_drivers_are_never_defaulted(tmp_path: Path) -> None:
    path = tmp_path / "no-io.toml"
    path.write_text(MINIMAL.split("[io]", maxsplit=1)[0])
    with pytest.raises(ProfileError) as err:
        load(str(path))
    assert "io: required key is missing" in str(err.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = _invalid(tmp_path, {"server.port": "x", "timings.status_interval_ms": -1, "bogus": 1})
    assert "server.port" in message and "timings.status_interval_ms" in message and "bogus" in message


def test_unreadable_toml_is_a_profile_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[server\nport = 1\n")
    with pytest.raises(ProfileError) as err:
        load(str(path))
    assert "cannot be read" in str(err.value)
