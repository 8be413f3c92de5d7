"""What pluggy registers for a plugin: a stand-in wrapping each of its hook implementations.

PECC calls every hook through pluggy (``pm.hook.<name>(...)``), so a
plugin's ``wrapper=True`` implementations and pluggy's tracing
(``enable_tracing``, ``add_hookcall_monitoring``) see each call. Pluggy
runs the implementations of one call as one chain, though, and two things
need one implementation at a time. So the manager registers, in each
plugin's place and under its name, a stand-in whose implementations call
the plugin's own, with the same options (``tryfirst``, ``wrapper``, ...):

- an observer implementation (:data:`pecc_core.hookspecs.OBSERVERS`) that
  raises is logged with the plugin's name, once per episode, and returns
  None: the chain goes on, so the other observers are still told and the
  transition being reported is not failed;
- a :class:`PerPlugin` argument (the ``register`` of the contribution
  hooks) is replaced by the one made for that plugin, so what a plugin
  offers is recorded under its name;
- a ``pecc_doctor_checks`` implementation that raises offers, in place of
  its checks, one that raises the same: ``pecc doctor`` shows it as a fail
  row naming the plugin, and runs the other plugins' checks.
"""

from __future__ import annotations

import functools
import inspect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pecc_core.doctor import Check
from pecc_core.episode import Episode
from pecc_core.hookspecs import OBSERVERS

if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from typing import NoReturn

    import pluggy

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PerPlugin(Generic[T]):
    """A hook argument each plugin gets its own of: ``make(plugin_name)``."""

    make: Callable[[str], T]


class StandIn:
    """The wrapped hook implementations of one plugin, as attributes."""

    def __init__(self, plugin: object, impls: dict[str, Callable[..., Any]]) -> None:
        #: The plugin itself (what :meth:`PluginManager.get_plugin` returns).
        self.plugin = plugin
        vars(self).update(impls)

    def __repr__(self) -> str:  # pluggy's errors name the plugin by its repr
        return repr(self.plugin)


def stand_in(pm: pluggy.PluginManager, plugin: object, name: str) -> StandIn:
    """``plugin``'s hook implementations wrapped, for ``pm`` to register under ``name``."""
    impls: dict[str, Callable[..., Any]] = {}
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None:
            continue
        function = getattr(plugin, attr)
        hook = opts.get("specname") or attr
        wrapper = opts.get("wrapper") or opts.get("hookwrapper")
        if hook in OBSERVERS and not wrapper:
            impl = _guarded(function, Episode(log, f"plugin {name!r} in {hook}", ok_level=logging.INFO))
        elif hook == "pecc_doctor_checks" and not wrapper:
            impl = _checked(function, name)
        else:
            impl = _attributed(function, name)
        setattr(impl, f"{pm.project_name}_impl", opts)
        impls[attr] = impl
    return StandIn(plugin, impls)


def _guarded(function: Callable[..., object], episode: Episode) -> Callable[..., object]:
    @functools.wraps(function)  # pluggy reads the argument names through __wrapped__
    def guarded(*args: Any, **kwargs: Any) -> object:
        try:
            result = function(*args, **kwargs)
        except Exception as exc:
            episode.failed(
                f"raised {exc!r}; ignored (observers only watch), logged again only after it has succeeded",
                traceback=True,
                level=logging.ERROR,
            )
            return None
        episode.ok()
        return result

    return guarded


def _checked(function: Callable[..., object], name: str) -> Callable[..., object]:
    """A plugin that cannot say its checks is a fail row of its own, not the end of ``pecc doctor``."""

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> object:
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            failure = exc

        def raised() -> NoReturn:
            raise failure

        return [Check(f"plugin {name}", raised)]

    return checked


def _attributed(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    def own(value: object) -> object:
        return value.make(name) if isinstance(value, PerPlugin) else value

    if inspect.isgeneratorfunction(function):  # a wrapper: pluggy checks that it is one

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            return (yield from function(*map(own, args), **{k: own(v) for k, v in kwargs.items()}))

        return wrapper

    @functools.wraps(function)
    def attributed(*args: Any, **kwargs: Any) -> Any:
        return function(*map(own, args), **{k: own(v) for k, v in kwargs.items()})

    return attributed
