"""Acceptance: the simulator charges cars on a real PECC station.

The station is the real thing (pepws transport, gun state machines,
uugreen driver talking to the module simulator on a python-can virtual
bus, static policy) started in-process on port 0 with a test's own CAN
channel; timings are shortened (cable check 200 ms) and the battery time
is scaled so a session takes two to three seconds, most of it the
station's own cable check and discharge.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from pecc_core.profile import Profile
from pecc_core.testing import (
    QUICK_CABINET,
    each_service,
    heavy,
    quick_cabinet,
    running,
    sim_overrides,
    wait_serving,
    write_profile,
)
from pecc_plugins.seccsim.runner import RunOptions, simulate
from pecc_plugins.seccsim.scenario import Scenario, from_mapping
from pecc_plugins.seccsim.session import SessionOptions
from pecc_plugins.seccsim.stats import RunStats

#: A quick cabinet with fast module slew and a small output capacitance (ramp
#: up for the cable check and discharge after reset in fractions of a second
#: instead of seconds).
FAST_TIMINGS = {
    **QUICK_CABINET,
    "services.0.params.slew_v_per_s": 5000.0,
    "services.0.params.node_capacitance_f": 0.0005,
}
#: 20 % -> 24 % of a 10 kWh battery: a few dozen targetValues per session at time scale 50.
QUICK_CAR = {"battery": {"capacity_kwh": 10.0, "start_soc": 20.0, "target_soc": 24.0}}
QUICK = SessionOptions(time_scale=50)


def urls(profile: Profile, port: int) -> list[str]:
    return [profile.url(gun, port=port) for gun in profile.guns]


async def settled(url: str, statuses: int = 5, timeout: float = 10.0) -> None:
    """Wait until ``url`` reports operative ``statuses`` times in a row.

    A starting station says operative before its modules are discovered,
    then inoperative until they are (about half a second): an SECC that
    started at once would see its first session aborted.
    """
    async with asyncio.timeout(timeout), connect(url, subprotocols=[Subprotocol("pep1.5")], proxy=None) as ws:
        streak = 0
        async for raw in ws:
            msg = json.loads(raw)
            if msg["kind"] == "status":
                streak = streak + 1 if msg["payload"]["operationalStatus"] == "operative" else 0
                if streak >= statuses:
                    return


async def charge(profile: Profile, car: Scenario, sessions: int) -> RunStats:
    stats = RunStats()
    async with running(profile) as runtime:
        targets = urls(profile, runtime.transport.port)
        await asyncio.gather(*(settled(url) for url in targets))
        await simulate(targets, car, RunOptions(sessions=sessions, session=QUICK), stats)
    return stats


def assert_clean(stats: RunStats, sessions: int) -> None:
    assert stats.errors == [] and stats.failures == []
    assert stats.sessions_ok == sessions
    assert stats.passed


async def test_one_session_per_gun_on_the_sim_station(
    make_profile: Callable[..., Profile], can_channel: str
) -> None:
    profile = make_profile("sim", {**sim_overrides(can_channel), **FAST_TIMINGS})
    stats = await charge(profile, from_mapping(QUICK_CAR), sessions=1)
    assert_clean(stats, 4)
    assert len(stats.latency["targetValues"]) >= 4 * 10
    assert all(g.soc >= 24 for g in stats.guns)


@heavy
async def test_one_session_on_each_of_the_72_sim_full_guns(
    make_profile: Callable[..., Profile], can_channel: str
) -> None:
    # sim-full has 48 modules for 72 guns: its `static` policy pins one module
    # to each of the first 48 guns and leaves 24 guns without power, so all
    # 72 cars at once need a policy that moves modules (dynamic).
    # 72 guns, 48 simulated modules and 72 cars share one process on virtual time: however busy
    # the machine, the modules answer in time, so the default 1 s stale bound holds.
    overrides = {
        **sim_overrides(can_channel, source="sim-full"),
        **quick_cabinet("sim-full"),
        **each_service("sim-full", {"slew_v_per_s": 5000.0, "node_capacitance_f": 0.0005}, "modsim"),
        "policy.name": "dynamic",
    }
    profile = make_profile("sim-full", overrides)
    stats = await charge(profile, from_mapping(QUICK_CAR), sessions=1)
    assert_clean(stats, 72)


@pytest.mark.system("`pecc run` and `pecc secc-sim` as two processes")
@heavy
def test_pecc_secc_sim_runs_5_sessions_on_each_sim_gun_against_pecc_run(
    tmp_path: Path, can_channel: str
) -> None:
    """The acceptance as a user runs it: two processes, `pecc run` and `pecc secc-sim`."""
    profile = write_profile("sim", tmp_path, {**sim_overrides(can_channel), **FAST_TIMINGS})  # port 0
    car = tmp_path / "car.toml"
    car.write_text("[battery]\ncapacity_kwh = 10\nstart_soc = 20\ntarget_soc = 24\n")
    log = tmp_path / "pecc.log"
    with log.open("w") as out:
        pecc = subprocess.Popen(
            [sys.executable, "-m", "pecc_core.cli", "run", "--profile", str(profile), "--log-level", "INFO"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            port = wait_serving(log, pecc)
            asyncio.run(settled(f"ws://127.0.0.1:{port}/secc1/gun1"))
            report = tmp_path / "report.json"
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pecc_core.cli",
                    "secc-sim",
                    "--profile",
                    str(profile),
                    "--port",
                    str(port),
                    "--sessions",
                    "5",
                    "--time-scale",
                    "50",
                    # Two processes on a machine that may be running other suites: a reply late
                    # by a starved process is not what this test checks (the in-process tests
                    # hold the protocol's 500 ms exactly, on virtual time).
                    "--reply-timeout-ms",
                    "3000",
                    "--scenario",
                    str(car),
                    "--no-live",
                    "--report",
                    str(report),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            pecc.terminate()
            pecc.wait(timeout=10)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  20 sessions completed, 0 failed, 0 protocol errors, 4 guns" in result.stdout
    assert pecc.returncode == 0, log.read_text()
