"""A gun's output contactors: what they were commanded, and the checks every close needs.

:class:`Contactors` is the gun's part that owns what the contactors were
last commanded and whether a command is in progress, written here alone
(the fault check, the output and the sequences read them): it commands the
I/O, waits for the feedback and records it in the readout.

What a close needs besides (CP/PP supervision's permission, a refusal
when the safe-down overtook it) is the gun's to decide
(:class:`~pecc_core.gun.machine.Gun`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from pecc_core import model
from pecc_core.io import ContactorError

if TYPE_CHECKING:
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
    def closed(self) -> bool:
        """Commanded closed *and* the feedback says closed: the only state in which power may flow."""
        return self._commanded_closed and self._io.closed(self._gun_id)

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
