"""The uugreen driver and simulated modules on the timed bus at the cabinet's 125 kbit/s.

A driver that writes its polls as a burst loses the tail of every burst
here (the 10-frame transmit queue refuses it with ENOBUFS), always the same
modules: their reads go missing and they fall silent. These tests count
every frame on the wire per module.
"""

from __future__ import annotations

import asyncio
import errno
from collections import Counter
from collections.abc import Hashable

import can
import pytest

from pecc_core.power import Fault, ModuleState
from pecc_core.testing import eventually
from pecc_plugins.canbus.scheduler import Priority

CABINET = {"interface": "timedvirtual", "bitrate": 125_000}
#: The driver's shipped polling budget, not the fast rates of the other CAN tests.
DEFAULT_RATES = {"poll_ms": 200, "idle_poll_ms": 1000, "status_ms": 1000, "temperature_ms": 5000,
                 "resend_ms": 1000, "offline_ms": 6000, "reopen_min_ms": 20, "reopen_max_ms": 100}
# From CAN-PROTOCOLS.md, not from the codec: controller frames carry 0 in the low
# 14 identifier bits, the module address in bits 20-14; byte 0 low nibble 2 = read.
# Byte 1 is the command: 0x62 = Vout fast, read with every measurement.
ADDRESS_SHIFT, LOW_BITS, READ, READ_RESPONSE, VOUT_FAST = 14, 0x3FFF, 2, 3, 0x62


def reads(frames: list[can.Message]) -> tuple[Counter[int], Counter[int], Counter[int]]:
    """Read requests to, and read responses from, each module; and its Vout-fast read requests."""
    requests: Counter[int] = Counter()
    responses: Counter[int] = Counter()
    measurements: Counter[int] = Counter()
    for msg in frames:
        address = msg.arbitration_id >> ADDRESS_SHIFT & 0x7F
        kind = msg.data[0] & 0xF
        if kind == READ and msg.arbitration_id & LOW_BITS == 0:
            requests[address] += 1
            measurements[address] += msg.data[1] == VOUT_FAST
        elif kind == READ_RESPONSE:
            responses[address] += 1
    return requests, responses, measurements


@pytest.mark.parametrize(
    ("count", "period"),
    # 24 modules all charging, read every 200 ms, take about 60 % of the bus before any setpoint:
    # their currents change every 500 ms (12 modules: every control cycle, 100 ms)
    [(12, 0.1), (24, 0.5)],
)
async def test_modules_with_guns_charging_lose_no_frame(
    rig, spy_bus: can.BusABC, count: int, period: float
) -> None:
    modules = tuple(range(1, count + 1))
    half = count // 2
    assignment = {a: "g1" if a <= half else "g2" for a in modules}
    async with rig("uugreen", modules=modules, assignment=assignment,
                   driver={**CABINET, **DEFAULT_RATES}, sim=CABINET) as r:
        driver = r.driver
        await eventually(lambda: all(m.online for m in driver.modules.values()), timeout=10.0, what="modules online")
        lost: list[int] = []

        def watch(module: ModuleState) -> None:
            if not module.online:
                lost.append(module.address)

        driver.add_listener(watch)
        while spy_bus.recv(0) is not None:
            pass
        for step in range(round(3.0 / period)):  # both guns charging, their currents changing
            driver.export(modules[:half], 400.0, 150.0 + step % 7)
            driver.export(modules[half:], 420.0, 150.0 + step % 5)
            await asyncio.sleep(period)
        frames = list(iter(lambda: spy_bus.recv(0), None))  # what crossed the wire meanwhile
        driver_stats, sim_stats = driver.link.stats(), r.sim.link.stats()
        setpoints = {a: r.sim.modules[a].output.current_setpoint for a in modules}
    assert lost == []
    assert (driver_stats.dropped, sim_stats.dropped, driver_stats.off_escalations) == (0, 0, 0)
    requests, responses, measurements = reads(frames)
    assert set(requests) == set(modules)
    # every module was polled alike, 3 s / 200 ms (poll_ms) = 15 times (a lost burst tail shows as
    # modules with fewer reads); the phases are spread, so one poll more or less by where the
    # recording's ends fall in each module's period ...
    assert set(measurements.values()) <= {14, 15, 16}, measurements
    assert max(measurements.values()) - min(measurements.values()) <= 1, measurements
    # ... and answered every read, give or take those of one poll (V, I, status, temperature: at most
    # 4 reads) still on its way when the recording started or stopped
    assert all(abs(requests[a] - responses[a]) <= 4 for a in modules), (requests, responses)
    assert all(current > 0 for current in setpoints.values()), setpoints


async def test_an_off_that_cannot_go_out_takes_its_module_out_of_service(rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """A controller whose queue never drains (bus-off without restart): the off is escalated, not lost."""
    async with rig("uugreen", modules=(1, 2), assignment={1: "g1", 2: "g1"},
                   driver={**CABINET, "off_escalate_ms": 50}, sim=CABINET) as r:
        driver = r.driver
        await eventually(lambda: all(m.online for m in driver.modules.values()), what="modules online")
        driver.export([1, 2], 400.0, 20.0)
        await eventually(lambda: r.sim.modules[1].output.on, what="module 1 on")
        bus = driver.link.bus
        real_send = bus.send

        def full(msg: can.Message, timeout: float | None = None) -> None:
            raise can.CanOperationError("Failed to transmit: No buffer space available", errno.ENOBUFS)

        monkeypatch.setattr(bus, "send", full)
        driver.off([1])
        await eventually(lambda: Fault.COMMUNICATION in driver.modules[1].faults, what="module 1 out of service")
        assert not driver.modules[1].usable
        assert driver.link.stats().off_escalations >= 1
        assert driver.link.up  # a full queue is not a dead bus
        monkeypatch.setattr(bus, "send", real_send)  # the bus drains again
        await eventually(lambda: not r.sim.modules[1].output.on, what="the off delivered")
        await eventually(lambda: driver.modules[1].online, what="module 1 recovered")


async def test_frames_of_each_hook_go_in_their_class(rig) -> None:
    """Off frames of apply are OFF, other setpoints SETPOINT, polls POLL (what the scheduler orders by)."""
    async with rig("uugreen", modules=(1,), assignment={1: "g1"}, driver=CABINET, sim=CABINET) as r:
        driver = r.driver
        await eventually(lambda: driver.modules[1].online, what="module 1 online")
        seen: list[Priority] = []
        real_send = driver.link.send

        def spy(
            arbitration_id: int, data: bytes, priority: Priority = Priority.SETPOINT, owner: int | None = None,
            slot: Hashable | None = None,
        ) -> bool:
            seen.append(priority)
            return real_send(arbitration_id, data, priority, owner, slot)

        driver.export([1], 400.0, 20.0)
        await eventually(lambda: r.sim.modules[1].output.on, what="module 1 on")  # after the range is set
        driver.link.send = spy  # type: ignore[method-assign]
        driver.export([1], 400.0, 10.0)  # a falling current goes out at once
        assert set(seen) == {Priority.SETPOINT}
        seen.clear()
        driver.off([1])
        assert seen and set(seen) <= {Priority.OFF, Priority.POLL} and seen[0] is Priority.OFF
        seen.clear()
        driver._poll_once(asyncio.get_running_loop().time() + 10.0)  # every reading due
        assert seen and set(seen) == {Priority.POLL}
