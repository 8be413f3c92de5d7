"""Transport contracts: how SECCs reach the guns, and how guns reach SECCs.

A transport plugin (PEP-WS) serves every gun of a station. When an SECC
connects to a gun it attaches a :class:`SeccLink` to that gun, so the core
(control API, policies) can ask the SECC things without knowing the
protocol; the link is detached when the connection goes.

A transport that counts its traffic (PEP-WS) offers :class:`HasTransportStats`;
the ops server's metrics read it through that, and show no transport
metrics for a transport without it. A transport that hands every frame
to taps offers :class:`HasFrameTap` (the flight recorder of
docs/incidents.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


class Transport(Protocol):
    """A server built by a ``pecc_register_transports`` factory."""

    async def start(self) -> None:
        """Bind and start accepting; returns once listening."""

    async def stop(self) -> None:
        """Close every connection and stop listening."""

    @property
    def port(self) -> int:
        """The bound port (useful when the profile asked for port 0)."""


class Histogram(Protocol):
    """Observations in fixed buckets (Prometheus semantics: ``le`` upper bounds, +Inf last)."""

    @property
    def bounds(self) -> Sequence[float]:
        """The buckets' upper bounds, ascending (+Inf not included)."""

    @property
    def counts(self) -> Sequence[int]:
        """Observations per bucket: one more than :attr:`bounds` (the last: above every bound)."""

    @property
    def sum(self) -> float:
        """The sum of every observation."""


class TransportStats(Protocol):
    """What a transport counted since it started (the metrics' ``pecc_transport_*``)."""

    @property
    def requests(self) -> Mapping[str, int]:
        """SECC requests by kind."""

    @property
    def errors(self) -> Mapping[str, int]:
        """Error answers to the SECCs by category."""

    @property
    def connects(self) -> int:
        """SECC connections accepted."""

    @property
    def disconnects(self) -> int:
        """SECC connections ended."""

    @property
    def reply_latency(self) -> Histogram:
        """Seconds from a request received to its reply built."""

    @property
    def status_interval(self) -> Histogram:
        """Seconds between two status messages of a gun."""


@runtime_checkable
class HasTransportStats(Protocol):
    """A transport that counts its traffic: ``isinstance(transport, HasTransportStats)``."""

    @property
    def stats(self) -> TransportStats:
        """Its counters, updated in place (read them on the station's loop)."""


#: ``tap(gun_id, received, frame)``: one frame of the SECC connection of gun
#: ``gun_id`` as it went over the wire (text or bytes), ``received`` False for
#: one the PECC sent. Called on the station's loop, on the connection's hot
#: path: a tap must not block or format; one that raises is logged and taken
#: off (:class:`pecc_core.taps.Taps`).
FrameTap = Callable[[str, bool, str | bytes], None]


@runtime_checkable
class HasFrameTap(Protocol):
    """A transport that hands every frame of every gun to taps: ``isinstance(transport, HasFrameTap)``."""

    def add_frame_tap(self, tap: FrameTap) -> None:
        """Call ``tap`` for every frame received or sent from now on, on every connection."""

    def remove_frame_tap(self, tap: FrameTap) -> None:
        """Stop calling ``tap`` (a tap not added is ignored)."""


class SeccLink(Protocol):
    """The gun's side of a live SECC connection.

    Requests wait for the connection's single pending-request slot and time
    out after the protocol's request timeout, raising
    :class:`pecc_core.errors.SeccTimeout`; an error reply raises
    :class:`pecc_core.errors.SeccError`.
    """

    async def get_input(self, identifiers: list[str]) -> dict[str, Any]:
        """Read SECC hardware inputs by id."""

    async def set_output(self, values: dict[str, Any]) -> None:
        """Set SECC hardware outputs."""

    async def stop_charging(self) -> None:
        """Ask the SECC to end its session gracefully."""

    def send_event(self, details: str) -> None:
        """Send a vendor-specific event text (fire and forget)."""
