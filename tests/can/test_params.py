"""The CAN plugins' profile params: defaults, and errors a profile author understands."""

from __future__ import annotations

import types
from typing import Any

import pytest

from pecc_core.profile import ProfileError
from pecc_core.testing import sim_overrides
from pecc_plugins.modsim.service import ModSim


def test_sim_profile_params_load_into_settings(make_profile: Any, can_channel: str) -> None:
    profile = make_profile("sim", sim_overrides(can_channel))
    driver = profile.power.buses[0].driver.params
    assert (driver.group, driver.bus.channel, driver.bus.bitrate) == (1, can_channel, 125_000)
    timing = driver.timing
    assert (timing.poll_s, timing.idle_poll_s, timing.status_s, timing.temperature_s) == (0.2, 1.0, 1.0, 5.0)
    assert (timing.offline_s, driver.mode_switch_s, driver.range_select) == (6.0, 2.0, "session")
    sim = profile.services[0].params
    assert (sim.protocol, sim.group, sim.watchdog_s, sim.bus.channel) == ("uugreen", 1, None, can_channel)
    assert ModSim(sim, types.SimpleNamespace(profile=profile, guns={})).watchdog_s == 5.0  # the UU default


def test_infy_simulator_defaults_to_the_10_s_watchdog(make_profile: Any, can_channel: str) -> None:
    profile = make_profile("sim", {**sim_overrides(can_channel), "services.0.params.protocol": "infy"})
    assert ModSim(profile.services[0].params, types.SimpleNamespace(profile=profile, guns={})).watchdog_s == 10.0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("power.driver.params.group", 16, "power.driver.params.group"),
        ("power.driver.params.poll_ms", 0, "expected a value from 10 to 60000"),
        ("power.driver.params.pol_ms", 100, "pol_ms: got 100; unknown key"),
        ("services.0.params.protocol", "winline", "expected one of infy, uugreen"),
        ("power.driver.params.idle_poll_ms", 100, "idle_poll_ms: got 100; expected at least poll_ms (200)"),
        ("power.driver.params.offline_ms", 1500, "offline_ms: got 1500; expected at least twice the slowest"),
        ("power.driver.params.range_select", "auto", "expected one of session, module"),
        ("power.driver.params.setpoint_interval_ms", 200, "setpoint_interval_ms: got 200; unknown key"),
    ],
)
def test_bad_params_are_refused_with_their_key(
    make_profile: Any, can_channel: str, key: str, value: Any, message: str
) -> None:
    with pytest.raises(ProfileError) as info:
        make_profile("sim", {**sim_overrides(can_channel), key: value})
    assert message in str(info.value)
