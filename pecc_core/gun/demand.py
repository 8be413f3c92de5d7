"""A gun's demand: what it asks of the power allocation (:class:`~pecc_core.policy.GunDemand`).

Built from the gun's state, its requested setpoint, the car's values and
the operator's caps; the gun caches it and rebuilds it only after a change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pecc_core.gun.limits import effective_limits
from pecc_core.gun.table import ACTIVE_STATES, ISOLATION_OK, GunState
from pecc_core.policy import GunDemand

if TYPE_CHECKING:
    from pecc_core.gun.view import GunView


def build_demand(gun: GunView) -> GunDemand:
    """What ``gun`` wants now: active in a session (or its cable check), V, A and its power ceiling."""
    active = gun.state in ACTIVE_STATES and (
        gun.state is GunState.CABLE_CHECK or gun.readout.isolation in ISOLATION_OK
    )
    target = gun.target
    voltage, current = gun.output.setpoint
    return GunDemand(
        gun=gun.id,
        active=active,
        voltage=voltage or (target.voltage if target else 0.0),
        current=target.current if target else current,
        power_max=effective_limits(gun.ratings, gun.wiring.pool.potential(gun.id), gun.ev, None).power_max,
        priority=gun.caps.priority,
        soc=target.soc if target else None,
        since=gun.active_since,
    )
