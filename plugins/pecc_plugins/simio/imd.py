"""Simulated insulation monitoring device (IMD), one channel per gun."""

from __future__ import annotations

import asyncio
from typing import Any

from pecc_core.io import ImdSample
from pecc_core.model import Isolation
from pecc_core.profile.model import Profile
from pecc_core.profile.schema import Integer, Number, StrictSchema, between


class ImdParams(StrictSchema):
    #: Self-test time; None takes the profile's ``timings.cable_check_ms``.
    test_ms = Integer(load_default=None, allow_none=True, validate=between(0, 600_000))
    #: One measurement every ``sample_ms`` while monitoring.
    sample_ms = Integer(load_default=100, validate=between(1, 60_000))
    #: The insulation every gun has unless one is injected (Ω).
    resistance_ohm = Number(load_default=10e6, validate=between(0, 1e12))


#: The IMD's own classification: fault below 100 kΩ (IEC 61851-23:2023), and
#: a warning band up to 500 kΩ (the 2014 edition's 500 Ω/V at 1000 V).
FAULT_BELOW = 100e3
WARNING_BELOW = 500e3
#: The resistance an injected verdict stands for (Ω).
_RESISTANCE_OF = {Isolation.FAULT: 50e3, Isolation.WARNING: 300e3}


def verdict(resistance: float) -> Isolation:
    """How this IMD classifies ``resistance``."""
    if resistance < FAULT_BELOW:
        return Isolation.FAULT
    if resistance < WARNING_BELOW:
        return Isolation.WARNING
    return Isolation.VALID


class SimIsolationMonitor:
    """Per gun: a resistance, a self-test that takes ``test_s``, samples every ``sample_s``.

    The resistance of a gun is injected with :meth:`set_resistance` (or a
    verdict with :meth:`inject`); it shows in the next sample. The
    self-test fails for a gun made to fail with :meth:`fail_self_test`.
    Samples carry the output voltage and the L+/PE, L-/PE voltages of a
    symmetric bridge when a voltage source is attached (:meth:`follow`),
    shifted by a common-mode voltage injected with :meth:`shift_pe` (a
    broken PE or an AC-side fault lifts both poles against earth).
    ``test_s`` and ``sample_s`` may be changed at run time.
    """

    def __init__(self, test_ms: int, sample_ms: int = 100, resistance_ohm: float = 10e6) -> None:
        self.test_s = test_ms / 1000
        self.sample_s = sample_ms / 1000
        self.default_ohm = resistance_ohm
        self._ohm: dict[str, float] = {}
        self._self_test_fails: set[str] = set()
        self._pe_shift: dict[str, float] = {}
        self._samples: dict[str, ImdSample] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._voltage: Any = None

    @classmethod
    def from_profile(cls, params: dict[str, Any], profile: Profile) -> SimIsolationMonitor:
        test_ms = params.get("test_ms")
        return cls(
            profile.timings.cable_check_ms if test_ms is None else test_ms,
            params.get("sample_ms", 100),
            params.get("resistance_ohm", 10e6),
        )

    def follow(self, voltage: Any) -> None:
        """Report ``voltage(gun)`` (V or None) in the samples, as an IMD with voltage inputs does."""
        self._voltage = voltage

    def start_monitoring(self, gun: str) -> None:
        self.stop_monitoring(gun)
        self._tasks[gun] = asyncio.get_running_loop().create_task(self._measure(gun), name=f"sim-imd-{gun}")

    def stop_monitoring(self, gun: str) -> None:
        task = self._tasks.pop(gun, None)
        if task is not None:
            task.cancel()
        self._samples.pop(gun, None)

    def stop(self) -> None:
        """Station stop: every gun's monitoring ends."""
        for gun in list(self._tasks):
            self.stop_monitoring(gun)

    async def self_test(self, gun: str, voltage: float) -> bool:
        await asyncio.sleep(self.test_s)
        return gun not in self._self_test_fails

    def sample(self, gun: str) -> ImdSample | None:
        return self._samples.get(gun)

    async def _measure(self, gun: str) -> None:
        loop = asyncio.get_running_loop()
        seq = 0
        while True:
            await asyncio.sleep(self.sample_s)
            seq += 1
            ohm = self.resistance(gun)
            volts = self._voltage(gun) if self._voltage is not None else None
            shift = self._pe_shift.get(gun, 0.0)
            plus, minus = (None, None) if volts is None else (volts / 2 + shift, -volts / 2 + shift)
            self._samples[gun] = ImdSample(seq, loop.time(), verdict(ohm), ohm, volts, plus, minus)

    def resistance(self, gun: str) -> float:
        """The insulation resistance of ``gun`` the next samples show (Ω)."""
        return self._ohm.get(gun, self.default_ohm)

    # -- fault injection ----------------------------------------------------

    def set_resistance(self, gun: str, ohm: float | None) -> None:
        """Make ``gun``'s insulation ``ohm`` (None: the default); the next sample shows it."""
        if ohm is None:
            self._ohm.pop(gun, None)
        else:
            self._ohm[gun] = ohm

    def inject(self, gun: str, result: Isolation | None) -> None:
        """Make ``gun``'s insulation one the IMD classifies as ``result`` (warning, fault); None: healthy."""
        self.set_resistance(gun, None if result is None else _RESISTANCE_OF[result])

    def shift_pe(self, gun: str, volts: float | None) -> None:
        """Lift both of ``gun``'s poles by ``volts`` against PE (None: symmetric again); the next sample shows it."""
        if volts is None:
            self._pe_shift.pop(gun, None)
        else:
            self._pe_shift[gun] = volts

    def fail_self_test(self, gun: str, fails: bool = True) -> None:
        """Make ``gun``'s self-tests fail (or pass again)."""
        if fails:
            self._self_test_fails.add(gun)
        else:
            self._self_test_fails.discard(gun)
