"""Request bodies of the control API: marshmallow schemas with strict JSON types.

JSON already has types, so nothing is coerced: ``"1e3"`` is not a number,
``1.5`` is not an integer and ``1`` is not ``true``. The schemas check
types and shapes; gun ids, lower bounds and policy params are checked by
the station's own validation (:mod:`pecc_core.caps`), which names the bad
key the same way a profile error does.

Every number is bounded before anything uses it, so no input can overflow
a conversion or reach the station as an absurd value:

- anywhere in a body (policy params and SECC outputs too): a finite number
  of magnitude at most :data:`LARGEST` (``NaN`` and ``Infinity``, which
  Python's JSON parser reads, are refused as well);
- the caps, by what a cabinet can physically have: :data:`MAX_POWER_W`
  for the site cap and a gun's power cap, :data:`MAX_CURRENT_A` for a
  gun's current cap;
- in a query: ``limit`` 1 to 10000, ``after`` a SQLite integer, ``since``
  a time from the year 1 to 9999.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from pecc_core.problems import describe

#: The largest magnitude of any number in a body: beyond every quantity a charger
#: deals with, and below 2**53, so an integer stays exact as a float.
LARGEST = 10**15
#: The highest site or gun power cap (W): 10 MW. A cabinet has at most 256 power
#: modules (addresses 0-255) of typically 30-40 kW, and a charging park's
#: medium-voltage grid connection is of this order; a larger cap means nothing.
MAX_POWER_W = 10_000_000
#: The highest gun current cap (A): over three times the Megawatt Charging
#: System's 3000 A, the largest DC connector there is.
MAX_CURRENT_A = 10_000
#: The largest event id a query may name: SQLite's largest integer.
MAX_ROW_ID = 2**63 - 1
#: ``since`` from the year 1 to 9999 (what ISO 8601 times can say), in Unix seconds.
EARLIEST = datetime(1, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


class BodyError(ValueError):
    """A refused body: every problem as ``key: got VALUE; expected ...``."""


#: What a number beyond :data:`LARGEST` is told.
UNBOUNDED = f"expected a finite number from -{LARGEST:.0e} to {LARGEST:.0e}"


def bounded(value: Any) -> bool:
    """Whether a number is finite and at most :data:`LARGEST` in magnitude (an int is never converted)."""
    return bool(-LARGEST <= value <= LARGEST)  # NaN compares false


class Real(fields.Field[Any]):
    """A finite JSON number (int or float), never a string or a boolean; at most ``top``.

    ``beyond`` is the message for a number above ``top``. Numbers are
    compared before they are converted, so a 400-digit integer is refused,
    not an overflow.
    """

    default_error_messages = {
        "invalid": "expected a number",
        "null": "expected a number, not null",
        "unbounded": UNBOUNDED,
    }

    def __init__(self, *, top: float = LARGEST, beyond: str = UNBOUNDED, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.top = top
        self.error_messages = {**self.error_messages, "above": beyond}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if not bounded(value):
            raise self.make_error("above" if value > 0 else "unbounded")
        if value > self.top:
            raise self.make_error("above")
        return float(value)


class Whole(fields.Field[Any]):
    """A JSON integer, never ``1.5``, ``1.0`` written as a float, a string or a boolean."""

    default_error_messages = {"invalid": "expected an integer", "null": "expected an integer, not null"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class Flag(fields.Field[Any]):
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


class Power(Real):
    """A power cap (W): at most :data:`MAX_POWER_W`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(top=MAX_POWER_W, beyond=f"expected at most {MAX_POWER_W} W (10 MW)", **kwargs)


class GunCapsBody(Body):
    max_current_a = Real(
        allow_none=True, top=MAX_CURRENT_A, beyond=f"expected at most {MAX_CURRENT_A} A (10 kA)"
    )
    max_power_w = Power(allow_none=True)
    priority = Whole()


class LimitsBody(Body):
    site_max_power_w = Power(allow_none=True)
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
    """``body`` checked by ``schema``; :class:`BodyError` naming every bad key.

    Once the schema has passed it, a number beyond :data:`LARGEST` in its
    free-form parts (policy params, SECC outputs) is refused too.
    """
    if not isinstance(body, dict):
        raise BodyError(f"(body): got {_short(body)}; expected a JSON object")
    try:
        loaded: dict[str, Any] = schema.load(body)
    except ValidationError as exc:
        raise BodyError("; ".join(describe(_unwrap(exc.messages), body))) from None
    unbounded = [f"{key}: got {_short(value)}; {UNBOUNDED}" for key, value in _numbers(body)]
    if unbounded:
        raise BodyError("; ".join(unbounded))
    return loaded


def _numbers(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """``(key, number)`` for each number beyond :data:`LARGEST` in ``value``, keyed as :func:`describe` keys."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for n, v in enumerate(value):
            yield from _numbers(v, f"{key}[{n}]")
    elif isinstance(value, int | float) and not isinstance(value, bool) and not bounded(value):
        yield key or "(body)", value


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


class Since(fields.Field[Any]):
    """A time in a query: Unix seconds or ISO 8601 (``2026-01-31T12:00:00+00:00``), years 1 to 9999."""

    default_error_messages = {"invalid": "expected Unix seconds or an ISO 8601 time, of the years 1 to 9999"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        try:
            seconds = float(value)
        except ValueError:
            seconds = self._iso(value)
        if not EARLIEST <= seconds <= LATEST:  # NaN and infinities too
            raise self.make_error("invalid")
        return seconds

    def _iso(self, value: str) -> float:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            return moment.timestamp()
        except (OverflowError, ValueError):  # an offset beyond the years 1..9999
            raise self.make_error("invalid") from None


class HistoryQuery(Body):
    """``?gun=&since=&limit=`` of the history routes (query strings: numbers are parsed)."""

    gun = Text()
    since = Since()
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 10_000, error="expected 1 to 10000"))


class EventsQuery(HistoryQuery):
    kind = Text()
    after = fields.Integer(validate=validate.Range(0, MAX_ROW_ID, error="expected an event id from 0 to {max}"))
