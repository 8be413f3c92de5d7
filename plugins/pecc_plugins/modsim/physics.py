"""The physics behind the simulated modules: outputs, gun nodes and cars.

Protocol-free and time-stepped: :meth:`Plant.step` advances everything by
``dt`` seconds. Modules switched onto the same gun share that gun's output
node (a capacitance with a bleeder resistor). Each running module is a
voltage source behind an output diode, with a current limit: constant
current up to its range's current, then constant power. Its reference
starts from 0 V when the output is switched on (soft start) and slews
toward the setpoint, held between the module's minimum voltage and the top
of its range. An off module's own side of the diode is at ~0 V while its
terminal still shows the node (a car's battery, a charged capacitor). With
the gun's contactors and the car's contactors closed the node is clamped
by the car's battery (open-circuit voltage plus internal resistance), so a
voltage target above the battery gives constant-current charging at the
current limit; otherwise the node is charged by the
modules and discharged by the bleeder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PhysicsConfig:
    """Electrical and thermal constants of the simulated cabinet and cars."""

    slew_v_per_s: float = 500.0
    node_capacitance_f: float = 0.002
    bleeder_ohm: float = 500.0  # tau = 1 s: 1000 V -> < 60 V in about 3 s
    battery_ohm: float = 0.05
    #: open-circuit voltage rise per % SOC, as a share of the precharge voltage
    ocv_per_soc: float = 0.002
    ambient_c: float = 25.0
    full_load_rise_c: float = 30.0
    thermal_tau_s: float = 60.0
    #: above this the module reports over-temperature and stops its output
    over_temperature_c: float = 85.0


@dataclass(slots=True)
class ModuleOutput:
    """One module's power stage as the plant sees it."""

    address: int
    voltage_max: float
    current_max: float
    power_max: float
    voltage_min: float = 150.0
    #: highest voltage and current of the present range (UU hi/lo)
    range_max: float = math.inf
    range_current_max: float = math.inf
    on: bool = False
    voltage_setpoint: float = 0.0
    current_setpoint: float = 0.0
    reference: float = 0.0  # the slewing internal voltage reference
    voltage: float = 0.0  # at its output terminals, after the diode (= its node)
    module_voltage: float = 0.0  # its own side of the output diode
    current: float = 0.0
    temperature: float = 25.0
    forced_temperature: float | None = None  # injected over-temperature
    stopped: bool = False  # a fault stops the power stage (set by the protocol side)

    def overheated(self, config: PhysicsConfig) -> bool:
        return self.temperature > config.over_temperature_c

    def running(self, config: PhysicsConfig) -> bool:
        return self.on and not self.overheated(config) and not self.stopped

    def current_limit(self, voltage: float) -> float:
        """Constant current (the setpoint, the range) then constant power."""
        return max(0.0, min(self.current_setpoint, self.current_max, self.range_current_max,
                            self.power_max / max(voltage, 1.0)))


@dataclass(slots=True)
class Battery:
    """The car behind a gun during one session."""

    ocv0: float  # the voltage the SECC precharged to
    soc0: float
    soc: float
    closed: bool = False  # the car's own contactors

    def ocv(self, config: PhysicsConfig) -> float:
        return self.ocv0 * (1.0 + config.ocv_per_soc * (self.soc - self.soc0))


@dataclass(slots=True)
class Node:
    """The output bus of one gun (or of a module switched onto no gun)."""

    voltage: float = 0.0
    battery: Battery | None = None
    contactors: bool = False


@dataclass(slots=True)
class Plant:
    config: PhysicsConfig = field(default_factory=PhysicsConfig)

    def step(self, node: Node, modules: list[ModuleOutput], dt: float) -> None:
        """Advance one node and the modules on it by ``dt`` seconds."""
        cfg = self.config
        limits: list[float] = []
        reference = 0.0
        for module in modules:
            if module.running(cfg):
                top = min(module.voltage_max, module.range_max)
                target = max(module.voltage_min, min(module.voltage_setpoint, top))
                step = cfg.slew_v_per_s * dt
                module.reference += max(-step, min(step, target - module.reference))
                reference = max(reference, module.reference)
                limits.append(module.current_limit(node.voltage))
            else:
                module.reference = 0.0  # the next start ramps up from 0 V (soft start)
                limits.append(0.0)
        available = sum(limits)
        battery = node.battery
        if battery is not None and battery.closed and node.contactors:
            ocv = battery.ocv(cfg)
            total = max(0.0, min((reference - ocv) / cfg.battery_ohm, available))
            node.voltage = ocv + total * cfg.battery_ohm
        else:
            bleed = node.voltage / cfg.bleeder_ohm
            wanted = cfg.node_capacitance_f * (reference - node.voltage) / dt + bleed if available else 0.0
            total = max(0.0, min(wanted, available))
            if total:
                node.voltage += (total - bleed) * dt / cfg.node_capacitance_f
            else:
                node.voltage *= math.exp(-dt / (cfg.bleeder_ohm * cfg.node_capacitance_f))
        for module, limit in zip(modules, limits, strict=True):
            module.current = total * limit / available if available else 0.0
            module.voltage = node.voltage
            module.module_voltage = max(module.reference, node.voltage) if module.running(cfg) else 0.0
            self._heat(module, dt)

    def _heat(self, module: ModuleOutput, dt: float) -> None:
        cfg = self.config
        if module.forced_temperature is not None:
            module.temperature = module.forced_temperature
            return
        load = module.voltage * module.current / module.power_max if module.power_max else 0.0
        target = cfg.ambient_c + cfg.full_load_rise_c * load
        module.temperature += (target - module.temperature) * min(1.0, dt / cfg.thermal_tau_s)
