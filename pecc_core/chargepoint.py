"""One gun (charge point): what a transport calls, and the state it reports.

The transport maps each SECC request to one method here and each refusal
(:mod:`pecc_core.errors`) to a protocol error; it reads :meth:`ChargePoint.status`
for every status message. The state machine behind these methods decides
what is allowed when and drives the hardware through the station.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pecc_core.errors import InternalRefused, SeccNotConnected
from pecc_core.model import EvConnection, EvSession, Limits, Phase, Status, Target

if TYPE_CHECKING:
    from pecc_core.profile.model import GunConfig
    from pecc_core.station import Station
    from pecc_core.transport import SeccLink

log = logging.getLogger(__name__)


class ChargePoint:
    """A gun: its configuration, its SECC link, what the car said, its state."""

    def __init__(self, config: GunConfig, station: Station) -> None:
        self.config = config
        self.id = config.id
        self.path = config.path
        self.station = station
        self.secc: SeccLink | None = None
        self.ev_connection = EvConnection.DISCONNECTED
        self.vehicle_id: str | None = None
        self.ev = EvSession()
        #: The last accepted targetValues (None in standby); simulators and
        #: policies read it, only the state machine writes it.
        self.target: Target | None = None
        self._status = Status()

    def __repr__(self) -> str:
        return f"<ChargePoint {self.id}>"

    # -- what the transport reads -------------------------------------------

    def status(self) -> Status:
        """The values of the next status message (the gun's own object: do not keep it)."""
        return self._status

    def configuration(self) -> Limits:
        """The gun's present capabilities (configuration response)."""
        cfg = self.config
        return Limits(
            voltage_min=cfg.voltage_min,
            voltage_max=cfg.voltage_max,
            current_min=cfg.current_min,
            current_max=cfg.current_max,
            power_min=0.0,
            power_max=cfg.power_max,
        )

    # -- SECC requests --------------------------------------------------------

    async def cable_check(self, voltage: float) -> None:
        """Start the isolation test at (at most) ``voltage``; the result comes in status."""
        raise InternalRefused("cable check is not available on this build")

    async def target_values(self, target: Target) -> None:
        """Drive the output as the SECC asks, within every limit."""
        raise InternalRefused("power output is not available on this build")

    async def set_contactors(self, closed: bool) -> None:
        """Close or open the output contactors."""
        raise InternalRefused("contactors are not available on this build")

    async def reset(self) -> None:
        """Go to standby: outputs 0, contactors open, modules released, operative."""
        raise InternalRefused("reset is not available on this build")

    # -- SECC information -------------------------------------------------------

    def ev_connection_changed(self, state: EvConnection, vehicle_id: str | None) -> None:
        """evConnectionState: informational only, never a safety input."""
        self.ev_connection = state
        self.vehicle_id = vehicle_id if state is EvConnection.CONNECTED else self.vehicle_id
        if state is EvConnection.DISCONNECTED:
            self.vehicle_id = None
            self.ev.clear()
        log.info("gun %s: EV %s%s", self.id, state, f" ({vehicle_id})" if vehicle_id else "")

    def ev_session_changed(self, changes: dict[str, Any]) -> None:
        """chargingSession: merge the changed fields (names in snake_case)."""
        self.ev.merge(changes)

    # -- the SECC connection ----------------------------------------------------

    def secc_attached(self, link: SeccLink) -> None:
        """An SECC connected to this gun (replacing any previous one)."""
        self.secc = link

    def secc_detached(self, link: SeccLink, reason: str) -> None:
        """The SECC connection ``link`` is gone (closed, unresponsive)."""
        if self.secc is link:
            self.secc = None

    def link(self) -> SeccLink:
        """The live SECC link; :class:`SeccNotConnected` without one."""
        if self.secc is None:
            raise SeccNotConnected(f"no SECC is connected to gun {self.id}")
        return self.secc


__all__ = ["ChargePoint", "Phase"]
