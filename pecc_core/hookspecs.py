"""The core's contract with plugins: every hook PECC calls, in one place.

Plugins contribute *named things* through ``pecc_register_*`` hooks: each one
receives a ``register`` callable and calls it once per thing it offers
(a transport, a power driver, ...). A profile then picks those things by
name, so nothing in the core imports a plugin. The observer hooks
(:data:`OBSERVERS`) only watch; their return values are ignored.

Plugins implement hooks with :data:`pecc_core.hookimpl`::

    from pecc_core import hookimpl

    @hookimpl
    def pecc_register_power_drivers(register):
        register("acme", AcmeDriver, params=AcmeParams, summary="ACME modules")

Observer hooks run synchronously, on the event loop, inside the transition
they report: after its safety actions (outputs off, contactors commanded)
and before the request that caused it is answered. So they must not block;
a plugin that needs to do I/O from an observer schedules a task on the
running loop. An exception an observer implementation raises is logged
with the plugin's name (once per episode: again only after it has
succeeded in between) and otherwise ignored; the other implementations
still run: an observer can neither fail a transition nor stop the station.

Every hook is called through pluggy, so the usual pluggy tools work:
``tryfirst``/``trylast``, ``wrapper=True`` implementations (which see the
call and its result) and pluggy's tracing. A wrapper of an observer hook
wraps the whole call: if it raises, the call is logged as failed and
ignored, but the implementations inside may not all have been told.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, overload

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    import typer
    from marshmallow import Schema

    from pecc_core.doctor import Check, Finding
    from pecc_core.gun import Event, FaultChange, Gun, GunState
    from pecc_core.io import (
        ConnectorVoltage,
        Contactors,
        EmergencyStop,
        IsolationMonitor,
        RelayMatrix,
        Supervision,
    )
    from pecc_core.policy import LimitPolicy
    from pecc_core.power import PowerDriver
    from pecc_core.profile.model import ModuleConfig, Profile, ServerConfig
    from pecc_core.records import Session
    from pecc_core.registry import Registry
    from pecc_core.station import Station
    from pecc_core.transport import Transport

hookspec = pluggy.HookspecMarker("pecc")

#: Registry categories, each with the hook that fills it. I/O drivers have
#: one registry per role (``io.<role>``, see :data:`pecc_core.io.IO_ROLES`).
CATEGORIES: dict[str, str] = {
    "transport": "pecc_register_transports",
    "power_driver": "pecc_register_power_drivers",
    "limit_policy": "pecc_register_limit_policies",
    "service": "pecc_register_services",
}

#: The hooks that only watch; see the module's docstring.
OBSERVERS: frozenset[str] = frozenset({
    "pecc_station_started",
    "pecc_station_stopping",
    "pecc_station_emergency",
    "pecc_gun_state_changed",
    "pecc_gun_fault",
    "pecc_secc_connected",
    "pecc_secc_disconnected",
    "pecc_request_refused",
    "pecc_event_recorded",
    "pecc_session_recorded",
})

# -- factories: what each category's ``register`` accepts ---------------------
#
# Positional-only, so a class (``register("acme", AcmeDriver)``) or a function
# with any parameter names fits. ``params`` is what the thing's params schema
# loaded (a dict, or the object its ``post_load`` made).


class TransportFactory(Protocol):
    def __call__(self, station: Station, settings: ServerConfig, /) -> Transport: ...


class PowerDriverFactory(Protocol):
    def __call__(self, params: Any, modules: tuple[ModuleConfig, ...], /) -> PowerDriver: ...


class LimitPolicyFactory(Protocol):
    def __call__(self, params: Any, /) -> LimitPolicy: ...


class Service(Protocol):
    """A background service built by a ``pecc_register_services`` factory."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ServiceFactory(Protocol):
    def __call__(self, params: Any, station: Station, /) -> Service: ...


T_co = TypeVar("T_co", covariant=True)
F_contra = TypeVar("F_contra", contravariant=True)


class IoDriverFactory(Protocol[T_co]):
    """Builds the driver of one I/O role; one instance serves every gun."""

    def __call__(self, params: Any, profile: Profile, /) -> T_co: ...


class Register(Protocol[F_contra]):
    """The ``register`` callable handed to every ``pecc_register_*`` hook.

    ``Register[PowerDriverFactory]`` takes power-driver factories, and so on.

    :param name: the name a profile uses to pick this thing; unique in its
        category (a second registration of the same name is a startup error
        naming both plugins).
    :param factory: called by the runtime to build the thing (see the
        category's factory protocol above).
    :param params: a marshmallow schema class for the thing's ``params``
        table in the profile. The profile is validated against it before
        anything starts, so a typo is reported with its key path. ``None``
        means the thing takes no parameters (a non-empty table is an error).
    :param summary: one line shown by ``pecc plugins list``.
    """

    def __call__(
        self,
        name: str,
        factory: F_contra,
        *,
        params: type[Schema] | None = None,
        summary: str = "",
    ) -> None: ...


class RegisterIoDriver(Protocol):
    """The ``register`` callable of :func:`pecc_register_io_drivers`.

    Like :class:`Register` with the I/O role first (one of
    :data:`pecc_core.io.IO_ROLES`); the factory returns that role's interface.
    """

    @overload
    def __call__(
        self, role: Literal["contactors"], name: str, factory: IoDriverFactory[Contactors], *,
        params: type[Schema] | None = None, summary: str = "",
    ) -> None: ...
    @overload
    def __call__(
        self, role: Literal["imd"], name: str, factory: IoDriverFactory[IsolationMonitor], *,
        params: type[Schema] | None = None, summary: str = "",
    ) -> None: ...
    @overload
    def __call__(
        self, role: Literal["supervision"], name: str, factory: IoDriverFactory[Supervision], *,
        params: type[Schema] | None = None, summary: str = "",
    ) -> None: ...
    @overload
    def __call__(
        self, role: Literal["matrix"], name: str, factory: IoDriverFactory[RelayMatrix], *,
        params: type[Schema] | None = None, summary: str = "",
    ) -> None: ...
    @overload
    def __call__(
        self, role: Literal["estop"], name: str, factory: IoDriverFactory[EmergencyStop], *,
        params: type[Schema] | None = None, summary: str = "",
    ) -> None: ...
    @overload
    def __call__(
        self, role: Literal["connector"], name: str, factory: IoDriverFactory[ConnectorVoltage], *,
        params: type[Schema] | None = None, summary: str = "",
    ) -> None: ...


# -- contributions --------------------------------------------------------


@hookspec(historic=True)
def pecc_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add the hooks a plugin defines for others: ``pluginmanager.add_hookspecs(module)``.

    Called for every plugin as it is registered (a historic hook, as
    pytest's ``pytest_addhooks``), with pluggy's manager. A transport's own
    hooks live with it this way (``pepws`` adds
    ``pecc_register_message_handlers``), not in the core's contract. A
    plugin implementing another plugin's hook marks it
    ``@hookimpl(optionalhook=True)``, so that it still loads when that
    plugin is left out.
    """


@hookspec
def pecc_register_transports(register: Register[TransportFactory]) -> None:
    """Offer transports: servers the SECCs connect to (``pepws``).

    Called once at startup. ``factory(station, settings)`` returns an object
    following :class:`pecc_core.transport.Transport`; ``settings`` is the
    validated :class:`pecc_core.profile.model.ServerConfig`.
    """


@hookspec
def pecc_register_power_drivers(register: Register[PowerDriverFactory]) -> None:
    """Offer power-module drivers by name (``uugreen``, ``infy``, ...).

    ``factory(params, modules)`` gets the validated params and the
    profile's tuple of :class:`pecc_core.profile.model.ModuleConfig` and
    returns a :class:`pecc_core.power.PowerDriver`.
    """


@hookspec
def pecc_register_io_drivers(register: RegisterIoDriver) -> None:
    """Offer I/O drivers by role and name.

    ``factory(params, profile)`` gets the validated params and the whole
    :class:`pecc_core.profile.model.Profile` and returns the role's interface from
    :mod:`pecc_core.io`; one instance serves every gun of the station.
    """


@hookspec
def pecc_register_limit_policies(register: Register[LimitPolicyFactory]) -> None:
    """Offer power-sharing policies by name (``static``, ``equal``, ...).

    ``factory(params)`` returns a :class:`pecc_core.policy.LimitPolicy`.
    """


@hookspec
def pecc_register_services(register: Register[ServiceFactory]) -> None:
    """Offer background services a profile may start beside the station.

    Module simulators, exporters, dashboards. ``factory(params, station)``
    returns a :class:`Service`. The station is built but
    not started: services start before the station's drivers and stop after
    them, as hardware that a simulator stands in for would.
    """


@hookspec
def pecc_add_commands(app: typer.Typer) -> None:
    """Add sub-commands to the ``pecc`` command line (``app.command()(fn)``).

    Called once when ``pecc`` starts, for tools that ship with a plugin
    (SECC simulator, control client, benchmarks), as datasette's
    ``register_commands``. Import heavy modules inside the command, not at
    plugin import time: every ``pecc`` invocation loads every plugin.
    """


@hookspec
def pecc_doctor_checks(profile: Profile, registry: Callable[[str], Registry]) -> Iterable[Check] | None:
    """Offer the checks ``pecc doctor`` runs on the field install of ``profile``.

    Return :class:`pecc_core.doctor.Check` objects for what the plugin's own
    things need on the machine (its bus, its lines, its port, its files),
    or None when the profile uses none of them. Building them must do no
    I/O: ``pecc doctor`` runs each check's ``run`` (plain or async) on its
    event loop, bounded in time, and turns one that raises into a fail row.
    ``registry(category)`` is what the plugins offer
    (:meth:`pecc_core.plugins.PluginManager.registry`), e.g. the class of
    the profile's power driver.
    """


@hookspec
def pecc_check_profile(profile: Profile, registry: Callable[[str], Registry]) -> Iterable[Finding] | None:
    """Judge a valid profile by what the plugin knows that no schema sees (a CAN bus's load).

    Called once the core and every plugin schema accepted ``profile`` (its
    plugin params are the validated ones), by ``pecc profiles validate``
    and ``pecc run`` alike. Return :class:`pecc_core.doctor.Finding` rows
    (``warn(check, detail, fix)``, ``fail(...)``; ``check`` names the
    profile key, e.g. ``power``), or None: a ``fail`` refuses the profile
    (exit code 2, listed as ``check: detail; fix`` among its problems), a
    ``warn`` is printed by ``validate`` and logged by ``run``; ``ok`` rows
    are ignored. No I/O: the profile is judged, not the machine (that is
    ``pecc_doctor_checks``).
    """


# -- observers -------------------------------------------------------------


@hookspec
def pecc_station_started(station: Station) -> None:
    """The station is up: drivers started, transport listening."""


@hookspec
def pecc_station_stopping(station: Station) -> None:
    """The station is about to stop (signal or error); guns still live."""


@hookspec
def pecc_station_emergency(station: Station, guns: Sequence[Gun], reason: str) -> None:
    """The station took ``guns`` down at once: every module off, their contactors opened under whatever current.

    Stopping ran out of its bound with these guns still not safe
    (:func:`pecc_core.shutdown.emergency`); called after the modules were
    switched off and the contactors commanded open. No gun fault is raised
    for it (each gun was already on its way down): this hook is the only word
    of it. ``reason`` is text for humans.
    """


@hookspec
def pecc_gun_state_changed(gun: Gun, old: GunState, new: GunState, event: Event, reason: str) -> None:
    """A gun's state machine took a transition ``old -> new`` on ``event``.

    ``event`` is the table's :class:`~pecc_core.gun.table.Event` that caused
    it: decide on it and the states (e.g. a session the SECC ended itself:
    ``event in SECC_ENDS`` of :mod:`pecc_core.gun.table`). ``reason`` is
    text for humans (figures, the SECC's close reason), the same as in the
    gun's log line; its wording may change. Both enums are ``StrEnum``:
    ``str(new)`` is the state's name as the logs and the control API show it.
    """


@hookspec
def pecc_gun_fault(gun: Gun, fault: str, active: bool, change: FaultChange) -> None:
    """A fault condition of a gun became active, or cleared (``active`` False).

    ``fault`` is the text logged and sent to the SECC (``gun <id>: ...``),
    for humans: its wording may change. ``change`` is the gun's
    :class:`~pecc_core.gun.faults.FaultChange` (``fault`` is its
    ``message``, ``active`` its ``raised``): decide on its ``kind``
    (``module``, ``power_stage``, ``estop``, ``isolation``, ...) and its
    ``emergency`` (DC off and contactors opened at once), never on the text.
    An implementation may leave ``change`` out (pluggy passes the arguments
    by name): those written before it came still work.
    """


@hookspec
def pecc_secc_connected(gun: Gun, peer: str, subprotocol: str | None) -> None:
    """An SECC connected to ``gun``'s URL from ``peer`` (``host:port``), speaking ``subprotocol``.

    Called by the transport once the gun has the new link.
    """


@hookspec
def pecc_secc_disconnected(gun: Gun, reason: str) -> None:
    """The SECC of ``gun`` is gone (closed, replaced, unresponsive, PECC stopping) for ``reason``."""


@hookspec
def pecc_request_refused(gun: Gun, kind: str, category: str, details: str) -> None:
    """The transport answered a frame from ``gun``'s SECC with an error.

    ``kind`` is the request kind (``error`` for a frame without a valid
    one), ``category`` the protocol's error category (``format``,
    ``value``, ``inoperative``, ``internal``, ``generic``). Called for every
    refused frame: a hostile SECC makes it frequent, so keep it cheap.
    """


@hookspec
def pecc_event_recorded(station: Station, event: Mapping[str, Any]) -> None:
    """The station's history recorded ``event`` (the ``ctl`` service keeps the history).

    ``event`` is the JSON object ``GET /api/events`` shows, without ``id``:
    ``ts``, ``gun``, ``kind`` and the kind's keys (:mod:`pecc_core.records`).
    Called for every event, a flood of refusals included (the recorder
    bounds those): keep it cheap, and queue any I/O.
    """


@hookspec
def pecc_session_recorded(station: Station, session: Session) -> None:
    """The station's history wrote the row of a charging session: a copy of it.

    Written when the session opens, every checkpoint while it runs (its
    energy so far) and when it ends: ``session.end`` is set then, with
    ``outcome`` and ``end_reason``.
    """
