"""The safe-down: how every way out of a session reaches a verified safe output.

Outputs 0, wait for the modules' current to fall (bounded: then the
contactors open under load, logged as the emergency it is), open the
contactors, wait for the output to discharge under :data:`SAFE_VOLTAGE`
(bounded: else a ``discharge`` fault), stop the IMD. Started by
:meth:`pecc_core.gun.machine.Gun.start_safe_down` as the gun's task; the
gun keeps its modules meanwhile (they measure the discharge).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from pecc_core.gun import contactors, faults
from pecc_core.gun.limits import SAFE_VOLTAGE
from pecc_core.gun.table import Event, GunState
from pecc_core.io import ContactorError

if TYPE_CHECKING:
    from pecc_core.gun.machine import Gun

log = logging.getLogger(__name__)

#: How long the modules get to bring their current down before the
#: contactors open anyway (an emergency then, logged as such) (s).
OFF_TIMEOUT = 2.0
#: How long the output may take to discharge under :data:`SAFE_VOLTAGE` (s).
DISCHARGE_TIMEOUT = 5.0


async def run(gun: Gun) -> None:
    """Outputs 0, current down, contactors open, output discharged, IMD stopped.

    Standby (or the end of a fault) is reached only through a run that
    completed: a run that fails (a driver raising) is logged and leaves the
    gun inoperative with an ``internal`` fault; once that clears, the
    safe-down runs again.
    """
    wiring = gun.wiring
    readout = gun.readout
    failed = False
    try:
        gun.drive(0.0, 0.0)
        if not await wiring.driver.wait_off(gun.modules(), OFF_TIMEOUT):
            log.error(
                "gun %s: current still flowing after %.1f s: opening under load",
                gun.id,
                OFF_TIMEOUT,
                extra={"gun": gun.id},
            )
        if gun.commanded_closed or wiring.io.contactors.closed(gun.id):
            with contextlib.suppress(ContactorError):  # the fault check reports the mismatch
                await contactors.switch(gun, False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DISCHARGE_TIMEOUT
        wiring.pool.measure(gun.id, readout)
        while readout.measured_voltage >= SAFE_VOLTAGE and loop.time() < deadline:
            await asyncio.sleep(wiring.cycle)
            wiring.pool.measure(gun.id, readout)
        faults.condition(
            gun,
            "discharge",
            readout.measured_voltage >= SAFE_VOLTAGE,
            f"output still at {readout.measured_voltage:.0f} V after {DISCHARGE_TIMEOUT:g} s",
        )
        wiring.io.imd.stop(gun.id)
    except Exception:
        log.exception("gun %s: safe-down failed; the gun stays inoperative", gun.id)
        failed = True
    finally:
        gun.holds_modules = False
        gun.forget_task()
    if failed:
        faults.condition(gun, "internal", True, "safe-down failed (see the log)")
    elif gun.state is GunState.STOPPING:
        gun.go(Event.SAFE, "outputs 0, contactors open, output discharged")
    elif gun.state is GunState.INOPERATIVE and not gun.faults:
        gun.go(Event.CLEARED, "fault cleared")
