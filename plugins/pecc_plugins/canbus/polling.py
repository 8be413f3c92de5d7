"""The polling budget of a CAN power-module driver: which readings of which module are due when.

A 125 kbit/s bus carries about 900 frames a second and every read costs
two frames (request and reply); polling every reading of every module at
the fastest rate would fill it. :class:`PollPlan` asks for each reading at
the rate the station needs it (:class:`DriverTiming`), spreads the modules
over each period so that they are not read in bursts, and keeps the
setpoint refresh of exporting modules due about once a period after their
last setpoint frame. :class:`~pecc_plugins.canbus.moduledriver.ModuleDriver`
sends what it says is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Flag, auto

from pecc_core.power import Mode, ModuleState


@dataclass(frozen=True, slots=True)
class DriverTiming:
    """How often a driver reads what, and when it gives up on a module.

    A 125 kbit/s bus carries about 900 frames a second and every read costs
    two (request and reply), so each reading is asked for at the rate the
    station needs it: the voltage and current of modules that feed a gun
    (or still carry current or voltage) every ``poll_s``, those of idle
    modules every ``idle_poll_s``, status and temperature less often.

    :attr poll_s: measurement period of active modules.
    :attr idle_poll_s: measurement period of idle modules (off, no current,
        output below :data:`LIVE_VOLTAGE`).
    :attr status_s: status word period (faults, output on/off), every module.
    :attr temperature_s: temperature period, every module.
    :attr resend_s: setpoint refresh period of exporting modules, counted
        from their last setpoint frame (stretched up to 1.5 times, module by
        module, so that modules started together drift apart).
    :attr offline_s: silence after which a module is offline; longer than
        the module's watchdog, so it has switched itself off by then.
    :attr off_current_a: output current below which relays may open.
    :attr min_current_a: the smallest current limit a module accepts while
        exporting; a smaller share switches the module off instead.
    :attr watchdog_s: the modules' own watchdog: after this silence they
        switch their output off by themselves (the core keeps a lost gun's
        contactors closed that long, so as not to open under load).
    :attr deadband_v: a raise of an exporting module's voltage setpoint up
        to this much (V) above the value last sent is held, until the
        raises add up to more or the refresh (0: every change goes out).
    :attr deadband_a: the same for its current limit (A, per module). Off
        by default: a gun's current is its car's, held short by up to this
        much times its modules, and the measured bus load gained nothing
        from it (the voltage band gave it all).
    """

    poll_s: float = 0.2
    idle_poll_s: float = 1.0
    status_s: float = 1.0
    temperature_s: float = 5.0
    resend_s: float = 1.0
    offline_s: float = 6.0
    off_current_a: float = 2.0
    min_current_a: float = 0.0
    watchdog_s: float = 10.0
    deadband_v: float = 1.0
    deadband_a: float = 0.0


@dataclass(frozen=True, slots=True)
class PollFrames:
    """What a driver's frames cost per module: the frames it sends of each kind, each answered by one reply.

    A vendor driver states them in
    :meth:`~pecc_plugins.canbus.moduledriver.ModuleDriver.poll_frames`, so
    that the bus budget (:mod:`pecc_plugins.canbus.budget`) is its own and
    not a table in the SDK. One-off reads (a range, the ratings) are left out.

    :attr measurement: requests of one measurement (voltage and current).
    :attr status: requests of one status read.
    :attr temperature: requests of one temperature read (0: the status carries it).
    :attr change: setpoint frames of an exporting module whose voltage and
        current both changed (:meth:`~pecc_plugins.canbus.moduledriver.ModuleDriver.update`).
    :attr refresh: frames of an exporting module's whole state
        (:meth:`~pecc_plugins.canbus.moduledriver.ModuleDriver.apply`): its refresh.
    :attr bus_status: requests about the bus as a whole at the status rate (a group's module count).
    """

    measurement: int
    status: int
    temperature: int
    change: int
    refresh: int
    bus_status: int = 0


#: A module output at or above this voltage (V) is live: it is measured at the active rate.
LIVE_VOLTAGE = 60.0
#: The poll loop's tick (s): fine enough to spread reads over each period.
TICK_S = 0.05


class Reading(Flag):
    """What one poll of a module asks for."""

    MEASUREMENT = auto()  # output voltage and current
    STATUS = auto()  # status / alarm word
    TEMPERATURE = auto()


@dataclass(slots=True)
class _Schedule:
    """When each reading of one module, and its setpoint refresh, is next due (loop time).

    ``phase`` (0 to 1) spreads the modules over each period; it also
    stretches each module's refresh interval a little differently, so that
    modules started by one ``export`` do not refresh in one burst ahead of
    the next setpoint change.
    """

    measurement: float
    status: float
    temperature: float
    refresh: float
    phase: float = 0.0

    def refreshed(self, now: float, period: float) -> None:
        """Setpoints went out at ``now``: the next refresh is due about one period later."""
        self.refresh = now + period * (1.0 + 0.5 * self.phase)


class PollPlan:
    """When each module's readings and setpoint refresh are next due (loop time).

    :param timing: the periods.
    :param addresses: the modules, in the order their first reads are spread.
    """

    def __init__(self, timing: DriverTiming, addresses: list[int]) -> None:
        self.timing = timing
        self._addresses = addresses
        self._due: dict[int, _Schedule] = {}
        self.restart(0.0)

    def restart(self, now: float) -> None:
        """First due times from ``now``, spread over each period so that modules are not read in bursts."""
        timing, count = self.timing, max(len(self._addresses), 1)
        for i, address in enumerate(self._addresses):
            share = i / count
            self._due[address] = _Schedule(
                measurement=now + share * timing.poll_s,
                status=now + share * timing.status_s,
                temperature=now + share * timing.temperature_s,
                refresh=now + (1 + share) * timing.resend_s,
                phase=share,
            )

    def readings_due(self, module: ModuleState, now: float) -> Reading:
        """What to read of ``module`` at ``now``; each reading returned is next due one period later."""
        timing, due = self.timing, self._due[module.address]
        readings = Reading(0)
        if now >= due.measurement:
            readings |= Reading.MEASUREMENT
            period = timing.poll_s if self._active(module) else timing.idle_poll_s
            due.measurement = max(due.measurement + period, now)
        if now >= due.status:
            readings |= Reading.STATUS
            due.status = max(due.status + timing.status_s, now)
        if now >= due.temperature:
            readings |= Reading.TEMPERATURE
            due.temperature = max(due.temperature + timing.temperature_s, now)
        return readings

    def measure_soon(self, address: int) -> None:
        """The module starts or stops: measured on the next tick, then at the rate its state needs."""
        self._due[address].measurement = 0.0

    def refresh_due(self, address: int, now: float) -> bool:
        """Whether an exporting module's setpoints are due again (against its watchdog)."""
        return now >= self._due[address].refresh

    def refreshed(self, address: int, now: float) -> None:
        """Setpoints of the module went out at ``now``: its refresh is due a period later, not before."""
        self._due[address].refreshed(now, self.timing.resend_s)

    def held(self, address: int, now: float) -> None:
        """A raise of the module's setpoints is held since ``now`` (or before): its refresh is due within a period."""
        due = self._due[address]
        due.refresh = min(due.refresh, now + self.timing.resend_s)

    def _active(self, module: ModuleState) -> bool:
        """Measured at the fast rate: feeding a gun, or still carrying current or voltage."""
        return (
            module.mode is Mode.EXPORT
            or abs(module.current) > self.timing.off_current_a
            or module.voltage >= LIVE_VOLTAGE
        )
