"""marshmallow schemas of every PEP-WS message, one per ``(type, kind)``.

Each schema mirrors the official JSON schema of PEP-WS 1.8
(``shared/pep-ws/schemas/<type>-<kind>.json``) field by field: the same
required fields, JSON types, enums and minimum/maximum. Two deliberate
choices follow those files rather than a stricter reading:

- **Extra properties are accepted and dropped** (``unknown = EXCLUDE``): no
  official schema sets ``additionalProperties: false``, so an SECC that adds a
  field sends a valid message and must get a response, not an error.
- **``"payload": {}`` accepts any JSON value**: the official schemas of the
  configuration, reset and stopCharging requests and of most responses
  declare ``payload`` with the empty schema, which JSON Schema reads as "any
  value"; only its presence is required. :class:`AnyPayload` does the same.

One documented deviation: the error schema's ``kind`` enum lists only seven
kinds, while the protocol text says an error carries the kind of the request
it answers. :class:`ErrorMessage` accepts every kind of the protocol (see
PROTOCOL.md, "Errors"), so an SECC's error to our ``getInput`` is understood.

Field types follow JSON Schema draft-06, not Python: ``number`` is an int or
a float but never a boolean, ``integer`` also admits ``5.0``, ``string`` is
only a string. Loaded messages keep the wire's camelCase keys, except the
chargingSession payload, which loads straight into the snake_case names of
:class:`pecc_core.model.EvSession`.
"""

from __future__ import annotations

import math
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

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
#: The ``kind`` enum of the official error schema (a subset: see the module doc).
OFFICIAL_ERROR_KINDS = (
    "configuration",
    "cableCheck",
    "targetValues",
    "contactorsStatus",
    "error",
    "event",
    "status",
)
ERROR_CATEGORIES = ("format", "value", "inoperative", "internal", "generic")


class PepSchema(Schema):
    """Base of every message and payload schema: extra properties are dropped."""

    class Meta:
        unknown = EXCLUDE


# -- JSON Schema types -----------------------------------------------------


class JsonNumber(fields.Field[float]):
    """JSON Schema ``number``: an int or a finite float, never a boolean or a string."""

    default_error_messages = {"invalid": "expected a number"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("invalid")
        return value


class JsonInteger(fields.Field[int]):
    """JSON Schema draft-06 ``integer``: an int, or a float with no fractional part."""

    default_error_messages = {"invalid": "expected an integer"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        raise self.make_error("invalid")


class JsonString(fields.String):
    """JSON Schema ``string``."""

    default_error_messages = {"invalid": "expected a string"}


class JsonBoolean(fields.Field[bool]):
    """JSON Schema ``boolean``: ``true`` or ``false`` only (marshmallow's Boolean takes "yes" too)."""

    default_error_messages = {"invalid": "expected true or false"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class JsonObject(fields.Dict):
    """JSON Schema ``object`` with no declared properties: any mapping, kept as is."""

    default_error_messages = {"invalid": "expected an object"}


class AnyPayload(fields.Raw):
    """The empty schema ``{}``: any JSON value, only its presence is required."""

    def __init__(self) -> None:
        super().__init__(required=True, allow_none=True)


def number(lo: float | None = None, hi: float | None = None, **kw: Any) -> JsonNumber:
    """A ``number`` field with the official minimum/maximum."""
    return JsonNumber(validate=validate.Range(min=lo, max=hi), **kw)


def non_negative(**kw: Any) -> JsonNumber:
    """``minimum: 0, maximum: 2147483647``: voltages, currents, powers, charging limits."""
    return number(0, INT32_MAX, **kw)


def non_positive(**kw: Any) -> JsonNumber:
    """``minimum: -2147483647, maximum: 0``: every discharge (BPT) value."""
    return number(-INT32_MAX, 0, **kw)


def one_of(choices: tuple[str, ...], **kw: Any) -> JsonString:
    return JsonString(validate=validate.OneOf(choices), **kw)


def sequence_number() -> JsonInteger:
    return JsonInteger(required=True, validate=validate.Range(min=0, max=SEQUENCE_MAX))


CONTACTORS = ("open", "closed")

# -- payloads (one per official definitions/*Payload) -------------------------


class CableCheckRequestPayload(PepSchema):
    voltage = non_negative(required=True)


class ContactorsStatusRequestPayload(PepSchema):
    contactorsStatus = one_of(CONTACTORS, required=True)


class TargetValuesRequestPayload(PepSchema):
    targetVoltage = non_negative(required=True)
    targetCurrent = non_negative(required=True)
    batteryStateOfCharge = number(0, 100, required=True)
    chargingState = one_of(("standby", "preCharge", "charge", "postCharge"), required=True)


class GetInputRequestPayload(PepSchema):
    inputIdentifiers = fields.List(JsonString(), required=True)


class SetOutputRequestPayload(PepSchema):
    outputValues = JsonObject(required=True)


class ConfigurationResponsePayload(PepSchema):
    firmwareVersion = JsonString(required=True)
    manufacturer = JsonString(required=True)
    limitVoltageMin = non_negative(required=True)
    limitVoltageMax = non_negative(required=True)
    limitCurrentMin = non_negative(required=True)
    limitCurrentMax = non_negative(required=True)
    limitPowerMin = non_negative()
    limitPowerMax = non_negative(required=True)
    limitDischargeCurrentMin = non_positive()
    limitDischargeCurrentMax = non_positive()
    limitDischargePowerMin = non_positive()
    limitDischargePowerMax = non_positive()
    floatValues = JsonBoolean()


class StatusInfoPayload(PepSchema):
    measuredVoltage = non_negative(required=True)
    measuredCurrent = non_negative(required=True)
    drivenVoltage = non_negative(required=True)
    drivenCurrent = non_negative(required=True)
    temperature = number(required=True)
    contactorsStatus = one_of(CONTACTORS, required=True)
    isolationStatus = one_of(("valid", "invalid", "warning", "fault"), required=True)
    operationalStatus = one_of(("operative", "inoperative"), required=True)


class EventInfoPayload(PepSchema):
    eventDetails = JsonString(required=True)


class EvConnectionStatePayload(PepSchema):
    evConnectionState = one_of(
        ("disconnected", "connected", "energyTransferAllowed", "error"), required=True
    )
    vehicleId = JsonString()


class ChargingSessionInfoPayload(PepSchema):
    """Every field optional (only the changed ones are sent); loads to EvSession names."""

    charging_profile_max_power_limit_watts = non_negative(data_key="chargingProfileMaxPowerLimitWatts")
    time_to_full_soc_seconds = non_negative(data_key="timeToFullSocSeconds")
    ev_min_voltage_volts = non_negative(data_key="evMinVoltageVolts")
    ev_max_voltage_volts = non_negative(data_key="evMaxVoltageVolts")
    ev_min_current_amperes = non_negative(data_key="evMinCurrentAmperes")
    ev_max_current_amperes = non_negative(data_key="evMaxCurrentAmperes")
    ev_min_power_watts = non_negative(data_key="evMinPowerWatts")
    ev_max_power_watts = non_negative(data_key="evMaxPowerWatts")
    ev_min_discharge_current_amperes = non_positive(data_key="evMinDischargeCurrentAmperes")
    ev_max_discharge_current_amperes = non_positive(data_key="evMaxDischargeCurrentAmperes")
    ev_min_discharge_power_watts = non_positive(data_key="evMinDischargePowerWatts")
    ev_max_discharge_power_watts = non_positive(data_key="evMaxDischargePowerWatts")
    charge_mode = one_of(("scheduled", "dynamic", "dynamicBpt"), data_key="chargeMode")


class ErrorMessagePayload(PepSchema):
    errorCategory = one_of(ERROR_CATEGORIES, required=True)
    errorDetails = JsonString(required=True)


# -- whole messages ----------------------------------------------------------


def _message(msg_type: str, kind_field: JsonString, payload: fields.Field[Any], name: str) -> Schema:
    """The schema of one message: the official envelope around ``payload``."""
    spec: dict[str, fields.Field[Any]] = {
        "type": one_of((msg_type,), required=True),
        "kind": kind_field,
        "payload": payload,
    }
    if msg_type != "info":
        spec["sequenceNumber"] = sequence_number()
    return PepSchema.from_dict(spec, name=name)()


def _schema(msg_type: str, kind: str, payload: type[PepSchema] | None) -> Schema:
    field: fields.Field[Any] = AnyPayload() if payload is None else fields.Nested(payload, required=True)
    name = f"{msg_type.capitalize()}{kind[0].upper()}{kind[1:]}"
    return _message(msg_type, one_of((kind,), required=True), field, name)


#: ``(type, kind) -> schema`` for every message file of the revision except
#: the error, which has one schema for all kinds (:data:`ERROR`). ``None`` as
#: payload stands for the official empty schema ``{}``.
MESSAGES: dict[tuple[str, str], Schema] = {
    **{
        ("request", kind): _schema("request", kind, payload)
        for kind, payload in (
            ("configuration", None),
            ("cableCheck", CableCheckRequestPayload),
            ("targetValues", TargetValuesRequestPayload),
            ("contactorsStatus", ContactorsStatusRequestPayload),
            ("reset", None),
            ("getInput", GetInputRequestPayload),
            ("setOutput", SetOutputRequestPayload),
            ("stopCharging", None),
        )
    },
    **{
        ("response", kind): _schema("response", kind, None)
        for kind in ("cableCheck", "targetValues", "contactorsStatus", "reset", "setOutput", "stopCharging")
    },
    ("response", "configuration"): _schema("response", "configuration", ConfigurationResponsePayload),
    # getInput's response payload is declared ``{"type": "object"}`` with no properties.
    ("response", "getInput"): _message(
        "response", one_of(("getInput",), required=True), JsonObject(required=True), "ResponseGetInput"
    ),
    **{
        ("info", kind): _schema("info", kind, payload)
        for kind, payload in (
            ("status", StatusInfoPayload),
            ("event", EventInfoPayload),
            ("evConnectionState", EvConnectionStatePayload),
            ("chargingSession", ChargingSessionInfoPayload),
        )
    },
}

#: Every error, whatever it answers (the kind enum widened: see the module doc).
ERROR = _message(
    "error",
    one_of(REQUEST_KINDS + INFO_KINDS + ("error",), required=True),
    fields.Nested(ErrorMessagePayload, required=True),
    "ErrorError",
)

#: The bare envelope per type, for kinds a vendor plugin adds without a schema.
ENVELOPES: dict[str, Schema] = {
    t: _message(t, JsonString(required=True), AnyPayload(), f"{t.capitalize()}Envelope")
    for t in MESSAGE_TYPES
}


def schema_for(msg_type: str, kind: str) -> Schema | None:
    """The schema of a ``(type, kind)`` message, or None for a kind of no official file."""
    if msg_type == "error":
        return ERROR
    return MESSAGES.get((msg_type, kind))


def describe(messages: Any, prefix: str = "") -> str:
    """marshmallow's nested error messages as one line: ``payload.voltage: ...; kind: ...``."""
    return "; ".join(problems.describe(messages, prefix=prefix, top="message"))

