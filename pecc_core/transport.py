"""Transport contracts: how SECCs reach the guns, and how guns reach SECCs.

A transport plugin (PEP-WS) serves every gun of a station. When an SECC
connects to a gun it attaches a :class:`SeccLink` to that gun, so the core
(control API, policies) can ask the SECC things without knowing the
protocol; the link is detached when the connection goes.
"""

from __future__ import annotations

from typing import Any, Protocol


class Transport(Protocol):
    """A server built by a ``pecc_register_transports`` factory."""

    async def start(self) -> None:
        """Bind and start accepting; returns once listening."""

    async def stop(self) -> None:
        """Close every connection and stop listening."""

    @property
    def port(self) -> int:
        """The bound port (useful when the profile asked for port 0)."""


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
