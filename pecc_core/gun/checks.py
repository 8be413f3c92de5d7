"""The fault conditions of one gun, tested every control cycle and when a module changes.

Each test looks for a change first, so that nothing is built while all is
well: this runs every cycle for every gun. What it finds goes to the gun's
:class:`~pecc_core.gun.faults.FaultMonitor`, which tells the gun.

An *emergency* condition (emergency over-voltage, isolation fault during a
session, E-stop, contactor feedback disagreeing, voltage to PE) switches
the DC off and opens the contactors together, without waiting for the
current (:func:`pecc_core.gun.safe_down.emergency`); every other one takes
the normal safe-down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pecc_core.errors import SeccError, SeccNotConnected, SeccTimeout
from pecc_core.gun import voltage
from pecc_core.gun.table import CLOSED, SESSION, GunState
from pecc_core.model import Contactors, Isolation

if TYPE_CHECKING:
    from pecc_core.gun.view import GunView
    from pecc_core.power import ModuleState
    from pecc_core.transport import SeccLink

log = logging.getLogger(__name__)


def check(gun: GunView) -> None:
    """One control cycle: measurements, contactor feedback, IMD and every fault condition."""
    wiring = gun.wiring
    readout = gun.readout
    faults = gun.faults
    now = asyncio.get_running_loop().time()
    voltage.measure(gun, now)
    closed = wiring.io.contactors.closed(gun.id)
    readout.contactors = Contactors.CLOSED if closed else Contactors.OPEN
    _isolation(gun)
    commanded = gun.contactors.commanded_closed
    active = closed != commanded
    if not gun.contactors.switching and active != ("contactors" in faults):  # judged once a command has settled
        gun.fault_monitor.condition(
            "contactors",
            active,
            f"contactor feedback says {'closed' if closed else 'open'}, "
            f"commanded {'closed' if commanded else 'open'}",
            emergency=True,
        )
    estop = wiring.io.estop
    active = estop is not None and estop.pressed(gun.id)
    if active != ("estop" in faults):
        gun.fault_monitor.condition("estop", active, "emergency stop pressed", emergency=True)
    check_modules(gun)
    voltage.supervise(gun, now)
    if "discharge" in faults and gun.output_safe():
        gun.fault_monitor.condition("discharge", False, "")
    if "no_module_free" in faults and not gun.starved:
        gun.fault_monitor.condition("no_module_free", False, "")
    if "internal" in faults:  # the cycle ran through: what failed it has gone
        gun.fault_monitor.condition("internal", False, "")
    if gun.output.rising or (gun.output.power_bound and gun.state is GunState.CHARGE):
        gun.refresh_output(cycle=True)  # the ramp climbs; the power cap follows the present voltage


def _isolation(gun: GunView) -> None:
    """During a session the IMD keeps measuring: a fault there is an emergency.

    The condition clears once the gun has left the session (its safe-down
    then leads to standby); the status keeps ``fault`` until standby.
    """
    readout = gun.readout
    in_session = gun.state in SESSION
    if in_session and readout.isolation is not Isolation.FAULT:
        sample = gun.wiring.io.imd.sample(gun.id)
        if sample is not None and sample.seq > gun.last_check.isolation_seq:
            readout.isolation = sample.verdict
    active = in_session and readout.isolation is Isolation.FAULT
    if active != ("isolation" in gun.faults):
        gun.fault_monitor.condition(
            "isolation", active, "isolation fault reported by the IMD during the session", emergency=True
        )


def check_modules(gun: GunView) -> None:
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
    states = gun.wiring.power.modules
    fresh = gun.readings.modules_fresh and any(states[a].online for a in modules)
    lost = gun.state in CLOSED and bool(modules) and not fresh
    if lost and "power_stage" not in gun.faults:
        gun.fault_monitor.condition("power_stage", True, "power stage lost: no power module of this gun answers")
        stop_charging(gun)
    elif not lost and "power_stage" in gun.faults and gun.state not in CLOSED and (fresh or not modules):
        # answering again, or none left to answer: the policy takes a gun's modules once its safe-down is done
        gun.fault_monitor.condition("power_stage", False, "")
    pool = gun.wiring.pool
    module = pool.first_unusable(gun.id)
    if (module is not None) != ("module" in gun.faults):
        gun.fault_monitor.condition("module", module is not None, _module_text(module))
    unpowered = not pool.reachable_usable(gun.id)
    if unpowered != ("no_modules" in gun.faults):
        gun.fault_monitor.condition("no_modules", unpowered, "no usable power module can reach this gun")


def stop_charging(gun: GunView) -> None:
    """Ask the SECC to end the session (PEP-WS ``stopCharging``), in the background."""
    link = gun.secc
    if link is not None:
        log.warning("gun %s: asking the SECC to stop charging", gun.id)
        gun.work.keep(asyncio.get_running_loop().create_task(_stop_charging(gun, link), name=f"stop-charging-{gun.id}"))


async def _stop_charging(gun: GunView, link: SeccLink) -> None:
    try:
        await link.stop_charging()
    except (SeccError, SeccNotConnected, SeccTimeout) as exc:  # the SECC may be gone: the gun is safe anyway
        log.warning("gun %s: stopCharging not answered: %s", gun.id, exc)


def _module_text(module: ModuleState | None) -> str:
    if module is None:
        return ""
    if not module.online:
        return f"power module {module.id} is not answering"
    faults = ", ".join(sorted(module.faults))
    return f"power module {module.id} fault: {faults}"
