"""Finding plugins and what they offer.

Every plugin, builtin or a vendor's pip package, is a module named by an
entry point in the ``pecc`` group. The manager loads them one by one and
keeps going when one is broken (a charger must start with the plugins its
profile needs even if an unrelated package fails to import); the failure is
kept in :attr:`PluginManager.load_errors` and shown by ``pecc plugins list``
and wherever a profile names something the plugins loaded do not offer. A
plugin whose pip extra is not installed (:mod:`pecc_core.extras`) is such a
failure, told as the command that installs it.

The rest of the core never calls ``pm.hook.*`` itself: it asks this class
for registries (:meth:`PluginManager.registry`) and notifies observers
through the typed methods below. Every hook is called through pluggy; what
pluggy registers for a plugin is a stand-in (:mod:`pecc_core.standin`) that
isolates each observer implementation and tells ``register`` which plugin
calls it.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from pecc_core import hookspecs
from pecc_core.episode import Episode
from pecc_core.errors import ConfigError
from pecc_core.extras import missing_extra
from pecc_core.hookspecs import CATEGORIES
from pecc_core.io import IO_ROLES
from pecc_core.registry import Registration, Registry
from pecc_core.standin import PerPlugin, StandIn, stand_in

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from marshmallow import Schema

    from pecc_core.doctor import Check, Finding
    from pecc_core.gun import Event, FaultChange, Gun, GunState
    from pecc_core.profile.model import PluginChoice, Profile
    from pecc_core.records import Session
    from pecc_core.station import Station

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pecc"
#: Load only these plugins (comma-separated entry-point names; empty: none).
PLUGINS_ENV = "PECC_PLUGINS"
#: Never load these plugins (comma-separated entry-point names).
DISABLE_PLUGINS_ENV = "PECC_DISABLE_PLUGINS"


class PluginError(Exception):
    """A plugin offers something inconsistent (e.g. a name twice)."""


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """What ``pecc plugins list`` shows of one plugin."""

    name: str
    version: str
    hooks: tuple[str, ...]


class PluginManager:
    """The project's pluggy manager with typed accessors."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager("pecc")
        self._pm.add_hookspecs(hookspecs)
        # every plugin registered from now on adds its own hooks (pepws: its message handlers)
        self._pm.hook.pecc_addhooks.call_historic(kwargs={"pluginmanager": self._pm})
        self._versions: dict[str, str] = {}
        self._registries: dict[str, Registry] = {}
        self.load_errors: dict[str, str] = {}
        self._wrapped_calls: dict[str, Episode] = {}

    @property
    def pluggy_manager(self) -> pluggy.PluginManager:
        """The pluggy manager itself, for pluggy's own tools.

        ``enable_tracing`` and ``add_hookcall_monitoring`` see every hook
        call PECC makes. Register plugins through :meth:`register`, not here:
        that is what isolates observers and attributes registrations.
        """
        return self._pm

    # -- loading -----------------------------------------------------------

    def load_entry_points(
        self, allow: Iterable[str] | None = None, environ: Mapping[str, str] = os.environ
    ) -> None:
        """Register every plugin of the ``pecc`` entry-point group, builtins first.

        :param allow: if given, only plugins with these names are loaded.
        :param environ: where ``PECC_PLUGINS`` (load only these, comma-separated;
            empty: none) and ``PECC_DISABLE_PLUGINS`` (never load these) are
            read, as datasette's ``DATASETTE_LOAD_PLUGINS``. Both narrow
            ``allow``; a plugin left out is simply not there (a profile that
            names what it offers is then invalid, and says what is installed).
        """
        allowed = set(allow) if allow is not None else None
        if PLUGINS_ENV in environ:
            listed = _names(environ[PLUGINS_ENV])
            allowed = listed if allowed is None else allowed & listed
        disabled = _names(environ.get(DISABLE_PLUGINS_ENV, ""))
        eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        # Builtins first, so a vendor's plugin registered after them can override.
        for ep in sorted(eps, key=lambda e: (not e.value.startswith("pecc_plugins."), e.name)):
            if (allowed is not None and ep.name not in allowed) or ep.name in disabled:
                continue
            if self._pm.has_plugin(ep.name):
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken vendor package must not stop the charger
                if install := missing_extra(exc, ep.dist):
                    # an optional part left out on purpose: told where it is used, not on every command
                    self.load_errors[ep.name] = f"needs `{install}` ({exc})"
                    log.info("plugin %s not loaded: %s", ep.name, self.load_errors[ep.name])
                else:
                    self.load_errors[ep.name] = f"{type(exc).__name__}: {exc}"
                    log.error("plugin %s failed to load: %s", ep.name, self.load_errors[ep.name])
                continue
            version = ep.dist.version if ep.dist is not None else "?"
            self.register(module, ep.name, version)
        self._pm.check_pending()

    def register(self, plugin: object, name: str, version: str = "?") -> None:
        """Register a plugin object (a module or an instance) under ``name``.

        A service that implements hooks for its own station (the ``ctl``
        service's recorder, the ``site`` telemetry) registers an object when
        it starts and unregisters it when it stops, as pytest registers its
        terminal reporter; others find it by name with :meth:`get_plugin`.
        A name is registered once at a time (:class:`ValueError`).
        """
        self._pm.register(stand_in(self._pm, plugin, name), name=name)
        self._versions[name] = version
        self._registries.clear()

    def unregister(self, name: str) -> None:
        """Remove the plugin registered under ``name``; its hooks are no longer called."""
        self._pm.unregister(name=name)
        self._versions.pop(name, None)
        self._registries.clear()

    def get_plugin(self, name: str) -> object | None:
        """The plugin object registered under ``name`` (not its stand-in), or None."""
        registered = self._pm.get_plugin(name)
        return registered.plugin if isinstance(registered, StandIn) else registered

    # -- what plugins offer -------------------------------------------------

    def registry(self, category: str) -> Registry:
        """All registrations of ``category`` (see :data:`CATEGORIES`, or ``io.<role>``)."""
        if not self._registries:
            self._collect()
        return self._registries[category]

    def build(self, category: str, key: str, choice: PluginChoice, *args: Any) -> Any:
        """Call the factory of ``choice`` in ``category`` with ``args``.

        A factory's own :class:`ConfigError` (which names its key) passes
        through; any other exception becomes one naming ``key``, so a bad
        profile is reported as a problem, never as a traceback.
        """
        factory = self.registry(category).get(choice.name).factory
        try:
            return factory(*args)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                f"{key}: got {choice.name!r} with params {choice.raw or choice.params!r}; "
                f"expected a configuration it accepts ({type(exc).__name__}: {exc})"
            ) from exc

    def plugins(self) -> list[PluginInfo]:
        """Every registered plugin with its version and implemented hooks."""
        infos = []
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(c.name for c in self._pm.get_hookcallers(plugin) or ()))
            infos.append(PluginInfo(name, self._versions.get(name, "?"), hooks))
        return sorted(infos, key=lambda i: i.name)

    def _collect(self) -> None:
        for category, hook_name in CATEGORIES.items():
            registry = Registry(category, load_errors=self.load_errors)
            self._registries[category] = registry
            getattr(self._pm.hook, hook_name)(register=PerPlugin(functools.partial(self._registrar, registry)))
        for role in IO_ROLES:
            self._registries[f"io.{role}"] = Registry(f"{role} driver", load_errors=self.load_errors)
        self._pm.hook.pecc_register_io_drivers(register=PerPlugin(self._io_registrar))

    def _io_registrar(self, plugin: str) -> Callable[..., None]:
        def register(role: str, name: str, factory: Callable[..., Any], **kw: Any) -> None:
            if role not in IO_ROLES:
                raise PluginError(
                    f"plugin {plugin!r} registers io driver {name!r} for unknown role "
                    f"{role!r} (roles: {', '.join(IO_ROLES)})"
                )
            self._registrar(self._registries[f"io.{role}"], plugin)(name, factory, **kw)

        return register

    @staticmethod
    def _registrar(registry: Registry, plugin: str) -> Callable[..., None]:
        """The ``register`` that ``plugin`` gets for ``registry``."""
        def register(
            name: str,
            factory: Callable[..., Any],
            *,
            params: type[Schema] | None = None,
            summary: str = "",
        ) -> None:
            previous = registry.entries.get(name)
            if previous is not None:
                raise PluginError(
                    f"{registry.category} {name!r} is offered by both "
                    f"{previous.plugin!r} and {plugin!r}"
                )
            registry.entries[name] = Registration(
                registry.category, name, factory, params, summary, plugin
            )

        return register

    def add_commands(self, app: Any) -> None:
        """Let plugins add their sub-commands to the typer ``app``."""
        self._pm.hook.pecc_add_commands(app=app)

    def doctor_checks(self, profile: Profile) -> list[Check]:
        """Every check the plugins offer for ``profile``'s field install (``pecc doctor``)."""
        offered = self._pm.hook.pecc_doctor_checks(profile=profile, registry=self.registry)
        return [check for checks in offered for check in checks]

    def check_profile(self, profile: Profile) -> list[Finding]:
        """Every warning and refusal the plugins have for ``profile`` (its plugin params validated)."""
        offered = self._pm.hook.pecc_check_profile(profile=profile, registry=self.registry)
        return [row for rows in offered for row in rows]

    # -- observers ------------------------------------------------------------
    #
    # Observers only watch: a broken observer package must neither fail a gun
    # transition (whose safety actions are already done when it is told) nor
    # stop ``pecc run``. Each implementation is guarded by its stand-in; what
    # still escapes the call can only be a wrapper's own exception, caught
    # here and logged once per episode with the wrapping plugins' names.

    def station_started(self, station: Station) -> None:
        self._notify("pecc_station_started", station=station)

    def station_stopping(self, station: Station) -> None:
        self._notify("pecc_station_stopping", station=station)

    def station_emergency(self, station: Station, guns: Sequence[Gun], reason: str) -> None:
        self._notify("pecc_station_emergency", station=station, guns=guns, reason=reason)

    def gun_state_changed(self, gun: Gun, old: GunState, new: GunState, event: Event, reason: str) -> None:
        self._notify("pecc_gun_state_changed", gun=gun, old=old, new=new, event=event, reason=reason)

    def gun_fault(self, gun: Gun, change: FaultChange) -> None:
        self._notify("pecc_gun_fault", gun=gun, fault=change.message, active=change.raised, change=change)

    def secc_connected(self, gun: Gun, peer: str, subprotocol: str | None) -> None:
        self._notify("pecc_secc_connected", gun=gun, peer=peer, subprotocol=subprotocol)

    def secc_disconnected(self, gun: Gun, reason: str) -> None:
        self._notify("pecc_secc_disconnected", gun=gun, reason=reason)

    def request_refused(self, gun: Gun, kind: str, category: str, details: str) -> None:
        self._notify("pecc_request_refused", gun=gun, kind=kind, category=category, details=details)

    def event_recorded(self, station: Station, event: Mapping[str, Any]) -> None:
        self._notify("pecc_event_recorded", station=station, event=event)

    def session_recorded(self, station: Station, session: Session) -> None:
        self._notify("pecc_session_recorded", station=station, session=session)

    def _notify(self, hook: str, **kwargs: Any) -> None:
        caller = getattr(self._pm.hook, hook)
        episode = self._wrapped_calls.get(hook)
        try:
            caller(**kwargs)
        except Exception as exc:
            if episode is None:
                episode = self._wrapped_calls[hook] = Episode(log, f"a wrapper of {hook} raised; ignored")
            wrappers = [impl.plugin_name for impl in caller.get_hookimpls() if impl.wrapper or impl.hookwrapper]
            episode.failed(f"{exc!r} (wrappers: {', '.join(wrappers)})", traceback=True, level=logging.ERROR)
        else:
            if episode is not None:
                episode.ok()


def _names(value: str) -> set[str]:
    return {name.strip() for name in value.split(",") if name.strip()}


def default_manager() -> PluginManager:
    """A manager with every installed plugin loaded."""
    pm = PluginManager()
    pm.load_entry_points()
    return pm
