"""Pools and demands built from real profiles, shared by the policy tests."""

from __future__ import annotations

from collections.abc import Iterable

from pecc_core.policy import GunDemand, PoolView
from pecc_core.power import ModuleId, ModuleState
from pecc_core.profile import Profile


def ids(*addresses: int) -> tuple[ModuleId, ...]:
    """Modules of a profile of one bus (``can``) by address."""
    return tuple(ModuleId("can", a) for a in addresses)


def pool_of(profile: Profile, site_power_max: float | None = None) -> PoolView:
    """Every module of ``profile`` online and free, as the station would show it."""
    modules = {
        m.id: ModuleState(m.address, m.voltage_min, m.voltage_max, m.current_max, m.power_max, online=True, bus=m.bus)
        for m in profile.power.modules
    }
    return PoolView(
        modules=modules,
        reach={m.id: frozenset(m.guns) for m in profile.power.modules},
        assigned=dict.fromkeys(modules),
        max_modules_per_gun=profile.power.max_modules_per_gun,
        site_power_max=site_power_max if site_power_max is not None else profile.site.max_power_w,
    )


def demands_of(
    profile: Profile, active: Iterable[str] = (), voltage: float = 400.0, current: float = 200.0
) -> list[GunDemand]:
    """One demand per gun of ``profile``; the guns in ``active`` draw ``voltage`` x ``current``."""
    on = set(active)
    return [
        GunDemand(g.id, g.id in on, voltage if g.id in on else 0.0, current if g.id in on else 0.0, g.power_max)
        for g in profile.guns
    ]
