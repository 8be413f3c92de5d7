"""Site power across cabinets over MQTT: a coordinator and the cabinets' ``site`` service.

- ``profile``: the site profile (cabinets, grid cap, schedule, policy, broker);
- ``targets``: the site policies (``equal``, ``demand``);
- ``ledger``: the coordinator's accounting that keeps the site under its cap;
- ``holder``: the cabinet's share, its expiry and the safe share;
- ``coordinator``: ``pecc site run``;
- ``cabinet``: the ``site`` service of a cabinet's profile;
- ``telemetry``: gun states, events, session records and incidents on the broker;
- ``broker`` / ``topics``: the MQTT connection and the topic tree;
- ``command``: ``pecc site run | status | set-cap``.

The MQTT client comes with ``pip install pecc[site]``: without it this
plugin does not load, and a profile with the ``site`` service or a ``pecc
site`` command says to install it.

See docs/site.md.
"""

from __future__ import annotations

from typing import Any

from pecc_core import hookimpl
from pecc_core.extras import require

require("aiomqtt")


@hookimpl
def pecc_register_services(register: Any) -> None:
    from pecc_plugins.site.cabinet import CabinetService, SiteParams

    register("site", CabinetService, params=SiteParams, summary="this cabinet's share of the site's grid cap (MQTT)")


@hookimpl
def pecc_add_commands(app: Any) -> None:
    from pecc_plugins.site.command import site_app

    app.add_typer(site_app, name="site")
