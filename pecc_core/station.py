"""The station: the cabinet's guns, its power driver, I/O and policy, on one loop.

Built from a validated profile by :meth:`Station.build`, which asks the
plugin registries for each named driver; started and stopped by the
runtime. Stopping always ends with every gun in standby and every module
off, whatever state it was in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pecc_core.asyncutil import call_maybe_async
from pecc_core.chargepoint import ChargePoint

if TYPE_CHECKING:
    from pecc_core.io import Contactors, IsolationMonitor, RelayMatrix, Supervision
    from pecc_core.plugins import PluginManager
    from pecc_core.power import PowerDriver
    from pecc_core.profile.model import Profile

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Io:
    contactors: Contactors
    imd: IsolationMonitor
    supervision: Supervision
    matrix: RelayMatrix


class Station:
    """Everything one PECC process drives."""

    def __init__(
        self,
        profile: Profile,
        plugins: PluginManager,
        driver: PowerDriver,
        io: Io,
        policy: Any,
    ) -> None:
        self.profile = profile
        self.plugins = plugins
        self.driver = driver
        self.io = io
        self.policy = policy
        self.guns: dict[str, ChargePoint] = {g.id: ChargePoint(g, self) for g in profile.guns}
        self.by_path: dict[str, ChargePoint] = {gun.path: gun for gun in self.guns.values()}

    @classmethod
    def build(cls, profile: Profile, plugins: PluginManager) -> Station:
        """Instantiate the profile's driver, I/O drivers and policy (nothing started yet)."""
        driver_choice = profile.power.driver
        driver = plugins.registry("power_driver").get(driver_choice.name).factory(
            driver_choice.params, profile.power.modules
        )
        io = Io(
            **{
                role: plugins.registry(f"io.{role}").get(choice.name).factory(choice.params, profile)
                for role, choice in (
                    ("contactors", profile.io.contactors),
                    ("imd", profile.io.imd),
                    ("supervision", profile.io.supervision),
                    ("matrix", profile.io.matrix),
                )
            }
        )
        policy = plugins.registry("limit_policy").get(profile.policy.name).factory(profile.policy.params)
        return cls(profile, plugins, driver, io, policy)

    async def start(self) -> None:
        """Start the I/O drivers and the power driver."""
        for part in (*self._io_parts(), self.driver):
            await call_maybe_async(getattr(part, "start", None))

    async def stop(self) -> None:
        """Every gun to standby, every module off, drivers stopped; never raises."""
        for gun in self.guns.values():
            try:
                await gun.reset()
            except Exception:
                log.exception("gun %s: reset during shutdown failed", gun.id)
        for part in (self.driver, *reversed(self._io_parts())):
            try:
                await call_maybe_async(getattr(part, "stop", None))
            except Exception:
                log.exception("stopping %s failed", type(part).__name__)

    def _io_parts(self) -> list[Any]:
        io = self.io
        return [io.contactors, io.imd, io.supervision, io.matrix]
