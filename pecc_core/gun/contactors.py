"""A gun's output contactors: what they were commanded, and the checks every close needs.

:class:`Contactors` is the gun's part that owns what the contactors were
last commanded and whether a command is in progress, written here alone
(the fault check, the output and the sequences read them): it commands the
I/O, waits for the feedback and records it in the readout.

Closing (:func:`close`) needs CP/PP supervision's permission and the
feedback to confirm; a failure is a ``contactors`` fault. The control loop
runs while the contactors move, so a close that the gun's safe-down
overtook (a fault or the SECC gone meanwhile) is refused and left to the
safe-down.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from pecc_core import model
from pecc_core.errors import InoperativeRefused, InternalRefused
from pecc_core.gun.table import INOPERATIVE_STATES
from pecc_core.io import ContactorError

if TYPE_CHECKING:
    from pecc_core.gun.machine import Gun
    from pecc_core.io import Contactors as ContactorIo


class Contactors:
    """One gun's contactor pair: the last command and whether it is in progress, kept here alone.

    ``readout`` is the gun's status: the feedback is recorded in its
    ``contactors`` field once each command has ended.
    """

    __slots__ = ("_commanded_closed", "_gun_id", "_io", "_readout", "_switching")

    def __init__(self, gun_id: str, io: ContactorIo, readout: model.Status) -> None:
        self._gun_id = gun_id
        self._io = io
        self._readout = readout
        self._commanded_closed = False
        self._switching = False

    @property
    def commanded_closed(self) -> bool:
        """What the contactors were last commanded (True: closed)."""
        return self._commanded_closed

    @property
    def switching(self) -> bool:
        """True while a command is in progress (the feedback is judged once it has settled)."""
        return self._switching

    async def switch(self, closed: bool) -> None:
        """Command the contactors and wait for the feedback (:class:`ContactorError` if it disagrees)."""
        self._commanded_closed = closed
        self._switching = True
        try:
            await self._io.set(self._gun_id, closed)
        finally:
            self._switching = False
            feedback = self._io.closed(self._gun_id)
            self._readout.contactors = model.Contactors.CLOSED if feedback else model.Contactors.OPEN

    def open_now(self) -> asyncio.Task[None]:
        """The emergency opening: commanded open now, switching until the returned task has the feedback.

        The caller keeps the task until it is done; a feedback that
        disagrees is left to the fault check.
        """
        self._commanded_closed = False
        self._switching = True
        return asyncio.get_running_loop().create_task(self._open(), name=f"emergency-open-{self._gun_id}")

    async def _open(self) -> None:
        with contextlib.suppress(ContactorError):  # the fault check reports the mismatch
            await self.switch(False)


async def close(gun: Gun) -> None:
    """Close the contactors if they are open; CP/PP must allow it.

    The control loop runs while the contactors move: if the gun was
    taken down meanwhile (fault, SECC loss), the safe-down owns the
    contactors and the request is refused.
    """
    io = gun.wiring.io
    if gun.contactors.commanded_closed and io.contactors.closed(gun.id):
        return
    if not io.supervision.allowed(gun.id):
        raise InternalRefused(f"gun {gun.id}: CP/PP supervision does not allow closing the contactors")
    count = gun.readout.inoperative_count
    try:
        await gun.contactors.switch(True)
    except ContactorError as exc:
        if count == gun.readout.inoperative_count:
            gun.fault_monitor.condition("contactors", True, str(exc))
            raise InternalRefused(str(exc)) from None
    if count != gun.readout.inoperative_count:
        if gun.state not in INOPERATIVE_STATES:  # already back in standby: open again
            gun.work.safe_down()
        raise InoperativeRefused(f"gun {gun.id} was taken to standby while closing its contactors")
