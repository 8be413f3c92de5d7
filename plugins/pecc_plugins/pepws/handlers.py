"""The standard PEP-WS message handlers: one function per kind the SECC sends.

Each maps one validated message (its payload as on the wire) onto the gun's API
(:class:`pecc_core.gun.Gun`); what is allowed when is the
gun's state machine's business, and its refusals become protocol errors in
:mod:`pecc_plugins.pepws.dispatch`. Signature: ``handler(gun, payload, link)``;
request handlers return the response payload, ``None`` meaning ``{}``.

A vendor plugin overrides a kind by registering its own handler for the
same ``(type, kind)`` (later registrations win).
"""

from __future__ import annotations

import logging
import math
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from pecc_core.model import ChargeMode, EvConnection, EvSession, Phase, Target

if TYPE_CHECKING:
    from pecc_core.gun import Gun
    from pecc_plugins.pepws.hookspecs import RegisterMessageHandler

log = logging.getLogger(__name__)


def configuration(gun: Gun, payload: Any, link: Any) -> dict[str, Any]:
    """The outlet's present capabilities; BPT fields only when the hardware discharges."""
    station = gun.wiring.station
    limits = gun.offered_limits()
    values: dict[str, float | None] = {
        "limitVoltageMin": limits.voltage_min,
        "limitVoltageMax": limits.voltage_max,
        "limitCurrentMin": limits.current_min,
        "limitCurrentMax": limits.current_max,
        "limitPowerMin": limits.power_min,
        "limitPowerMax": limits.power_max,
        "limitDischargeCurrentMin": limits.discharge_current_min,
        "limitDischargeCurrentMax": limits.discharge_current_max,
        "limitDischargePowerMin": limits.discharge_power_min,
        "limitDischargePowerMax": limits.discharge_power_max,
    }
    reply: dict[str, Any] = {
        "firmwareVersion": station.firmware_version,
        "manufacturer": station.manufacturer,
    }
    for key, value in values.items():
        if value is not None:
            reply[key] = value if station.float_values else conservative_integer(key, value)
    reply["floatValues"] = station.float_values
    return reply


def conservative_integer(key: str, value: float) -> int:
    """A limit as an integer that never promises more than the hardware can do.

    Maxima shrink toward zero, minima grow away from it: 999.6 V max -> 999,
    150.2 V min -> 151, -80.7 A max discharge -> -80. Plain rounding would
    let an SECC in integer mode ask for 1000 V and be refused.
    """
    if key.endswith("Max"):
        return math.trunc(value)
    return int(math.copysign(math.ceil(abs(value)), value))


async def cable_check(gun: Gun, payload: dict[str, Any], link: Any) -> None:
    await gun.cable_check(payload["voltage"])


async def target_values(gun: Gun, payload: dict[str, Any], link: Any) -> None:
    await gun.target_values(
        Target(
            voltage=payload["targetVoltage"],
            current=payload["targetCurrent"],
            soc=payload["batteryStateOfCharge"],
            phase=Phase(payload["chargingState"]),
        )
    )


async def contactors_status(gun: Gun, payload: dict[str, Any], link: Any) -> None:
    await gun.set_contactors(payload["contactorsStatus"] == "closed")


async def reset(gun: Gun, payload: Any, link: Any) -> None:
    await gun.reset()


def ev_connection_state(gun: Gun, payload: dict[str, Any], link: Any) -> None:
    gun.ev_connection_changed(EvConnection(payload["evConnectionState"]), payload.get("vehicleId"))


def _camel(name: str) -> str:
    head, *words = name.split("_")
    return head + "".join(word.title() for word in words)


#: chargingSession's field names on the wire -> :class:`EvSession`'s (the same words).
EV_SESSION_NAMES = {_camel(f.name): f.name for f in fields(EvSession)}


def charging_session(gun: Gun, payload: dict[str, Any], link: Any) -> None:
    """Only the fields present are changed; extra properties are not EvSession's and are dropped."""
    changes = {name: payload[key] for key, name in EV_SESSION_NAMES.items() if key in payload}
    if "charge_mode" in changes:
        changes["charge_mode"] = ChargeMode(changes["charge_mode"])
    gun.ev_session_changed(changes)


def event(gun: Gun, payload: dict[str, Any], link: Any) -> None:
    """An SECC's vendor-specific event: logged; a vendor plugin may give it meaning."""
    log.info("gun %s: SECC event: %s", gun.id, payload["eventDetails"])


HANDLERS = {
    ("request", "configuration"): configuration,
    ("request", "cableCheck"): cable_check,
    ("request", "targetValues"): target_values,
    ("request", "contactorsStatus"): contactors_status,
    ("request", "reset"): reset,
    ("info", "evConnectionState"): ev_connection_state,
    ("info", "chargingSession"): charging_session,
    ("info", "event"): event,
}


def register_all(register: RegisterMessageHandler) -> None:
    for (msg_type, kind), handler in HANDLERS.items():
        register(msg_type, kind, handler)


__all__ = ["HANDLERS", "register_all"]
