"""Signed site messages: a message that can change power is believed only if its sender signed it.

A broker is a shared room: its ACL (``pecc site init``) keeps strangers off
the share topics, but a misconfigured or anonymous broker must still not
be able to turn a cabinet against its own site. So every message that
moves power carries an Ed25519 signature (``cryptography``) of its sender:

- the coordinator signs the shares and its operator commands with the
  site key; cabinets hold only its public half, so no cabinet can forge a
  share for itself or another;
- each cabinet signs its demand (which confirms a lowered share and so
  frees power for others) and its presence with its own key; the
  coordinator holds their public halves.

The signature covers the topic and the whole payload (``sig`` aside) in
one canonical JSON form (sorted keys, no spaces): a share for ``north``
replayed on ``south``'s topic, or with one field changed, does not
verify. A verbatim replay does, which is why every signed payload carries
a time or sequence that its receiver checks (``expires_at``, ``at``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pecc_core.errors import ConfigError

log = logging.getLogger(__name__)

#: The payload field that holds the signature (base64 of 64 bytes).
SIG = "sig"


class SiteKeyError(ConfigError):
    """A key file that cannot be read or is not the kind of key expected."""


def canonical(topic: str, payload: dict[str, Any]) -> bytes:
    """The bytes a signature covers: the topic and the payload without its signature."""
    body = {key: value for key, value in payload.items() if key != SIG}
    return json.dumps([topic, body], sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def sign(key: Ed25519PrivateKey, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with its signature for ``topic`` added."""
    signature = key.sign(canonical(topic, payload))
    return {**payload, SIG: base64.b64encode(signature).decode()}


def verified(key: Ed25519PublicKey, topic: str, payload: dict[str, Any] | None) -> bool:
    """True if ``payload`` carries a valid signature of ``key``'s owner for ``topic``."""
    if payload is None or not isinstance(payload.get(SIG), str):
        return False
    try:
        signature = base64.b64decode(payload[SIG], validate=True)
        key.verify(signature, canonical(topic, payload))
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


def new_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def write_private(key: Ed25519PrivateKey, path: Path) -> None:
    """Write ``key`` as PKCS#8 PEM, readable by its owner only."""
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def write_public(key: Ed25519PrivateKey, path: Path) -> None:
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))


def load_private(path: str | Path, what: str) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path``; :class:`SiteKeyError` naming ``what`` otherwise."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SiteKeyError(f"{what}: {path}: {_reason(exc)}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SiteKeyError(f"{what}: {path}: expected an Ed25519 private key (pecc site init writes one)")
    return key


def load_public(path: str | Path, what: str) -> Ed25519PublicKey:
    """The Ed25519 public key in ``path``; :class:`SiteKeyError` naming ``what`` otherwise."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise SiteKeyError(f"{what}: {path}: {_reason(exc)}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SiteKeyError(f"{what}: {path}: expected an Ed25519 public key (pecc site init writes one)")
    return key


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return "not a PEM key of the expected kind"
