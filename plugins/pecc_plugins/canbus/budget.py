"""The bus budget: how full a CAN driver's bus gets in its busiest case, judged before anything runs.

One bus at a time (:func:`budget`): the driver's timing and what each of
its frames costs (:meth:`~pecc_plugins.canbus.moduledriver.ModuleDriver.poll_frames`,
the driver's own figures, not a table here), the bitrate, the bus's
modules and the guns whose setpoints go through it. Two figures
(:func:`estimate`), both with every module the guns can take exporting
and measured every ``poll_ms``, the others idle:

- *steady*: the charging load, each exporting module's setpoints
  refreshed every ``resend_ms`` (a car's targets held);
- *busiest*: every exporting module also sent a new voltage and current
  every control cycle (every gun ramping at once).

Every frame is counted at 8 data bytes with the most bit stuffing
possible, so each figure is an upper bound of what
``pecc_can_bus_load_ratio`` reads (that gauge counts half the worst-case
stuffing).

Judged (:meth:`Budget.finding`): a warning when the steady load is above
:data:`WARN_PERCENT` (the headroom a bus keeps while it charges), a
refusal when the busiest case is above :data:`FIT_PERCENT` (it cannot
fit). ``pecc profiles validate`` and ``pecc run`` print the warning and
refuse a bus that cannot fit (:func:`check_profile`, the
``pecc_check_profile`` hook), ``pecc doctor`` shows the same row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pecc_core.doctor import Finding, Status, fail, ok, warn
from pecc_plugins.canbus.link import BusConfig
from pecc_plugins.canbus.load import BusLoad, worst_case_bits
from pecc_plugins.canbus.polling import DriverTiming, PollFrames

if TYPE_CHECKING:
    from pecc_core.profile.model import PowerBusConfig, Profile
    from pecc_core.registry import Registry

#: Above this steady load (%) a charging bus is busy: a setpoint waits behind other frames
#: more often, and a burst (every gun changing at once, error frames and their repeats) has
#: little room. A warning.
WARN_PERCENT = 30.0
#: Above this estimated load (%) the busiest case does not fit: frames come faster than the
#: wire carries them, the transmit queue grows without end, polls starve and refreshes come
#: late against the modules' watchdog. A refusal. The estimate is an upper bound (the most
#: stuffing; every module's voltage and current changing every cycle), so up to it the bus keeps up.
FIT_PERCENT = 100.0


def busiest_exporting(modules: int, guns: int, max_modules_per_gun: int) -> int:
    """How many of a bus's ``modules`` can export at once: all, unless its guns cannot take that many.

    ``max_modules_per_gun`` 0 means no limit (as ``power.max_modules_per_gun``).
    """
    if max_modules_per_gun <= 0:
        return modules if guns else 0
    return min(modules, guns * max_modules_per_gun)


def estimate(
    frames: PollFrames,
    timing: DriverTiming,
    bitrate: int,
    modules: int,
    exporting: int,
    cycle_s: float | None,
) -> BusLoad:
    """The load of ``modules`` on a bus at ``bitrate``, ``exporting`` of them exporting.

    Per module and second: its measurements (every ``poll_s`` exporting,
    every ``idle_poll_s`` idle), status and temperature reads, each
    answered. Steady (``cycle_s`` None), an exporting module's setpoints
    are refreshed every ``resend_s``. Busiest, it is sent a change every
    control cycle (``cycle_s``): a gun drives its modules again every
    cycle while its current ramps or its power cap follows the voltage,
    and an SECC asks for new targets about as often. A setpoint counts as
    a refresh, so the refresh then adds frames only when the cycle is the
    longer period. The bus's own reads (``bus_status``) go at the status
    rate.
    """
    idle = frames.measurement / timing.idle_poll_s
    if cycle_s is None:
        setpoints = frames.refresh / timing.resend_s
    else:
        setpoints = frames.change / cycle_s + (frames.refresh / timing.resend_s if cycle_s > timing.resend_s else 0.0)
    active = frames.measurement / timing.poll_s + setpoints
    every = frames.status / timing.status_s + frames.temperature / timing.temperature_s
    bus = frames.bus_status / timing.status_s
    exchanges = modules * every + exporting * active + (modules - exporting) * idle + bus
    per_s = 2 * exchanges  # each frame and its reply
    return BusLoad(per_s, per_s * worst_case_bits(8), bitrate)


@dataclass(frozen=True, slots=True)
class Budget:
    """One bus's estimate: where it is, its modules, how many of them export, the steady and busiest loads."""

    bus: BusConfig
    modules: int
    exporting: int
    steady: BusLoad
    busiest: BusLoad

    def finding(self, check: str) -> Finding:
        """One row named ``check``: a fail when the busiest case is above :data:`FIT_PERCENT`,
        a warning when the steady load is above :data:`WARN_PERCENT`, else ok."""
        bus, steady, busiest = self.bus, self.steady, self.busiest
        of = "" if self.exporting == self.modules else f" of {self.modules}"
        detail = (
            f"bus {bus.channel} at {bus.bitrate / 1000:g} kbit/s with {self.exporting}{of} modules exporting: "
            f"estimated {steady.percent:.0f} % charging ({steady.frames_per_s:.0f} frames/s), "
            f"{busiest.percent:.0f} % with every gun ramping ({busiest.frames_per_s:.0f} frames/s)"
        )
        if busiest.percent > FIT_PERCENT:
            return fail(check, detail, f"at most {FIT_PERCENT:.0f} % fits — split the modules over more buses "
                        "or raise the bitrate")
        if steady.percent > WARN_PERCENT:
            return warn(check, detail, f"above {WARN_PERCENT:.0f} % frames often wait for the bus and a burst has "
                        "little room — fewer modules per bus or a higher bitrate")
        return ok(check, detail)


def budget(
    factory: object, settings: object, modules: int, guns: int, max_modules_per_gun: int, cycle_s: float
) -> Budget | None:
    """The busiest case of one bus: its power driver (factory and validated params) and what it serves.

    None unless the driver is a CAN module driver (``settings.bus``,
    ``settings.timing``) that states its frames (``poll_frames``).
    """
    bus, timing = getattr(settings, "bus", None), getattr(settings, "timing", None)
    stated = getattr(factory, "poll_frames", None)
    if not isinstance(bus, BusConfig) or not isinstance(timing, DriverTiming) or stated is None:
        return None
    frames = stated(settings)
    if not isinstance(frames, PollFrames):
        return None
    busy = busiest_exporting(modules, guns, max_modules_per_gun)
    return Budget(
        bus,
        modules,
        busy,
        estimate(frames, timing, bus.bitrate, modules, busy, None),
        estimate(frames, timing, bus.bitrate, modules, busy, cycle_s),
    )


def bus_budget(profile: Profile, power_bus: PowerBusConfig, registry: Callable[[str], Registry]) -> Budget | None:
    """The estimate of one of the profile's buses (its driver's params already validated).

    Its guns are those its modules can be switched onto (every gun when one
    of them reaches all).
    """
    reach: set[str] = set()
    for module in power_bus.modules:
        if not module.guns:
            reach = {gun.id for gun in profile.guns}
            break
        reach.update(module.guns)
    return budget(
        registry("power_driver").get(power_bus.driver.name).factory,
        power_bus.driver.params,
        len(power_bus.modules),
        len(reach),
        profile.power.max_modules_per_gun,
        profile.timings.control_cycle_ms / 1000,
    )


def check_profile(profile: Profile, registry: Callable[[str], Registry]) -> list[Finding]:
    """Each bus's warning or refusal, keyed where the profile writes the bus; nothing for a bus that fits."""
    rows = []
    for power_bus in profile.power.buses:
        found = bus_budget(profile, power_bus, registry)
        if found is not None and (row := found.finding(power_bus.key)).status is not Status.OK:
            rows.append(row)
    return rows
