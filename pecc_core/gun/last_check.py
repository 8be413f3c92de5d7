"""What a gun's last cable check did: its figures and the IMD sample it ended on.

Written by the running check (:mod:`~pecc_core.gun.cable_check`) alone;
the fault check and the invariants read it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pecc_core.model import Isolation


@dataclass(slots=True)
class CheckRecord:
    """What one cable check did: the figures its log line and the invariants read."""

    voltage: float  # the test voltage
    started: float  # loop time
    ev_max: float | None = None  # what Formula CC.1 was computed from
    suggestion: float | None = None
    reached: float | None = None  # measured when the voltage counted as reached
    self_test: bool = False
    samples: int = 0  # fresh samples taken after the self-test
    first_sample: float | None = None  # loop time of the first fresh sample
    resistance: float | None = None
    verdict: Isolation = Isolation.INVALID
    passed: bool = False


class LastCheck:
    """A gun's last cable check: its figures and the IMD sample it ended on, written here alone.

    The running check writes them; the gun's fault check reads the sample
    (only a newer one counts during the session) and the invariants read
    the figures.
    """

    __slots__ = ("_isolation_seq", "_record")

    def __init__(self) -> None:
        self._record: CheckRecord | None = None
        self._isolation_seq = 0

    @property
    def record(self) -> CheckRecord | None:
        """The last check's figures (a copy: the running check alone writes them); None before the first."""
        return None if self._record is None else replace(self._record)

    @property
    def isolation_seq(self) -> int:
        """The ``seq`` of the IMD sample the last check's verdict came from (0: none yet)."""
        return self._isolation_seq

    def begin(self, record: CheckRecord) -> CheckRecord:
        """A check starts: ``record`` is its figures from now on, filled in as it goes."""
        self._record = record
        return record

    def ended_on(self, seq: int) -> None:
        """The check took its verdict from the IMD sample ``seq``."""
        self._isolation_seq = seq
