"""A station whose own loop stalls mid-charge does not take its modules for silent (pecc_core.stalls).

The loop is really blocked (the interpreter sleeps in a callback), so no
frame is read and no control cycle runs for longer than the stale bound
of the readings; the modules answered all along. The first control cycle
after the stall must not find the power stage lost, nor open anything:
the time the loop did not run is not silence. (A module that stays
silent while the loop runs on time still is: test_safety.py.)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from pecc_core.gun import GunState
from pecc_core.testing import QUICK_CABINET, running, sim_overrides

from .secc import secc
from .test_safety import FAST, GUN, charging, url
from .test_session import settled

#: safety.reading_stale_ms of the sim profile (the schema's default): a second
STALE_S = 1.0


@pytest.mark.system("blocks the station's loop for 1.5 s of real time, as a starved machine does")
async def test_a_stall_longer_than_the_stale_bound_loses_no_power_stage(
    make_profile: Any, can_channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(make_profile("sim", {**sim_overrides(can_channel), **QUICK_CABINET, **FAST})) as runtime:
        await settled(runtime)
        gun = runtime.station.guns[GUN]
        async with secc(url(runtime)) as client:
            await charging(client)
            loop = asyncio.get_running_loop()
            before = loop.time()
            loop.call_soon(time.sleep, 1.5 * STALE_S)  # nothing runs meanwhile: no frame, no cycle
            await asyncio.sleep(0)
            assert loop.time() - before >= 1.5 * STALE_S
            await asyncio.sleep(1.0)  # cycles after the stall, frames coming in again
            assert "power_stage" not in gun.faults and gun.state is GunState.CHARGE
            assert client.status["operationalStatus"] == "operative" and client.status["measuredCurrent"] > 40
    assert "power stage lost" not in caplog.text
