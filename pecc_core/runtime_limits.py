"""Limits an operator changes while the station runs: site cap, per-gun caps, policy params.

An update is a partial mapping (the control API's ``PUT /api/limits``)::

    {"site_max_power_w": 150000,
     "guns": {"1-1": {"max_current_a": 100, "max_power_w": 50000, "priority": 2}},
     "policy": {"min_power_w": 5000}}

It is validated with the profile's field classes, so the messages read
like the profile's (``guns.1-1.max_current_a: got -5; expected a value >=
0``), and applied all at once by :meth:`pecc_core.station.Station.apply_limits`:
an invalid update raises :class:`LimitsError` before anything changed. A
``null`` cap removes that cap. Policy params are merged into the present
ones and checked by the policy's own params schema.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from marshmallow import ValidationError, fields

from pecc_core.profile.loader import describe
from pecc_core.profile.schema import Integer, Number, StrictSchema, at_least, between

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pecc_core.profile.model import GunConfig


class LimitsError(ValueError):
    """A refused update: every problem as ``key: got VALUE; message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class GunCaps:
    """An operator's caps on one gun, on top of its profile limits (None = no cap)."""

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


class GunCapsSchema(StrictSchema):
    max_current_a = Number(allow_none=True, validate=at_least(0))
    max_power_w = Number(allow_none=True, validate=at_least(0))
    priority = Integer(validate=between(-1000, 1000))


class UpdateSchema(StrictSchema):
    site_max_power_w = Number(allow_none=True, validate=at_least(0))
    guns = fields.Dict(keys=fields.String())  # each value: GunCapsSchema, checked per gun
    policy = fields.Dict(keys=fields.String())


@dataclass(frozen=True, slots=True)
class Update:
    """A validated update: only what the request named."""

    site: dict[str, float | None]  # {"site_max_power_w": W or None} or {}
    guns: dict[str, GunCaps]  # the new caps of each named gun
    policy: Any  # the policy's validated params, or None when unchanged


def parse_update(
    raw: Any,
    gun_ids: Iterable[str],
    present: dict[str, GunCaps],
    policy_params: dict[str, Any],
    params_schema: type | None,
) -> Update:
    """Validate ``raw`` against the schemas, the gun ids and the policy's params schema.

    :raises LimitsError: naming every bad key and value; nothing is built.
    """
    if not isinstance(raw, dict):
        raise LimitsError([f"(top level): got {raw!r}; expected an object"])
    try:
        data = UpdateSchema().load(raw)
    except ValidationError as exc:
        raise LimitsError(list(describe(exc.messages, raw))) from None
    known = set(gun_ids)
    problems: list[str] = []
    guns: dict[str, GunCaps] = {}
    for gun, changes in data.get("guns", {}).items():
        if gun not in known:
            problems.append(f"guns.{gun}: unknown gun; expected one of {sorted(known)}")
            continue
        try:
            guns[gun] = replace(present[gun], **GunCapsSchema().load(changes))
        except ValidationError as exc:
            problems.extend(describe(exc.messages, changes, f"guns.{gun}"))
    if problems:
        raise LimitsError(problems)
    policy = None
    if "policy" in data:
        merged = {**policy_params, **data["policy"]}
        if params_schema is None:
            if data["policy"]:
                raise LimitsError([f"policy: got {data['policy']!r}; this policy takes no params"])
        else:
            try:
                policy = params_schema().load(merged)
            except ValidationError as exc:
                raise LimitsError(list(describe(exc.messages, merged, "policy"))) from None
    site = {"site_max_power_w": data["site_max_power_w"]} if "site_max_power_w" in data else {}
    return Update(site=site, guns=guns, policy=policy)
