"""What ``pecc doctor`` checks for the PEP-WS server: its port is free and its TLS files serve."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pecc_core.doctor import Check
from pecc_core.doctor.certs import tls_checks
from pecc_core.doctor.ports import port_check

if TYPE_CHECKING:
    from pecc_core.profile.model import ServerConfig


def checks(server: ServerConfig) -> list[Check]:
    """The port, and the ``[server.tls]`` files when the profile serves ``wss://``."""
    name = "pep-ws port"
    offered = [Check(name, lambda: [port_check(name, server.host, server.port, "server.host", "server.port")])]
    tls = server.tls
    if tls is not None:
        offered.append(Check("pep-ws tls", lambda: tls_checks("pep-ws tls", "server.tls", tls)))
    return offered
