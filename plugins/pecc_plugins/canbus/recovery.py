"""Silent modules: when one is lost, and how it comes back.

A module that has not answered for ``offline_s`` (counted from its last
frame, or from when polling started or the bus came back, whichever is
later) is lost. The first frame from a lost module starts its recovery:
the driver re-applies its cached mode and setpoints *before* the module
counts as online again; a frame at least one poll later (and the vendor's
sequence done) completes it. :class:`Recovery` keeps these times; the
driver acts on what it says.
"""

from __future__ import annotations

from pecc_core.power import ModuleState
from pecc_plugins.canbus.polling import DriverTiming


class Recovery:
    """The times of silence detection and of each recovery under way."""

    def __init__(self, timing: DriverTiming) -> None:
        self.timing = timing
        self._since = 0.0  # when polling started or the bus came back: silence is counted from here
        self._applied: dict[int, float] = {}  # address -> when the cached state was re-applied

    def restart(self, now: float) -> None:
        """Polling starts, or the bus is back: silence counts from ``now``."""
        self._since = now

    def silent(self, module: ModuleState, now: float) -> bool:
        """Whether ``module`` has been silent for longer than ``offline_s``."""
        return now - max(module.last_seen, self._since) > self.timing.offline_s

    def begin(self, address: int, now: float) -> bool:
        """A lost module was heard: True if its recovery starts now (its cached state is to be re-applied)."""
        if address in self._applied:
            return False
        self._applied[address] = now
        return True

    def ready(self, address: int, now: float) -> bool:
        """At least one poll has passed since the module's state was re-applied."""
        return now - self._applied[address] >= self.timing.poll_s

    def end(self, address: int) -> None:
        """The module is online again, or lost again: no recovery under way."""
        self._applied.pop(address, None)
