"""Value types shared by the core and its plugins.

The string values are the ones PEP-WS puts on the wire, which are also the
vocabulary of ISO 15118 / IEC 61851-23; the core uses them as plain domain
words and never parses or builds protocol messages itself.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pecc_core.profile.model import GunConfig


class Contactors(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Isolation(StrEnum):
    INVALID = "invalid"  # no result yet
    VALID = "valid"
    WARNING = "warning"
    FAULT = "fault"


class Operational(StrEnum):
    OPERATIVE = "operative"
    INOPERATIVE = "inoperative"


class Phase(StrEnum):
    """The charging phase an SECC asks for in targetValues."""

    STANDBY = "standby"
    PRECHARGE = "preCharge"
    CHARGE = "charge"
    POSTCHARGE = "postCharge"


class EvConnection(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTED = "connected"
    ENERGY_TRANSFER_ALLOWED = "energyTransferAllowed"
    ERROR = "error"


class ChargeMode(StrEnum):
    SCHEDULED = "scheduled"
    DYNAMIC = "dynamic"
    DYNAMIC_BPT = "dynamicBpt"


@dataclass(frozen=True, slots=True)
class Limits:
    """A gun's effective limits: what it can deliver right now (V, A, W).

    Computed by :func:`pecc_core.gun.limits.effective_limits`.

    Discharge values are ``None`` unless the hardware is bidirectional; when
    set they are <= 0, as PEP-WS requires.
    """

    voltage_min: float
    voltage_max: float
    current_min: float
    current_max: float
    power_min: float
    power_max: float
    discharge_current_min: float | None = None
    discharge_current_max: float | None = None
    discharge_power_min: float | None = None
    discharge_power_max: float | None = None


@dataclass(slots=True)
class Status:
    """A gun's reported state, as sent in every status message."""

    measured_voltage: float = 0.0
    measured_current: float = 0.0
    driven_voltage: float = 0.0
    driven_current: float = 0.0
    temperature: float = 25.0
    contactors: Contactors = Contactors.OPEN
    isolation: Isolation = Isolation.INVALID
    operational: Operational = Operational.OPERATIVE
    #: How many times the gun has gone inoperative (not sent): a reader that sees
    #: it change knows the gun was inoperative since its last look, however briefly.
    inoperative_count: int = 0


@dataclass(slots=True)
class EvSession:
    """What the SECC told us about the car (chargingSession); merged field by field."""

    charging_profile_max_power_limit_watts: float | None = None
    time_to_full_soc_seconds: float | None = None
    ev_min_voltage_volts: float | None = None
    ev_max_voltage_volts: float | None = None
    ev_min_current_amperes: float | None = None
    ev_max_current_amperes: float | None = None
    ev_min_power_watts: float | None = None
    ev_max_power_watts: float | None = None
    ev_min_discharge_current_amperes: float | None = None
    ev_max_discharge_current_amperes: float | None = None
    ev_min_discharge_power_watts: float | None = None
    ev_max_discharge_power_watts: float | None = None
    charge_mode: ChargeMode | None = None

    def merge(self, changes: dict[str, Any]) -> None:
        """Apply a partial update: fields absent from ``changes`` keep their values."""
        for name, value in changes.items():
            setattr(self, name, value)

    def clear(self) -> None:
        for f in fields(self):
            setattr(self, f.name, None)


@dataclass(frozen=True, slots=True)
class Target:
    """One targetValues request, as the state machine sees it."""

    voltage: float
    current: float
    soc: float
    phase: Phase


@dataclass(frozen=True, slots=True)
class OperatorCaps:
    """An operator's run-time caps on one gun, on top of its profile ratings (None = no cap).

    Set through the control API (:mod:`pecc_core.caps` parses and applies
    an update); the gun lowers its ratings with :meth:`apply`.
    """

    max_current_a: float | None = None
    max_power_w: float | None = None
    priority: int = 0

    def apply(self, config: GunConfig) -> GunConfig:
        """``config`` with its current and power maxima lowered to these caps."""
        current_max = config.current_max if self.max_current_a is None else min(
            config.current_max, self.max_current_a
        )
        power_max = config.power_max if self.max_power_w is None else min(
            config.power_max, self.max_power_w
        )
        return replace(
            config,
            current_max=current_max,
            current_min=min(config.current_min, current_max),
            power_max=power_max,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_current_a": self.max_current_a,
            "max_power_w": self.max_power_w,
            "priority": self.priority,
        }
