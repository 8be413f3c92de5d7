"""One complete charging session on one gun, as an SECC runs it.

The sequence of PROTOCOL.md "Normal charging sequence": configuration,
evConnectionState connected (with a vehicle id) then energyTransferAllowed,
chargingSession with the car's limits, cableCheck and wait for the
isolation result in status, contactors closed, preCharge until the measured
voltage reaches the battery voltage (4 s budget), charge following the
battery model at a fixed targetValues period, postCharge, contactors open,
reset, disconnected.

A session fails, and says why, when the PECC refuses or misses a request
that the session cannot go on without, reports ``inoperative``, an
isolation fault, misses the precharge budget, or stops delivering current.
A refused or missed targetValues is counted (by the client) but is not
fatal: the protocol lets the SECC send the next one. The session
always tries to leave the gun in standby (contactors open, reset).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from pecc_plugins.seccsim.battery import Battery, ChargerLimits
from pecc_plugins.seccsim.client import (
    ConnectionLost,
    PepClient,
    RequestFailed,
    Status,
    StatusTimeout,
)
from pecc_plugins.seccsim.scenario import Scenario

#: PE_PRE_CHARGE_TIME: preCharge request -> measured voltage reached.
PRECHARGE_BUDGET_S = 4.0
#: PE_CABLE_CHECK_TIME (37 s) plus a margin for the status period.
CABLE_CHECK_TIMEOUT_S = 40.0
#: Below this the car considers no current to be flowing.
NO_CURRENT_A = 1.0
#: Standby: the measured voltage within touch-voltage limits (PROTOCOL.md).
TOUCH_SAFE_V = 60.0


class SessionFailed(Exception):
    """The session cannot go on; the message says why."""


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """How the simulated SECC paces a session (from the command line)."""

    target_period: float = 0.1
    time_scale: float = 1.0
    cable_check_timeout: float = CABLE_CHECK_TIMEOUT_S
    precharge_budget: float = PRECHARGE_BUDGET_S
    #: fail the session when the measured current stays ~0 this long in charge
    stall_timeout: float = 30.0
    #: how long a status may take to show a requested contactor change
    contactor_timeout: float = 2.0


def _inoperative(status: Status) -> bool:
    return bool(status["operationalStatus"] == "inoperative")


def _standby(status: Status) -> bool:
    return bool(status["contactorsStatus"] == "open" and status["measuredVoltage"] <= TOUCH_SAFE_V)


class Ticker:
    """A fixed-rate schedule that skips ticks it is late for instead of bursting."""

    __slots__ = ("_next", "period")

    def __init__(self, period: float) -> None:
        self.period = period
        self._next = asyncio.get_running_loop().time()

    async def wait(self) -> None:
        self._next += self.period
        delay = self._next - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -self.period:
            self._next = asyncio.get_running_loop().time()


class ChargingSession:
    """Run with :meth:`run`; :meth:`request_stop` (stopCharging) ends it early, gracefully."""

    def __init__(
        self, client: PepClient, scenario: Scenario, options: SessionOptions, vehicle_id: str
    ) -> None:
        self.client = client
        self.scenario = scenario
        self.options = options
        self.vehicle_id = vehicle_id
        self.battery = Battery(scenario, options.time_scale)
        self.progress = client.progress
        self.stop_requested = False
        self.charger = ChargerLimits(0.0, 0.0, 0.0)
        self._phase_started = 0.0

    def request_stop(self) -> None:
        """The PECC asked the SECC to end the session (stopCharging)."""
        self.stop_requested = True

    async def run(self) -> None:
        """The whole session; raises :class:`SessionFailed` (or ConnectionLost) on failure."""
        self.client.last_event = ""
        try:
            await self._prepare()
            if not self.stop_requested:
                await self._precharge()
            if not self.stop_requested:
                await self._charge()
            await self._finish()
        except (RequestFailed, StatusTimeout) as exc:
            await self._abandon()
            raise SessionFailed(f"{self.progress.state}: {exc}") from None
        except SessionFailed:
            await self._abandon()
            raise

    # -- phases ------------------------------------------------------------------

    def _state(self, name: str) -> None:
        """Enter phase ``name``; the time the completed phase took goes to the stats."""
        now = asyncio.get_running_loop().time()
        if self._phase_started:
            self.client.stats.phases[self.progress.state].append(now - self._phase_started)
        self._phase_started = now
        self.progress.state = name
        self.progress.soc = self.battery.soc

    async def _prepare(self) -> None:
        client, ev = self.client, self.scenario.ev
        self._state("configuration")
        config = await client.request("configuration", {})
        client.float_values = config.get("floatValues") is True
        self.charger = ChargerLimits(
            config["limitVoltageMax"], config["limitCurrentMax"], config["limitPowerMax"]
        )
        if (
            ev.min_voltage > self.charger.voltage_max
            or self.scenario.battery.voltage_full > self.charger.voltage_max
        ):
            raise SessionFailed(f"the charger's {self.charger.voltage_max:g} V cannot charge this car")
        await client.wait_status(lambda s: not _inoperative(s), 5.0, "operationalStatus operative")
        await client.inform(
            "evConnectionState", {"evConnectionState": "connected", "vehicleId": self.vehicle_id}
        )
        await client.inform("evConnectionState", {"evConnectionState": "energyTransferAllowed"})
        await client.inform(
            "chargingSession",
            {
                "evMinVoltageVolts": ev.min_voltage,
                "evMaxVoltageVolts": ev.max_voltage,
                "evMinCurrentAmperes": ev.min_current,
                "evMaxCurrentAmperes": ev.max_current,
                "evMaxPowerWatts": ev.max_power,
                "chargeMode": "dynamic",
            },
        )
        self._state("cableCheck")
        await client.request("cableCheck", {"voltage": min(ev.max_voltage, self.charger.voltage_max)})
        status = await self._await(
            lambda s: s["isolationStatus"] in ("valid", "warning", "fault"),
            self.options.cable_check_timeout,
            "an isolation result",
        )
        if status["isolationStatus"] == "fault":
            raise SessionFailed(self._pecc_says("isolation fault"))
        self._state("contactors")
        await client.request("contactorsStatus", {"contactorsStatus": "closed"})
        await self._await(
            lambda s: s["contactorsStatus"] == "closed", self.options.contactor_timeout, "contactors closed"
        )

    async def _precharge(self) -> None:
        self._state("preCharge")
        ev = self.scenario.ev
        wanted = self.battery.open_circuit_voltage()
        deadline = asyncio.get_running_loop().time() + self.options.precharge_budget
        ticker = Ticker(self.options.target_period)
        while not self.stop_requested:
            await self._target(wanted, ev.precharge_current, "preCharge")
            status = self._live_status()
            if abs(status["measuredVoltage"] - wanted) <= ev.precharge_tolerance_v:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise SessionFailed(
                    f"measured {status['measuredVoltage']:g} V after {self.options.precharge_budget:g} s, "
                    f"wanted {wanted:.0f} V +- {ev.precharge_tolerance_v:g} V"
                )
            await ticker.wait()

    async def _charge(self) -> None:
        self._state("charge")
        battery, progress = self.battery, self.progress
        ticker = Ticker(self.options.target_period)
        last = asyncio.get_running_loop().time()
        flowing_at = last
        while not (battery.full or self.stop_requested):
            voltage, current = battery.request(self.charger)
            await self._target(voltage, current, "charge")
            await ticker.wait()
            status = self._live_status()
            now = asyncio.get_running_loop().time()
            battery.integrate(status["measuredCurrent"], status["measuredVoltage"], now - last)
            last = now
            progress.soc = battery.soc
            if status["measuredCurrent"] >= NO_CURRENT_A:
                flowing_at = now
            elif now - flowing_at > self.options.stall_timeout:
                raise SessionFailed(f"no current for {self.options.stall_timeout:g} s")

    async def _finish(self) -> None:
        client, options = self.client, self.options
        self._state("postCharge")
        ticker = Ticker(options.target_period)
        deadline = asyncio.get_running_loop().time() + options.contactor_timeout
        while True:
            await self._target(0.0, 0.0, "postCharge")
            if self._live_status()["measuredCurrent"] < NO_CURRENT_A or asyncio.get_running_loop().time() > deadline:
                break
            await ticker.wait()
        self._state("open")
        await client.request("contactorsStatus", {"contactorsStatus": "open"})
        await client.wait_status(
            lambda s: s["contactorsStatus"] == "open", options.contactor_timeout, "contactors open"
        )
        self._state("reset")
        await client.request("reset", {})
        await client.wait_status(
            _standby, options.contactor_timeout, f"standby (<= {TOUCH_SAFE_V:g} V, open)"
        )
        await client.inform("evConnectionState", {"evConnectionState": "disconnected"})
        self._state("done")

    async def _abandon(self) -> None:
        """After a failure: open, reset, unplug, ignoring what fails (already counted)."""
        client = self.client
        for step in (
            lambda: client.request("contactorsStatus", {"contactorsStatus": "open"}),
            lambda: client.request("reset", {}),
            lambda: client.inform("evConnectionState", {"evConnectionState": "disconnected"}),
        ):
            try:
                await step()
            except RequestFailed:
                continue
            except ConnectionLost:
                return

    # -- helpers ------------------------------------------------------------------

    async def _target(self, voltage: float, current: float, phase: str) -> None:
        """Send targetValues; a refusal or a missed reply is counted, not fatal.

        The protocol lets the SECC send the next one; whether the output
        follows is judged from the status (precharge budget, stall timeout).
        """
        with contextlib.suppress(RequestFailed):
            await self.client.request(
                "targetValues",
                {
                    "targetVoltage": voltage,
                    "targetCurrent": current,
                    "batteryStateOfCharge": self.battery.soc,
                    "chargingState": phase,
                },
            )

    def _live_status(self) -> Status:
        """The latest status, refusing one that says the PECC cannot go on."""
        status = self.client.status
        if status is None:  # _prepare waits for one: only a session that skipped it gets here
            raise SessionFailed("no status from the PECC yet")
        if _inoperative(status):
            raise SessionFailed(self._pecc_says("the PECC reports inoperative"))
        if status["contactorsStatus"] != "closed" and self.progress.state in ("preCharge", "charge"):
            raise SessionFailed(self._pecc_says("the PECC opened the contactors"))
        return status

    async def _await(self, condition: Callable[[Status], bool], timeout: float, what: str) -> Status:
        """Like ``wait_status`` but an inoperative PECC fails the session at once."""
        status = await self.client.wait_status(lambda s: condition(s) or _inoperative(s), timeout, what)
        if not condition(status):
            raise SessionFailed(self._pecc_says("the PECC reports inoperative"))
        return status

    def _pecc_says(self, what: str) -> str:
        """``what`` with the PECC's last event text (its fault), if it sent one this session."""
        event = self.client.last_event
        return f"{what}: {event}" if event else what
