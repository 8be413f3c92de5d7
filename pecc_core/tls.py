"""Server TLS contexts: PEP-WS (``[server.tls]``) and the control API.

TLS 1.2 at least (Python's ``PROTOCOL_TLS_SERVER`` defaults: certificate
chain, no compression, the system's cipher policy). With ``client_ca`` the
server asks for a client certificate and verifies it against that CA: with
``require_client_cert`` a client without one fails the TLS handshake, else
it goes on without a certificate identity. A new context is built on every
reload; connections keep the context they were accepted with.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from pecc_core.errors import ConfigError

if TYPE_CHECKING:
    from pecc_core.profile.model import TlsConfig


def server_context(config: TlsConfig, key: str = "server.tls") -> ssl.SSLContext:
    """A server context for ``config`` (profile key ``key``); ConfigError naming the file that fails."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.cert, config.key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{key}.cert/key: {config.cert} with {config.key}: cannot be loaded: {exc}") from None
    if config.client_ca is not None:
        try:
            context.load_verify_locations(cafile=config.client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{key}.client_ca: {config.client_ca}: cannot be loaded: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED if config.require_client_cert else ssl.CERT_OPTIONAL
    return context
