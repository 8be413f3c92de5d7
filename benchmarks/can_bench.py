"""CAN benchmark: bus load of the module polling, and targetValues -> setpoint frame delay.

Runs on the timed virtual bus (``timedvirtual``: frames take their wire
time at 125 kbit/s, every node has socketcan's 10-frame transmit queue),
so queueing on the wire and in the transmit scheduler is part of every
figure. python-can's virtual buses exist only inside one process, so the
whole station runs in-process (:func:`pecc_core.testing.running`, the
same runtime as ``pecc run``: pepws, gun state machines, uugreen driver,
the module simulator answering on the bus), a plain ``virtual`` listener
on the same channel records every frame with the moment its last bit
crossed the wire, and the SECC simulator's client runs on the same event
loop. The delay is measured from just before the targetValues frame is
sent on the WebSocket to the wire timestamp of the first voltage setpoint
frame (UU ``VREF``, Infy ``SET_VI``; ``--protocol``) carrying that voltage: both clocks are
``time.time()`` of this process. The client shares the loop with the
PECC, so the delay includes its share of the loop.

Bus load counts every frame on the bus with its exact stuffed bit count
(:func:`pecc_plugins.canbus.load.stuffed_bits`) against 125 kbit/s; the
driver's own estimate (:meth:`CanLink.stats`: its one-second load, the
median of one reading a second while the guns charge) and its transmit
counters (retried, dropped) are reported beside it.

The uugreen driver sends every setpoint change at once and keeps the bus
load down with its polling budget (active modules fast, idle ones slowly).

With ``--busy``, as many guns as the bus has modules (at most the
station's four) charge at once, each asking more than a module gives, so
every module exports and gets new setpoints every period; the first gun
is the probe.

    python -m benchmarks.can_bench [--protocol uugreen infy] [--modules 12 24] [--param poll_ms=500 ...]
        [--seconds 10] [--busy]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import statistics
import tempfile
import time
from bisect import bisect_right
from pathlib import Path
from typing import Any

import can
from websockets.asyncio.client import connect

from benchmarks.markdown import md_table
from pecc_core.asyncutil import cancel
from pecc_core.plugins import default_manager
from pecc_core.profile import load
from pecc_core.testing import running, sim_overrides, write_profile
from pecc_plugins.canbus.load import stuffed_bits
from pecc_plugins.infy import codec as infy
from pecc_plugins.seccsim.client import PepClient
from pecc_plugins.seccsim.runner import SUBPROTOCOL
from pecc_plugins.seccsim.scenario import from_mapping
from pecc_plugins.seccsim.session import ChargingSession, SessionOptions, Ticker
from pecc_plugins.seccsim.stats import RunStats, percentile
from pecc_plugins.uugreen import codec as uu

BITRATE = 125_000


class Recorder(can.Listener):
    """Every frame seen on the bus: timestamp, id, data (called from the notifier)."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, int, bytes]] = []

    def on_message_received(self, msg: can.Message) -> None:
        self.frames.append((msg.timestamp, msg.arbitration_id, bytes(msg.data)))

    def load(self, since: float, until: float) -> tuple[float, float]:
        """Frames per second and bus load (%) between two bus timestamps."""
        window = [f for f in self.frames if since <= f[0] < until]
        bits = sum(stuffed_bits(i, d) for _, i, d in window)
        seconds = until - since
        return len(window) / seconds, 100 * bits / seconds / BITRATE

    def setpoints(self, protocol: str) -> list[tuple[float, float]]:
        """(time, volts) of every voltage setpoint frame the controller sent, in bus order."""
        out = []
        for stamp, ident, data in self.frames:
            if protocol == "infy":
                sent = infy.decode(ident, data)
                if sent is not None and sent.cmd == infy.Cmd.SET_VI and sent.source == infy.CONTROLLER:
                    out.append((stamp, int.from_bytes(sent.data[:4], "big") / 1000))
                continue
            frame = uu.decode(ident, data)
            if frame is not None and frame.msg_type == uu.MsgType.SET and frame.cmd == uu.Cmd.VREF:
                out.append((stamp, frame.value / 1000))
        return out


class SetpointProbe(ChargingSession):
    """A normal session whose charge phase steps the voltage by 2 V every period.

    2 V: above the drivers' setpoint deadband (``deadband_v``, 1 V), which
    holds a smaller raise on purpose (docs/can-drivers.md, "The deadband").
    """

    steps = 200

    def __init__(self, *args: Any, offset: float = 0.0, amps: float = 20.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[float, float]] = []
        #: added to every voltage: the other guns of a ``--busy`` run step half a volt off the probe's
        self.offset = offset
        self.amps = amps

    async def _charge(self) -> None:
        self._state("charge")
        ticker = Ticker(self.options.target_period)
        base = round(self.battery.open_circuit_voltage()) + self.offset
        for k in range(self.steps):
            volts = base + 2.0 * (k % 20 + 1)
            self.sent.append((time.time(), volts))
            await self._target(volts, self.amps, "charge")
            await ticker.wait()


def delays(sent: list[tuple[float, float]], setpoints: list[tuple[float, float]]) -> tuple[list[float], int]:
    """Seconds from each target to the first setpoint frame carrying it or a newer target.

    A frame's value names the latest target sent with that voltage before
    the frame; a driver that coalesces targets arriving faster than it
    refreshes setpoints sends the newest one, which also answers the older
    ones. Also returns how many targets never appeared on the bus
    themselves (superseded before being sent).
    """
    send_times = [t for t, _ in sent]
    sources: list[tuple[float, int]] = []  # (frame time, index of the target it carries)
    for stamp, volts in setpoints:
        latest = bisect_right(send_times, stamp) - 1
        for k in range(latest, max(latest - 20, -1), -1):
            if abs(sent[k][1] - volts) < 0.0005:
                sources.append((stamp, k))
                break
    out = []
    carried = {k for _, k in sources}
    for k, (t0, _) in enumerate(sent):
        for stamp, source in sources:
            if stamp >= t0 and source >= k:
                out.append(stamp - t0)
                break
    return out, len(sent) - len(carried)


async def drive(url: str, probe_args: dict[str, Any], steps: int) -> tuple[SetpointProbe, RunStats]:
    """One SECC client on ``url`` running a :class:`SetpointProbe` to its end."""
    stats = RunStats()
    async with connect(url, subprotocols=[SUBPROTOCOL], compression=None, ping_interval=None, proxy=None) as ws:
        client = PepClient(ws, stats.add_gun(url), stats)
        receiver = asyncio.create_task(client.receive())
        SetpointProbe.steps = steps
        probe = SetpointProbe(client, from_mapping({}), SessionOptions(), url, **probe_args)
        await probe.run()
        await ws.close()
        await receiver
    return probe, stats


async def measure(
    protocol: str, modules: int, params: dict[str, int], seconds: float, steps: int, busy: bool
) -> dict[str, Any]:
    """One run; ``busy``: as many guns as there are modules (at most the station's) charge at 200 A, so
    every module exports, the others' voltages half a volt off the probe's, all stepping every period;
    the probe is the first gun."""
    channel = f"can-bench-{modules}-{time.monotonic_ns()}"
    overrides: dict[str, Any] = {
        **sim_overrides(channel),
        "power.driver.name": protocol,
        "services.0.params.protocol": protocol,
        "power.driver.params.interface": "timedvirtual",
        "power.driver.params.bitrate": BITRATE,
        "services.0.params.interface": "timedvirtual",
        "services.0.params.bitrate": BITRATE,
        **{f"power.driver.params.{key}": value for key, value in params.items()},
        "log_level": "WARNING",
        "timings.cable_check_ms": 200,
        "power.modules": [{"address": a} for a in range(1, modules + 1)],
    }
    with tempfile.TemporaryDirectory() as tmp:
        profile = load(str(write_profile("sim", Path(tmp), overrides)), default_manager())
    recorder = Recorder()
    bus = can.Bus(interface="virtual", channel=channel)
    notifier = can.Notifier(bus, [recorder], loop=asyncio.get_running_loop())
    guns = profile.guns[:modules] if busy else profile.guns[:1]
    amps = 200.0 if busy else 20.0
    try:
        async with running(profile) as runtime:
            await asyncio.sleep(2.0)  # modules discovered, polling steady
            start = time.time()
            await asyncio.sleep(seconds)
            idle = recorder.load(start, time.time())
            urls = [profile.url(gun, port=runtime.transport.port) for gun in guns]
            link = runtime.station.power.buses["can"].link
            estimates: list[float] = []

            async def sample() -> None:  # the link's own one-second load while the guns charge
                while True:
                    await asyncio.sleep(1.0)
                    estimates.append(link.stats().load_percent)

            charging_from = time.time()
            sampler = asyncio.create_task(sample())
            runs = await asyncio.gather(
                *(drive(url, {"offset": 0.5 if k else 0.0, "amps": amps}, steps) for k, url in enumerate(urls))
            )
            await cancel(sampler)
            charging = recorder.load(charging_from, time.time())
            tx = link.stats()
    finally:
        notifier.stop()
        bus.shutdown()
    probe = runs[0][0]
    found, superseded = delays(probe.sent, recorder.setpoints(protocol))
    return {
        "protocol": protocol,
        "modules": modules,
        "guns": len(guns),
        "params": " ".join(f"{k}={v}" for k, v in params.items()) or "defaults",
        "idle_frames_per_s": idle[0],
        "idle_load_percent": idle[1],
        "charging_frames_per_s": charging[0],
        "charging_load_percent": charging[1],
        "targets": len(probe.sent),
        "setpoints_matched": len(found),
        "targets_superseded": superseded,
        "delay_p50_ms": percentile(found, 50) * 1000,
        "delay_p99_ms": percentile(found, 99) * 1000,
        "delay_max_ms": max(found, default=math.nan) * 1000,
        "protocol_errors": sum(stats.error_count for _, stats in runs),
        "driver_load_estimate_percent": statistics.median(estimates) if estimates else math.nan,
        "retried": tx.retried,
        "dropped": tx.dropped,
    }


HEADER = [
    "driver", "modules", "guns charging", "driver params", "idle frames/s", "idle bus load %", "frames/s, charging",
    "bus load %", "driver's estimate %",
    "targetValues -> setpoint p50 ms", "p99 ms", "max ms", "answered", "superseded", "tx retried", "tx dropped",
]  # fmt: skip


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        [
            r["protocol"],
            str(r["modules"]),
            str(r["guns"]),
            r["params"],
            f"{r['idle_frames_per_s']:.0f}",
            f"{r['idle_load_percent']:.1f}",
            f"{r['charging_frames_per_s']:.0f}",
            f"{r['charging_load_percent']:.1f}",
            f"{r['driver_load_estimate_percent']:.1f}",
            f"{r['delay_p50_ms']:.1f}",
            f"{r['delay_p99_ms']:.1f}",
            f"{r['delay_max_ms']:.1f}",
            f"{r['setpoints_matched']}/{r['targets']}",
            str(r["targets_superseded"]),
            str(r["retried"]),
            str(r["dropped"]),
        ]
        for r in results
    ]
    return "\n".join(md_table(HEADER, rows))


def parse_param(text: str) -> tuple[str, int]:
    """``poll_ms=500`` -> ("poll_ms", 500): a driver param for every run."""
    key, sep, value = text.partition("=")
    if not sep or not value.lstrip("-").isdigit():
        raise argparse.ArgumentTypeError(f"--param: got {text!r}; expected NAME=INTEGER, e.g. poll_ms=500")
    return key, int(value)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--modules", type=int, nargs="+", default=[12, 24])
    parser.add_argument("--protocol", nargs="+", choices=["uugreen", "infy"], default=["uugreen"])
    parser.add_argument(
        "--param",
        type=parse_param,
        action="append",
        default=[],
        help="a driver param for the runs, e.g. poll_ms=500 (repeatable)",
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument(
        "--busy", action="store_true", help="every gun charges (every module exports), not the probe's alone"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    params = dict(args.param)
    results = [
        asyncio.run(measure(protocol, m, params, args.seconds, args.steps, args.busy))
        for protocol in args.protocol
        for m in args.modules
    ]
    print(table(results))


if __name__ == "__main__":
    main()
