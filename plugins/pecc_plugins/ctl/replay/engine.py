"""Playing an incident's SECC side against a station of a profile, in this process and on this loop.

The station is the profile's own (``sim``: its simulated modules and I/O),
served on a free loopback port without TLS and without its ``ctl``
service (the ops server would write the replay's own incident into the
operator's state directory). Once the incident's guns are in standby with
their modules, the recording's clock is laid on the loop's: the
incident's first entry (a frame of one of its guns, or one of them
connecting) is the next moment at the recording's phase of the status
grid (the PECC sends statuses on slots of the loop clock, see
:meth:`_Replay._laid`), and every step then comes at its recorded offset,
to the microsecond:

- an SECC connects (one WebSocket client per gun, to the gun's path in the
  profile, offering the subprotocol the timeline says it chose, else the
  profile's) and disconnects where the timeline says so; a gun whose
  recording starts without its connection is connected at the start;
- every frame the SECC sent is sent, as recorded and in order. Its answers
  to the PECC's own requests (``stopCharging``...) carry the number the
  PECC gives its request now: each direction numbers its own requests, so
  the answer goes to the pending request of its kind, waited for up to
  the profile's request timeout (none asked: it is not sent, and noted);
- the incident's causes that are module faults are raised again in the
  station's module simulator (:class:`pecc_core.power.InjectsModuleFaults`)
  at their offset: a named fault (``power module can1:3 fault: hardware``) as
  that fault, a module not answering (and a lost power stage: every module
  of the gun) as a silenced module. The gun raises it a poll or so later
  than the recorded cause, as it did when it was recorded. Other causes are
  noted: the SECC's frames and connections reproduce ``secc_lost``.

The replay ends at the recording's end (its first cause plus the seconds
the recorder waited before writing). Everything runs on the loop's clock:
on a test's virtual time it takes no wall time, on a real loop it takes
the window's seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException
from websockets.typing import Subprotocol

from pecc_core.asyncutil import cancel
from pecc_core.power import Fault, InjectsModuleFaults, ModuleId
from pecc_core.runtime import Runtime
from pecc_plugins.ctl.replay.archive import Frame, Incident, decoded

if TYPE_CHECKING:
    from pecc_core.plugins import PluginManager
    from pecc_core.profile.model import Profile
    from pecc_core.station import Station

#: How long the station may take to have every replayed gun in standby with its modules (s).
READY_S = 10.0
#: How long connecting an SECC may take (s).
CONNECT_S = 5.0
#: A module's fault or silence in a cause's detail (:func:`pecc_core.gun.checks._module_text`).
MODULE_CAUSE = re.compile(r"power module (\S+) (?:fault: ([a-z_, ]+)|is not answering)")


class ReplayError(Exception):
    """The incident cannot be replayed on this profile (a gun it lacks, a station that does not start)."""


@dataclass
class Replayed:
    """The replay's PEP-WS frames per gun (both ways, on the recording's clock) and what it noted."""

    frames: dict[str, list[Frame]]
    notes: list[str] = field(default_factory=list)


@dataclass
class _Step:
    ts: float
    rank: int  # at the same time: connect, then send, then close
    kind: str
    frame: Frame | None = None
    subprotocol: str | None = None


class _Secc:
    """One replayed SECC's connection: it keeps what the PECC sends and which requests it asked."""

    def __init__(self, gun: str, ws: ClientConnection, clock: Callable[[], float], out: list[Frame]) -> None:
        self.gun, self.ws, self._clock, self._out = gun, ws, clock, out
        self._asked: dict[str, deque[int]] = {}
        self._arrived = asyncio.Event()
        self.reader = asyncio.create_task(self._read(), name=f"pecc-replay-{gun}")

    async def _read(self) -> None:
        with contextlib.suppress(WebSocketException):
            async for data in self.ws:
                self._out.append(Frame(self._clock(), self.gun, False, data))
                message = decoded(data)
                if message.get("type") == "request" and isinstance(message.get("sequenceNumber"), int):
                    self._asked.setdefault(str(message.get("kind")), deque()).append(message["sequenceNumber"])
                    self._arrived.set()

    async def asked(self, kind: str, timeout: float) -> int | None:
        """The number of the PECC's oldest unanswered ``kind`` request, waited for up to ``timeout`` s."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not self._asked.get(kind):
                    self._arrived.clear()
                    await self._arrived.wait()
        waiting = self._asked.get(kind)
        return waiting.popleft() if waiting else None

    async def send(self, data: str | bytes) -> None:
        await self.ws.send(data)
        self._out.append(Frame(self._clock(), self.gun, True, data))

    async def close(self) -> None:
        with contextlib.suppress(WebSocketException, OSError):
            await self.ws.close()
        await cancel(self.reader)


class _Replay:
    """One replay of ``incident`` on a started ``runtime`` (see the module doc)."""

    def __init__(self, incident: Incident, runtime: Runtime) -> None:
        self.incident, self.runtime = incident, runtime
        self.out: Replayed = Replayed({gun: [] for gun in incident.guns})
        self.seccs: dict[str, _Secc] = {}
        self.loop = asyncio.get_running_loop()
        self.origin: float = min([f.ts for f in incident.frames] + [e["ts"] for e in self._connections()])
        self.start = 0.0

    def _connections(self) -> list[dict[str, Any]]:
        guns = set(self.incident.guns)
        return [e for e in self.incident.timeline if e.get("kind") == "secc" and e.get("gun") in guns]

    def clock(self) -> float:
        """Now, on the recording's clock."""
        return self.origin + self.loop.time() - self.start

    async def until(self, ts: float) -> None:
        """Sleep until ``ts`` of the recording: its offset from the origin, to the microsecond, after the start."""
        await asyncio.sleep(max(0.0, self.start + round(ts - self.origin, 6) - self.loop.time()))

    async def _laid(self) -> float:
        """The loop time the recording's origin is laid on: now, or soon at the recording's phase of the loop.

        The PECC sends each gun's statuses on slots of the loop clock's grid
        (every ``status_interval_ms``): laid at the same phase of that grid,
        they come at the offsets they were recorded at, before or after an
        SECC's frame or a fault as they did. An archive without the
        recording loop's clock is laid at once.
        """
        now = self.loop.time()
        if self.incident.loop_offset is None:
            return now
        interval = self.runtime.profile.timings.status_interval_ms / 1000
        start = round(now + (self.origin - self.incident.loop_offset - now) % interval, 6)
        await asyncio.sleep(start - now)
        return start

    async def run(self) -> Replayed:
        await _ready(self.runtime.station, self.incident.guns)
        self.start = await self._laid()
        end = max(self.incident.frames[-1].ts, self.incident.end)
        tasks = [asyncio.create_task(self._gun(gun, self._steps(gun))) for gun in self.incident.guns]
        tasks.append(asyncio.create_task(self._causes()))
        try:
            await self.until(end)
            for task in tasks:
                if not task.done():
                    self.out.notes.append("the replay ran past the recording's end; its last steps are left out")
                    break
        finally:
            for task in tasks:
                await cancel(task)
            for secc in self.seccs.values():
                await secc.close()
        for gun, frames in self.out.frames.items():
            self.out.frames[gun] = [f for f in frames if f.ts <= end]
        return self.out

    def _steps(self, gun: str) -> list[_Step]:
        steps = [_Step(f.ts, 1, "send", frame=f) for f in self.incident.frames if f.gun == gun and f.rx]
        for entry in self._connections():
            if entry["gun"] == gun:
                connected = entry.get("what") == "connected"
                chosen = str(entry.get("details", "")).split()[-1:] if connected else []
                subprotocol = chosen[0] if chosen and chosen[0].startswith("pep") else None
                steps.append(_Step(entry["ts"], 0 if connected else 2, "connect" if connected else "close",
                                   subprotocol=subprotocol))
        steps.sort(key=lambda s: (s.ts, s.rank))
        if not steps or steps[0].kind != "connect":
            self.out.notes.append(f"gun {gun}: the recording starts with its SECC connected; the replay connects "
                                  f"it at the start, from standby (differences at the start may come from that)")
            steps.insert(0, _Step(self.origin, 0, "connect"))
        return steps

    async def _gun(self, gun: str, steps: list[_Step]) -> None:
        for step in steps:
            await self.until(step.ts)
            if step.kind == "connect":
                await self._connect(gun, step.subprotocol)
            elif step.kind == "close":
                secc = self.seccs.pop(gun, None)
                if secc is not None:
                    await secc.close()
            elif step.frame is not None:
                await self._send(gun, step.frame)

    async def _connect(self, gun: str, subprotocol: str | None) -> None:
        previous = self.seccs.pop(gun, None)
        if previous is not None:
            await previous.close()
        path = self.runtime.station.guns[gun].path
        offered = [Subprotocol(p) for p in ([subprotocol] if subprotocol else self.runtime.profile.server.subprotocols)]
        try:
            async with asyncio.timeout(CONNECT_S):
                ws = await connect(f"ws://127.0.0.1:{self.runtime.transport.port}{path}", subprotocols=offered,
                                   ping_interval=None)  # PEP-WS: the SECC never pings
        except (OSError, TimeoutError, WebSocketException) as exc:
            self.out.notes.append(f"gun {gun}: connecting at {self._offset():.3f} s failed: {exc}")
            return
        self.seccs[gun] = _Secc(gun, ws, self.clock, self.out.frames[gun])

    async def _send(self, gun: str, frame: Frame) -> None:
        secc = self.seccs.get(gun)
        data = frame.data
        if frame.cut:
            self.out.notes.append(f"gun {gun}: a frame at {self._offset():.3f} s was recorded cut; sent as recorded")
        message = decoded(data)
        if secc is not None and message.get("type") in ("response", "error"):
            kind = str(message.get("kind"))
            number = await secc.asked(kind, self.runtime.profile.timings.request_timeout_ms / 1000)
            if number is None:
                self.out.notes.append(f"gun {gun}: the SECC's {message['type']} to a {kind} request at "
                                      f"{self._offset():.3f} s not sent: the PECC asked none")
                return
            data = json.dumps({**message, "sequenceNumber": number})
        try:
            if secc is None:
                raise WebSocketException("not connected")
            await secc.send(data)
        except WebSocketException as exc:
            self.out.notes.append(f"gun {gun}: a frame at {self._offset():.3f} s not sent: {exc}")

    async def _causes(self) -> None:
        """Each module fault among the incident's causes, raised again at its time."""
        sim = next((s for s in self.runtime.services if isinstance(s, InjectsModuleFaults)), None)
        done: set[tuple[ModuleId, str]] = set()
        buses = tuple(self.runtime.station.power.buses)
        for cause in self.incident.causes:
            injections = _injections(cause)
            what = f"cause {cause.get('reason')} of gun {cause.get('gun')} ({cause.get('detail')})"
            if not injections:
                if cause.get("reason") != "secc_lost":
                    self.out.notes.append(f"{what}: not re-injected (only module faults are)")
                continue
            if sim is None:
                self.out.notes.append(f"{what}: not re-injected: the profile runs no module simulator")
                continue
            await self.until(cause["ts"])
            for named, fault in injections:
                try:
                    module = ModuleId.parse(named, buses)
                    if (module, fault) in done:
                        continue
                    done.add((module, fault))
                    if fault == "silent":
                        sim.silence(module)
                    else:
                        sim.fault(module, Fault(fault))
                except (ValueError, KeyError) as exc:
                    self.out.notes.append(f"{what}: module {named} {fault} not re-injected: {exc}")

    def _offset(self) -> float:
        return self.clock() - self.origin


def _injections(cause: dict[str, Any]) -> list[tuple[str, str]]:
    """The module faults a cause stands for: (the module as written, ``can1:5``; a :class:`Fault` or ``silent``)."""
    if cause.get("kind") == "power_stage":
        modules = cause.get("modules")
        return [(str(m), "silent") for m in modules if isinstance(m, str | int)] if isinstance(modules, list) else []
    found = MODULE_CAUSE.search(str(cause.get("detail", ""))) if cause.get("kind") == "module" else None
    if found is None:
        return []
    module = found.group(1)
    if found.group(2) is None:
        return [(module, "silent")]
    return [(module, name.strip()) for name in found.group(2).split(",") if name.strip()]


async def _ready(station: Station, guns: tuple[str, ...]) -> None:
    """Every replayed gun in standby with its modules, as a station that has run a while."""
    try:
        async with asyncio.timeout(READY_S):
            while not all(station.pool.modules_of(g) and station.guns[g].in_standby() for g in guns):
                await asyncio.sleep(station.cycle)
    except TimeoutError:
        raise ReplayError(f"the station did not have guns {', '.join(guns)} ready within {READY_S:g} s") from None


def _digest(profile: Profile) -> str | None:
    try:
        return hashlib.sha256(profile.source.read_bytes()).hexdigest()
    except OSError:
        return None


def for_replay(profile: Profile) -> Profile:
    """``profile`` served on a free loopback port, without TLS and without its ``ctl`` service."""
    server = dataclasses.replace(profile.server, host="127.0.0.1", port=0, tls=None, refuse_insecure=False)
    return dataclasses.replace(profile, server=server, services=tuple(s for s in profile.services if s.name != "ctl"))


async def replay(incident: Incident, profile: Profile, plugins: PluginManager) -> Replayed:
    """Play ``incident``'s SECC side against a station of ``profile`` on the running loop (see the module doc)."""
    if not incident.frames:
        raise ReplayError("the incident holds no PEP-WS frame: nothing to replay")
    lacking = [gun for gun in incident.guns if gun not in {g.id for g in profile.guns}]
    if lacking:
        raise ReplayError(f"profile {profile.name} has no gun {', '.join(lacking)} of the incident")
    runtime = Runtime(for_replay(profile), plugins)
    await runtime.start()
    try:
        replayed = await _Replay(incident, runtime).run()
    finally:
        await runtime.stop()
    recorded = incident.manifest.get("profile")
    recorded = recorded.get("sha256") if isinstance(recorded, dict) else None
    if recorded and await asyncio.to_thread(_digest, profile) != recorded:
        replayed.notes.append(f"the incident was recorded with another profile file than {profile.source}")
    return replayed
