"""I/O driver contracts: contactors, isolation monitor, CP/PP supervision, matrix,
emergency stop and the connector-side voltage sensor.

One driver instance serves every gun of the station; methods take the gun
id (or module: :class:`~pecc_core.power.ModuleId`, bus and address). Factories registered through
``pecc_register_io_drivers`` are called as ``factory(params, profile)``.
Each driver may be started and stopped with the station: the station calls
``start()`` and ``stop()`` without arguments when a driver has them. The
isolation monitor's per-gun calls are named apart from that lifecycle
(``start_monitoring(gun)``, ``stop_monitoring(gun)``). ``estop`` and
``connector`` are optional roles (``None`` in :class:`Io` when the profile
has none); ``docs/safety.md`` says what their absence means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from pecc_core.model import Isolation
from pecc_core.power import ModuleId

#: The I/O roles a profile's ``[io]`` table fills, each with its interface below
#: (``estop`` and ``connector`` may be left out).
IoRole = Literal["contactors", "imd", "supervision", "matrix", "estop", "connector"]
IO_ROLES: tuple[IoRole, ...] = get_args(IoRole)


class ContactorError(Exception):
    """The contactor feedback did not follow the command in time."""


class Contactors(Protocol):
    """Output contactors, one pair per gun."""

    async def set(self, gun: str, closed: bool) -> None:
        """Command the contactors and return once the feedback confirms it.

        Raises :class:`ContactorError` if the feedback disagrees after the
        driver's own timeout (well under the 500 ms request budget).
        """

    def closed(self, gun: str) -> bool:
        """The feedback: True while the contactors are closed."""


@dataclass(frozen=True, slots=True)
class ImdSample:
    """One isolation measurement of a gun's output.

    :param seq: counts the gun's samples since monitoring started (1, 2 …):
        a sample is *fresh* for a test when its ``seq`` is higher than the
        last one seen before the test's step began.
    :param time: loop time of the measurement.
    :param verdict: the IMD's own classification (an IMD that only gives
        an OK line reports ``VALID`` or ``FAULT`` and no resistance).
    :param resistance: insulation resistance (Ω), when the IMD measures it.
    :param voltage: output voltage (V), L+/PE and L-/PE (V), when reported.
    """

    seq: int
    time: float
    verdict: Isolation
    resistance: float | None = None
    voltage: float | None = None
    plus_pe: float | None = None
    minus_pe: float | None = None


class IsolationMonitor(Protocol):
    """The insulation monitoring device (IMD) of each gun."""

    def start_monitoring(self, gun: str) -> None:
        """Begin measuring ``gun``'s insulation; samples follow in :meth:`sample`."""

    def stop_monitoring(self, gun: str) -> None:
        """Stop measuring ``gun``; :meth:`sample` is None until monitoring starts again."""

    async def self_test(self, gun: str, voltage: float) -> bool:
        """Run the IMD's self-test on ``gun`` at ``voltage``; True if it passed.

        The caller bounds the wait; a driver that cannot self-test returns False.
        """

    def sample(self, gun: str) -> ImdSample | None:
        """The latest measurement of ``gun`` (None while not monitoring or before the first)."""


class EmergencyStop(Protocol):
    """The emergency-stop input(s): pressed means DC off and contactors open at once."""

    def pressed(self, gun: str) -> bool:
        """True while the E-stop that covers ``gun`` is pressed (or its circuit is broken)."""


class ConnectorVoltage(Protocol):
    """A voltage sensor at the connector, after the contactors (DC meter, IMD)."""

    def voltage(self, gun: str) -> float | None:
        """The voltage at ``gun``'s connector (V); None when the reading is unknown or stale."""

    def current(self, gun: str) -> float | None:
        """The current through ``gun``'s connector (A), if the sensor measures it; else None."""


class Supervision(Protocol):
    """CP/PP supervision: the SECC's permission to close the contactors."""

    def allowed(self, gun: str) -> bool:
        """True while the contactors may be closed (CP state C/D, PP valid)."""


class RelayMatrix(Protocol):
    """The relays that switch power modules onto guns; they reach across the buses."""

    async def connect(self, module: ModuleId, gun: str | None) -> None:
        """Switch ``module`` onto ``gun`` (``None``: onto no gun) and wait for it.

        Callers only move a module whose output is off and whose current is ~0.
        """

    def gun_of(self, module: ModuleId) -> str | None:
        """The gun ``module`` is switched onto, as the relay feedback says."""


@dataclass(slots=True)
class Io:
    """The station's I/O drivers, one of each role."""

    contactors: Contactors
    imd: IsolationMonitor
    supervision: Supervision
    matrix: RelayMatrix
    estop: EmergencyStop | None = None
    connector: ConnectorVoltage | None = None
