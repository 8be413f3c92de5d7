"""``pecc tls init``: a lab CA, the PECC's certificate, one client certificate per SECC.

For test benches and first deployments: everything a profile needs for
mutual TLS, in one folder. Keys are EC P-256, written with mode 0600; the
CA key stays in the folder (``ca.key``) to issue more certificates later,
so keep the folder private. A production site with its own PKI issues
the same three kinds of certificate and writes the same profile keys
(docs/security.md).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pecc_core.profile.model import Profile

VALID_DAYS = 825  # what browsers and most TLS stacks still accept for a leaf
CA_VALID_DAYS = 3650
_WILDCARDS = ("0.0.0.0", "::", "")

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class Issued:
    """What ``init`` wrote."""

    ca: Path
    server: Path
    clients: dict[str, Path]
    profile: Path


def server_names(host: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The server certificate's names: the listen address (unless a wildcard), this host, loopback."""
    names = [host] if host not in _WILDCARDS else []
    names += [*extra, socket.gethostname(), "localhost", "127.0.0.1", "::1"]
    return list(dict.fromkeys(n for n in names if n))


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    subject: str,
    key: Key,
    issuer: x509.Certificate | None,
    issuer_key: Key,
    *,
    ca: bool = False,
    names: Sequence[str] = (),
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_VALID_DAYS if ca else VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    usages = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
         "encipher_only", "decipher_only"), False,
    )
    builder = builder.add_extension(
        x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, **usages), critical=True
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_key(path: Path, key: Key) -> None:
    """The key in PEM, created with mode 0600 (never readable by others, not even briefly)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


def _write_cert(path: Path, *chain: x509.Certificate) -> None:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))


def init(profile: Profile, out: Path, extra_names: tuple[str, ...] = ()) -> Issued:
    """Write the CA, the server's and each SECC's certificate and ``NAME-tls.toml`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    ca_key = _new_key()
    ca = _certificate(f"PECC lab CA ({profile.name})", ca_key, None, ca_key, ca=True)
    _write_key(out / "ca.key", ca_key)
    _write_cert(out / "ca.pem", ca)

    server_key = _new_key()
    names = server_names(profile.server.host, extra_names)
    server = _certificate(
        f"PECC {profile.name}", server_key, ca, ca_key, names=names, usage=ExtendedKeyUsageOID.SERVER_AUTH
    )
    _write_key(out / "server.key", server_key)
    _write_cert(out / "server.pem", server, ca)

    clients = {}
    for secc in profile.seccs:
        key = _new_key()
        cert = _certificate(secc.id, key, ca, ca_key, names=[secc.id], usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        _write_key(out / f"{secc.id}.key", key)
        _write_cert(out / f"{secc.id}.pem", cert)
        clients[secc.id] = out / f"{secc.id}.pem"

    target = out / f"{profile.name}-tls.toml"
    target.write_text(tls_profile(profile))
    return Issued(out / "ca.pem", out / "server.pem", clients, target)


def tls_profile(profile: Profile) -> str:
    """The profile's TOML with mutual TLS and each SECC's certificate name as its identity.

    TLS paths are relative: the profile and its certificates move together.
    """
    data: dict[str, Any] = tomllib.loads(profile.source.read_text())
    data.setdefault("server", {})["tls"] = {
        "cert": "server.pem",
        "key": "server.key",
        "client_ca": "ca.pem",
        "require_client_cert": True,
    }
    for secc in data.get("seccs", []):
        allow = secc.setdefault("allow", {})
        allow["names"] = [secc["id"]]
    header = (
        f"# {profile.name} with mutual TLS: written by `pecc tls init` from {profile.source}.\n"
        "# Each SECC connects with its own certificate (CN = its id), signed by ca.pem.\n\n"
    )
    return header + tomli_w.dumps(data)
