"""The cable check: IEC 61851-23:2023 CC.4.1, the isolation test before a session may draw power.

Started by :meth:`pecc_core.gun.machine.Gun.cable_check` (state
``cableCheck``) as the gun's task. The sequence, each step logged with its
figures and bounded in time:

1. the output is below 60 V (else the check fails);
2. the test voltage is Formula CC.1 (:func:`test_voltage`) or the profile's
   fixed ``safety.cable_check_voltage``;
3. IMD self-test before closing, where the profile places it there
   (``safety.imd_self_test`` ``before_close``/``both``), then the contactors close;
4. the test voltage is driven with a current below 5 A and below
   V / 110 Ω (short-circuit safe), and the measured output must come within
   ``safety.cable_check_tolerance_v`` of it within
   ``safety.cable_check_voltage_ms``, else the check fails — an isolation
   result at the wrong voltage means nothing;
5. IMD self-test at the test voltage (``after_close``/``both``), bounded by
   ``safety.imd_self_test_ms``; failed or missing fails the check;
6. ``safety.isolation_samples`` fresh samples after the self-test, each
   within ``safety.isolation_sample_ms``;
7. verdict: fault below 100 kΩ; an IMD's ``warning`` is reported, and
   passes only under ``safety.edition = "2014"`` when the IMD gives no
   resistance;
8. outputs off and below 60 V before the result is reported
   (``safety.cable_check_discharge``).

A failed check reports isolation ``fault``, sends the SECC an ``event``
saying why and takes the gun to standby through the safe-down. A gun that
can get no power module (the cabinet is fully used) says so in an ``event``
and waits for one (``safety.module_wait_ms``); if none frees, it takes the
``no_module_free`` fault instead: inoperative until a module frees.
It stops at once when the gun leaves ``cableCheck`` (a fault, a reset, the
SECC gone): the safe-down then owns the output.

What the last check did (:class:`~pecc_core.gun.last_check.CheckRecord`)
and the IMD sample it ended on are the gun's
:class:`~pecc_core.gun.last_check.LastCheck`, written here alone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pecc_core.gun.last_check import CheckRecord
from pecc_core.gun.table import GunState
from pecc_core.io import ContactorError, ImdSample
from pecc_core.model import Isolation

if TYPE_CHECKING:
    from pecc_core.gun.view import GunView

log = logging.getLogger(__name__)

#: Formula CC.1's constants: up to this EV voltage the test adds 50 V,
#: capped at it; above it the test is 110 % of the EV's maximum.
CC1_LOW = 500.0
#: The EV maximum assumed when neither chargingSession nor cableCheck gave one.
CC1_DEFAULT_EV = 500.0
#: The test current stays below this and below V / :data:`SHORT_CIRCUIT_OHM` (6.3.1.109).
TEST_CURRENT_BELOW = 5.0
SHORT_CIRCUIT_OHM = 110.0
#: Margin kept below both bounds.
CURRENT_MARGIN = 0.9
#: Fault below this insulation resistance (Ω).
FAULT_BELOW_OHM = 100e3
#: How long a gun without modules waits for the allocation before it tells the SECC it waits (s).
MODULE_WAIT = 1.0
#: Bound on the discharge after the test (s).
DISCHARGE_WAIT = 5.0


def test_voltage(ev_max: float | None, suggestion: float | None, evse_max: float, fixed: float | None) -> float:
    """Formula CC.1 with ``ev`` = EV max, else the cableCheck suggestion, else 500 V.

    ``fixed``: the site's configured test voltage, which overrides the formula
    (still within the gun's maximum).
    """
    if fixed is not None:
        return min(fixed, evse_max)
    ev = ev_max if ev_max is not None else suggestion if suggestion else CC1_DEFAULT_EV
    if ev <= CC1_LOW:
        return min(ev + 50.0, CC1_LOW, evse_max)
    return min(1.1 * ev, evse_max)


def test_voltage_of(gun: GunView, suggestion: float | None) -> float:
    """``gun``'s test voltage now: the car's maximum, the gun's and its modules' (not the car's) limit."""
    evse = min(gun.ratings.voltage_max, gun.wiring.pool.potential(gun.id).voltage_max)
    return test_voltage(gun.ev.ev_max_voltage_volts, suggestion, evse, gun.safety.cable_check_voltage)


def test_current(voltage: float) -> float:
    """The current limit of the test: below 5 A and below V / 110 Ω (short-circuit safe)."""
    return max(0.0, CURRENT_MARGIN * min(TEST_CURRENT_BELOW, voltage / SHORT_CIRCUIT_OHM))


@dataclass(frozen=True, slots=True)
class CheckResult:
    """How a cable check ended, for the gun to take its transition: passed or not, and why (with its figures)."""

    passed: bool
    reason: str


class CheckFailed(Exception):
    """A step of the check failed; the message says why, with its figures."""


class _Left(Exception):
    """The gun left ``cableCheck`` meanwhile: the check ends without a result."""


async def run(gun: GunView, voltage: float, suggestion: float | None = None) -> CheckResult | None:
    """The whole sequence (module docstring): its result, or None if it ended without one.

    None: the gun left ``cableCheck`` meanwhile, or no module freed (the
    ``no_module_free`` fault is raised). The gun takes the result's
    transition (:class:`~pecc_core.gun.machine.Gun`).
    """
    loop = asyncio.get_running_loop()
    record = gun.last_check.begin(CheckRecord(voltage, loop.time(), gun.ev.ev_max_voltage_volts, suggestion))
    safety = gun.safety
    imd = gun.wiring.io.imd
    log.info("gun %s: cable check at %.0f V (CC.1%s)", gun.id, voltage,
             ", profile's fixed voltage" if safety.cable_check_voltage is not None else "")
    try:
        if not gun.output_safe():
            raise CheckFailed(f"output at {_volts(gun)} before the test, not below 60 V")
        imd.stop_monitoring(gun.id)
        if safety.imd_self_test in ("before_close", "both"):
            await _self_test(gun, voltage, "before closing")
        if not gun.contactors.commanded_closed:
            try:
                await gun.contactors.switch(True)
            except ContactorError as exc:
                raise CheckFailed(str(exc)) from None
        if not await _modules(gun):
            gun.work.forget()
            gun.fault_monitor.condition("no_module_free", True, "no power module free: this gun cannot deliver now")
            return None
        await _reach(gun, voltage, record)
        imd.start_monitoring(gun.id)
        if safety.imd_self_test in ("after_close", "both"):
            await _self_test(gun, voltage, "at the test voltage")
        record.self_test = True
        sample = await _fresh_samples(gun, record)
        _verdict(gun, record, sample)
        gun.drive(0.0, 0.0)
        if safety.cable_check_discharge:
            await _discharged(gun)
    except CheckFailed as exc:
        return _report(gun, record, False, str(exc))
    except _Left:
        gun.work.forget()
        return None
    return _report(gun, record, record.passed, "" if record.passed else _failed_verdict(record))


async def _in_check(gun: GunView, seconds: float) -> None:
    """Sleep; the check ends silently when the gun has left ``cableCheck``."""
    await asyncio.sleep(seconds)
    if gun.state is not GunState.CABLE_CHECK:
        raise _Left


async def _modules(gun: GunView) -> bool:
    """Wait (bounded) for the allocation to give the gun modules; False if it got none.

    A gun the allocation cannot serve now (:attr:`Gun.starved`: every module it
    can reach is in use) tells the SECC after :data:`MODULE_WAIT` and keeps
    waiting for one to free, up to ``safety.module_wait_ms`` (within the
    SECC's 37 s ``PE_CABLE_CHECK_TIME``).
    """
    loop = asyncio.get_running_loop()
    told_after = loop.time() + MODULE_WAIT
    give_up = loop.time() + max(gun.safety.module_wait_ms / 1000, MODULE_WAIT)
    told = False
    while not gun.modules():
        now = loop.time()
        if now >= give_up:
            return False
        if now >= told_after and gun.starved and not told:
            told = True
            gun.fault_monitor.notice("waiting", True, f"no power module free: waiting up to "
                          f"{give_up - now:.0f} s for one to start the cable check")
        await _in_check(gun, gun.wiring.cycle)
    if told:
        gun.fault_monitor.notice("waiting", False, "a power module is free: cable check goes on")
    return True


async def _reach(gun: GunView, voltage: float, record: CheckRecord) -> None:
    safety = gun.safety
    loop = asyncio.get_running_loop()
    current = test_current(voltage)
    gun.drive(voltage, current)
    start = loop.time()
    deadline = start + safety.cable_check_voltage_ms / 1000
    tolerance = safety.cable_check_tolerance_v
    while not (gun.readings.voltage_known and abs(gun.readout.measured_voltage - voltage) <= tolerance):
        if loop.time() >= deadline:
            raise CheckFailed(
                f"test voltage {voltage:.0f} V not reached: measured {_volts(gun)} "
                f"after {loop.time() - start:.1f} s (tolerance {safety.cable_check_tolerance_v:g} V)"
            )
        await _in_check(gun, gun.wiring.cycle)
    record.reached = gun.readout.measured_voltage
    log.info("gun %s: cable check: %.0f V reached (%.0f V) in %.2f s at %.1f A", gun.id, voltage,
             record.reached, loop.time() - start, current)


async def _self_test(gun: GunView, voltage: float, where: str) -> None:
    bound = gun.safety.imd_self_test_ms / 1000
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        async with asyncio.timeout(bound):
            passed = await gun.wiring.io.imd.self_test(gun.id, voltage)
    except TimeoutError:
        raise CheckFailed(f"IMD self-test {where} gave no result within {bound:g} s") from None
    if gun.state is not GunState.CABLE_CHECK:
        raise _Left
    if not passed:
        raise CheckFailed(f"IMD self-test {where} failed")
    log.info("gun %s: cable check: IMD self-test %s passed in %.2f s", gun.id, where, loop.time() - start)


async def _fresh_samples(gun: GunView, record: CheckRecord) -> ImdSample:
    """N samples newer than the self-test's end, each within the bound; the last one."""
    imd = gun.wiring.io.imd
    safety = gun.safety
    loop = asyncio.get_running_loop()
    before = imd.sample(gun.id)
    seen = before.seq if before is not None else 0
    sample: ImdSample | None = None
    for n in range(safety.isolation_samples):
        deadline = loop.time() + safety.isolation_sample_ms / 1000
        while (sample := imd.sample(gun.id)) is None or sample.seq <= seen:
            if loop.time() >= deadline:
                raise CheckFailed(
                    f"isolation sample {n + 1} of {safety.isolation_samples} not received within "
                    f"{safety.isolation_sample_ms} ms after the self-test"
                )
            await _in_check(gun, min(gun.wiring.cycle, 0.01))
        seen = sample.seq
        record.samples += 1
        if record.first_sample is None:
            record.first_sample = sample.time
    gun.last_check.ended_on(seen)
    if sample is None:  # the profile schema asks for 1 to 100; a Profile built in code may not
        raise CheckFailed(f"no isolation sample taken: safety.isolation_samples is {safety.isolation_samples}")
    return sample


def _verdict(gun: GunView, record: CheckRecord, sample: ImdSample) -> None:
    record.resistance = sample.resistance
    verdict = sample.verdict
    if sample.resistance is not None:
        passed = sample.resistance >= FAULT_BELOW_OHM and verdict is not Isolation.FAULT
    else:
        passed = verdict is Isolation.VALID or (verdict is Isolation.WARNING and gun.safety.edition == "2014")
    record.verdict = verdict if passed else Isolation.FAULT
    record.passed = passed


async def _discharged(gun: GunView) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DISCHARGE_WAIT
    while not gun.output_safe():
        if loop.time() >= deadline:
            raise CheckFailed(f"output still at {_volts(gun)} {DISCHARGE_WAIT:g} s after the test")
        await _in_check(gun, gun.wiring.cycle)


def _failed_verdict(record: CheckRecord) -> str:
    ohm = "unknown" if record.resistance is None else f"{record.resistance / 1000:.0f} kΩ"
    return f"insulation fault: {ohm} (fault below {FAULT_BELOW_OHM / 1000:.0f} kΩ)"


def _report(gun: GunView, record: CheckRecord, passed: bool, why: str) -> CheckResult:
    loop = asyncio.get_running_loop()
    gun.work.forget()
    gun.drive(0.0, 0.0)
    took = loop.time() - record.started
    reached = "not reached" if record.reached is None else f"{record.reached:.0f} V reached"
    ohm = "-" if record.resistance is None else f"{record.resistance / 1000:.0f} kΩ"
    figures = (f"test {record.voltage:.0f} V, {reached}, self-test {'ok' if record.self_test else '-'}, "
               f"{record.samples} fresh sample(s), {ohm}, {took:.2f} s")
    if passed:
        gun.readout.isolation = record.verdict
        log.info("gun %s: cable check passed: %s", gun.id, figures, extra={"gun": gun.id})
        return CheckResult(True, f"isolation {record.verdict} ({figures})")
    record.passed = False
    gun.readout.isolation = Isolation.FAULT
    message = f"gun {gun.id}: cable check failed: {why} ({figures})"
    log.warning("%s", message, extra={"gun": gun.id})
    return CheckResult(False, message)


def _volts(gun: GunView) -> str:
    if gun.readings.voltage_known:
        return f"{gun.readout.measured_voltage:.0f} V"
    return "an unknown voltage (stale readings)"
