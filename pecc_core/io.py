"""I/O driver contracts: contactors, isolation monitor, CP/PP supervision, matrix.

One driver instance serves every gun of the station; methods take the gun
id (or module address). Factories registered through
``pecc_register_io_drivers`` are called as ``factory(params, profile)``.
Each driver may be started and stopped with the station: the station calls
``start()`` and ``stop()`` without arguments when a driver has them. The
isolation monitor's own ``start(gun)``/``stop(gun)`` share those names, so
an IMD driver treats a call without a gun as the station's lifecycle call
(both builtin IMDs, ``sim`` and ``gpio``, do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from pecc_core.model import Isolation

#: The I/O roles a profile's ``[io]`` table fills, each with its interface below.
IoRole = Literal["contactors", "imd", "supervision", "matrix"]
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


class IsolationMonitor(Protocol):
    """The insulation monitoring device (IMD) of each gun."""

    def start(self, gun: str | None = None) -> None:
        """Begin an isolation test/monitoring of ``gun``; the caller applies the test voltage.

        Without a gun: the station is starting (set up the device).
        """

    def stop(self, gun: str | None = None) -> None:
        """Stop monitoring ``gun``; its result becomes invalid. Without a gun: the station stops."""

    def result(self, gun: str) -> Isolation:
        """The present result: ``INVALID`` until a test has finished."""


class Supervision(Protocol):
    """CP/PP supervision: the SECC's permission to close the contactors."""

    def allowed(self, gun: str) -> bool:
        """True while the contactors may be closed (CP state C/D, PP valid)."""


class RelayMatrix(Protocol):
    """The relays that switch power modules onto guns."""

    async def connect(self, module: int, gun: str | None) -> None:
        """Switch ``module`` onto ``gun`` (``None``: onto no gun) and wait for it.

        Callers only move a module whose output is off and whose current is ~0.
        """

    def gun_of(self, module: int) -> str | None:
        """The gun ``module`` is switched onto, as the relay feedback says."""


@dataclass(slots=True)
class Io:
    """The station's I/O drivers, one of each role."""

    contactors: Contactors
    imd: IsolationMonitor
    supervision: Supervision
    matrix: RelayMatrix
