"""What each module was last sent, so that only what changed goes out.

A module's cached state is its :class:`~pecc_core.power.ModuleState` (mode
and setpoints): what the station wants of it now. :class:`SentState`
remembers what last went out: a mode change (or a module never sent
anything, or forgotten when it was lost) sends the whole state, a
setpoint change of an exporting module only the setpoints, and nothing
else is sent.

The deadband (:class:`Deadband`) holds back small raises of an exporting
module's setpoints, so that a target creeping up with the battery does
not put frames on the bus every control cycle. Only raises: a lower
voltage or current limit is what protects the car, the cable and the
site's cap, and goes out at once however small. A held raise goes out
when the raises since the last value sent add up to more than the band,
with any other setpoint of the module that goes out (a protocol that
sends both in one frame), or with the refresh, whichever comes first.
"""

from __future__ import annotations

from dataclasses import dataclass

from pecc_core.power import Mode, ModuleState


@dataclass(frozen=True, slots=True)
class Deadband:
    """How far above the value last sent a setpoint may rise before it must go out (0: any change goes).

    :attr voltage: V.
    :attr current: A, per module.
    """

    voltage: float = 0.0
    current: float = 0.0


@dataclass(frozen=True, slots=True)
class Due:
    """Which setpoints of an exporting module go out now, and the values the module was last sent."""

    voltage: bool
    current: bool
    sent_voltage: float
    sent_current: float


class SentState:
    """The mode and setpoints each module was last sent, by address."""

    def __init__(self) -> None:
        self._sent: dict[int, tuple[Mode, float, float]] = {}

    def sent(self, module: ModuleState) -> None:
        """The module's cached state has just gone out."""
        self._sent[module.address] = (module.mode, module.voltage_setpoint, module.current_setpoint)

    def sent_setpoints(self, module: ModuleState, due: Due) -> None:
        """The setpoints ``due`` names have just gone out; the others are still those sent before."""
        self._sent[module.address] = (
            module.mode,
            module.voltage_setpoint if due.voltage else due.sent_voltage,
            module.current_setpoint if due.current else due.sent_current,
        )

    def forget(self, address: int) -> None:
        """The module was lost: whatever it was sent, its whole state goes again."""
        self._sent.pop(address, None)

    def whole_due(self, module: ModuleState) -> bool:
        """The whole state must go: the module was sent nothing (or was forgotten), or another mode."""
        sent = self._sent.get(module.address)
        return sent is None or sent[0] is not module.mode

    def held(self, module: ModuleState) -> bool:
        """Whether a setpoint of the module differs from what it was last sent (a raise the deadband holds)."""
        sent = self._sent.get(module.address)
        return sent is not None and sent[1:] != (module.voltage_setpoint, module.current_setpoint)

    def changed_setpoints(self, module: ModuleState, band: Deadband) -> Due | None:
        """Which setpoints of an exporting module must go now, if any.

        A setpoint goes when it is lower than the value last sent, or
        higher by more than ``band``. None when the module is off (its
        setpoints go with its next export) or nothing must go; call when
        :meth:`whole_due` is False.
        """
        _, voltage, current = self._sent[module.address]
        if module.mode is Mode.OFF:
            return None
        due = Due(
            _due(voltage, module.voltage_setpoint, band.voltage),
            _due(current, module.current_setpoint, band.current),
            voltage,
            current,
        )
        return due if due.voltage or due.current else None


def _due(sent: float, wanted: float, band: float) -> bool:
    """A setpoint must go: lower than sent (at once, however small), or higher by more than the band."""
    return wanted < sent or wanted - sent > band
