"""PEP-WS: the WebSocket transport the SECCs connect to, and its message handlers.

The plugin offers the ``pepws`` transport (:class:`~pecc_plugins.pepws.server.PepWsServer`,
one URL per gun) and the standard handler of every message kind an SECC
sends (:mod:`pecc_plugins.pepws.handlers`). Modules:

- ``hookspecs``: the hook it adds for other plugins
  (``pecc_register_message_handlers``);
- ``schemas``: marshmallow schemas mirroring the official JSON schemas;
- ``codec``: JSON parsing, framing, integer mode, sequence numbers;
- ``dispatch``: validation, handler call and reply of one message;
- ``connection``: one gun's connection (receive loop, worker, status,
  writer, liveness, PECC -> SECC requests);
- ``server``: the websockets server (paths, sub-protocols, replacement);
- ``doctor``: what ``pecc doctor`` checks for it (its port, its TLS files).

The log lines an SECC can cause go out at a bounded rate
(:class:`pecc_core.episode.LogThrottle`).

See docs/pepws.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pecc_core import hookimpl
from pecc_plugins.pepws import handlers, hookspecs

if TYPE_CHECKING:
    import pluggy

    from pecc_core.doctor import Check
    from pecc_core.hookspecs import Register, TransportFactory
    from pecc_core.profile.model import Profile
    from pecc_plugins.pepws.hookspecs import RegisterMessageHandler


@hookimpl
def pecc_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@hookimpl
def pecc_register_transports(register: Register[TransportFactory]) -> None:
    from pecc_plugins.pepws.server import PepWsServer

    register("pepws", PepWsServer, summary="PEP-WS 1.8 server (websockets), one URL per gun")


@hookimpl
def pecc_doctor_checks(profile: Profile) -> list[Check] | None:
    if profile.server.transport != "pepws":
        return None
    from pecc_plugins.pepws.doctor import checks

    return checks(profile.server)


@hookimpl
def pecc_register_message_handlers(register: RegisterMessageHandler) -> None:
    handlers.register_all(register)
