"""The flight recorder: the last seconds of a station, kept for the moment a gun faults.

Three rings, each pruned by time:

- every CAN frame of every bus, both ways, through each bus driver's tap
  (:class:`pecc_core.power.HasBusTap`), with the bus's place in the
  profile (its channel in the BLF file), in flat arrays
  (:class:`~.canring.CanRing`: thousands of frames a second, no object each);
- every PEP-WS frame of every gun, both ways, through the transport's tap
  (:class:`pecc_core.transport.HasFrameTap`), a tuple each
  (:class:`~.ring.BudgetRings`): at most :data:`MAX_FRAME_BYTES` of them,
  shared out equally between the guns, a frame longer than
  :data:`FRAME_KEEP` cut to that (an SECC chooses its frames' size: a
  flood must not grow the memory, nor push out another gun's frames);
- a timeline per gun (:class:`~.ring.Ring`): state transitions, faults,
  SECC connections (the observer hooks), and the measured V/I, the
  setpoint driven to the modules (V/I, after the limits and the up-ramp)
  and the modules of each gun, sampled every control cycle and kept when
  they changed.

A tap only appends (loop time, the PEP-WS frame as it came, bytes as a
copy of their own length, or a CAN frame's identifier and data): it never
blocks a gun and formats nothing. Formatting happens when an incident is
written (:mod:`.incidents`), in a thread.

An incident opens when a fault is raised on a gun (an emergency shutdown
and a lost power stage are faults too: the reason says which, read from
the hook's structured fault, never from its text; the cause keeps the
fault's ``kind``), when a gun loses its SECC in a session, or when the
station's stop ran out of its bound and took guns down at once
(``emergency_shutdown`` of kind ``station_stop``: no gun fault says it).
It is written ``after_s`` later with the ``window_s`` before its first
cause; every cause within that time, of any gun, joins it (a dying bus
faults every gun at once: one incident, not one per gun). The rings keep
``window_s + after_s``, so the whole window is still there when it is
written. A station that stops writes the open incident at once.

The plugin manager calls this object's hooks directly: the ``ctl`` service
registers it under :data:`NAME` while it runs, as it does its recorder.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pecc_core
from pecc_core import hookimpl
from pecc_core.asyncutil import cancel
from pecc_core.clock import wall
from pecc_core.gun.table import ACTIVE_STATES, Event
from pecc_core.power import BusTap, HasBusTap, ModuleId
from pecc_core.transport import HasFrameTap
from pecc_plugins.ctl.canring import CanRing
from pecc_plugins.ctl.incidents import Capture, FrameEntry, IncidentStore, TimelineEntry
from pecc_plugins.ctl.ring import BudgetRings, Ring

if TYPE_CHECKING:
    from pecc_core.gun import FaultChange, Gun, GunState
    from pecc_core.station import Station

log = logging.getLogger(__name__)

#: The name its hooks are registered under.
NAME = "ctl.flight"
#: Entries per ring at most, whatever the window: a 1 Mbit/s bus full of
#: 8-byte frames for 33 s, with room to spare.
MAX_ENTRIES = 400_000
#: The PEP-WS rings' bytes at most (frames plus :data:`FRAME_OVERHEAD` each),
#: shared out equally between the guns: 72 guns' traffic of 33 s takes about
#: half (a gun's, 0.34 MB of its 0.44). A peer chooses its frames' size: a
#: flood of large ones shortens its own gun's window, it never grows the
#: memory nor pushes out another gun's frames.
MAX_FRAME_BYTES = 32_000_000
#: What a frame's entry costs beside its text (the tuple, its time and size).
FRAME_OVERHEAD = 160
#: A longer frame is kept cut to this many characters, with its length.
FRAME_KEEP = 4096
#: Causes kept per incident; more are counted (a fault storm stays one bounded incident).
MAX_CAUSES = 256


@dataclass(frozen=True, slots=True)
class FlightSettings:
    """``window_s`` kept before an incident's first cause, ``after_s`` after it before writing."""

    window_s: float = 30.0
    after_s: float = 3.0


@dataclass(slots=True)
class _Open:
    """The incident being collected: its causes so far and its guns, in order."""

    first: float
    causes: list[dict[str, Any]]
    guns: dict[str, None]
    timer: asyncio.TimerHandle
    more: int = 0


@dataclass(slots=True)
class _Sampled:
    """A gun's last V/I, setpoint and modules in the timeline."""

    gun: Gun
    reading: tuple[float, float] = (0.0, 0.0)
    setpoint: tuple[float, float] = (0.0, 0.0)
    modules: tuple[ModuleId, ...] = ()


@dataclass
class FlightRecorder:
    """The flight recorder of ``station`` (see the module doc); ``written`` is told of each incident on disk."""

    station: Station
    store: IncidentStore
    settings: FlightSettings = field(default_factory=FlightSettings)
    written: Callable[[dict[str, Any]], None] = lambda _: None
    bus: CanRing = field(init=False)
    frames: BudgetRings[FrameEntry] = field(init=False)
    timeline: Ring[TimelineEntry] = field(init=False)
    _time: Callable[[], float] = field(init=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _open: _Open | None = field(default=None, init=False)
    _sampler: asyncio.Task[None] | None = field(default=None, init=False)
    _writes: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _profile_digest: str | None = field(default=None, init=False)
    #: a tap per bus that hands its frames over, with the bus's BLF channel in it
    _taps: list[tuple[HasBusTap, BusTap]] = field(init=False)

    def __post_init__(self) -> None:
        keep = self.settings.window_s + self.settings.after_s
        self.bus = CanRing(keep, MAX_ENTRIES)
        self._taps = [
            (driver, self._bus_tap(channel))
            for channel, driver in enumerate(self.station.power.buses.values())
            if isinstance(driver, HasBusTap)
        ]
        self.frames = BudgetRings(self.station.guns, keep, MAX_FRAME_BYTES, FRAME_OVERHEAD)
        self.timeline = Ring(keep, MAX_ENTRIES)

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Tap the bus and the transport, start sampling (before the station starts: it sees it all)."""
        loop = self._loop = asyncio.get_running_loop()
        self._time = loop.time
        self._profile_digest = await asyncio.to_thread(_digest, self.station)
        await asyncio.to_thread(self.store.clean)
        transport = self.station.transport
        for driver, tap in self._taps:
            driver.add_bus_tap(tap)
        if isinstance(transport, HasFrameTap):
            transport.add_frame_tap(self._pepws_frame)
        self._sampler = loop.create_task(self._sample(), name="pecc-flight-recorder")

    async def stop(self) -> None:
        """Untap; the open incident written now; every write finished."""
        transport = self.station.transport
        for driver, tap in self._taps:
            driver.remove_bus_tap(tap)
        if isinstance(transport, HasFrameTap):
            transport.remove_frame_tap(self._pepws_frame)
        await cancel(self._sampler)
        if self._open is not None:
            self._open.timer.cancel()
            self._due()
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    # -- the taps: the hot path -----------------------------------------------------------

    def _bus_tap(self, channel: int) -> BusTap:
        """The tap of the bus on BLF channel ``channel`` (its place in the profile)."""

        def _bus_frame(received: bool, frame: Any) -> None:
            # the frame's numbers, not the can.Message: copied into the ring's arrays
            self.bus.add(self._time(), received, frame.arbitration_id, frame.is_extended_id, frame.data, channel)

        return _bus_frame

    def _pepws_frame(self, gun: str, received: bool, frame: str | bytes) -> None:
        size = len(frame)
        if size > FRAME_KEEP:
            frame = frame[:FRAME_KEEP]
        elif isinstance(frame, bytes):
            # a copy of its own length: an encoder's bytes may sit in a larger buffer (orjson's
            # take 4 KiB, whatever their length), which the ring would keep for the whole window
            frame = memoryview(frame).tobytes()
        self.frames.add((self._time(), gun, received, size, frame))

    async def _sample(self) -> None:
        """V/I, setpoint and modules of every gun each control cycle, into the timeline when they changed."""
        cycle = self.station.cycle
        guns = [_Sampled(gun) for gun in self.station.guns.values()]
        add, time = self.timeline.add, self._time
        while True:
            await asyncio.sleep(cycle)
            now = time()
            for sampled in guns:
                gun = sampled.gun
                status = gun.report()
                reading = (status.measured_voltage, status.measured_current)
                if reading != sampled.reading:
                    sampled.reading = reading
                    add((now, gun.id, "reading", reading))
                setpoint = (status.driven_voltage, status.driven_current)
                if setpoint != sampled.setpoint:
                    sampled.setpoint = setpoint
                    add((now, gun.id, "setpoint", setpoint))
                modules = gun.modules()
                if modules != sampled.modules:
                    sampled.modules = modules
                    add((now, gun.id, "modules", modules))

    # -- observer hooks ---------------------------------------------------------------------

    def _ours(self, gun: Gun) -> bool:
        return self._loop is not None and self.station.guns.get(gun.id) is gun

    @hookimpl
    def pecc_gun_state_changed(self, gun: Gun, old: GunState, new: GunState, event: Event, reason: str) -> None:
        if not self._ours(gun):
            return
        now = self._time()
        self.timeline.add((now, gun.id, "state", (old, new, event, reason)))
        if event is Event.SECC_LOST and old in ACTIVE_STATES:
            self._cause(now, gun, "secc_lost", reason, None)

    @hookimpl
    def pecc_gun_fault(self, gun: Gun, fault: str, active: bool, change: FaultChange) -> None:
        if not self._ours(gun):
            return
        now = self._time()
        self.timeline.add((now, gun.id, "fault", (fault, active)))
        if active:
            self._cause(now, gun, _reason(change), fault, change.kind)

    @hookimpl
    def pecc_station_emergency(self, station: Station, guns: Sequence[Gun], reason: str) -> None:
        if station is not self.station or self._loop is None:
            return
        now = self._time()
        for gun in guns:
            if self._ours(gun):
                self._cause(now, gun, "emergency_shutdown", reason, "station_stop")

    @hookimpl
    def pecc_secc_connected(self, gun: Gun, peer: str, subprotocol: str | None) -> None:
        if self._ours(gun):
            self.timeline.add((self._time(), gun.id, "secc", ("connected", f"{peer} {subprotocol or ''}".rstrip())))

    @hookimpl
    def pecc_secc_disconnected(self, gun: Gun, reason: str) -> None:
        if self._ours(gun):
            self.timeline.add((self._time(), gun.id, "secc", ("disconnected", reason)))

    # -- incidents ---------------------------------------------------------------------------

    def _cause(self, now: float, gun: Gun, reason: str, detail: str, kind: str | None) -> None:
        """A cause of an incident: opens one, or joins the open one."""
        cause = {"t": now, "gun": gun.id, "reason": reason, "detail": detail, "kind": kind,
                 "modules": list(gun.modules())}
        incident, loop = self._open, self._loop
        if loop is None:
            return
        if incident is None:
            timer = loop.call_at(now + self.settings.after_s, self._due)
            self._open = _Open(now, [cause], {gun.id: None}, timer)
            return
        incident.guns[gun.id] = None
        if len(incident.causes) < MAX_CAUSES:
            incident.causes.append(cause)
        else:
            incident.more += 1

    def _due(self) -> None:
        """Copy the rings now (on the loop) and write the incident in a thread."""
        incident, self._open = self._open, None
        if incident is None or self._loop is None:
            return
        now = self._time()
        capture = Capture(
            start=incident.first - self.settings.window_s, end=now, offset=round(wall() - now, 6),
            guns=tuple(incident.guns), causes=incident.causes, manifest=self._manifest(incident),
            can=self.bus.copy(), frames=self.frames.copy(incident.guns), timeline=self.timeline.copy(),
        )
        task = self._loop.create_task(self._write(capture), name="pecc-incident")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def _manifest(self, incident: _Open) -> dict[str, Any]:
        """What the incident is about, beyond its times and causes (:mod:`.incidents` adds those)."""
        station = self.station
        guns = {g.id: g for g in station.profile.guns}
        reach = {gun: [str(m.id) for m in station.profile.power.modules if not m.guns or gun in m.guns]
                 for gun in incident.guns}
        return {
            "reachable_modules": reach,
            "paths": {gun: guns[gun].path for gun in incident.guns if gun in guns},
            "buses": [
                {"name": bus.name, "channel": channel, "driver": bus.driver.name, "params": bus.driver.raw}
                for channel, bus in enumerate(station.profile.power.buses)
            ],
            "more_causes": incident.more,
            "window_s": self.settings.window_s, "after_s": self.settings.after_s,
            "pecc_version": pecc_core.__version__,
            "profile": {"name": station.profile.name, "sha256": self._profile_digest},
        }

    async def _write(self, capture: Capture) -> None:
        try:
            entry = await asyncio.to_thread(self.store.write, capture)
        except Exception:
            log.exception("incident of guns %s: writing it failed", ", ".join(capture.guns))
            return
        log.warning("incident %s: guns %s, %s; written to %s", entry["id"], ", ".join(entry["guns"]),
                    entry["reason"], self.store.directory / entry["id"])
        self.written(entry)


def _reason(change: FaultChange) -> str:
    """An incident's reason for a raised fault: the power stage lost, an emergency shutdown, or a fault."""
    if change.kind == "power_stage":
        return "power_stage_lost"
    return "emergency_shutdown" if change.emergency else "fault"


def _digest(station: Station) -> str | None:
    """The SHA-256 of the profile's file as it is now (None if it cannot be read)."""
    try:
        return hashlib.sha256(station.profile.source.read_bytes()).hexdigest()
    except OSError:
        return None
