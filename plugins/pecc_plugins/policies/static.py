"""``static``: fixed modules per gun, whatever the guns are doing.

The simplest site choice and the profile default: each gun owns the same
modules all day, so no module is ever switched between guns (no relay
wear, no hand-over delay) at the price of idle modules beside a busy gun.
The assignment is either given in the params (gun id -> modules, each
``"can1:5"``, bus and address, or a bare address on a station of one bus)
or derived deterministically from the relay matrix: round-robin over the
guns in profile order, each taking the lowest free module it can reach,
up to ``max_modules_per_gun``. A failed module is simply not given (its
gun runs on the rest); it is not replaced, so nothing moves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError, fields, post_load, validates_schema

from pecc_core.policy import Allocation, GunDemand, PoolView
from pecc_core.power import ModuleId
from pecc_plugins.policies.assign import not_under_load
from pecc_plugins.policies.capacity import (
    Thermal,
    ThermalSchema,
    finish,
    load_params,
    per_gun_limit,
    pop_thermal,
    reaches,
)

#: A module as the assignment writes it: ``can1:5`` or a bare address.
_MODULE = re.compile(r"([a-z0-9_-]+:)?[0-9]+")


@dataclass(frozen=True, slots=True)
class StaticParams:
    """``assignment``: explicit modules per gun id; guns not named get none of those modules.

    A module as written (``"can1:5"``, or ``"5"``): which buses the station
    has is known once the policy sees the pool.
    """

    assignment: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    thermal: Thermal = field(default_factory=Thermal)


class ModuleField(fields.Field):  # type: ignore[type-arg]
    """A module of the assignment: ``"can1:5"``, or a bare address (an integer or ``"5"``) on one bus."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not _MODULE.fullmatch(text):
            raise ValidationError(f"expected a module like 'can1:5' (bus:address) or an address, got {value!r}")
        return text


class StaticSchema(ThermalSchema):
    """``[policy.params]`` of ``static``: an optional ``assignment`` table and derating."""

    assignment = fields.Dict(
        keys=fields.String(),
        values=fields.List(ModuleField()),
        load_default=dict,
    )

    @validates_schema
    def each_module_once(self, data: dict[str, Any], **_: Any) -> None:
        seen: dict[str, str] = {}
        for gun, addresses in data.get("assignment", {}).items():
            for address in addresses:
                if address in seen:
                    raise ValidationError(
                        f"expected each module on one gun, {address} is given to "
                        f"{seen[address]!r} and {gun!r}",
                        "assignment",
                    )
                seen[address] = gun

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> StaticParams:
        thermal = pop_thermal(data)
        assignment = {gun: tuple(a) for gun, a in data["assignment"].items()}
        return StaticParams(assignment=assignment, thermal=thermal)


def round_robin(guns: Sequence[str], pool: PoolView) -> dict[str, tuple[ModuleId, ...]]:
    """Deal the modules to ``guns`` like cards, each gun its lowest reachable free address.

    A gun that can reach no free module any more drops out of the deal;
    the deal ends when every module is dealt or every gun is full.
    """
    limit = per_gun_limit(pool)
    free = sorted(pool.modules)
    dealt: dict[str, list[ModuleId]] = {gun: [] for gun in guns}
    open_guns = list(guns)
    while free and open_guns:
        still_open = []
        for gun in open_guns:
            pick = next((a for a in free if reaches(pool, a, gun)), None)
            if pick is None:
                continue
            free.remove(pick)
            dealt[gun].append(pick)
            if len(dealt[gun]) < limit:
                still_open.append(gun)
        open_guns = still_open
    return {gun: tuple(a) for gun, a in dealt.items()}


class StaticPolicy:
    """Fixed modules per gun; computed once per set of guns and matrix, then reused."""

    def __init__(self, params: StaticParams) -> None:
        self.params = params
        self._key: tuple[Any, ...] | None = None
        self._assignment: dict[str, tuple[ModuleId, ...]] = {}

    def allocate(self, demands: Sequence[GunDemand], pool: PoolView) -> Allocation:
        guns = tuple(d.gun for d in demands)
        key = (guns, tuple(sorted(pool.reach.items())), pool.max_modules_per_gun, tuple(pool.modules))
        if key != self._key:
            self._assignment = self._fixed(guns, pool)
            self._key = key
        return finish(demands, pool, not_under_load(self._assignment, demands, pool), self.params.thermal)

    def _fixed(self, guns: Sequence[str], pool: PoolView) -> dict[str, tuple[ModuleId, ...]]:
        if not self.params.assignment:
            return round_robin(guns, pool)
        # Only what the matrix allows: reachable, known, within the per-gun limit.
        limit = per_gun_limit(pool)
        buses = sorted({m.bus for m in pool.modules})
        named = {
            gun: [m for text in texts if (m := _resolve(text, buses)) is not None]
            for gun, texts in self.params.assignment.items()
        }
        return {
            gun: tuple(a for a in named.get(gun, ()) if a in pool.modules and reaches(pool, a, gun))[:limit]
            for gun in guns
        }


def _resolve(text: str, buses: Sequence[str]) -> ModuleId | None:
    """The module ``text`` names on these buses; None if none (a bus the station lacks, a bare address on several)."""
    try:
        return ModuleId.parse(text, buses)
    except ValueError:
        return None


def make_static(params: Any) -> StaticPolicy:
    """The ``static`` factory: ``params`` loaded by :class:`StaticSchema` or a plain mapping."""
    return StaticPolicy(load_params(StaticSchema, params))
