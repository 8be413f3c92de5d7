"""The cable check: the isolation test a gun runs before a session may draw power.

Started by :meth:`pecc_core.gun.machine.Gun.cable_check` (contactors
already closed, state ``cableCheck``) as the gun's task; it drives the
test voltage, runs the IMD test, reports the result through the table
(``TEST_PASSED`` / ``TEST_FAILED``) and ramps back down. It stops at once
when the gun leaves ``cableCheck`` (a fault, a reset, the SECC gone): the
safe-down then owns the output.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pecc_core.gun.table import ISOLATION_OK, Event, GunState
from pecc_core.model import Isolation

if TYPE_CHECKING:
    from pecc_core.gun.machine import Gun

log = logging.getLogger(__name__)

#: The test voltage is driven until the output reaches this fraction of it
#: before the IMD starts.
TEST_VOLTAGE_REACHED = 0.9


async def run(gun: Gun, test_voltage: float) -> None:
    """Drive ``test_voltage``, run the IMD test, report, ramp back down."""
    wiring = gun.wiring
    imd = wiring.io.imd
    cycle = wiring.cycle
    readout = gun.readout
    imd.stop(gun.id)
    gun.drive(test_voltage, gun.config.precharge_current)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wiring.timings.precharge_ms / 1000
    while readout.measured_voltage < test_voltage * TEST_VOLTAGE_REACHED and loop.time() < deadline:
        await asyncio.sleep(cycle)
        if gun.state is not GunState.CABLE_CHECK:
            return
    imd.start(gun.id)
    deadline = loop.time() + wiring.timings.cable_check_ms / 1000 + 5.0
    result = imd.result(gun.id)
    while result is Isolation.INVALID and loop.time() < deadline:
        await asyncio.sleep(cycle)
        if gun.state is not GunState.CABLE_CHECK:
            return
        result = imd.result(gun.id)
    if result is Isolation.INVALID:
        log.warning("gun %s: isolation test gave no result in time", gun.id, extra={"gun": gun.id})
        result = Isolation.FAULT
    gun.forget_task()
    gun.drive(0.0, 0.0)
    readout.isolation = result
    if result in ISOLATION_OK:
        gun.go(Event.TEST_PASSED, f"isolation {result}")
    else:
        gun.go(Event.TEST_FAILED, f"isolation {result}")
