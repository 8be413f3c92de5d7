"""Site power across cabinets over MQTT: a coordinator and the cabinets' ``site`` service.

- ``profile``: the site profile (cabinets, grid cap, schedule, policy, broker);
- ``targets``: the site policies (``equal``, ``demand``);
- ``ledger``: the coordinator's accounting that keeps the site under its cap;
- ``holder``: the cabinet's share, its expiry and the safe share;
- ``coordinator``: ``pecc site run``;
- ``cabinet``: the ``site`` service of a cabinet's profile;
- ``telemetry``: gun states and events on the broker;
- ``broker`` / ``topics``: the MQTT connection and the topic tree;
- ``command``: ``pecc site run | status | set-cap``.

See docs/site.md.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from pecc_core import hookimpl

if TYPE_CHECKING:
    from pecc_core.gun import Gun
    from pecc_plugins.site.telemetry import Telemetry

#: The telemetry of each gun whose station runs the ``site`` service. Here, not in
#: ``telemetry``, so that the hooks below cost a dict lookup (no MQTT import) on
#: stations without it.
WATCHING: weakref.WeakKeyDictionary[Any, Telemetry] = weakref.WeakKeyDictionary()


@hookimpl
def pecc_register_services(register: Any) -> None:
    from pecc_plugins.site.cabinet import CabinetService, SiteParams

    register("site", CabinetService, params=SiteParams, summary="this cabinet's share of the site's grid cap (MQTT)")


@hookimpl
def pecc_add_commands(app: Any) -> None:
    from pecc_plugins.site.command import site_app

    app.add_typer(site_app, name="site")


@hookimpl
def pecc_gun_state_changed(gun: Gun, old: str, new: str, reason: str) -> None:
    telemetry = WATCHING.get(gun)
    if telemetry is not None:
        telemetry.state_changed(gun, str(old), str(new), reason)


@hookimpl
def pecc_gun_fault(gun: Gun, fault: str, active: bool) -> None:
    telemetry = WATCHING.get(gun)
    if telemetry is not None:
        telemetry.event(gun.id, "fault", fault=fault, active=active)
