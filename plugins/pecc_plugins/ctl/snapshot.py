"""The station as the ops server sees it: an immutable snapshot the station's loop publishes.

The ops server runs on its own thread (:mod:`.opsthread`) and never reads
the live station, whose objects only the station's loop may touch. The
station's loop captures a :class:`Snapshot` (:func:`capture`) and publishes
it by replacing :attr:`Publisher.latest`, one reference the ops thread
reads whole. A read takes it through :meth:`Publisher.current`.

While reads come (one at least every :data:`LEASE_PERIODS` status
periods: a dashboard stream, an API poller), the station captures

- every status period (``timings.status_interval_ms``);
- at the end of the loop turn in which something was recorded (a
  transition, a fault: every history event), so that no answer shows a
  state the station has already left, not even to the SECC whose request
  caused it;
- after an SECC connected or left, or a power module changed (online,
  faults): at the end of the loop turn too, but no sooner than
  :attr:`Publisher.gap` (half a status period) after the last capture,
  every such change meanwhile coalesced into one. A capture's cost grows
  with the guns (about 13 ms for 1000); one per connection let 1000 SECCs
  connecting after a restart cost 1000 captures, 16 s of the station's
  loop.

Once nobody has read for that long, the station stops capturing: at 1000
guns the periodic captures alone took 6.5 % of a core that nobody used.
The next read (a Prometheus scrape every 15 s, say) asks the station's
loop for a capture and waits for it, and the periodic captures start
again. Either way a read never shows the station older than a status
period, nor a state it left.

After each command of the ops server (:mod:`.bridge`) the station
captures at once, so that a ``GET`` after a ``PUT`` sees the change.

A capture copies what is cheap to copy (readings and counters as plain
numbers and strings, the frozen limits and caps objects; well under a
millisecond for 72 guns); the JSON views, the metrics text and the
dashboard's message are built from it on the ops thread, once per
snapshot however many clients ask (:func:`views_of`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pecc_core import caps
from pecc_core.asyncutil import cancel
from pecc_core.clock import wall
from pecc_core.episode import Episode
from pecc_core.transport import HasTransportStats
from pecc_plugins.ctl.views import gun_reading, modules_view, site_view

if TYPE_CHECKING:
    from pecc_core.model import Limits, OperatorCaps
    from pecc_core.power import BusStats, ModuleId, ModuleState
    from pecc_core.records import Session
    from pecc_core.station import Station
    from pecc_core.transport import Histogram, Transport
    from pecc_plugins.ctl.history import History
    from pecc_plugins.ctl.recorder import Recorder

log = logging.getLogger(__name__)

#: History events whose capture may wait for :attr:`Publisher.gap`: no reply depends on them.
COALESCED = frozenset({"secc_connected", "secc_disconnected"})
#: Status periods without a read after which the station stops capturing (5 s by default).
LEASE_PERIODS = 25
#: How long a read waits for a capture on demand before it answers with the last one (s).
DEMAND_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class GunSnap:
    """One gun: its reading (:func:`~.views.gun_reading`), configuration, limits and recorded counters."""

    reading: dict[str, Any]
    secc: str
    path: str
    modules: tuple[ModuleId, ...]
    power_cap_w: float
    limits: Limits
    caps: OperatorCaps
    energy_wh: float
    sessions_started: int
    sessions_completed: int
    sessions_failed: int
    session: Session | None  #: a copy of the open session


@dataclass(frozen=True, slots=True)
class HistogramSnap:
    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    sum: float


@dataclass(frozen=True, slots=True)
class TransportSnap:
    """The transport's counters (:class:`~pecc_core.transport.HasTransportStats`)."""

    requests: dict[str, int]
    errors: dict[str, int]
    connects: int
    disconnects: int
    reply_latency: HistogramSnap
    status_interval: HistogramSnap


@dataclass(frozen=True, slots=True)
class LinkSnap:
    """One bus's counters (:class:`~pecc_core.power.HasBusStats`)."""

    name: str  #: the bus's name in the profile
    stats: BusStats


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Everything the ops server answers with, as it was at loop time :attr:`at`. Never changed."""

    at: float  #: the station loop's time of the capture
    wall: float  #: its date
    station: str
    started: bool  #: the station is started (and the saved limits restored before it)
    bus_ok: bool
    guns: tuple[GunSnap, ...]
    modules: tuple[dict[str, Any], ...]
    limits: dict[str, Any]  #: :func:`pecc_core.caps.snapshot`
    site: dict[str, Any]  #: :func:`~.views.site_view`
    transport: TransportSnap | None
    links: tuple[LinkSnap, ...]
    history_dropped: int
    loop_stalls: int  #: :class:`~pecc_core.stalls.LoopStalls`: since start
    loop_stalled_s: float


def capture(station: Station, recorder: Recorder, history: History) -> Snapshot:
    """The station now (on the station's loop)."""
    records = recorder.guns
    guns = []
    for gun in station.guns.values():
        record = records[gun.id]
        session = record.session
        guns.append(GunSnap(
            reading=gun_reading(gun),
            secc=gun.config.secc,
            path=gun.path,
            modules=gun.modules(),
            power_cap_w=gun.allowance,
            limits=gun.offered_limits(),
            caps=gun.caps,
            energy_wh=record.energy_wh,
            sessions_started=record.sessions_started,
            sessions_completed=record.sessions_completed,
            sessions_failed=record.sessions_failed,
            session=None if session is None else session.copy(),
        ))
    return Snapshot(
        at=asyncio.get_running_loop().time(),
        wall=wall(),
        station=station.profile.station.name,
        started=recorder.started,
        bus_ok=station.power.bus_ok,
        guns=tuple(guns),
        modules=tuple(modules_view(station)),
        limits=caps.snapshot(station),
        site=site_view(station),
        transport=_transport(station.transport),
        links=tuple(LinkSnap(name, link.stats()) for name, link in station.power.links.items()),
        history_dropped=history.dropped,
        loop_stalls=station.stalls.count,
        loop_stalled_s=station.stalls.total_s,
    )


def _transport(transport: Transport | None) -> TransportSnap | None:
    if not isinstance(transport, HasTransportStats):
        return None
    stats = transport.stats
    return TransportSnap(
        dict(stats.requests), dict(stats.errors), stats.connects, stats.disconnects,
        _histogram(stats.reply_latency), _histogram(stats.status_interval),
    )


def _histogram(histogram: Histogram) -> HistogramSnap:
    return HistogramSnap(tuple(histogram.bounds), tuple(histogram.counts), histogram.sum)


def gun_view(gun: GunSnap) -> dict[str, Any]:
    """One gun as ``/api/guns`` shows it: its reading, ids, URL path, modules, effective limits,
    operator caps, the energy it delivered since start and its open session."""
    return {
        **gun.reading,
        "secc": gun.secc,
        "path": gun.path,
        "modules": [str(m) for m in gun.modules],
        "power_cap_w": gun.power_cap_w,
        "limits": {k: v for k, v in asdict(gun.limits).items() if v is not None},
        "caps": gun.caps.as_dict(),
        "energy_wh": gun.energy_wh,
        "session": None if gun.session is None else asdict(gun.session),
    }


@lru_cache(maxsize=1)
def views_of(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    """Every gun's :func:`gun_view` by id, built once per snapshot (on the ops thread)."""
    return {gun.reading["id"]: gun_view(gun) for gun in snapshot.guns}


class Publisher:
    """Captures and publishes the station's snapshot on the station's loop (see the module doc)."""

    def __init__(self, station: Station, recorder: Recorder, history: History) -> None:
        self.station = station
        self.recorder = recorder
        self.history = history
        self.period = station.profile.timings.status_interval_ms / 1000
        #: the least time between two captures an event asks for (s)
        self.gap = self.period / 2
        #: The snapshot the ops thread reads; None until :meth:`start`.
        self.latest: Snapshot | None = None
        #: True while reads come: the station captures (written on the station's loop only)
        self.watched = False
        self._read = False  # set by every read, taken by the station's periodic task
        self._quiet = 0  # status periods since the last read
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._soon: asyncio.Handle | None = None
        self._soon_at = 0.0
        self._published_at = float("-inf")
        self._running = False
        self._failures = Episode(log, "control API: capturing the station's snapshot")

    def start(self) -> None:
        """Publish now; from now on as the module doc says."""
        self._loop = asyncio.get_running_loop()
        self._running = True
        self.history.listeners.append(self.soon)
        self.station.power.add_listener(self._module_changed)
        self.publish()
        self._task = self._loop.create_task(self._run(), name="pecc-ops-snapshot")

    async def stop(self) -> None:
        self._running = False
        if self.soon in self.history.listeners:
            self.history.listeners.remove(self.soon)
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
        await cancel(self._task)

    async def current(self) -> Snapshot | None:
        """The snapshot a read answers with (on any loop): the latest while reads come, else a fresh one.

        A read after a quiet spell asks the station's loop for a capture
        and waits for it, at most :data:`DEMAND_TIMEOUT_S` (then the last
        one: a station too busy to answer is not kept busier).
        """
        self._read = True
        loop = self._loop
        if self.watched or loop is None or not self._running:
            return self.latest
        work = self._on_demand()
        try:
            demand = asyncio.run_coroutine_threadsafe(work, loop)
        except RuntimeError:  # the station's loop is closed (a read during the shutdown)
            work.close()
            return self.latest
        try:
            async with asyncio.timeout(DEMAND_TIMEOUT_S):
                return await asyncio.wrap_future(demand)
        except TimeoutError:
            return self.latest

    async def _on_demand(self) -> Snapshot | None:
        if not self.watched:
            self._quiet = 0
            self.watched = True
            self.publish()
        return self.latest

    def publish(self) -> None:
        """Capture the station now and make it the snapshot the ops thread reads."""
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
        self._published_at = asyncio.get_running_loop().time()
        try:
            self.latest = capture(self.station, self.recorder, self.history)
        except Exception as exc:  # the last snapshot stays; the station goes on
            self._failures.failed(exc, traceback=True, level=logging.ERROR)
        else:
            self._failures.ok()

    def soon(self, event: dict[str, Any]) -> None:
        """A history event: publish at the end of this loop turn (:data:`COALESCED` ones: not sooner
        than :attr:`gap` after the last capture)."""
        self._schedule(self.gap if event.get("kind") in COALESCED else 0.0)

    def _module_changed(self, _module: ModuleState) -> None:
        self._schedule(self.gap)

    def _schedule(self, gap: float) -> None:
        """Publish at the end of this loop turn, but not sooner than ``gap`` after the last capture.

        Once, however many things happen meanwhile; a sooner request brings
        a later one forward. Nothing while nobody reads: the next read
        captures.
        """
        if not (self._running and self.watched):
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = max(now, self._published_at + gap)
        if self._soon is not None:
            if self._soon_at <= due:
                return
            self._soon.cancel()
        self._soon_at = due
        self._soon = loop.call_soon(self.publish) if due <= now else loop.call_at(due, self.publish)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            if self._read:
                self._read, self._quiet = False, 0
            else:
                self._quiet += 1
            if self._quiet >= LEASE_PERIODS:
                self.watched = False
            if self.watched:
                self.publish()
