"""``pecc doctor``: the preflight of a field install, as rows an integrator acts on.

Each check of a profile's installation (the CAN interface is up at the
profile's bitrate, the GPIO lines exist, the ports are free, the TLS files
are private and valid, ...) gives one or more :class:`Finding` rows: ok,
warn or fail, what was found and, unless it is ok, one concrete line of
what to do. The checks that concern a plugin's thing are that plugin's
business: it offers them through the ``pecc_doctor_checks`` hook as
:class:`Check` objects, and the core (:mod:`.runner`) runs them, turning
one that raises into a fail row naming the exception.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

#: What a check on a simulated part says: nothing on the machine to look at.
SIMULATED = "simulated: skipped"


class Status(StrEnum):
    """How a row reads; ``pecc doctor`` exits 1 when any row is ``fail``."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Finding:
    """One row: the thing checked, its status, what was found and what to do (empty when ok)."""

    check: str
    status: Status
    detail: str
    fix: str = ""

    def as_json(self) -> dict[str, str]:
        return {"check": self.check, "status": str(self.status), "detail": self.detail, "fix": self.fix}


def ok(check: str, detail: str) -> Finding:
    return Finding(check, Status.OK, detail)


def warn(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, Status.WARN, detail, fix)


def fail(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, Status.FAIL, detail, fix)


@dataclass(frozen=True, slots=True)
class Check:
    """A check a plugin offers: ``run()`` (plain or async) returns its rows.

    Building a check does nothing; the work (reading /sys, binding a port,
    listening to a bus for a few seconds) happens in ``run``, on the event
    loop of ``pecc doctor``. ``name`` names the check's row if it raises.
    """

    name: str
    run: Callable[[], Sequence[Finding] | Awaitable[Sequence[Finding]]]
