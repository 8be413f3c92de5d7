"""The simulator's TLS: which client certificate each gun's connection presents.

``--ca`` is the CA that signed the PECC's server certificate; ``--cert`` /
``--key`` one client certificate for every gun; ``--certs DIR`` (what
``pecc tls init`` writes) one per SECC of the ``--profile``:
``DIR/<secc id>.pem`` and ``.key``, with ``DIR/ca.pem`` as the default CA.
"""

from __future__ import annotations

import ssl
from pathlib import Path


class TlsOptionError(ValueError):
    """The TLS options do not fit together or a file does not load."""


def client_context(ca: Path | None, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A client context trusting ``ca`` (default: the system's CAs), presenting ``cert`` if given."""
    try:
        context = ssl.create_default_context(cafile=str(ca) if ca else None)
        if cert is not None:
            context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsOptionError(f"TLS files {ca or ''} {cert or ''} {key or ''}: {exc}") from None
    return context


def contexts(
    owners: dict[str, str | None],
    ca: Path | None,
    cert: Path | None,
    key: Path | None,
    certs: Path | None,
) -> dict[str, ssl.SSLContext]:
    """The context of every ``wss://`` URL of ``owners`` (URL -> its SECC id, if known)."""
    secure = [url for url in owners if url.startswith("wss://")]
    if certs is not None and cert is not None:
        raise TlsOptionError("give --certs DIR or --cert/--key, not both")
    if (cert is None) != (key is None):
        raise TlsOptionError("--cert and --key go together")
    if certs is not None:
        ca = ca or certs / "ca.pem"
        unknown = [url for url in secure if owners[url] is None]
        if unknown:
            raise TlsOptionError("--certs DIR needs --profile (which SECC each gun belongs to)")
        seccs = {url: secc for url in secure if (secc := owners[url]) is not None}
        by_secc = {
            secc: client_context(ca, certs / f"{secc}.pem", certs / f"{secc}.key") for secc in set(seccs.values())
        }
        return {url: by_secc[secc] for url, secc in seccs.items()}
    shared = client_context(ca, cert, key)
    return dict.fromkeys(secure, shared)
