"""Fault monitoring of one gun: the conditions it has, latched and reported.

:class:`FaultMonitor` is the gun's record of its fault conditions and
notices, and the only writer of it: each condition is raised when it
appears and cleared when it goes, through :meth:`FaultMonitor.condition`,
which tells the gun of every change (a :class:`FaultChange`); the gun
takes itself to inoperative and back (:class:`~pecc_core.gun.machine.Gun`).
The monitor knows no gun, no transition and no safe-down, so it stands
alone. A *latched* condition (:data:`LATCHED`) stays until the gun is
reset, whatever the measurement does meanwhile.

The conditions are tested every control cycle by :mod:`~pecc_core.gun.checks`.

An *emergency* condition (emergency over-voltage, isolation fault during a
session, E-stop, contactor feedback disagreeing, voltage to PE) switches
the DC off and opens the contactors together, without waiting for the
current (:func:`pecc_core.gun.safe_down.emergency`); every other one takes
the normal safe-down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, KeysView, Mapping
from dataclasses import dataclass
from types import MappingProxyType

log = logging.getLogger(__name__)

#: Conditions that stay until the gun is reset (IEC 61851-23 6.3.1.106).
LATCHED = frozenset({"over_voltage", "emergency_over_voltage"})


@dataclass(frozen=True, slots=True)
class FaultChange:
    """A fault condition raised or cleared, for the gun to act on."""

    kind: str
    raised: bool
    #: ``gun <id>: <text>``: what the log, the SECC and the observers are told.
    message: str
    #: Why, without the gun id (the emergency shutdown's log line).
    text: str
    #: DC off and contactors open at once, before the transition.
    emergency: bool


class FaultMonitor:
    """One gun's fault conditions and notices: kept, latched, logged and reported here alone.

    ``changed`` is called with every :class:`FaultChange`, after the record
    has changed and been logged; ``noticed`` with the message of every
    notice given (for the SECC). Both run synchronously, in the caller's
    step: the gun's safety actions finish before the check goes on.
    """

    def __init__(self, gun_id: str, changed: Callable[[FaultChange], None], noticed: Callable[[str], None]) -> None:
        self._gun_id = gun_id
        self._changed = changed
        self._noticed = noticed
        self._faults: dict[str, str] = {}
        self._faults_view = MappingProxyType(self._faults)
        self._notices: dict[str, None] = {}

    @property
    def faults(self) -> Mapping[str, str]:
        """Active fault conditions by kind, with their event text (a read-only view)."""
        return self._faults_view

    @property
    def notices(self) -> KeysView[str]:
        """Notices given to the SECC that are not faults (e.g. ``stale``): a read-only view."""
        return self._notices.keys()

    def condition(self, kind: str, active: bool, text: str, emergency: bool = False) -> None:
        """Track one fault condition: raise it when it appears, clear it when it goes.

        ``emergency``: DC off and contactors open at once, before the
        transition. A latched kind (:data:`LATCHED`) clears only through
        :meth:`unlatch`. Callers in the control cycle test for a change
        first, so that no text is built while all is well.
        """
        if active == (kind in self._faults):
            return
        if not active and kind in LATCHED:
            return
        self._set(kind, active, text, emergency)

    def unlatch(self) -> None:
        """A reset: the latched conditions go (the next cycle raises them again if still true)."""
        for kind in LATCHED & self._faults.keys():
            self._set(kind, False, "", False)

    def _set(self, kind: str, active: bool, text: str, emergency: bool) -> None:
        if active:
            message = f"gun {self._gun_id}: {text}"
            self._faults[kind] = message
            log.warning("%s", message, extra={"gun": self._gun_id})
        else:
            message = self._faults.pop(kind)
            log.info("gun %s: cleared: %s", self._gun_id, message, extra={"gun": self._gun_id})
        self._changed(FaultChange(kind, active, message, text, emergency))

    def notice(self, kind: str, active: bool, text: str) -> None:
        """Something the SECC and the log should know that is not a fault (e.g. stale readings)."""
        if active:
            self._notices[kind] = None
            log.warning("gun %s: %s", self._gun_id, text)
            self._noticed(f"gun {self._gun_id}: {text}")
        else:
            self._notices.pop(kind, None)
            log.info("gun %s: no longer: %s", self._gun_id, text)
