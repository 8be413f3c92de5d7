"""The PEP-WS 1.8 message schemas: the official JSON schema files, compiled once.

``official/`` holds the revision's files verbatim (``shared/pep-ws/schemas``
of the specification; a test checks that the copies are identical). At
import each is compiled by fastjsonschema into plain Python code, so a
message is checked by a handful of ``isinstance`` tests and comparisons
(about 5 us for a targetValues request) with exactly the files' semantics:
draft-06 types (a number is never a boolean, an integer may be written
``5.0``), required fields, enums, minimum and maximum, extra properties
accepted (no file sets ``additionalProperties: false``) and ``"payload": {}``
accepting any value.

Validation stops at the **first** failure and describes only that one: a
hostile 64 KiB array of 32,000 wrong items costs one item, not a list of
32,000 error messages.

Two schemas are derived from the files rather than written by hand:

- the error schema with its ``kind`` enum widened to every kind of the
  protocol: the file lists seven kinds, while the protocol text says an
  error carries the kind of the request it answers (PROTOCOL.md, "Errors"),
  so an SECC's error to our ``getInput`` must be understood;
- per message type, the bare envelope (any ``kind``, any payload), for the
  kinds a vendor plugin adds without a schema.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import fastjsonschema

from pecc_core import problems

INT32_MAX: int = 2**31 - 1
SEQUENCE_MAX = INT32_MAX

MESSAGE_TYPES = ("request", "response", "error", "info")
#: Requests the SECC sends to the PECC.
SECC_REQUESTS = ("configuration", "cableCheck", "targetValues", "contactorsStatus", "reset")
#: Requests the PECC sends to the SECC.
PECC_REQUESTS = ("getInput", "setOutput", "stopCharging")
REQUEST_KINDS = SECC_REQUESTS + PECC_REQUESTS
INFO_KINDS = ("status", "event", "evConnectionState", "chargingSession")

#: A compiled schema: returns the message, or raises JsonSchemaValueException.
Validator = Callable[[Any], Any]


def _official() -> dict[tuple[str, str], dict[str, Any]]:
    """The shipped copies of the official files by ``(type, kind)``."""
    folder = files("pecc_plugins.pepws").joinpath("official")
    schemas = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            msg_type, _, kind = entry.name.removesuffix(".json").partition("-")
            schemas[(msg_type, kind)] = json.loads(entry.read_text(encoding="utf-8"))
    return schemas


def _compile(schema: dict[str, Any]) -> Validator:
    # use_default=False: a validator must never write into the message it checks
    return fastjsonschema.compile(schema, use_default=False)


def _widened_error(error: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(error)
    schema["definitions"]["kindType"]["enum"] = [*REQUEST_KINDS, *INFO_KINDS, "error"]
    return schema


def _envelope(example: dict[str, Any]) -> dict[str, Any]:
    """``example``'s envelope with any ``kind`` and any payload."""
    schema = copy.deepcopy(example)
    schema["properties"]["kind"] = {"type": "string"}
    schema["properties"]["payload"] = {}
    return schema


OFFICIAL: dict[tuple[str, str], dict[str, Any]] = _official()

#: ``(type, kind) -> validator`` for every message file of the revision except
#: the error, which has one schema for all kinds (:data:`ERROR`).
MESSAGES: dict[tuple[str, str], Validator] = {
    key: _compile(schema) for key, schema in OFFICIAL.items() if key[0] != "error"
}

#: Every error, whatever it answers (the kind enum widened: see the module doc).
ERROR: Validator = _compile(_widened_error(OFFICIAL[("error", "error")]))

#: The bare envelope per type, for kinds a vendor plugin adds without a schema.
ENVELOPES: dict[str, Validator] = {
    "request": _compile(_envelope(OFFICIAL[("request", "configuration")])),
    "response": _compile(_envelope(OFFICIAL[("response", "configuration")])),
    "info": _compile(_envelope(OFFICIAL[("info", "event")])),
    "error": ERROR,
}


def validator_for(msg_type: str, kind: str) -> Validator | None:
    """The validator of a ``(type, kind)`` message, or None for a kind of no official file."""
    if msg_type == "error":
        return ERROR
    return MESSAGES.get((msg_type, kind))


def problem(validate: Validator, message: Any) -> str | None:
    """Why ``message`` fails ``validate``: its first failure as ``path: what``, or None if valid.

    ``payload.voltage: must be bigger than or equal to 0``; a failure of the
    whole message is ``message: must contain ['payload'] properties``.
    """
    try:
        validate(message)
    except fastjsonschema.JsonSchemaValueException as exc:
        name = exc.name or "data"  # fastjsonschema's path, rooted at "data"
        what = exc.message.removeprefix(name).lstrip()
        return f"{name.removeprefix('data.') if name != 'data' else 'message'}: {what}"
    return None


def describe(messages: Any, prefix: str = "") -> str:
    """marshmallow's nested error messages as one line: ``payload.voltage: ...; kind: ...``."""
    return "; ".join(problems.describe(messages, prefix=prefix, top="message"))

