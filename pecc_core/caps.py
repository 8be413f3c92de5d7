"""The operator's run-time caps: site cap, per-gun caps, policy params, changed while running.

An update is a partial mapping (the control API's ``PUT /api/limits``)::

    {"site_max_power_w": 150000,
     "guns": {"1-1": {"max_current_a": 100, "max_power_w": 50000, "priority": 2}},
     "policy": {"min_power_w": 5000}}

It is validated with the profile's field classes, so the messages read
like the profile's (``guns.1-1.max_current_a: got -5; expected a value >=
0``), and applied all at once by :func:`apply` (the control API calls it):
an invalid update raises :class:`CapsError` before anything changed. A
``null`` cap removes that cap. Policy params are merged into the present
ones and checked by the policy's own params schema.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from marshmallow import ValidationError, fields

from pecc_core.model import OperatorCaps
from pecc_core.problems import describe
from pecc_core.profile.schema import Integer, Number, StrictSchema, at_least, between

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pecc_core.station import Station

log = logging.getLogger(__name__)


class CapsError(ValueError):
    """A refused update: every problem as ``key: got VALUE; message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class CapsSchema(StrictSchema):
    max_current_a = Number(allow_none=True, validate=at_least(0))
    max_power_w = Number(allow_none=True, validate=at_least(0))
    priority = Integer(validate=between(-1000, 1000))


class UpdateSchema(StrictSchema):
    site_max_power_w = Number(allow_none=True, validate=at_least(0))
    guns = fields.Dict(keys=fields.String())  # each value: CapsSchema, checked per gun
    policy = fields.Dict(keys=fields.String())


@dataclass(frozen=True, slots=True)
class Update:
    """A validated update: only what the request named."""

    site: dict[str, float | None]  # {"site_max_power_w": W or None} or {}
    guns: dict[str, OperatorCaps]  # the new caps of each named gun
    policy: Any  # the policy's validated params, or None when unchanged


def parse_update(
    raw: Any,
    gun_ids: Iterable[str],
    present: dict[str, OperatorCaps],
    policy_params: dict[str, Any],
    params_schema: type | None,
) -> Update:
    """Validate ``raw`` against the schemas, the gun ids and the policy's params schema.

    :raises CapsError: naming every bad key and value; nothing is built.
    """
    if not isinstance(raw, dict):
        raise CapsError([f"(top level): got {raw!r}; expected an object"])
    try:
        data = UpdateSchema().load(raw)
    except ValidationError as exc:
        raise CapsError(list(describe(exc.messages, raw))) from None
    known = set(gun_ids)
    problems: list[str] = []
    guns: dict[str, OperatorCaps] = {}
    for gun, changes in data.get("guns", {}).items():
        if gun not in known:
            problems.append(f"guns.{gun}: unknown gun; expected one of {sorted(known)}")
            continue
        try:
            guns[gun] = replace(present[gun], **CapsSchema().load(changes))
        except ValidationError as exc:
            problems.extend(describe(exc.messages, changes, f"guns.{gun}"))
    if problems:
        raise CapsError(problems)
    policy = None
    if "policy" in data:
        merged = {**policy_params, **data["policy"]}
        if params_schema is None:
            if data["policy"]:
                raise CapsError([f"policy: got {data['policy']!r}; this policy takes no params"])
        else:
            try:
                policy = params_schema().load(merged)
            except ValidationError as exc:
                raise CapsError(list(describe(exc.messages, merged, "policy"))) from None
    site = {"site_max_power_w": data["site_max_power_w"]} if "site_max_power_w" in data else {}
    return Update(site=site, guns=guns, policy=policy)


def snapshot(station: Station) -> dict[str, Any]:
    """The run-time caps now: site cap, every gun's caps, the policy and its params.

    With a site coordinator (``site_share_w`` not None) the policies share the
    smaller of ``site_max_power_w`` and ``site_share_w``.
    """
    allocator = station.allocator
    return {
        "site_max_power_w": allocator.pool.site_power_max,
        "site_share_w": allocator.pool.site_share,
        "guns": {gun.id: gun.caps.as_dict() for gun in station.guns.values()},
        "policy": {"name": station.profile.policy.name, "params": dict(allocator.params)},
    }


def apply(station: Station, raw: Any) -> dict[str, Any]:
    """Validate and apply a partial caps update to ``station`` at once; the new snapshot.

    Everything is validated (and a new policy built) before anything
    changes, so a refused update (:class:`CapsError`) leaves the station
    exactly as it was. The new caps reach every gun's setpoint and the
    allocation now, not at the next cycle.
    """
    allocator = station.allocator
    registration = station.plugins.registry("limit_policy").get(station.profile.policy.name)
    update = parse_update(
        raw,
        station.guns,
        {gun.id: gun.caps for gun in station.guns.values()},
        allocator.params,
        registration.params,
    )
    if update.policy is not None:
        allocator.set_policy(registration.factory(update.policy), {**allocator.params, **raw["policy"]})
    if update.site:
        allocator.pool.set_site_power_max(update.site["site_max_power_w"])
    for gun_id, caps in update.guns.items():
        station.guns[gun_id].set_caps(caps)
    log.info("run-time limits changed: %s", raw)
    allocator.allocate()
    return snapshot(station)


def set_site_share(station: Station, watts: float | None) -> None:
    """The share of the site's grid connection a site coordinator gives ``station`` (W), at once.

    Like :func:`apply`, the allocation is recomputed now, so a lower share
    lowers every gun's setpoint before this returns. The station's own site
    cap is kept apart (see :meth:`~pecc_core.pool.ModulePool.set_site_share`).
    """
    if watts is not None and not watts >= 0:
        raise CapsError([f"site_share_w: got {watts!r}; expected a value >= 0"])
    station.allocator.pool.set_site_share(watts)
    log.info("site share: %s W", "none" if watts is None else f"{watts:g}")
    station.allocator.allocate()
