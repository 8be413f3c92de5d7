"""Request bodies of the control API: marshmallow schemas with strict JSON types.

JSON already has types, so nothing is coerced: ``"1e3"`` is not a number,
``1.5`` is not an integer and ``1`` is not ``true``. The schemas check
types and shapes only; ranges, gun ids and policy params are checked by the
station's own validation (:mod:`pecc_core.caps`), which names the
bad key the same way a profile error does.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from pecc_core.problems import describe


class BodyError(ValueError):
    """A refused body: every problem as ``key: got VALUE; expected ...``."""


class Real(fields.Field):
    """A finite JSON number (int or float), never a string or a boolean."""

    default_error_messages = {"invalid": "expected a number", "null": "expected a number, not null"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.make_error("invalid")
        return float(value)


class Whole(fields.Field):
    """A JSON integer, never ``1.5``, ``1.0`` written as a float, a string or a boolean."""

    default_error_messages = {"invalid": "expected an integer", "null": "expected an integer, not null"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class Flag(fields.Field):
    """JSON ``true`` or ``false`` only."""

    default_error_messages = {"invalid": "expected true or false", "null": "expected true or false, not null"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Text(fields.String):
    default_error_messages = {"invalid": "expected a string", "null": "expected a string, not null"}


class Body(Schema):
    """Unknown keys refused; a non-object body refused."""

    error_messages = {"unknown": "unknown key", "type": "expected a JSON object"}


class GunCapsBody(Body):
    max_current_a = Real(allow_none=True)
    max_power_w = Real(allow_none=True)
    priority = Whole()


class LimitsBody(Body):
    site_max_power_w = Real(allow_none=True)
    guns = fields.Dict(keys=Text(), values=fields.Nested(GunCapsBody))
    policy = fields.Dict(keys=Text())


class EmptyBody(Body):
    """Routes that take no parameters accept ``{}`` (or no body at all)."""


class LoginBody(Body):
    """``POST /login``, as JSON or as the sign-in page's form."""

    token = Text(required=True, validate=validate.Length(min=1, error="expected a token"))


class InputsBody(Body):
    ids = fields.List(Text(), required=True, validate=validate.Length(min=1, error="expected at least one id"))


class OutputsBody(Body):
    values = fields.Dict(keys=Text(), required=True)


class ImdBody(Body):
    result = Text(required=True, allow_none=True, validate=validate.OneOf(["warning", "fault"]))


class ResistanceBody(Body):
    ohm = Real(required=True, allow_none=True, validate=validate.Range(min=0, error="expected a resistance in Ω >= 0"))


class SelfTestBody(Body):
    fails = Flag(required=True)


class SupervisionBody(Body):
    allowed = Flag(required=True)


class SilenceBody(Body):
    silent = Flag(required=True)


class FaultBody(Body):
    """A fault by kind (``fault``) or by its bit in the protocol's status word (``bit``): exactly one."""

    fault = Text()
    bit = Whole(validate=validate.Range(0, 31, error="expected a status bit number 0..31"))
    active = Flag(load_default=True)

    @validates_schema
    def _one_of(self, data: dict[str, Any], **_: Any) -> None:
        if ("fault" in data) == ("bit" in data):
            raise ValidationError('expected either "fault" (a fault kind) or "bit" (a status bit number)')


def load(schema: Schema, body: Any) -> dict[str, Any]:
    """``body`` checked by ``schema``; :class:`BodyError` naming every bad key."""
    if not isinstance(body, dict):
        raise BodyError(f"(body): got {_short(body)}; expected a JSON object")
    try:
        return schema.load(body)
    except ValidationError as exc:
        raise BodyError("; ".join(describe(_unwrap(exc.messages), body))) from None


def _unwrap(messages: Any) -> Any:
    """marshmallow files a dict entry's errors under ``"value"``; the key path has none."""
    if isinstance(messages, dict):
        if set(messages) <= {"key", "value"} and "value" in messages:
            return _unwrap(messages["value"])
        return {k: _unwrap(v) for k, v in messages.items()}
    return messages


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Since(fields.Field):
    """A time in a query: Unix seconds or ISO 8601 (``2026-01-31T12:00:00+00:00``)."""

    default_error_messages = {"invalid": "expected Unix seconds or an ISO 8601 time"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        try:
            return float(value)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()


class HistoryQuery(Body):
    """``?gun=&since=&limit=`` of the history routes (query strings: numbers are parsed)."""

    gun = Text()
    since = Since()
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 10_000, error="expected 1 to 10000"))


class EventsQuery(HistoryQuery):
    kind = Text()
    after = fields.Integer(validate=validate.Range(0, error="expected an event id >= 0"))
