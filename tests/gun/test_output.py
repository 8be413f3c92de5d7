"""A gun's output part on its own: what it drives, its up-ramp, the power cap binding.

No station: a stand-in gun gives what :meth:`Output.drive` reads (the
contactors, the limits, the readings) and records what reaches the modules.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pecc_core.gun import GunState
from pecc_core.gun.output import Output
from pecc_core.gun.ramp import Ramp
from pecc_core.model import Limits, Status


class StandIn:
    """What ``Output.drive`` reads of a gun, with its contactors closed or not."""

    def __init__(self, closed: bool, power_max: float = 1e6) -> None:
        self.id = "1-1"
        self.state = GunState.CHARGE
        self.contactors = SimpleNamespace(commanded_closed=closed)
        self.readout = Status()
        self.readings = SimpleNamespace(voltage_known=False)  # the power cap counts at the target voltage
        self.sent: list[tuple[Any, ...]] = []
        self._limits = Limits(0.0, 500.0, 0.0, 200.0, 0.0, power_max)
        self.wiring = SimpleNamespace(
            io=SimpleNamespace(contactors=SimpleNamespace(closed=lambda gun_id: closed)),
            pool=SimpleNamespace(modules_of=lambda gun_id: (7,)),
            driver=SimpleNamespace(
                export=lambda modules, v, a, voltage_max: self.sent.append(("export", v, a)),
                off=lambda modules: self.sent.append(("off",)),
            ),
        )

    def limits(self) -> Limits:
        return self._limits


async def test_no_power_with_the_contactors_open_but_the_setpoint_is_kept() -> None:
    output, gun = Output(Ramp(10.0, 0.1)), StandIn(closed=False)
    output.drive(gun, 400.0, 100.0, None)  # type: ignore[arg-type]
    assert output.setpoint == (400.0, 100.0)
    assert (gun.readout.driven_voltage, gun.readout.driven_current) == (0.0, 0.0)
    assert gun.sent == [("off",)]
    assert not output.rising and not output.power_bound


async def test_rising_current_follows_the_ramp_and_falling_current_applies_at_once() -> None:
    output, gun = Output(Ramp(10.0, 0.1)), StandIn(closed=True)
    output.drive(gun, 400.0, 100.0, None)  # type: ignore[arg-type]
    assert gun.sent == [("export", 400.0, 1.0)]  # one cycle's worth: 10 A/s * 0.1 s
    assert output.rising
    output.drive(gun, 400.0, 0.5, None)  # type: ignore[arg-type]
    assert gun.sent[-1] == ("export", 400.0, 0.5)
    assert not output.rising


async def test_the_power_cap_binds_when_it_sets_the_current() -> None:
    output, gun = Output(Ramp(1e6, 0.1)), StandIn(closed=True, power_max=20_000.0)
    output.drive(gun, 400.0, 100.0, None)  # type: ignore[arg-type]
    assert gun.sent == [("export", 400.0, 50.0)]  # 20 kW at 400 V
    assert output.power_bound
    output.drive(gun, 400.0, 10.0, None)  # type: ignore[arg-type]
    assert not output.power_bound
