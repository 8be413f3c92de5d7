"""The field types and validators every profile schema is built from.

Core and plugin schemas (a driver's params, a service's) use these so that
every refusal reads the same way to the person who edits the profile: what
was expected, never a Python type name. ``pecc_core.profile.schema``
re-exports them: that is the import path plugins use.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, missing, validate

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Number(fields.Float):
    default_error_messages = {
        "invalid": "expected a number",
        "special": "expected a finite number",
        "required": "required key is missing",
        "null": "expected a number, not null",
    }


class Integer(fields.Integer):
    default_error_messages = {
        "invalid": "expected an integer",
        "required": "required key is missing",
        "null": "expected an integer, not null",
    }


class Milliseconds(fields.Field[float]):
    """A duration the profile writes in milliseconds, loaded as seconds.

    Declare it under the seconds name with the profile's key as ``data_key``
    (``tick_s = Milliseconds(data_key="tick_ms", load_default=50)``): the
    value is checked as an :class:`Integer` with ``validate`` in the
    profile's milliseconds (so are the messages), the code gets seconds,
    and no ``post_load`` converts by hand.
    """

    default_error_messages = Integer.default_error_messages

    def __init__(self, *, validate: Any = None, load_default: Any = missing, **kwargs: Any) -> None:
        self._ms = Integer(validate=validate)
        if isinstance(load_default, int):
            load_default = load_default / 1000
        super().__init__(load_default=load_default, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        ms: int = self._ms.deserialize(value, attr, data)
        return ms / 1000

    def _serialize(self, value: float | None, attr: str | None, obj: Any, **kwargs: Any) -> int | None:
        """Back to the profile's milliseconds (``pecc profiles show``)."""
        return None if value is None else round(value * 1000)


class String(fields.String):
    default_error_messages = {
        "invalid": "expected a string",
        "required": "required key is missing",
        "null": "expected a string, not null",
    }


class Boolean(fields.Boolean):
    default_error_messages = {
        "invalid": "expected true or false",
        "required": "required key is missing",
        "null": "expected true or false, not null",
    }


class Nested(fields.Nested):
    default_error_messages = {
        "required": "required key is missing",
        "null": "expected a table, not null",
        "type": "expected a table",
    }


class List(fields.List[Any]):
    default_error_messages = {
        "required": "required key is missing",
        "null": "expected a list, not null",
        "invalid": "expected a list",
    }


def at_least(lo: float) -> validate.Range:
    return validate.Range(min=lo, error=f"expected a value >= {lo}")


def between(lo: float, hi: float) -> validate.Range:
    return validate.Range(min=lo, max=hi, error=f"expected a value from {lo} to {hi}")


identifier = validate.Regexp(_ID, error="expected an id of letters, digits, '_', '.', '-'")


class StrictSchema(Schema):
    """Refuses unknown keys with a message a profile author understands."""

    error_messages = {
        "unknown": "unknown key",
        "type": "expected a table",
    }
