"""What car the simulator plugs in: battery, EV limits and charging curve.

A scenario is a small TOML file (``--scenario car.toml``); every key has a
default, so an empty file (or none) gives a mid-size EV charging from 20 %
to 80 %. Example::

    [battery]
    capacity_kwh = 77
    voltage_empty = 330      # open-circuit voltage at 0 % SOC
    voltage_full = 410       # open-circuit voltage at 100 % SOC
    internal_resistance_ohm = 0.06
    start_soc = 20
    target_soc = 80

    [ev]
    max_voltage = 450
    max_current = 200
    max_power = 150000

    # fraction of ev.max_current the car asks for, by SOC (%), interpolated
    curve = [[0, 0.9], [10, 1.0], [50, 1.0], [70, 0.65], [80, 0.45], [100, 0.1]]

Problems are reported as ``key: got VALUE; MESSAGE``, all at once.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from pecc_core.problems import describe

#: The shape of a typical DC charging curve of a 400 V car: the full current
#: from low SOC to about half, then a taper as the cells approach full.
DEFAULT_CURVE: tuple[tuple[float, float], ...] = (
    (0.0, 0.9),
    (10.0, 1.0),
    (50.0, 1.0),
    (70.0, 0.65),
    (80.0, 0.45),
    (90.0, 0.25),
    (100.0, 0.1),
)


class ScenarioError(Exception):
    """A scenario file cannot be used; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class BatterySpec:
    capacity_kwh: float
    voltage_empty: float
    voltage_full: float
    internal_resistance_ohm: float
    start_soc: float
    target_soc: float


@dataclass(frozen=True, slots=True)
class EvSpec:
    """The car's limits as it announces them in chargingSession."""

    min_voltage: float
    max_voltage: float
    min_current: float
    max_current: float
    max_power: float
    precharge_current: float
    precharge_tolerance_v: float
    vehicle_id: str


@dataclass(frozen=True, slots=True)
class Scenario:
    battery: BatterySpec
    ev: EvSpec
    curve: tuple[tuple[float, float], ...]


def _positive() -> fields.Float:
    return fields.Float(validate=validate.Range(min=0, min_inclusive=False, error="expected a value > 0"))


def _soc() -> fields.Float:
    return fields.Float(validate=validate.Range(min=0, max=100, error="expected a value from 0 to 100"))


class _Strict(Schema):
    error_messages = {"unknown": "unknown key", "type": "expected a table"}


class BatterySchema(_Strict):
    capacity_kwh = _positive()
    voltage_empty = _positive()
    voltage_full = _positive()
    internal_resistance_ohm = fields.Float(validate=validate.Range(min=0, max=1, error="expected 0 to 1 ohm"))
    start_soc = _soc()
    target_soc = _soc()

    @validates_schema
    def ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data["voltage_empty"] >= data["voltage_full"]:
            raise ValidationError("expected voltage_empty < voltage_full", "voltage_empty")
        if data["start_soc"] >= data["target_soc"]:
            raise ValidationError("expected start_soc < target_soc", "start_soc")

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> BatterySpec:
        return BatterySpec(**data)


class EvSchema(_Strict):
    min_voltage = fields.Float(validate=validate.Range(min=0, error="expected a value >= 0"))
    max_voltage = _positive()
    min_current = fields.Float(validate=validate.Range(min=0, error="expected a value >= 0"))
    max_current = _positive()
    max_power = _positive()
    precharge_current = fields.Float(validate=validate.Range(min=0, max=10, error="expected 0 to 10 A"))
    precharge_tolerance_v = _positive()
    vehicle_id = fields.String(validate=validate.Length(min=1, max=64, error="expected 1 to 64 characters"))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> EvSpec:
        return EvSpec(**data)


class ScenarioSchema(_Strict):
    battery = fields.Nested(BatterySchema)
    ev = fields.Nested(EvSchema)
    curve = fields.List(
        fields.Tuple((fields.Float(), fields.Float())),
        validate=validate.Length(min=2, error="expected at least two [soc, fraction] points"),
    )

    @validates_schema
    def consistent(self, data: dict[str, Any], **_: Any) -> None:
        battery, ev = data["battery"], data["ev"]
        if ev.max_voltage < battery.voltage_full:
            raise ValidationError(
                f"expected ev.max_voltage >= battery.voltage_full ({battery.voltage_full:g} V)", "ev"
            )
        if ev.min_voltage > battery.voltage_empty:
            raise ValidationError(
                f"expected ev.min_voltage <= battery.voltage_empty ({battery.voltage_empty:g} V)", "ev"
            )
        points = data["curve"]
        socs = [soc for soc, _ in points]
        if socs[0] != 0 or socs[-1] != 100 or any(a >= b for a, b in itertools.pairwise(socs)):
            raise ValidationError("expected SOC points rising strictly from 0 to 100", "curve")
        if any(not 0 <= fraction <= 1 for _, fraction in points):
            raise ValidationError("expected every current fraction from 0 to 1", "curve")

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Scenario:
        return Scenario(data["battery"], data["ev"], tuple((float(s), float(f)) for s, f in data["curve"]))


DEFAULTS: dict[str, Any] = {
    "battery": {
        "capacity_kwh": 77.0,
        "voltage_empty": 330.0,
        "voltage_full": 410.0,
        "internal_resistance_ohm": 0.06,
        "start_soc": 20.0,
        "target_soc": 80.0,
    },
    "ev": {
        "min_voltage": 150.0,
        "max_voltage": 450.0,
        "min_current": 0.0,
        "max_current": 200.0,
        "max_power": 150_000.0,
        "precharge_current": 2.0,
        "precharge_tolerance_v": 10.0,
        "vehicle_id": "SIMEV",
    },
    "curve": [list(p) for p in DEFAULT_CURVE],
}


def from_mapping(raw: dict[str, Any], source: str = "scenario") -> Scenario:
    """Validate ``raw`` (defaults filled in per key) into a :class:`Scenario`."""
    merged: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        given = raw.get(key, {} if isinstance(default, dict) else default)
        merged[key] = {**default, **given} if isinstance(default, dict) and isinstance(given, dict) else given
    merged.update({k: v for k, v in raw.items() if k not in DEFAULTS})  # refused as unknown below
    try:
        scenario: Scenario = ScenarioSchema().load(merged)
        return scenario
    except ValidationError as exc:
        problems = "\n".join(f"  - {p}" for p in describe(exc.messages, merged))
        raise ScenarioError(f"invalid scenario {source}:\n{problems}") from None


def load(path: Path | None) -> Scenario:
    """The scenario of TOML file ``path``, or the default one for ``None``."""
    if path is None:
        return from_mapping({}, "(defaults)")
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"invalid scenario {path}: {exc}") from None
    return from_mapping(raw, str(path))
