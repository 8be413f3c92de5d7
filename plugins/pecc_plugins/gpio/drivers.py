"""Contactors, CP/PP supervision, IMD and relay matrix on GPIO lines.

Each driver names the lines it uses (``used_lines``), which ``pecc
doctor`` looks for on the machine's GPIO chips.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pecc_core.asyncutil import poll_until
from pecc_core.errors import ConfigError
from pecc_core.io import ContactorError, ImdSample
from pecc_core.model import Isolation
from pecc_core.power import ModuleId
from pecc_core.profile.model import Profile
from pecc_plugins.gpio.lines import GpioLines

POLL_S = 0.005


def _lines(params: Mapping[str, Any]) -> GpioLines:
    return GpioLines(Path(params["root"]), params["active_low"])


def _per_gun(profile: Profile, key: str, mapping: Mapping[str, int]) -> dict[str, int]:
    """``mapping`` checked to name exactly the profile's guns."""
    guns = {g.id for g in profile.guns}
    unknown = sorted(set(mapping) - guns)
    missing = sorted(guns - set(mapping))
    if unknown or missing:
        raise ConfigError(f"gpio {key}: unknown guns {unknown}, guns without a line {missing}")
    return dict(mapping)


class GpioContactors:
    """A command output and an auxiliary-contact feedback input per gun."""

    def __init__(self, params: Mapping[str, Any], profile: Profile) -> None:
        self.io = _lines(params)
        self.command = _per_gun(profile, "command", params["command"])
        self.feedback = _per_gun(profile, "feedback", params["feedback"])
        self.timeout = params["timeout_ms"] / 1000

    def used_lines(self) -> tuple[int, ...]:
        return (*self.command.values(), *self.feedback.values())

    def start(self) -> None:
        for line in self.command.values():
            self.io.setup(line, output=True)
        for line in self.feedback.values():
            self.io.setup(line, output=False)

    def stop(self) -> None:
        for line in self.command.values():
            self.io.write(line, False)

    async def set(self, gun: str, closed: bool) -> None:
        self.io.write(self.command[gun], closed)
        if not await poll_until(lambda: self.closed(gun) == closed, self.timeout, POLL_S):
            raise ContactorError(
                f"gun {gun}: contactor feedback still {'open' if closed else 'closed'} "
                f"{self.timeout * 1000:.0f} ms after the command"
            )

    def closed(self, gun: str) -> bool:
        return self.io.read(self.feedback[gun])


class GpioEmergencyStop:
    """One E-stop input for the station (wire it normally closed with ``active_low``: a broken wire reads pressed)."""

    def __init__(self, params: Mapping[str, Any], profile: Profile) -> None:
        self.io = _lines(params)
        self.line: int = params["line"]

    def used_lines(self) -> tuple[int, ...]:
        return (self.line,)

    def start(self) -> None:
        self.io.setup(self.line, output=False)

    def pressed(self, gun: str) -> bool:
        return self.io.read(self.line)


class GpioSupervision:
    """The SECC's CP/PP supervision output, read as one input per gun."""

    def __init__(self, params: Mapping[str, Any], profile: Profile) -> None:
        self.io = _lines(params)
        self.lines = _per_gun(profile, "lines", params["lines"])

    def used_lines(self) -> tuple[int, ...]:
        return tuple(self.lines.values())

    def start(self) -> None:
        for line in self.lines.values():
            self.io.setup(line, output=False)

    def allowed(self, gun: str) -> bool:
        return self.io.read(self.lines[gun])


class GpioImd:
    """An IMD with a start input, OK / warning relay outputs and an optional self-test input per gun.

    What such an IMD can and cannot do (``docs/safety.md``):

    - it gives a verdict, not a resistance nor voltages: the cable check
      judges by the OK line (``warning`` passes only under the 2014 edition);
    - the OK line is level, not a stream: a *fresh* sample cannot be told
      from one that was true before the test. The profile says how long the
      IMD needs to measure after its start (``settle_ms``); only then, and
      every ``sample_ms`` after, does the driver count a new sample;
    - the self-test needs a ``test`` line: raising it makes the IMD switch
      its internal test resistor, so OK must drop within ``test_ms`` and come
      back once the line is released. Without a ``test`` line the self-test
      fails, and with it every cable check (IEC 61851-23 CC.4.1.3).
    """

    def __init__(self, params: Mapping[str, Any], profile: Profile) -> None:
        self.io = _lines(params)
        self.start_lines = _per_gun(profile, "start", params["start"])
        self.ok = _per_gun(profile, "ok", params["ok"])
        self.warning = _per_gun(profile, "warning", params["warning"])
        self.test_lines = _per_gun(profile, "test", params["test"]) if params["test"] else {}
        self.test_s = (params["test_ms"] or profile.timings.cable_check_ms) / 1000
        self.settle_s = (params["settle_ms"] if params["settle_ms"] is not None else params["test_ms"] or 0) / 1000
        self.sample_s = params["sample_ms"] / 1000
        self._started: dict[str, float] = {}

    def used_lines(self) -> tuple[int, ...]:
        return (*self.start_lines.values(), *self.test_lines.values(), *self.ok.values(), *self.warning.values())

    def start(self) -> None:
        """Station start: set up the lines."""
        for line in (*self.start_lines.values(), *self.test_lines.values()):
            self.io.setup(line, output=True)
        for line in (*self.ok.values(), *self.warning.values()):
            self.io.setup(line, output=False)

    def stop(self) -> None:
        """Station stop: every gun's monitoring ends."""
        for gun in list(self._started):
            self.stop_monitoring(gun)

    def start_monitoring(self, gun: str) -> None:
        self.io.write(self.start_lines[gun], True)
        self._started[gun] = asyncio.get_running_loop().time()

    def stop_monitoring(self, gun: str) -> None:
        self.io.write(self.start_lines[gun], False)
        self._started.pop(gun, None)

    def sample(self, gun: str) -> ImdSample | None:
        started = self._started.get(gun)
        if started is None:
            return None
        now = asyncio.get_running_loop().time()
        measuring = now - started - self.settle_s
        if measuring < 0:
            return None
        if self.io.read(self.ok[gun]):
            verdict = Isolation.VALID
        elif self.io.read(self.warning[gun]):
            verdict = Isolation.WARNING
        else:
            verdict = Isolation.FAULT
        return ImdSample(1 + int(measuring / self.sample_s), now, verdict)

    async def self_test(self, gun: str, voltage: float) -> bool:
        line = self.test_lines.get(gun)
        if line is None:
            return False
        ok = self.ok[gun]
        self.io.write(line, True)
        try:
            dropped = await poll_until(lambda: not self.io.read(ok), self.test_s, POLL_S)
        finally:
            self.io.write(line, False)
        return dropped and await poll_until(lambda: self.io.read(ok), self.test_s, POLL_S)


class GpioMatrix:
    """One relay output per (module, gun) pair: line = base + (address - 1) * len(guns) + gun index.

    Lines are numbered by module address, and addresses are unique per bus
    only: with several buses each bus's modules count from their own base
    (``bases``, by bus name; a bus not named there counts from ``base``),
    and two modules that would share a line are refused.
    """

    def __init__(self, params: Mapping[str, Any], profile: Profile) -> None:
        self.io = _lines(params)
        known = {g.id for g in profile.guns}
        unknown = [g for g in params["guns"] if g not in known]
        if unknown:
            raise ConfigError(f"gpio matrix guns: not in the profile: {unknown}")
        self.guns: list[str] = list(params["guns"])
        self.base: int = params["base"]
        self.bases: dict[str, int] = dict(params["bases"])
        self.switch_s = params["switch_ms"] / 1000
        buses = [bus.name for bus in profile.power.buses]
        unknown = sorted(set(self.bases) - set(buses))
        if unknown:
            raise ConfigError(f"gpio matrix bases: not buses of the profile: {unknown}")
        self.modules = [m.id for m in profile.power.modules]
        lines = self.used_lines()
        if len(set(lines)) < len(lines):
            raise ConfigError("gpio matrix: two modules would share relay lines: give each bus its own base in bases")

    def _line(self, module: ModuleId, gun: str) -> int:
        base = self.bases.get(module.bus, self.base)
        return base + (module.address - 1) * len(self.guns) + self.guns.index(gun)

    def used_lines(self) -> tuple[int, ...]:
        return tuple(self._line(m, g) for m in self.modules for g in self.guns)

    def start(self) -> None:
        for line in self.used_lines():
            self.io.setup(line, output=True)

    def stop(self) -> None:
        for line in self.used_lines():
            self.io.write(line, False)

    async def connect(self, module: ModuleId, gun: str | None) -> None:
        for other in self.guns:  # break before make
            if other != gun:
                self.io.write(self._line(module, other), False)
        if gun is not None:
            await asyncio.sleep(self.switch_s)
            self.io.write(self._line(module, gun), True)
        await asyncio.sleep(self.switch_s)

    def gun_of(self, module: ModuleId) -> str | None:
        for gun in self.guns:
            if self.io.read(self._line(module, gun)):
                return gun
        return None
