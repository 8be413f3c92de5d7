"""The ops server reads what a plugin may offer through the core's protocols, and its recorder is a plugin object.

The transport's and the bus's counters, and the module simulator's
injections, are capabilities (``isinstance`` against the core's
``runtime_checkable`` protocols): stand-ins that offer them are read as
the real ones, and a part without them is simply not shown.
"""

from __future__ import annotations

import types
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from pecc_core.gun import FaultChange
from pecc_core.power import BusStats, HasBusStats, InjectsModuleFaults
from pecc_core.stage import PowerStage
from pecc_core.transport import HasTransportStats
from pecc_plugins.ctl.metrics import exposition
from pecc_plugins.ctl.snapshot import Snapshot, capture

from .conftest import Ctl


def samples(snapshot: Snapshot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = exposition(snapshot).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def snapshot_with(ctl: Ctl, **parts: Any) -> Snapshot:
    """A capture of the running station with some of its parts replaced (only for the capture)."""
    station = ctl.runtime.station
    recorder = ctl.runtime.plugins.get_plugin("ctl.recorder").recorder  # type: ignore[union-attr]
    saved = {name: getattr(station, name) for name in parts}
    try:
        for name, part in parts.items():
            setattr(station, name, part)
        return capture(station, recorder, recorder.history)
    finally:
        for name, part in saved.items():
            setattr(station, name, part)


async def test_the_sim_station_s_parts_offer_the_capabilities(ctl: Ctl) -> None:
    runtime = ctl.runtime
    assert isinstance(runtime.transport, HasTransportStats)  # PEP-WS
    assert isinstance(runtime.station.power.buses["can"], HasBusStats)  # the uugreen CAN driver
    assert [type(s).__name__ for s in runtime.station.services if isinstance(s, InjectsModuleFaults)] == ["ModSim"]
    assert not isinstance(object(), (HasTransportStats, HasBusStats, InjectsModuleFaults))


class Counted:
    """A transport of another kind that counts its traffic as the protocol says."""

    port = 0

    def __init__(self) -> None:
        latency = types.SimpleNamespace(bounds=(0.01, 0.1), counts=[4, 2, 1], sum=0.5)
        interval = types.SimpleNamespace(bounds=(1.0,), counts=[3, 0], sum=2.25)
        self.stats = types.SimpleNamespace(
            requests={"targetValues": 7, "cableCheck": 1}, errors={"value": 2}, connects=3, disconnects=1,
            reply_latency=latency, status_interval=interval,
        )

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def test_any_transport_s_counters_are_read_through_the_protocol_and_none_without_them(ctl: Ctl) -> None:
    counted = samples(snapshot_with(ctl, transport=Counted()))
    assert counted[("pecc_transport_requests_total", (("kind", "targetValues"),))] == 7
    assert counted[("pecc_transport_requests_total", (("kind", "cableCheck"),))] == 1
    assert counted[("pecc_transport_errors_total", (("category", "value"),))] == 2
    assert counted[("pecc_transport_secc_connects_total", ())] == 3
    assert counted[("pecc_transport_secc_disconnects_total", ())] == 1
    assert counted[("pecc_transport_reply_latency_seconds_bucket", (("le", "0.1"),))] == 6  # cumulative
    assert counted[("pecc_transport_reply_latency_seconds_bucket", (("le", "+Inf"),))] == 7
    assert counted[("pecc_transport_reply_latency_seconds_sum", ())] == 0.5
    assert counted[("pecc_transport_status_interval_seconds_count", ())] == 3
    plain = types.SimpleNamespace(port=0, start=Counted.start, stop=Counted.stop)  # a transport without counters
    assert not any(name.startswith("pecc_transport_") for name, _ in samples(snapshot_with(ctl, transport=plain)))


class CountedBus:
    """A bus of another kind that counts its traffic as the protocol says."""

    name = "rs485-0"

    def stats(self) -> BusStats:
        return BusStats(sent=11, retried=1, dropped=2, superseded=3, off_escalations=1, error_episodes=1, deaths=2,
                        received=13, queued=0, load_percent=12.5, open_failures=4)


async def test_any_driver_s_bus_counters_are_read_through_the_protocol_and_none_without_them(ctl: Ctl) -> None:
    real = ctl.runtime.station.power.buses["can"]
    on_bus = types.SimpleNamespace(bus_ok=True, modules=real.modules, link=CountedBus())
    silent = types.SimpleNamespace(bus_ok=True, modules={}, link=CountedBus())  # a second bus, no modules
    counted = samples(snapshot_with(ctl, power=PowerStage({"can": on_bus, "can2": silent})))
    bus = (("bus", "can"),)  # the bus's name in the profile, whatever its link calls itself
    assert counted[("pecc_can_frames_sent_total", (("bus", "can2"),))] == 11  # one series per bus
    assert counted[("pecc_can_frames_sent_total", bus)] == 11
    assert counted[("pecc_can_frames_received_total", bus)] == 13
    assert counted[("pecc_can_frames_dropped_total", bus)] == 2
    assert counted[("pecc_can_bus_error_episodes_total", bus)] == 1 + 2 + 4  # episodes, deaths, failed opens
    assert counted[("pecc_can_bus_load_ratio", bus)] == 0.125
    off_bus = types.SimpleNamespace(bus_ok=True, modules=real.modules)
    off_stage = PowerStage({"can": off_bus})
    assert not any(name.startswith("pecc_can_") for name, _ in samples(snapshot_with(ctl, power=off_stage)))


async def test_the_recorder_s_hooks_are_a_plugin_of_the_running_station_only(ctl: Ctl) -> None:
    plugins, station = ctl.runtime.plugins, ctl.runtime.station
    hooks = plugins.get_plugin("ctl.recorder")
    assert hooks is not None and hooks.station is station  # type: ignore[attr-defined]
    recorder = hooks.recorder  # type: ignore[attr-defined]
    # another station's gun with the same id, on a plugin manager they would share: not this recorder's
    stranger = types.SimpleNamespace(id="1-1")
    plugins.gun_fault(stranger, FaultChange("test", True, "not ours", "not ours", False))  # type: ignore[arg-type]
    plugins.gun_fault(station.guns["1-1"], FaultChange("test", True, "ours", "ours", False))
    await recorder.history.stored()
    faults = [e["fault"] for e in await recorder.history.events(kind="fault")]
    assert "ours" in faults and "not ours" not in faults
