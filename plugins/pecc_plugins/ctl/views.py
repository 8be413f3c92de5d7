"""JSON views of the station for the control API (plain dicts, JSON-ready).

What the station's loop *captures* into a snapshot (:mod:`.snapshot`):
:func:`gun_reading`, :func:`modules_view`, :func:`site_view`, cheap, fresh
dicts of numbers and strings. What the ops thread builds from a snapshot
for its answers (:func:`~.snapshot.gun_view`) lives with the snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pecc_core.gun import Gun
    from pecc_core.power import ModuleState
    from pecc_core.station import Station


def gun_reading(gun: Gun) -> dict[str, Any]:
    """What a gun is doing now: state, contactors, isolation, measurements, faults, SECC."""
    status = gun.report()
    return {
        "id": gun.id,
        "state": str(gun.state),
        "contactors": str(status.contactors),
        "isolation": str(status.isolation),
        "operational": str(status.operational),
        "measured_voltage": status.measured_voltage,
        "measured_current": status.measured_current,
        "driven_voltage": status.driven_voltage,
        "driven_current": status.driven_current,
        "power_w": status.measured_voltage * status.measured_current,
        "temperature": status.temperature,
        "faults": sorted(gun.faults.values()),
        "secc_connected": gun.secc is not None,
    }


def module_view(module: ModuleState, gun: str | None) -> dict[str, Any]:
    """One power module: its name (``id``, bus and address), ratings, readings, mode, faults and gun."""
    return {
        "id": str(module.id),
        "bus": module.bus,
        "address": module.address,
        "gun": gun,
        "online": module.online,
        "usable": module.usable,
        "mode": str(module.mode),
        "faults": sorted(str(f) for f in module.faults),
        "voltage": module.voltage,
        "current": module.current,
        "temperature": module.temperature,
        "voltage_setpoint": module.voltage_setpoint,
        "current_setpoint": module.current_setpoint,
        "ratings": {
            "voltage_min": module.voltage_min,
            "voltage_max": module.voltage_max,
            "current_max": module.current_max,
            "power_max": module.power_max,
        },
    }


def modules_view(station: Station) -> list[dict[str, Any]]:
    pool = station.pool
    return [module_view(m, pool.gun_of(a)) for a, m in sorted(station.power.modules.items())]


def site_view(station: Station) -> dict[str, Any]:
    """Site power against the cap, and the allocator's module moves."""
    return {
        "power_w": sum(s.measured_voltage * s.measured_current for s in (g.report() for g in station.guns.values())),
        "max_power_w": station.allocator.pool.view.site_power_max,
        "module_moves": station.allocator.moves,
        "module_moves_refused": station.allocator.refused_moves,
    }

