"""The safe-down: how every way out of a session reaches a verified safe output.

Normal path: outputs 0, wait for the modules' current to fall (bounded:
then the contactors open under load, logged as the emergency it is), open
the contactors, wait for the output to discharge under
:data:`SAFE_VOLTAGE` (bounded: else a ``discharge`` fault), stop the IMD.
Started by :meth:`pecc_core.gun.work.Work.safe_down` as the gun's
task; the gun keeps its modules meanwhile (they measure the discharge).

When a module of the gun does not answer (its current is unknown, and a
lost bus does not stop it), the contactors stay closed until the current is known to be
low — from the connector sensor, or from the modules once they answer —
or until the modules' own watchdog has switched them off
(``power.watchdog_s`` after the last reading): a lost bus does not stop
the modules, and opening under load is for emergencies only.

:func:`emergency` is the other path: DC off and contactors open together,
at once (emergency over-voltage, isolation fault, E-stop, contactor
feedback); the safe-down that follows finds them open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from pecc_core.gun import voltage
from pecc_core.io import ContactorError

if TYPE_CHECKING:
    from pecc_core.gun.view import GunView
    from pecc_core.power import ModuleId

log = logging.getLogger(__name__)

#: How long the modules get to bring their current down before the
#: contactors open anyway (an emergency then, logged as such) (s).
OFF_TIMEOUT = 2.0
#: How long the output may take to discharge under :data:`SAFE_VOLTAGE` (s).
DISCHARGE_TIMEOUT = 5.0
#: A connector current below this (A) lets the contactors open.
OPEN_CURRENT = 2.0


async def run(gun: GunView) -> bool:
    """Outputs 0, current down, contactors open, output discharged, IMD stopped; True if it ran through.

    The gun takes the transition (:class:`~pecc_core.gun.machine.Gun`):
    standby (or the end of a fault) is reached only through a run that
    completed; a run that fails (a driver raising) is logged here and
    leaves the gun inoperative with an ``internal`` fault; once that
    clears, the safe-down runs again.
    """
    wiring = gun.wiring
    try:
        gun.drive(0.0, 0.0)
        if gun.contactors.commanded_closed or wiring.io.contactors.closed(gun.id):
            await _current_down(gun)
            with contextlib.suppress(ContactorError):  # the fault check reports the mismatch
                await gun.contactors.switch(False)
        await _discharge(gun)
        wiring.io.imd.stop_monitoring(gun.id)
    except Exception:
        log.exception("gun %s: safe-down failed; the gun stays inoperative", gun.id)
        return False
    finally:
        gun.work.safe_down_ended()
    return True


async def _current_down(gun: GunView) -> None:
    """Wait until the current is known low (bounded) before the contactors open.

    A module that has not been heard within the stale bound may still be
    driving: its current is unknown, not zero. While any module of the gun
    is silent, the contactors wait for the connector current, for every
    module to answer and be off, or for the silent modules' watchdog time.
    """
    wiring = gun.wiring
    loop = asyncio.get_running_loop()
    voltage.measure(gun, loop.time())  # the modules may have gone since the last cycle (the bus down)
    modules = gun.modules()
    silent = _silent(gun, loop.time())
    if not silent:
        if not await wiring.power.wait_off(modules, OFF_TIMEOUT):
            log.error(
                "gun %s: current still flowing after %.1f s: opening under load", gun.id, OFF_TIMEOUT,
                extra={"gun": gun.id},
            )
        return
    watchdog = wiring.power.watchdog_s
    heard = max(wiring.power.modules[a].last_seen for a in silent)
    until = min(heard, loop.time()) + watchdog
    log.warning(
        "gun %s: module(s) %s silent: contactors stay closed until the current is known low "
        "or the modules' %.1f s watchdog has passed (%.1f s from now)", gun.id,
        ", ".join(map(str, silent)), watchdog, max(0.0, until - loop.time()),
    )
    connector = wiring.io.connector
    while loop.time() < until:
        current = connector.current(gun.id) if connector is not None else None
        if current is not None and abs(current) < OPEN_CURRENT:
            log.info("gun %s: connector current %.1f A: opening", gun.id, current)
            return
        if not _silent(gun, loop.time()) and await wiring.power.wait_off(modules, OFF_TIMEOUT):
            log.info("gun %s: modules answer again and are off: opening", gun.id)
            return
        await asyncio.sleep(wiring.cycle)
        voltage.measure(gun, loop.time())
    log.warning("gun %s: the modules' watchdog time has passed: opening", gun.id)


def _silent(gun: GunView, now: float) -> list[ModuleId]:
    """The gun's modules not heard within the stale bound (their current is unknown)."""
    stale_before = gun.wiring.pool.heard_after(now)
    modules = gun.wiring.power.modules
    return [a for a in gun.modules() if not modules[a].online or modules[a].last_seen < stale_before]


async def _discharge(gun: GunView) -> None:
    """Wait for the output under 60 V (bounded); an unknown voltage is never taken as safe."""
    wiring = gun.wiring
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DISCHARGE_TIMEOUT
    voltage.measure(gun, loop.time())
    while not gun.output_safe() and loop.time() < deadline:
        await asyncio.sleep(wiring.cycle)
        voltage.measure(gun, loop.time())
    if not gun.readings.voltage_known:
        log.warning("gun %s: output voltage unknown after %g s: not verified discharged", gun.id, DISCHARGE_TIMEOUT)
    gun.fault_monitor.condition(
        "discharge",
        not gun.output_safe(),
        f"output still at {gun.readout.measured_voltage:.0f} V after {DISCHARGE_TIMEOUT:g} s"
        if gun.readings.voltage_known
        else f"output voltage unknown {DISCHARGE_TIMEOUT:g} s after opening (stale readings)",
    )


def emergency(gun: GunView, why: str) -> None:
    """DC off and contactors open together, now, without waiting for the current."""
    wiring = gun.wiring
    load = gun.readout.measured_current
    log.error(
        "gun %s: EMERGENCY SHUTDOWN (%s): DC off and contactors open at once%s",
        gun.id, why, f", under load ({load:.0f} A)" if load >= OPEN_CURRENT else "",
        extra={"gun": gun.id},
    )
    gun.drive(0.0, 0.0)
    wiring.power.off(gun.modules())
    gun.work.keep(gun.contactors.open_now())
