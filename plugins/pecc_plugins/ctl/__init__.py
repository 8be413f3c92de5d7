"""Local control of a running PECC: a JSON HTTP API (service ``ctl``) and ``pecc ctl``.

- ``http``: a minimal HTTP/1.1 JSON server, loopback clients only by default;
- ``api``: the routes (guns, modules, run-time limits, SECC requests, sim faults);
- ``views``: JSON views of guns and modules;
- ``service``: the ``ctl`` service a profile lists under ``[[services]]``;
- ``client`` / ``command``: the ``pecc ctl`` command line (standard library HTTP).

See docs/control-api.md.
"""

from __future__ import annotations

from typing import Any

from pecc_core import hookimpl
from pecc_core.hookspecs import Register, ServiceFactory


@hookimpl
def pecc_register_services(register: Register[ServiceFactory]) -> None:
    from pecc_plugins.ctl.service import ControlService, CtlParams

    register("ctl", ControlService, params=CtlParams, summary="local control API (JSON over HTTP, loopback)")


@hookimpl
def pecc_add_commands(app: Any) -> None:
    from pecc_plugins.ctl.command import ctl_app

    app.add_typer(ctl_app, name="ctl")
