"""The gun as its sequences see it: what the cable check, the safe-down and the checks may use.

:class:`~pecc_core.gun.machine.Gun` is the one implementation. The
sequences (:mod:`.cable_check`, :mod:`.safe_down`, :mod:`.checks`,
:mod:`.voltage`, :mod:`.demand`) take this protocol instead of the class,
so that the gun imports its parts and no part imports the gun. Every
member is read-only here, and no transition is: a sequence drives the
output (:meth:`drive`), reports to the gun's parts (the fault monitor, the
contactors, the work) and returns its result; the gun takes the
transitions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import KeysView, Mapping

    from pecc_core.gun.contactors import Contactors
    from pecc_core.gun.faults import FaultMonitor
    from pecc_core.gun.last_check import LastCheck
    from pecc_core.gun.output import Output
    from pecc_core.gun.readings import Readings
    from pecc_core.gun.table import GunState
    from pecc_core.gun.wiring import Wiring
    from pecc_core.gun.work import Work
    from pecc_core.model import EvSession, Limits, OperatorCaps, Status, Target
    from pecc_core.power import ModuleId
    from pecc_core.profile.model import GunConfig, SafetyConfig
    from pecc_core.transport import SeccLink


class GunView(Protocol):
    """One gun, as its sequences see it (:class:`~pecc_core.gun.machine.Gun` documents each member)."""

    @property
    def id(self) -> str: ...

    @property
    def config(self) -> GunConfig: ...

    @property
    def ratings(self) -> GunConfig: ...

    @property
    def caps(self) -> OperatorCaps: ...

    @property
    def safety(self) -> SafetyConfig: ...

    @property
    def wiring(self) -> Wiring: ...

    @property
    def state(self) -> GunState: ...

    @property
    def secc(self) -> SeccLink | None: ...

    @property
    def ev(self) -> EvSession: ...

    @property
    def target(self) -> Target | None: ...

    @property
    def active_since(self) -> float: ...

    @property
    def readout(self) -> Status: ...

    @property
    def readings(self) -> Readings: ...

    @property
    def fault_monitor(self) -> FaultMonitor: ...

    @property
    def faults(self) -> Mapping[str, str]: ...

    @property
    def notices(self) -> KeysView[str]: ...

    @property
    def starved(self) -> bool: ...

    @property
    def contactors(self) -> Contactors: ...

    @property
    def output(self) -> Output: ...

    @property
    def work(self) -> Work: ...

    @property
    def last_check(self) -> LastCheck: ...

    def modules(self) -> tuple[ModuleId, ...]: ...

    def limits(self) -> Limits: ...

    def output_safe(self) -> bool: ...

    def drive(self, voltage: float, current: float) -> None: ...

    def refresh_output(self, cycle: bool = False) -> None: ...
