"""Who may reach the PEP-WS server: ``[server.tls]`` and each SECC's ``[seccs.allow]``.

Kept apart from the rest of the profile schema because it is the part a
security review reads on its own (docs/security.md).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from pecc_core.profile import model
from pecc_core.profile.fields import Boolean, List, StrictSchema, String

_FINGERPRINT = re.compile(r"^(?:sha256:)?((?:[0-9a-fA-F]{2}:?){31}[0-9a-fA-F]{2})$")


class TlsSchema(StrictSchema):
    """``[server.tls]``; relative paths are relative to the profile's folder."""

    cert = String(required=True, validate=validate.Length(min=1, error="expected a PEM file path"))
    key = String(required=True, validate=validate.Length(min=1, error="expected a PEM file path"))
    client_ca = String(load_default=None, allow_none=True)
    require_client_cert = Boolean(load_default=False)

    @validates_schema
    def mutual(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("require_client_cert") and not data.get("client_ca"):
            raise ValidationError(
                "expected client_ca (the CA of the SECCs' certificates) with require_client_cert = true",
                "require_client_cert",
            )

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> model.TlsConfig:
        ca = data["client_ca"]
        return model.TlsConfig(
            Path(data["cert"]), Path(data["key"]), Path(ca) if ca else None, data["require_client_cert"]
        )


class Fingerprint(String):
    """A SHA-256 certificate fingerprint, hex with or without colons, kept as lower-case hex."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        match = _FINGERPRINT.match(text.strip())
        if match is None:
            raise ValidationError("expected a SHA-256 fingerprint: 64 hex digits, colons allowed")
        return match.group(1).replace(":", "").lower()


class Network(fields.Field["model.IpNetwork"]):
    """A source network in CIDR form (a bare address is a /32 or /128)."""

    default_error_messages = {"null": "expected a network, not null"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> model.IpNetwork:
        if not isinstance(value, str):
            raise ValidationError("expected a network like '10.0.0.0/24', as a string")
        try:
            return ipaddress.ip_network(value.strip())
        except ValueError:
            raise ValidationError(
                "expected a network like '10.0.0.0/24' (no host bits set) or an address"
            ) from None


class AllowSchema(StrictSchema):
    """``[seccs.allow]``: who may connect to this SECC's guns."""

    names = List(String(validate=validate.Length(min=1, error="expected a name")), load_default=list)
    fingerprints = List(Fingerprint(), load_default=list)
    networks = List(Network(), load_default=list)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> model.SeccAllow:
        return model.SeccAllow(**{k: tuple(v) for k, v in data.items()})
