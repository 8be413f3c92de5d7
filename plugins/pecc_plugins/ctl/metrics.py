"""``GET /metrics``: the station in the Prometheus text format (see docs/metrics.md).

The metrics are read from the station's published snapshot
(:mod:`.snapshot`: readings, the recorder's counters, the transport's and
the bus's counters where they have them, as the station's loop captured them): nothing is
updated in the hot path for the sake of metrics, and a scrape never runs
on the station's loop. The text is built once per snapshot, on the ops
thread, however many scrapers ask (:func:`exposition`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from pecc_core.gun.table import GunState
from pecc_core.model import Isolation
from pecc_core.power import Fault

if TYPE_CHECKING:
    from pecc_plugins.ctl.snapshot import HistogramSnap, Snapshot

#: The label values of the one-hot gauges: the enums' names, as the API shows them.
GUN_STATES = tuple(str(s) for s in GunState)
ISOLATION = tuple(str(i) for i in Isolation)


Read = Callable[[Any], float]

#: Per gun: (name, help, how to read it from :func:`.views.gun_reading`).
GUN_GAUGES: tuple[tuple[str, str, Read], ...] = (
    ("pecc_gun_operational", "1 operative, 0 inoperative", lambda v: float(v["operational"] == "operative")),
    ("pecc_gun_contactors_closed", "1 closed, 0 open", lambda v: float(v["contactors"] == "closed")),
    ("pecc_gun_secc_connected", "1 while an SECC is connected", lambda v: float(v["secc_connected"])),
    ("pecc_gun_measured_volts", "measured output voltage", lambda v: v["measured_voltage"]),
    ("pecc_gun_measured_amperes", "measured output current", lambda v: v["measured_current"]),
    ("pecc_gun_driven_volts", "voltage the modules are driven to", lambda v: v["driven_voltage"]),
    ("pecc_gun_driven_amperes", "current the modules are driven to", lambda v: v["driven_current"]),
    ("pecc_gun_power_watts", "measured voltage x measured current", lambda v: v["power_w"]),
    ("pecc_gun_faults", "active fault conditions", lambda v: len(v["faults"])),
)
#: Per gun, the recorder's counters (:class:`~.snapshot.GunSnap`).
GUN_COUNTERS: tuple[tuple[str, str, Read], ...] = (
    ("pecc_gun_energy_delivered_watt_hours", "energy delivered (measured V x I)", lambda r: r.energy_wh),
    ("pecc_gun_sessions_started", "charging sessions started", lambda r: r.sessions_started),
    ("pecc_gun_sessions_completed", "sessions the SECC ended", lambda r: r.sessions_completed),
    ("pecc_gun_sessions_failed", "sessions ended by a fault, the SECC lost or a stop", lambda r: r.sessions_failed),
)
#: Per module, from :func:`views.module_view`.
MODULE_GAUGES: tuple[tuple[str, str, Read], ...] = (
    ("pecc_module_online", "1 while the module answers", lambda v: float(v["online"])),
    ("pecc_module_usable", "1 online and without a blocking fault", lambda v: float(v["usable"])),
    ("pecc_module_volts", "module output voltage", lambda v: v["voltage"]),
    ("pecc_module_amperes", "module output current", lambda v: v["current"]),
    ("pecc_module_temperature_celsius", "module temperature", lambda v: v["temperature"]),
)
FAULTS = tuple(str(f) for f in Fault)


@lru_cache(maxsize=1)
def exposition(snapshot: Snapshot) -> bytes:
    """The text format of ``snapshot``, built once (~15 ms at 72 guns) for every scrape of it."""
    return generate_latest(StationCollector(snapshot))


def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _counter(name: str, doc: str, labels: Iterable[str] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=list(labels))


class StationCollector(Collector):
    """The metric families of one snapshot (see the module doc)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from self._guns()
        yield from self._modules()
        yield from self._transport()
        yield from self._can()
        yield from self._site()

    def _guns(self) -> Iterator[Metric]:
        state = _gauge("pecc_gun_state", "1 for the gun's present state", ["gun", "state"])
        isolation = _gauge("pecc_gun_isolation", "1 for the gun's present isolation status", ["gun", "isolation"])
        values = [(_gauge(name, doc, ["gun"]), read) for name, doc, read in GUN_GAUGES]
        counts = [(_counter(name, doc, ["gun"]), read) for name, doc, read in GUN_COUNTERS]
        for gun in self.snapshot.guns:
            view = gun.reading
            gun_id = [view["id"]]
            for name in GUN_STATES:
                state.add_metric([*gun_id, name], float(view["state"] == name))
            for name in ISOLATION:
                isolation.add_metric([*gun_id, name], float(view["isolation"] == name))
            for family, read in values:
                family.add_metric(gun_id, read(view))
            for counter, count in counts:
                counter.add_metric(gun_id, count(gun))
        yield state
        yield isolation
        yield from (family for family, _ in values)
        yield from (counter for counter, _ in counts)

    def _modules(self) -> Iterator[Metric]:
        # a module is named by its bus and its address there (``module``: unique per bus only)
        values = [(_gauge(name, doc, ["bus", "module"]), read) for name, doc, read in MODULE_GAUGES]
        faults = _gauge("pecc_module_fault", "1 while the module reports the fault", ["bus", "module", "fault"])
        for view in self.snapshot.modules:
            address = [view["bus"], str(view["address"])]
            for family, read in values:
                family.add_metric(address, read(view))
            for fault in FAULTS:
                faults.add_metric([*address, fault], float(fault in view["faults"]))
        yield from (family for family, _ in values)
        yield faults

    def _transport(self) -> Iterator[Metric]:
        stats = self.snapshot.transport
        if stats is None:
            return
        requests = _counter("pecc_transport_requests", "SECC requests by kind", ["kind"])
        for kind, count in sorted(stats.requests.items()):
            requests.add_metric([kind], count)
        errors = _counter("pecc_transport_errors", "error answers to the SECCs by category", ["category"])
        for category, count in sorted(stats.errors.items()):
            errors.add_metric([category], count)
        connects = _counter("pecc_transport_secc_connects", "SECC connections accepted")
        connects.add_metric([], stats.connects)
        disconnects = _counter("pecc_transport_secc_disconnects", "SECC connections ended")
        disconnects.add_metric([], stats.disconnects)
        yield from (requests, errors, connects, disconnects)
        yield _histogram("pecc_transport_reply_latency_seconds", "request received to reply built", stats.reply_latency)
        yield _histogram("pecc_transport_status_interval_seconds", "time between two status messages of a gun",
                         stats.status_interval)

    def _can(self) -> Iterator[Metric]:
        links = self.snapshot.links
        if not links:
            return
        label = ["bus"]
        sent = _counter("pecc_can_frames_sent", "frames written to the bus", label)
        received = _counter("pecc_can_frames_received", "frames read from the bus", label)
        retried = _counter("pecc_can_frames_retried", "frames sent again after a full transmit queue", label)
        dropped = _counter("pecc_can_frames_dropped", "frames that could not be sent", label)
        superseded = _counter(
            "pecc_can_frames_superseded",
            "frames not sent: a poll already waiting, a module's setpoints behind its off",
            label,
        )
        episodes = _counter(
            "pecc_can_bus_error_episodes", "runs of transmit refusals, and times the bus failed and was reopened", label
        )
        escalations = _counter("pecc_can_off_escalations", "off commands that could not be sent in time", label)
        load = _gauge("pecc_can_bus_load_ratio", "estimated share of bus time used over the last second", label)
        for link in links:
            stats, name = link.stats, [link.name]
            sent.add_metric(name, stats.sent)
            received.add_metric(name, stats.received)
            retried.add_metric(name, stats.retried)
            dropped.add_metric(name, stats.dropped)
            superseded.add_metric(name, stats.superseded)
            episodes.add_metric(name, stats.error_episodes + stats.deaths + stats.open_failures)
            escalations.add_metric(name, stats.off_escalations)
            load.add_metric(name, stats.load_percent / 100)
        yield from (sent, received, retried, dropped, superseded, episodes, escalations, load)

    def _site(self) -> Iterator[Metric]:
        site = self.snapshot.site
        power = _gauge("pecc_site_power_watts", "sum of the guns' measured power")
        power.add_metric([], site["power_w"])
        yield power
        if site["max_power_w"] is not None:
            cap = _gauge("pecc_site_power_cap_watts", "the site's grid cap (run-time limit)")
            cap.add_metric([], site["max_power_w"])
            yield cap
        moves = _counter("pecc_allocation_module_moves", "modules switched from one gun to another")
        moves.add_metric([], site["module_moves"])
        refused = _counter("pecc_allocation_module_moves_refused", "module moves refused (module not off yet)")
        refused.add_metric([], site["module_moves_refused"])
        dropped = _counter("pecc_history_rows_dropped", "history rows dropped because the writer fell behind")
        dropped.add_metric([], self.snapshot.history_dropped)
        stalls = _counter("pecc_station_loop_stalls", "control cycles that started more than a period late")
        stalls.add_metric([], self.snapshot.loop_stalls)
        stalled = _counter("pecc_station_loop_stalled_seconds", "time the station's loop did not run on time")
        stalled.add_metric([], self.snapshot.loop_stalled_s)
        yield from (moves, refused, dropped, stalls, stalled)


def _histogram(name: str, doc: str, histogram: HistogramSnap) -> HistogramMetricFamily:
    buckets: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip((*histogram.bounds, float("inf")), histogram.counts, strict=True):
        total += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), total))
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], buckets, histogram.sum)
    return family
