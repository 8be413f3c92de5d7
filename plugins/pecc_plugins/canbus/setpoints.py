"""What each module was last sent, so that only what changed goes out.

A module's cached state is its :class:`~pecc_core.power.ModuleState` (mode
and setpoints): what the station wants of it now. :class:`SentState`
remembers what last went out: a mode change (or a module never sent
anything, or forgotten when it was lost) sends the whole state, a
setpoint change of an exporting module only the setpoints, and nothing
else is sent.
"""

from __future__ import annotations

from pecc_core.power import Mode, ModuleState


class SentState:
    """The mode and setpoints each module was last sent, by address."""

    def __init__(self) -> None:
        self._sent: dict[int, tuple[Mode, float, float]] = {}

    def sent(self, module: ModuleState) -> None:
        """The module's cached state has just gone out."""
        self._sent[module.address] = (module.mode, module.voltage_setpoint, module.current_setpoint)

    def forget(self, address: int) -> None:
        """The module was lost: whatever it was sent, its whole state goes again."""
        self._sent.pop(address, None)

    def whole_due(self, module: ModuleState) -> bool:
        """The whole state must go: the module was sent nothing (or was forgotten), or another mode."""
        sent = self._sent.get(module.address)
        return sent is None or sent[0] is not module.mode

    def changed_setpoints(self, module: ModuleState) -> tuple[float, float] | None:
        """The voltage and current an exporting module was last sent, if its setpoints changed since.

        None when only the setpoints of an off module changed (nothing to
        send) or nothing did; call when :meth:`whole_due` is False.
        """
        _, voltage, current = self._sent[module.address]
        if module.mode is Mode.OFF or (voltage, current) == (module.voltage_setpoint, module.current_setpoint):
            return None
        return voltage, current
