"""A gun's output part on its own: what it drives, its up-ramp, the power cap binding.

No station and no gun: :meth:`Output.drive` takes the limits and the
measured voltage and returns what may reach the modules.
"""

from __future__ import annotations

import asyncio

import pytest

from pecc_core.gun.output import Output
from pecc_core.gun.ramp import Ramp
from pecc_core.model import Limits

#: What the gun's limits allow (V, A, W), for a gun with its contactors closed.
LIMITS = Limits(0.0, 500.0, 0.0, 200.0, 0.0, 1e6)


async def test_no_power_without_limits_but_the_setpoint_is_kept() -> None:
    output = Output(Ramp(10.0, 0.1))
    assert output.drive(400.0, 100.0, None, None) == (0.0, 0.0)  # no limits: the contactors are not closed
    assert output.setpoint == (400.0, 100.0)
    assert not output.rising and not output.power_bound


async def test_rising_current_follows_the_ramp_and_falling_current_applies_at_once() -> None:
    output = Output(Ramp(10.0, 0.1))
    assert output.drive(400.0, 100.0, LIMITS, None) == (400.0, 1.0)  # one cycle's worth: 10 A/s * 0.1 s
    assert output.rising
    assert output.drive(400.0, 0.5, LIMITS, None) == (400.0, 0.5)
    assert not output.rising


async def test_the_voltage_and_current_are_held_to_the_limits() -> None:
    output = Output(Ramp(1e6, 0.1))
    assert output.drive(600.0, 300.0, LIMITS, None) == (500.0, 200.0)
    assert output.setpoint == (600.0, 300.0)  # as asked: a higher limit later lets more through


async def test_the_power_cap_binds_when_it_sets_the_current_at_the_present_voltage() -> None:
    output = Output(Ramp(1e6, 0.1))
    capped = Limits(0.0, 500.0, 0.0, 200.0, 0.0, 20_000.0)
    assert output.drive(400.0, 100.0, capped, None) == (400.0, 50.0)  # 20 kW at the target's 400 V
    assert output.power_bound
    await asyncio.sleep(0.1)  # a cycle later: the ramp may climb again
    assert output.drive(400.0, 100.0, capped, 320.0) == (400.0, 62.5)  # 20 kW at the measured 320 V
    assert output.drive(400.0, 10.0, capped, None) == (400.0, 10.0)
    assert not output.power_bound


async def test_a_climbing_ramp_is_stepped_by_the_control_cycle_alone() -> None:
    # 10 A/s, a 0.1 s cycle: 1 A a cycle at most
    output = Output(Ramp(10.0, 0.1))
    assert output.drive(400.0, 100.0, LIMITS, None) == (400.0, 1.0)  # a steady level starts its climb at once
    await asyncio.sleep(0.05)
    assert output.drive(402.0, 100.0, LIMITS, None) == (402.0, 1.0)  # a request while it climbs: no step
    await asyncio.sleep(0.05)
    assert output.drive(402.0, 100.0, LIMITS, None, cycle=True) == (402.0, 2.0)  # the cycle: 0.1 s's worth
    assert output.drive(402.0, 1.5, LIMITS, None) == (402.0, 1.5)  # a lower wish: at once, on any call
    assert not output.rising
    await asyncio.sleep(0.1)
    assert output.drive(402.0, 3.0, LIMITS, None) == (402.0, pytest.approx(2.5))  # steady again: a request climbs
