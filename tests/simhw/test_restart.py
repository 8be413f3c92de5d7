"""Restart safety on the separate hardware process (``pecc sim-hw``).

The PECC is SIGKILLed mid-charge at 80 A while the hardware lives on: the
modules must keep driving until their own watchdog (the PECC cannot do
anything any more), the contactors must stay closed (hardware holds its
outputs). A restarted PECC must find that, switch everything off and open
it, and only then accept an SECC. The figures (how long the modules
drove, restart to first accepted SECC) are printed, not asserted.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pecc_core.testing import QUICK_CABINET, heavy
from pecc_plugins.simhw.processes import SplitStation

from ..gun.secc import Secc, secc

pytestmark = [pytest.mark.system("`pecc run` and `pecc sim-hw` processes, killed and restarted"), heavy]

SAFE_V = 60.0  # DC-SAFETY.md: touch-safe below 60 V


async def charge_at_80_a(client: Secc) -> None:
    """A session by hand up to a steady 80 A at 400 V."""
    await client.ok("configuration")
    await client.info("evConnectionState", {"evConnectionState": "connected", "vehicleId": "RESTART1"})
    await client.info("evConnectionState", {"evConnectionState": "energyTransferAllowed"})
    await client.info("chargingSession", {
        "evMinVoltageVolts": 200, "evMaxVoltageVolts": 500, "evMinCurrentAmperes": 0,
        "evMaxCurrentAmperes": 200, "evMaxPowerWatts": 100000, "chargeMode": "dynamic",
    })
    await client.ok("cableCheck", {"voltage": 500})
    await client.until(lambda s: s["isolationStatus"] == "valid", 60, "isolation valid")
    await client.ok("contactorsStatus", {"contactorsStatus": "closed"})
    await client.until(lambda s: s["contactorsStatus"] == "closed", 30, "contactors closed")
    while True:  # preCharge to the battery's voltage (the protocol's targets keep coming)
        await client.target(400, 2, 40, "preCharge")
        if abs(client.status["measuredVoltage"] - 400) < 5:  # down from the 500 V cable check, too
            break
        await asyncio.sleep(0.1)
    for _ in range(600):
        await client.target(420, 80, 40, "charge")  # above the battery: the current limit rules
        if client.status["measuredCurrent"] >= 75:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no 80 A: {client.status}")


def driving(state: dict) -> list[str]:
    return sorted(a for a, m in state["modules"].items() if m["on"] or m["current"] > 1.0)


def test_sigkill_mid_charge_then_restart_makes_everything_safe_before_serving(tmp_path: Path) -> None:
    split = SplitStation(tmp_path, overrides=QUICK_CABINET)
    try:
        split.start_hw()
        split.start_pecc()

        async def charge() -> None:
            async with secc(f"ws://127.0.0.1:{split.port}/secc1/gun1") as client:
                await charge_at_80_a(client)
                split.kill_pecc()  # SIGKILL with the car drawing 80 A

        asyncio.run(charge())
        killed = time.monotonic()
        state = split.inspect()
        assert state["guns"]["1-1"]["contactors"], "the contactors held their state"
        assert driving(state), "the modules keep driving: only their own watchdog stops them"
        while driving(state := split.inspect()):
            assert time.monotonic() - killed < 120, state
            time.sleep(0.05)
        drove = time.monotonic() - killed
        assert state["guns"]["1-1"]["contactors"], "nothing opened the contactors: they hold"

        restarted = time.monotonic()
        split.start_pecc()  # returns once the PEP-WS port accepts
        serving = time.monotonic()
        state = split.inspect()
        assert not driving(state), state
        assert not any(g["contactors"] for g in state["guns"].values()), state
        assert all(g["voltage"] < SAFE_V for g in state["guns"].values()), state
        log = split.pecc_log.read_text()
        found = log.index("start: found")
        assert "['1-1'] closed" in log[found:].splitlines()[0]
        assert found < log.index("serving 4 guns")

        async def first_secc() -> None:
            async with secc(f"ws://127.0.0.1:{split.port}/secc1/gun1") as client:
                await client.until(lambda s: s["operationalStatus"] == "operative", 30, "operative")

        asyncio.run(first_secc())
        accepted = time.monotonic()
        print(
            f"\nmodules drove {drove:.2f} s after the SIGKILL (their watchdog); "
            f"restart to serving {serving - restarted:.2f} s, to the first SECC accepted "
            f"{accepted - restarted:.2f} s"
        )
    finally:
        split.close()
