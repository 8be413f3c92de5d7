"""The limit-policy contract: how the cabinet's modules are shared between guns.

A policy is a pure decision: given what every gun wants and what the pool
can do, say which modules each gun gets and how much power it may draw.
It never touches hardware. The :class:`~pecc_core.allocator.PowerAllocator`
applies its answer safely (a gun losing modules is ramped down first; a
module is switched only when its output is off and its current ~0) and the
gun enforces every limit again on every setpoint, so a policy cannot make the hardware exceed a limit even if it
is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pecc_core.power import ModuleId, ModuleState


@dataclass(frozen=True, slots=True)
class GunDemand:
    """What one gun wants now.

    :param active: the gun is in a session that may draw power (contactors
        closed, isolation valid/warning); inactive guns get no modules
        unless the policy keeps fixed assignments (``static``).
    :param voltage: the requested voltage (V), 0 when unknown.
    :param current: the requested current (A).
    :param power_max: the most this gun may draw by its own, the car's and
        the run-time caps (W), before sharing.
    :param priority: higher first when power is short (profile / control API).
    :param soc: the car's state of charge (%) if known.
    :param since: loop time when the gun became active (first-come order).
    """

    gun: str
    active: bool
    voltage: float
    current: float
    power_max: float
    priority: int = 0
    soc: float | None = None
    since: float = 0.0


@dataclass(frozen=True, slots=True)
class PoolView:
    """The module pool as a policy sees it (read-only).

    :param modules: every module by its bus and address (``usable`` tells online and healthy).
    :param reach: the guns each module can be switched onto.
    :param assigned: the gun each module is switched onto now, or None.
    :param max_modules_per_gun: relay-matrix limit, 0 = no limit.
    :param site_power_max: the site's grid cap (W), None = no cap.
    """

    modules: Mapping[ModuleId, ModuleState]
    reach: Mapping[ModuleId, frozenset[str]]
    assigned: Mapping[ModuleId, str | None]
    max_modules_per_gun: int
    site_power_max: float | None


@dataclass(frozen=True, slots=True)
class Allocation:
    """A policy's answer: modules and a power allowance (W) per gun."""

    modules: Mapping[str, tuple[ModuleId, ...]]
    power: Mapping[str, float]


class LimitPolicy(Protocol):
    """A power-sharing strategy, built by a ``pecc_register_limit_policies`` factory."""

    def allocate(self, demands: Sequence[GunDemand], pool: PoolView) -> Allocation:
        """Decide modules and power per gun; called every control cycle, keep it cheap."""
