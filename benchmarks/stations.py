"""Station profiles for the benchmarks, written to a temporary directory.

4 guns is the ``sim`` profile and 72 guns ``sim-full``, as shipped; 1000
guns is ``sim-full`` stretched to 84 SECCs of 12 guns (cut to 1000) with
``station.allow_oversize = true``, the same 48 modules. Each run gets its
own port and CAN channel so nothing collides with a PECC already running.
"""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pecc_core.plugins import default_manager
from pecc_core.profile import load as load_profile
from pecc_core.profile.loader import resolve
from pecc_core.runtime import Runtime
from pecc_core.testing import each_service, quick_cabinet, running, sim_overrides, write_profile
from pecc_plugins.seccsim.runner import RunOptions, simulate
from pecc_plugins.seccsim.scenario import from_mapping
from pecc_plugins.seccsim.session import SessionOptions
from pecc_plugins.seccsim.stats import RunStats

GUNS_PER_SECC = 12
#: A battery that charges for minutes: every session still runs when a figure is taken.
LONG_CAR = {"battery": {"capacity_kwh": 100.0, "start_soc": 20.0, "target_soc": 90.0}}


def station(guns: int, directory: Path, port: int, channel: str, extra: dict[str, Any] | None = None) -> Path:
    """A profile file with ``guns`` guns serving on ``port``; returns its path."""
    source = "sim" if guns == 4 else "sim-full"
    overrides: dict[str, Any] = {**sim_overrides(channel, port, source), "log_level": "WARNING", **(extra or {})}
    if guns == 4:
        return write_profile("sim", directory, overrides)
    if guns == 72:
        return write_profile("sim-full", directory, overrides)
    base = tomllib.loads(resolve("sim-full").read_text())
    template = base["seccs"][0]["guns"][0]
    seccs = []
    for s in range((guns + GUNS_PER_SECC - 1) // GUNS_PER_SECC):
        count = min(GUNS_PER_SECC, guns - s * GUNS_PER_SECC)
        seccs.append(
            {
                "id": f"secc{s + 1}",
                "guns": [
                    {**template, "id": f"{s + 1}-{g + 1}", "path": f"/secc{s + 1}/gun{g + 1}"}
                    for g in range(count)
                ],
            }
        )
    overrides.update({"seccs": seccs, "station.allow_oversize": True, "station.name": f"bench-{guns}"})
    path = write_profile("sim-full", directory, overrides)
    return path.rename(directory / f"bench-{guns}.toml")


def gun_urls(profile: Path, port: int) -> list[str]:
    data = tomllib.loads(profile.read_text())
    return [f"ws://127.0.0.1:{port}{g['path']}" for s in data["seccs"] for g in s["guns"]]


@contextlib.asynccontextmanager
async def charging_sim_full(directory: Path, channel: str) -> AsyncIterator[Runtime]:
    """``sim-full`` in this process (on the caller's loop), a car charging on as many guns as it has modules.

    As many cars as modules: no gun waits for one, so no fault and no
    incident. Yielded once every session is past its cable check.
    """
    overrides = {
        **sim_overrides(channel, source="sim-full"),
        **quick_cabinet("sim-full"),
        **each_service("sim-full", {"slew_v_per_s": 5000.0, "node_capacitance_f": 0.0005}, "modsim"),
        "policy.name": "dynamic", "log_level": "ERROR",
    }
    profile = load_profile(str(write_profile("sim-full", directory, overrides)), default_manager())
    async with running(profile) as runtime:
        targets = [profile.url(g, port=runtime.transport.port) for g in profile.guns[: len(profile.power.modules)]]
        await asyncio.sleep(3.0)  # modules discovered
        options = RunOptions(sessions=1, session=SessionOptions(time_scale=1))
        cars = asyncio.create_task(simulate(targets, from_mapping(LONG_CAR), options, RunStats()))
        await asyncio.sleep(15.0)  # every session past its cable check
        try:
            yield runtime
        finally:
            cars.cancel()
