"""Fault monitoring of one gun: the conditions checked every control cycle.

Each condition is raised when it appears and cleared when it goes, through
:func:`condition` (which takes the gun to inoperative and back). A check
tests for a change first, so that nothing is built while all is well: this
runs every cycle for every gun.

An *emergency* condition (emergency over-voltage, isolation fault during a
session, E-stop, contactor feedback disagreeing, voltage to PE) switches
the DC off and opens the contactors together, without waiting for the
current (:func:`pecc_core.gun.safe_down.emergency`); every other one takes
the normal safe-down. A *latched* condition (:data:`LATCHED`) stays until
the gun is reset, whatever the measurement does meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pecc_core.errors import SeccError, SeccNotConnected, SeccTimeout
from pecc_core.gun import safe_down, voltage
from pecc_core.gun.table import CLOSED, SESSION, TRANSITIONS, Event, GunState
from pecc_core.model import Contactors, Isolation

if TYPE_CHECKING:
    from pecc_core.gun.machine import Gun
    from pecc_core.power import ModuleState
    from pecc_core.transport import SeccLink

log = logging.getLogger(__name__)

#: Conditions that stay until the gun is reset (IEC 61851-23 6.3.1.106).
LATCHED = frozenset({"over_voltage", "emergency_over_voltage"})


def check(gun: Gun) -> None:
    """One control cycle: measurements, contactor feedback, IMD and every fault condition."""
    wiring = gun.wiring
    readout = gun.readout
    faults = gun.faults
    now = asyncio.get_running_loop().time()
    voltage.measure(gun, now)
    closed = wiring.io.contactors.closed(gun.id)
    readout.contactors = Contactors.CLOSED if closed else Contactors.OPEN
    _isolation(gun)
    active = closed != gun.commanded_closed
    if not gun.switching and active != ("contactors" in faults):  # judged once a command has settled
        condition(
            gun,
            "contactors",
            active,
            f"contactor feedback says {'closed' if closed else 'open'}, "
            f"commanded {'closed' if gun.commanded_closed else 'open'}",
            emergency=True,
        )
    estop = wiring.io.estop
    active = estop is not None and estop.pressed(gun.id)
    if active != ("estop" in faults):
        condition(gun, "estop", active, "emergency stop pressed", emergency=True)
    check_modules(gun)
    voltage.supervise(gun, now)
    if "discharge" in faults and gun.output_safe():
        condition(gun, "discharge", False, "")
    if "no_module_free" in faults and not gun.starved:
        condition(gun, "no_module_free", False, "")
    if "internal" in faults:  # the cycle ran through: what failed it has gone
        condition(gun, "internal", False, "")
    if gun.ramp.rising or (gun.power_bound and gun.state is GunState.CHARGE):
        gun.refresh_output()  # the ramp climbs; the power cap follows the present voltage


def _isolation(gun: Gun) -> None:
    """During a session the IMD keeps measuring: a fault there is an emergency.

    The condition clears once the gun has left the session (its safe-down
    then leads to standby); the status keeps ``fault`` until standby.
    """
    readout = gun.readout
    in_session = gun.state in SESSION
    if in_session and readout.isolation is not Isolation.FAULT:
        sample = gun.wiring.io.imd.sample(gun.id)
        if sample is not None and sample.seq > gun.isolation_seq:
            readout.isolation = sample.verdict
    active = in_session and readout.isolation is Isolation.FAULT
    if active != ("isolation" in gun.faults):
        condition(gun, "isolation", active, "isolation fault reported by the IMD during the session", emergency=True)


def check_modules(gun: Gun) -> None:
    """Fault while a module on ``gun`` fails, while no usable module can reach it, or
    while the gun's power stage is lost (every module of it silent) with the contactors closed.

    Called every cycle and at once when the driver reports a module change,
    so a failing module is noticed before the policy takes it away. Once
    the policy has moved the failed module off the gun the condition clears
    and the gun carries on with the others.
    """
    # the power stage first: a gun whose modules all went at once (the bus
    # down) takes the loss path (stopCharging, contactors held), not a module fault's
    modules = gun.modules()
    driver = gun.wiring.driver.modules
    fresh = gun.readings.modules_fresh and any(driver[a].online for a in modules)
    lost = gun.state in CLOSED and bool(modules) and not fresh
    if lost and "power_stage" not in gun.faults:
        condition(gun, "power_stage", True, "power stage lost: no power module of this gun answers")
        stop_charging(gun)
    elif not lost and "power_stage" in gun.faults and gun.state not in CLOSED and (fresh or not modules):
        # answering again, or none left to answer: the policy takes a gun's modules once its safe-down is done
        condition(gun, "power_stage", False, "")
    pool = gun.wiring.pool
    module = pool.first_unusable(gun.id)
    if (module is not None) != ("module" in gun.faults):
        condition(gun, "module", module is not None, _module_text(module))
    unpowered = not pool.reachable_usable(gun.id)
    if unpowered != ("no_modules" in gun.faults):
        condition(gun, "no_modules", unpowered, "no usable power module can reach this gun")


def stop_charging(gun: Gun) -> None:
    """Ask the SECC to end the session (PEP-WS ``stopCharging``), in the background."""
    link = gun.secc
    if link is not None:
        log.warning("gun %s: asking the SECC to stop charging", gun.id)
        gun.work.keep(asyncio.get_running_loop().create_task(_stop_charging(gun, link), name=f"stop-charging-{gun.id}"))


async def _stop_charging(gun: Gun, link: SeccLink) -> None:
    try:
        await link.stop_charging()
    except (SeccError, SeccNotConnected, SeccTimeout) as exc:  # the SECC may be gone: the gun is safe anyway
        log.warning("gun %s: stopCharging not answered: %s", gun.id, exc)


def condition(gun: Gun, kind: str, active: bool, text: str, emergency: bool = False) -> None:
    """Track one fault condition: raise it when it appears, clear it when it goes.

    ``emergency``: DC off and contactors open at once, before the
    transition. A latched kind (:data:`LATCHED`) clears only through
    :func:`unlatch`. Callers in the control cycle test for a change
    first, so that no text is built while all is well.
    """
    if active == (kind in gun.faults):
        return
    if not active and kind in LATCHED:
        return
    _set(gun, kind, active, text, emergency)


def unlatch(gun: Gun) -> None:
    """A reset: the latched conditions go (the next cycle raises them again if still true)."""
    for kind in LATCHED & gun.faults.keys():
        _set(gun, kind, False, "", False)


def _set(gun: Gun, kind: str, active: bool, text: str, emergency: bool) -> None:
    observers = gun.wiring.observers
    if active:
        message = f"gun {gun.id}: {text}"
        gun.faults[kind] = message
        log.warning("%s", message, extra={"gun": gun.id})
        if emergency:
            safe_down.emergency(gun, text)
        if (gun.state, Event.FAULT) in TRANSITIONS:
            gun.go(Event.FAULT, message)
        if gun.secc is not None:
            gun.secc.send_event(message)
        observers.gun_fault(gun, message, True)
        return
    message = gun.faults.pop(kind)
    log.info("gun %s: cleared: %s", gun.id, message, extra={"gun": gun.id})
    if gun.state is GunState.INOPERATIVE and not gun.faults:
        gun.work.safe_down()  # standby only through a completed safe-down (it takes CLEARED)
    observers.gun_fault(gun, message, False)


def notice(gun: Gun, kind: str, active: bool, text: str) -> None:
    """Something the SECC and the log should know that is not a fault (e.g. stale readings)."""
    if active:
        gun.notices.add(kind)
        log.warning("gun %s: %s", gun.id, text)
        if gun.secc is not None:
            gun.secc.send_event(f"gun {gun.id}: {text}")
    else:
        gun.notices.discard(kind)
        log.info("gun %s: no longer: %s", gun.id, text)


def _module_text(module: ModuleState | None) -> str:
    if module is None:
        return ""
    if not module.online:
        return f"power module {module.address} is not answering"
    faults = ", ".join(sorted(module.faults))
    return f"power module {module.address} fault: {faults}"
