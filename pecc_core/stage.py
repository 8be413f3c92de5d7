"""The station's power stage: every bus of power modules, one driver each, as one.

A vendor driver (:class:`~pecc_core.power.PowerDriver`) owns one bus and
knows its modules by address there. The station may have several buses
(``[[power.buses]]`` of the profile), so the core names a module by bus and
address (:class:`~pecc_core.power.ModuleId`) and speaks to the
:class:`PowerStage`, which hands each driver its own modules. A gun's
modules may sit on several buses (the relay matrix reaches across them):
its current is split between the buses in proportion to the rated current
of its usable modules on each, and each driver splits its part within its
bus as it always does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from pecc_core.power import BusLink, HasBusStats, ModuleId, ModuleListener, ModuleState, PowerDriver

log = logging.getLogger(__name__)

#: The modules' own watchdog time (s) of a driver that does not say (``PowerDriver``): Infy's 10 s.
DEFAULT_WATCHDOG = 10.0


class PowerStage:
    """The station's buses of power modules, each driven by its own driver.

    :param buses: a driver per bus, by the profile's bus name, built from
        that bus's modules.
    """

    def __init__(self, buses: Mapping[str, PowerDriver]) -> None:
        #: The driver of each bus, by name (the ops side reads their capabilities).
        self.buses: Mapping[str, PowerDriver] = MappingProxyType(dict(buses))
        self._drivers = tuple(self.buses.items())
        modules: dict[ModuleId, ModuleState] = {}
        for name, driver in self._drivers:
            for state in driver.modules.values():
                if not state.bus:  # a driver written before buses: its modules are this bus's
                    state.bus, state.id = name, ModuleId(name, state.address)
                elif state.bus != name:
                    raise ValueError(f"bus {name!r}: its driver's module {state.address} is on bus {state.bus!r}")
                modules[state.id] = state
        #: Every module of every bus, updated in place by its driver.
        self.modules: Mapping[ModuleId, ModuleState] = MappingProxyType(modules)
        #: The link of each bus whose driver counts its traffic (the CAN drivers do), by name:
        #: found once (a protocol check costs microseconds, the ops snapshot reads them five times a second).
        self.links: Mapping[str, BusLink] = MappingProxyType(
            {name: driver.link for name, driver in self._drivers if isinstance(driver, HasBusStats)}
        )
        #: The modules' own watchdog time (s): the longest of the buses' (the
        #: longest any module may keep driving once silent).
        self.watchdog_s = max(getattr(d, "watchdog_s", DEFAULT_WATCHDOG) for _, d in self._drivers)

    @property
    def bus_ok(self) -> bool:
        """True while every bus is up (each bus's own: ``buses[name].bus_ok``)."""
        return all(driver.bus_ok for _, driver in self._drivers)

    async def start(self) -> None:
        """Start every bus's driver, all at once.

        A bus that cannot be opened is no error (its driver reports it and
        keeps retrying, the others run). A driver whose start raises fails
        the start, as a single driver's did: the drivers that did start are
        stopped again, and the first error is raised.
        """
        results = await asyncio.gather(*(d.start() for _, d in self._drivers), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if not failed:
            return
        for (name, driver), result in zip(self._drivers, results, strict=True):
            if not isinstance(result, BaseException):
                try:
                    await driver.stop()
                except Exception:
                    log.exception("bus %s: stopping its driver failed", name)
        raise failed[0]

    async def stop(self) -> None:
        """Stop every bus's driver (each switches its modules off); the first error is raised after all."""
        results = await asyncio.gather(*(d.stop() for _, d in self._drivers), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def export(
        self, modules: Sequence[ModuleId], voltage: float, current: float, voltage_max: float | None = None
    ) -> None:
        """:meth:`PowerDriver.export` on ``modules``, the current split between their buses.

        Each bus gets the share of ``current`` its usable modules among
        ``modules`` are rated for (all of it on one bus); its driver splits
        that between them.
        """
        groups = self._by_bus(modules)
        if len(groups) == 1:
            ((driver, addresses),) = groups.values()
            driver.export(addresses, voltage, current, voltage_max)
            return
        states = self.modules
        rated = {
            name: sum(m.current_max for a in addresses if (m := states[ModuleId(name, a)]).usable)
            for name, (_, addresses) in groups.items()
        }
        total = sum(rated.values())
        for name, (driver, addresses) in groups.items():
            share = current * rated[name] / total if total > 0 else current
            driver.export(addresses, voltage, share, voltage_max)

    def off(self, modules: Sequence[ModuleId]) -> None:
        """Command ``modules`` off now (:meth:`PowerDriver.off`) on every bus, even after one raised."""
        error: Exception | None = None
        for driver, addresses in self._by_bus(modules).values():
            try:
                driver.off(addresses)
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error

    async def wait_off(self, modules: Sequence[ModuleId], timeout: float) -> bool:
        """:meth:`PowerDriver.wait_off` on every bus of ``modules`` at once: True when all are off."""
        groups = self._by_bus(modules).values()
        return all(await asyncio.gather(*(driver.wait_off(addresses, timeout) for driver, addresses in groups)))

    def add_listener(self, listener: ModuleListener) -> None:
        """Call ``listener(module)`` when any bus's module changes ``online`` or ``faults``."""
        for _, driver in self._drivers:
            driver.add_listener(listener)

    def _by_bus(self, modules: Iterable[ModuleId]) -> dict[str, tuple[PowerDriver, list[int]]]:
        buses = self.buses
        groups: dict[str, tuple[PowerDriver, list[int]]] = {}
        for bus, address in modules:
            group = groups.get(bus)
            if group is None:
                group = groups[bus] = (buses[bus], [])
            group[1].append(address)
        return groups
