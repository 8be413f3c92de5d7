"""Real certificates for TLS tests: a lab CA (trustme), the server's and one per SECC.

Independent of ``pecc tls init``: the tests must not trust the generator
they check.
"""

from __future__ import annotations

import hashlib
import ssl
import tomllib
from pathlib import Path
from typing import Any

import trustme

from pecc_core.profile.loader import resolve


class LabCa:
    """A CA, the server certificate for 127.0.0.1/localhost, and SECC certificates on demand."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = trustme.CA()
        self.ca.cert_pem.write_to_path(str(directory / "ca.pem"))
        self.write_server(self.ca, "server")
        self._leaves: dict[str, trustme.LeafCert] = {}

    def write_server(self, ca: trustme.CA, stem: str) -> dict[str, Path]:
        """A server certificate from ``ca`` as ``stem.pem`` / ``stem.key`` (mode 0600)."""
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        cert, key = self.directory / f"{stem}.pem", self.directory / f"{stem}.key"
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        key.touch(mode=0o600)
        key.write_bytes(leaf.private_key_pem.bytes())
        return {"cert": cert, "key": key}

    def leaf(self, name: str) -> trustme.LeafCert:
        """The client certificate with CN ``name`` (and SAN ``name.secc.test``)."""
        if name not in self._leaves:
            self._leaves[name] = self.ca.issue_cert(f"{name}.secc.test", common_name=name)
        return self._leaves[name]

    def fingerprint(self, name: str) -> str:
        der = ssl.PEM_cert_to_DER_cert(self.leaf(name).cert_chain_pems[0].bytes().decode())
        return hashlib.sha256(der).hexdigest()

    def client(self, name: str | None) -> ssl.SSLContext:
        """A client context trusting the CA, presenting ``name``'s certificate (None: none)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(context)
        if name is not None:
            self.leaf(name).configure_cert(context)
        return context

    def overrides(self, source: str = "sim", names: bool = True) -> dict[str, Any]:
        """Profile overrides for mutual TLS; with ``names``, each SECC allows only its own CN."""
        result: dict[str, Any] = {
            "server.tls": {
                "cert": str(self.directory / "server.pem"),
                "key": str(self.directory / "server.key"),
                "client_ca": str(self.directory / "ca.pem"),
                "require_client_cert": True,
            }
        }
        if names:
            seccs = tomllib.loads(resolve(source).read_text())["seccs"]
            result.update({f"seccs.{i}.allow": {"names": [s["id"]]} for i, s in enumerate(seccs)})
        return result
