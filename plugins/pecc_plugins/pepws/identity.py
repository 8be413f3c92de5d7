"""Who is at the other end of a connection, and whether it may be a gun's SECC.

A peer is known by its source address and, over mutual TLS, by its client
certificate (already verified against ``server.tls.client_ca``): the
subject CN, the subjectAltName values and the SHA-256 fingerprint. Each
SECC of the profile may restrict its guns to some of those
(``[seccs.allow]``); every kind of entry it lists must match.

The same identity is what lets a second connection to a gun replace the
first: a reconnecting SECC (same certificate names, or the same address
without TLS) takes over at once, anyone else is refused while the gun's
connection is live.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from pecc_core.profile.model import SeccAllow

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: subjectAltName kinds as Python's ``ssl`` names them, that an allow-list may name.
_SAN_KINDS = ("DNS", "IP Address", "URI", "email")


def peer_address(transport: asyncio.BaseTransport) -> IpAddress | None:
    """The peer's IP address (an IPv4-mapped IPv6 address as IPv4); None if unknown."""
    peer = transport.get_extra_info("peername")
    if not peer:
        return None
    try:
        address = ipaddress.ip_address(peer[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """What a peer proved about itself: an address, and maybe a verified certificate."""

    address: IpAddress | None
    names: frozenset[str] = frozenset()
    fingerprint: str | None = None

    @classmethod
    def of(cls, transport: asyncio.BaseTransport) -> PeerIdentity:
        address = peer_address(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return cls(address)
        return cls(address, certificate_names(ssl_object.getpeercert()), hashlib.sha256(der).hexdigest())

    @property
    def key(self) -> tuple[Any, ...]:
        """Equal for the same SECC reconnecting: its certificate names, else its address.

        Names, not the fingerprint, so that an SECC whose certificate was
        renewed (same names, same CA) still takes its gun back at once.
        """
        if self.fingerprint is not None:
            return ("cert", self.names)
        return ("address", self.address)

    def __str__(self) -> str:
        if self.fingerprint is None:
            return f"{self.address} (no client certificate)"
        return f"{self.address} (certificate {', '.join(sorted(self.names)) or '?'}, sha256 {self.fingerprint[:16]}…)"

    def refusal(self, allow: SeccAllow) -> str | None:
        """Why this peer may not be the SECC that ``allow`` describes; None if it may."""
        if allow.networks and (self.address is None or not any(self.address in n for n in allow.networks)):
            return f"source address {self.address} is outside the SECC's networks"
        if (allow.names or allow.fingerprints) and self.fingerprint is None:
            return "no client certificate"
        if allow.names and not self.names.intersection(allow.names):
            return f"certificate names {sorted(self.names)} are not the SECC's {list(allow.names)}"
        if allow.fingerprints and self.fingerprint not in allow.fingerprints:
            return f"certificate fingerprint {self.fingerprint} is not the SECC's"
        return None


def certificate_names(cert: dict[str, Any]) -> frozenset[str]:
    """The subject CN(s) and the DNS/IP/URI/email subjectAltNames of a verified certificate."""
    names = {value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"}
    names.update(value for kind, value in cert.get("subjectAltName", ()) if kind in _SAN_KINDS)
    return frozenset(names)
