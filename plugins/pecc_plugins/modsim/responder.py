"""What a vendor protocol's responder (:mod:`.uu`, :mod:`.infy`) and the simulator share.

The simulator (:class:`~.service.ModSim`) picks a responder by protocol and
hands it every received frame; the responder reads and changes the
simulated modules and sends their replies through the simulator. Both
sides import this module and neither imports the other's: the responder
sees the simulator only as a :class:`Simulator`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pecc_core.power import Fault
    from pecc_plugins.modsim.physics import ModuleOutput, Plant
    from pecc_plugins.modsim.settings import SimSettings


@dataclass(slots=True)
class SimModule:
    """A simulated module: its power stage and its CAN behaviour."""

    output: ModuleOutput
    last_rx: float = 0.0  # loop time of the last frame addressed to it (watchdog)
    silent: bool = False  # deaf and mute, as with a broken transceiver
    reply_delay_s: float = 0.0
    alarm_bits: int = 0  # injected status bits, in the protocol's own layout
    refusal: int = 0  # Infy: the error code every set is refused with (0: accepted)


class Responder(Protocol):
    """One vendor protocol spoken by the simulated modules."""

    protocol: str

    def handle(self, arbitration_id: int, data: bytes | bytearray) -> None:
        """Obey one received frame and send the replies a module would."""

    def bit_for(self, fault: Fault) -> int:
        """The number of the status bit that reports ``fault``; ValueError if none does."""

    def stops(self, bits: int) -> bool:
        """True if ``bits`` hold a fault that stops the power stage."""


class Simulator(Protocol):
    """The simulator as a responder uses it: the modules, their physics, and the bus."""

    settings: SimSettings
    plant: Plant
    modules: dict[int, SimModule]

    def reachable(self, address: int) -> SimModule | None:
        """The module a frame to ``address`` reaches (feeding its watchdog), or None."""

    def listening(self) -> Iterator[SimModule]:
        """Every module that hears a broadcast (feeding their watchdogs)."""

    def reply(self, module: SimModule, arbitration_id: int, data: bytes) -> None:
        """Send a module's reply, late if it has been made slow."""
