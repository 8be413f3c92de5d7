"""Fault monitoring of one gun: the conditions checked every control cycle.

Each condition is raised when it appears and cleared when it goes, through
:func:`condition` (which takes the gun to inoperative and back). A check tests for a change first, so that nothing
is built while all is well: this runs every cycle for every gun.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pecc_core.gun.limits import SAFE_VOLTAGE
from pecc_core.gun.table import SESSION, TRANSITIONS, Event, GunState
from pecc_core.model import Contactors, Isolation

if TYPE_CHECKING:
    from pecc_core.gun.machine import Gun
    from pecc_core.power import ModuleState

log = logging.getLogger(__name__)

#: Measured voltage above the applicable maximum by this fraction (+ 5 V) is a fault.
OVER_VOLTAGE_MARGIN = 0.05


def check(gun: Gun) -> None:
    """One control cycle: measurements, contactor feedback, IMD and every fault condition."""
    wiring = gun.wiring
    readout = gun.readout
    faults = gun.faults
    wiring.pool.measure(gun.id, readout)
    closed = wiring.io.contactors.closed(gun.id)
    readout.contactors = Contactors.CLOSED if closed else Contactors.OPEN
    monitoring = gun.state in SESSION and readout.isolation is not Isolation.FAULT
    if monitoring:
        result = wiring.io.imd.result(gun.id)
        if result is not Isolation.INVALID:
            readout.isolation = result
    active = monitoring and readout.isolation is Isolation.FAULT
    if active != ("isolation" in faults):
        condition(gun, "isolation", active, "isolation fault reported by the IMD during the session")
    active = not gun.switching and closed != gun.commanded_closed
    if active != ("contactors" in faults):
        condition(gun,
            "contactors",
            active,
            f"contactor feedback says {'closed' if closed else 'open'}, "
            f"commanded {'closed' if gun.commanded_closed else 'open'}",
        )
    check_modules(gun)
    v_limit = gun.config.voltage_max
    if gun.ev.ev_max_voltage_volts is not None:
        v_limit = min(v_limit, gun.ev.ev_max_voltage_volts)
    active = readout.measured_voltage > v_limit * (1 + OVER_VOLTAGE_MARGIN) + 5.0
    if active != ("over_voltage" in faults):
        condition(gun,
            "over_voltage",
            active,
            f"over-voltage: measured {readout.measured_voltage:.0f} V, limit {v_limit:.0f} V",
        )
    if "discharge" in faults and readout.measured_voltage < SAFE_VOLTAGE:
        condition(gun, "discharge", False, "")
    if "internal" in faults:  # the cycle ran through: what failed it has gone
        condition(gun, "internal", False, "")


def check_modules(gun: Gun) -> None:
    """Fault while a module on ``gun`` fails, or while no usable module can reach it.

    Called every cycle and at once when the driver reports a module change,
    so a failing module is noticed before the policy takes it away. Once
    the policy has moved the failed module off the gun the condition clears
    and the gun carries on with the others.
    """
    pool = gun.wiring.pool
    module = pool.first_unusable(gun.id)
    if (module is not None) != ("module" in gun.faults):
        condition(gun, "module", module is not None, _module_text(module))
    unpowered = not pool.reachable_usable(gun.id)
    if unpowered != ("no_modules" in gun.faults):
        condition(gun, "no_modules", unpowered, "no usable power module can reach this gun")


def condition(gun: Gun, kind: str, active: bool, text: str) -> None:
    """Track one fault condition: raise it when it appears, clear it when it goes.

    Callers in the control cycle test for a change first, so that no
    text is built while all is well.
    """
    if active == (kind in gun.faults):
        return
    observers = gun.wiring.observers
    if active:
        message = f"gun {gun.id}: {text}"
        gun.faults[kind] = message
        log.warning("%s", message, extra={"gun": gun.id})
        if (gun.state, Event.FAULT) in TRANSITIONS:
            gun.go(Event.FAULT, message)
        if gun.secc is not None:
            gun.secc.send_event(message)
        gun.tell(observers.gun_fault, gun, message, True)
        return
    message = gun.faults.pop(kind)
    log.info("gun %s: cleared: %s", gun.id, message, extra={"gun": gun.id})
    if gun.state is GunState.INOPERATIVE and not gun.faults:
        gun.start_safe_down()  # standby only through a completed safe-down (it takes CLEARED)
    gun.tell(observers.gun_fault, gun, message, False)


def _module_text(module: ModuleState | None) -> str:
    if module is None:
        return ""
    if not module.online:
        return f"power module {module.address} is not answering"
    faults = ", ".join(sorted(module.faults))
    return f"power module {module.address} fault: {faults}"
