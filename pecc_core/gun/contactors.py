"""Closing and opening a gun's output contactors, with the checks every close needs.

Closing needs CP/PP supervision's permission and the feedback to confirm;
a failure is a ``contactors`` fault. The control loop runs while the
contactors move, so a close that the gun's safe-down overtook (a fault or
the SECC gone meanwhile) is refused and left to the safe-down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pecc_core.errors import InoperativeRefused, InternalRefused
from pecc_core.gun.table import INOPERATIVE_STATES
from pecc_core.io import ContactorError
from pecc_core.model import Contactors

if TYPE_CHECKING:
    from pecc_core.gun.machine import Gun


async def close(gun: Gun) -> None:
    """Close the contactors if they are open; CP/PP must allow it.

    The control loop runs while the contactors move: if the gun was
    taken down meanwhile (fault, SECC loss), the safe-down owns the
    contactors and the request is refused.
    """
    io = gun.wiring.io
    if gun.commanded_closed and io.contactors.closed(gun.id):
        return
    if not io.supervision.allowed(gun.id):
        raise InternalRefused(f"gun {gun.id}: CP/PP supervision does not allow closing the contactors")
    count = gun.readout.inoperative_count
    try:
        await switch(gun, True)
    except ContactorError as exc:
        if count == gun.readout.inoperative_count:
            gun.fault_monitor.condition("contactors", True, str(exc))
            raise InternalRefused(str(exc)) from None
    if count != gun.readout.inoperative_count:
        if gun.state not in INOPERATIVE_STATES:  # already back in standby: open again
            gun.work.safe_down()
        raise InoperativeRefused(f"gun {gun.id} was taken to standby while closing its contactors")


async def switch(gun: Gun, closed: bool) -> None:
    """Command the contactors and wait for the feedback (:class:`ContactorError` if it disagrees)."""
    contactors = gun.wiring.io.contactors
    gun.commanded_closed = closed
    gun.switching = True
    try:
        await contactors.set(gun.id, closed)
    finally:
        gun.switching = False
        feedback = contactors.closed(gun.id)
        gun.readout.contactors = Contactors.CLOSED if feedback else Contactors.OPEN
