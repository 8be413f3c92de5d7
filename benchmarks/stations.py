"""Station profiles for the benchmarks, written to a temporary directory.

4 guns is the ``sim`` profile and 72 guns ``sim-full``, as shipped; 1000
guns is ``sim-full`` stretched to 84 SECCs of 12 guns (cut to 1000) with
``station.allow_oversize = true``, the same 48 modules. Each run gets its
own port and CAN channel so nothing collides with a PECC already running.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pecc_core.profile.loader import resolve
from pecc_core.testing import sim_overrides, write_profile

GUNS_PER_SECC = 12


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
