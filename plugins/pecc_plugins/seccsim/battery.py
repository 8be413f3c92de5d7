"""The simulated car's battery: what it asks for, and how full it gets.

A deliberately small model that still behaves like a car on a DC charger:

- open-circuit voltage rises linearly with SOC between the scenario's
  empty and full voltages; the terminal voltage the car asks for adds the
  drop over the internal resistance at the present current;
- the current the car asks for comes from its charging curve (a fraction of
  its maximum current by SOC, interpolated), capped by its power limit and
  by what the charger said it can do (configuration);
- SOC is integrated from the current the charger *measures* (status), not
  from what was asked, so a charger that delivers less charges slower.

``time_scale`` multiplies the elapsed time fed into the integration: at
600 a 30-minute session takes 3 seconds, with the same requests and the
same curve.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from pecc_plugins.seccsim.scenario import Scenario


@dataclass(frozen=True, slots=True)
class ChargerLimits:
    """What the charger reported in its configuration response."""

    voltage_max: float
    current_max: float
    power_max: float


class Curve:
    """Piecewise-linear current fraction by SOC."""

    __slots__ = ("_fractions", "_socs")

    def __init__(self, points: tuple[tuple[float, float], ...]) -> None:
        self._socs = [p[0] for p in points]
        self._fractions = [p[1] for p in points]

    def __call__(self, soc: float) -> float:
        socs, fractions = self._socs, self._fractions
        if soc <= socs[0]:
            return fractions[0]
        if soc >= socs[-1]:
            return fractions[-1]
        i = bisect_right(socs, soc)
        s0, s1 = socs[i - 1], socs[i]
        f0, f1 = fractions[i - 1], fractions[i]
        return f0 + (f1 - f0) * (soc - s0) / (s1 - s0)


class Battery:
    """One car's battery for one session."""

    __slots__ = ("_capacity_as", "_curve", "energy_wh", "scenario", "soc", "time_scale")

    def __init__(self, scenario: Scenario, time_scale: float = 1.0) -> None:
        spec = scenario.battery
        self.scenario = scenario
        self.soc = spec.start_soc
        self.time_scale = time_scale
        self.energy_wh = 0.0
        self._curve = Curve(scenario.curve)
        nominal_v = (spec.voltage_empty + spec.voltage_full) / 2
        #: capacity in ampere-seconds, at the nominal (mid) voltage
        self._capacity_as = spec.capacity_kwh * 1000 * 3600 / nominal_v

    @property
    def full(self) -> bool:
        """The car's target SOC is reached: time to end the session."""
        return self.soc >= self.scenario.battery.target_soc

    def open_circuit_voltage(self) -> float:
        spec = self.scenario.battery
        return spec.voltage_empty + (spec.voltage_full - spec.voltage_empty) * self.soc / 100

    def request(self, charger: ChargerLimits) -> tuple[float, float]:
        """The (voltage, current) the car asks for now: curve, EV and charger limits."""
        ev = self.scenario.ev
        current = ev.max_current * self._curve(self.soc)
        current = min(current, charger.current_max)
        voltage = self.terminal_voltage(current)
        power_cap = min(ev.max_power, charger.power_max)
        if voltage * current > power_cap:
            current = self._current_for_power(power_cap)
            voltage = self.terminal_voltage(current)
        current = max(current, ev.min_current)
        voltage = min(voltage, ev.max_voltage, charger.voltage_max)
        return voltage, current

    def terminal_voltage(self, current: float) -> float:
        return self.open_circuit_voltage() + current * self.scenario.battery.internal_resistance_ohm

    def _current_for_power(self, power: float) -> float:
        # Solve (ocv + I*R) * I = P for I >= 0.
        ocv = self.open_circuit_voltage()
        r = self.scenario.battery.internal_resistance_ohm
        if r == 0:
            return power / ocv
        return float((-ocv + (ocv * ocv + 4 * r * power) ** 0.5) / (2 * r))

    def integrate(self, measured_current: float, measured_voltage: float, dt: float) -> None:
        """Account ``dt`` wall seconds of ``measured_current`` flowing into the battery."""
        sim_dt = dt * self.time_scale
        self.soc = min(100.0, self.soc + 100 * measured_current * sim_dt / self._capacity_as)
        self.energy_wh += measured_current * measured_voltage * sim_dt / 3600
