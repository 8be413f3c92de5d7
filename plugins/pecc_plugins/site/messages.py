"""The messages the coordinator and the cabinets act on, validated before use.

Anyone allowed on the broker can publish anything: a message that does not
validate is logged and ignored, never raised into the loop that reads the
next one. Only the fields acted on are checked; others (the guns of a
demand, time stamps) are passed through for people and dashboards.

A cabinet's incidents (:class:`IncidentSchema`) are made here too, for
whoever watches the site: the telemetry sends only what the schema loads.
"""

from __future__ import annotations

import logging
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from pecc_core.problems import describe

log = logging.getLogger(__name__)

#: The largest sequence number: integers above 2**53 do not survive every JSON reader.
MAX_SEQ = 2**53 - 1


def _finite(**kwargs: Any) -> fields.Float:
    return fields.Float(allow_nan=False, **kwargs)


class ShareSchema(Schema):
    """coordinator -> cabinet: a share."""

    class Meta:
        unknown = EXCLUDE

    epoch = fields.String(required=True, validate=validate.Length(min=1, max=64))
    seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_SEQ))
    power_w = _finite(required=True, validate=validate.Range(min=0))
    ttl_s = _finite(required=True, validate=validate.Range(min=0, min_inclusive=False))
    expires_at = _finite(required=True)


class ConfirmationSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    epoch = fields.String(allow_none=True, load_default=None)
    seen = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0))
    applying = fields.Integer(strict=True, allow_none=True, load_default=None)
    lowered = fields.Boolean(load_default=False)


class DemandSchema(Schema):
    """cabinet -> coordinator: what it asks, what it can use, which share it applies."""

    class Meta:
        unknown = EXCLUDE

    demand_w = _finite(load_default=0.0, validate=validate.Range(min=0))
    capacity_w = _finite(load_default=0.0, validate=validate.Range(min=0))
    share = fields.Nested(ConfirmationSchema, load_default=lambda: ConfirmationSchema().load({}))


class CapSchema(Schema):
    """operator -> coordinator: a new grid cap (W), or null for the profile's."""

    class Meta:
        unknown = EXCLUDE

    max_power_w = _finite(required=True, allow_none=True, validate=validate.Range(min=0))
    at = _finite(required=True)  # when the operator gave it (wall clock): an older one is a replay


class IncidentSchema(Schema):
    """cabinet -> whoever watches: the flight recorder wrote an incident (docs/incidents.md)."""

    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    guns = fields.List(fields.String(validate=validate.Length(min=1)), required=True, validate=validate.Length(min=1))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=64))
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    at = _finite(required=True)  # when it was written, complete (wall clock)


def parse(schema: Schema, data: dict[str, Any] | None, what: str) -> dict[str, Any] | None:
    """``data`` validated by ``schema``, or None (logged) when it is not a valid ``what``."""
    if data is None:
        log.warning("%s ignored: not a JSON object", what)
        return None
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        log.warning("%s ignored: %s", what, "; ".join(describe(exc.messages, data)))
        return None
    return loaded
