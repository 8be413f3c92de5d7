"""The PECC's end of the I/O link to ``pecc sim-hw``: I/O drivers named ``link``.

One :class:`HwLink` per socket, shared by the role drivers of a station
(each role's factory asks :meth:`HwLink.shared`). It keeps the last state
the bench sent and reconnects when the link drops. What the PECC cannot
know is reported as the unsafe case: while the link is down, CP/PP
supervision refuses, the isolation result is invalid, the E-stop counts
as pressed, the connector voltage is unknown and a contactor command
fails; the last known feedback stays what it was (the hardware holds its
outputs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, ClassVar

from pecc_core.asyncutil import cancel
from pecc_core.episode import Episode
from pecc_core.io import ContactorError, ImdSample
from pecc_core.model import Isolation
from pecc_core.power import ModuleId
from pecc_core.profile.model import Profile
from pecc_core.profile.schema import Integer, StrictSchema, String, between
from pecc_plugins.canbus.unixbus import socket_path
from pecc_plugins.simhw import wire

log = logging.getLogger(__name__)

CONNECT_WAIT_S = 5.0
RECONNECT_S = 0.5
#: A reading older than this is unknown: the bench sends its state on every change and at
#: least once a second (its heartbeat), so a silence this long means it stalled.
READING_STALE_S = 2.5


class LinkError(Exception):
    """The bench did not confirm a command (link down, or no feedback in time)."""


class LinkParams(StrictSchema):
    #: the bench's I/O socket: a path, or a name in the runtime directory
    channel = String(load_default="pecc-sim-split")
    #: how long a contactor or relay may take to confirm a command
    feedback_timeout_ms = Integer(load_default=500, validate=between(10, 10_000))


class HwLink:
    """The connection to one bench, and the state it last reported."""

    _shared: ClassVar[dict[str, HwLink]] = {}

    def __init__(self, channel: str) -> None:
        self.path = socket_path(channel, "io")
        self.state: dict[str, dict[str, Any]] = {
            "contactors": {}, "imd": {}, "supervision": {}, "matrix": {}, "estop": {}, "connector": {},
        }
        #: loop time the last state arrived
        self.received_at = 0.0
        self.connected = False
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._users = 0

    @classmethod
    def shared(cls, channel: str) -> HwLink:
        path = str(socket_path(channel, "io"))
        link = cls._shared.get(path)
        if link is None:
            link = cls._shared[path] = cls(channel)
        return link

    async def start(self) -> None:
        """Connect (each role driver calls this; the first one opens) and wait for the first state."""
        self._users += 1
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-hw-link")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CONNECT_WAIT_S):
                while not self.connected:
                    await self._next_state()
        if not self.connected:
            log.warning("sim-hw link %s: no bench answers yet; retrying", self.path)

    async def stop(self) -> None:
        self._users -= 1
        if self._users <= 0:
            await cancel(self._task)
            self._task = None
            self._shared.pop(str(self.path), None)

    def send(self, *messages: dict[str, Any]) -> None:
        """Send ``messages`` in one write (one system call for a cycle's car targets)."""
        if self._writer is None or not self.connected:
            raise LinkError(f"sim-hw link {self.path} is down")
        self._writer.write(b"".join(map(wire.encode, messages)))

    async def until(self, condition: Any, timeout: float) -> bool:
        """Wait (at most ``timeout``) until ``condition()`` holds on a state the bench sent."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not condition():
                    await self._next_state()
                return True
        return False

    async def _next_state(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    async def _run(self) -> None:
        down = Episode(log, f"sim-hw link {self.path}: connecting", ok_level=logging.INFO)
        while True:
            try:
                reader, self._writer = await asyncio.open_unix_connection(str(self.path))
            except OSError as exc:
                down.failed(f"cannot connect ({exc.strerror or exc}); retrying")
                await asyncio.sleep(RECONNECT_S)
                continue
            down.ok()
            log.info("sim-hw link %s: connected", self.path)
            try:
                loop = asyncio.get_running_loop()
                async for line in reader:
                    self.state = wire.decode(line)["state"]
                    self.received_at = loop.time()
                    self.connected = True
                    self._changed.set()
            except (ConnectionError, ValueError, KeyError) as exc:
                log.warning("sim-hw link %s: %s", self.path, exc)
            finally:
                self.connected = False
                self._writer.close()
                self._writer = None
                self._changed.set()
            log.warning("sim-hw link %s: lost; reconnecting", self.path)
            await asyncio.sleep(RECONNECT_S)


class _LinkDriver:
    def __init__(self, channel: str = "pecc-sim-split", feedback_timeout_ms: int = 500) -> None:
        self.link = HwLink.shared(channel)
        self.timeout = feedback_timeout_ms / 1000

    @classmethod
    def from_profile(cls, params: dict[str, Any], profile: Profile) -> Any:
        return cls(**params)

    async def start(self) -> None:
        await self.link.start()

    async def stop(self) -> None:
        await self.link.stop()


class LinkContactors(_LinkDriver):
    async def set(self, gun: str, closed: bool) -> None:
        try:
            self.link.send({"op": "contactors", "gun": gun, "closed": closed})
        except LinkError as exc:
            raise ContactorError(f"gun {gun}: {exc}") from None
        if not await self.link.until(lambda: self.closed(gun) == closed, self.timeout):
            state = "closed" if self.closed(gun) else "open"
            raise ContactorError(
                f"gun {gun}: contactor feedback says {state} after commanding {'closed' if closed else 'open'}"
            )

    def closed(self, gun: str) -> bool:
        return bool(self.link.state["contactors"].get(gun, False))


class LinkIsolationMonitor(_LinkDriver):
    def __init__(self, channel: str = "pecc-sim-split", feedback_timeout_ms: int = 500) -> None:
        super().__init__(channel, feedback_timeout_ms)
        self._requests = 0

    def start_monitoring(self, gun: str) -> None:
        self._command(gun, True)

    def stop_monitoring(self, gun: str) -> None:
        self._command(gun, False)

    def _command(self, gun: str, run: bool) -> None:
        with contextlib.suppress(LinkError):  # no samples then: the gun's cable check fails
            self.link.send({"op": "imd", "gun": gun, "run": run})

    async def self_test(self, gun: str, voltage: float) -> bool:
        """Run the bench IMD's self-test; False if the link is down (the caller bounds the wait)."""
        self._requests += 1
        request = self._requests
        try:
            self.link.send({"op": "selftest", "gun": gun, "voltage": voltage, "id": request})
        except LinkError:
            return False

        def answered() -> bool:
            return bool(self.link.state.get("selftest", {}).get(gun, [0])[0] == request)

        while not answered():
            await self.link.until(answered, 60.0)
        return bool(self.link.state["selftest"][gun][1])

    def sample(self, gun: str) -> ImdSample | None:
        if not self.link.connected:
            return None
        fields = self.link.state["imd"].get(gun)
        if fields is None:
            return None
        seq, time, verdict, *rest = fields
        return ImdSample(seq, time, Isolation(verdict), *rest)

    def inject(self, gun: str, result: Isolation | None) -> None:
        """Fault injection, passed to the bench."""
        self.link.send({"op": "inject", "what": "imd", "gun": gun, "result": None if result is None else result.value})


class LinkSupervision(_LinkDriver):
    def allowed(self, gun: str) -> bool:
        return self.link.connected and bool(self.link.state["supervision"].get(gun, False))

    def allow(self, gun: str, allowed: bool) -> None:
        """Fault injection (the pilot leaves or returns to state C), passed to the bench."""
        self.link.send({"op": "inject", "what": "supervision", "gun": gun, "allowed": allowed})


class LinkRelayMatrix(_LinkDriver):
    async def connect(self, module: ModuleId, gun: str | None) -> None:
        """Command the relays and wait (bounded) for their feedback; never raises.

        The pool reads :meth:`gun_of` after the move: the feedback, not the
        command, says where the module is (as with the GPIO matrix).
        """
        try:
            self.link.send({"op": "matrix", "module": str(module), "gun": gun})
        except LinkError as exc:
            log.warning("module %s: cannot switch onto %s: %s", module, gun or "no gun", exc)
            return
        if not await self.link.until(lambda: self.gun_of(module) == gun, self.timeout):
            log.warning("module %s: the relays did not confirm the switch onto %s", module, gun or "no gun")

    def gun_of(self, module: ModuleId) -> str | None:
        gun = self.link.state["matrix"].get(str(module))
        return None if gun is None else str(gun)


class LinkEmergencyStop(_LinkDriver):
    def pressed(self, gun: str) -> bool:
        """The bench's E-stop; pressed while the link is down (the unsafe case)."""
        return not self.link.connected or bool(self.link.state["estop"].get(gun, True))

    def press(self, gun: str | None, pressed: bool = True) -> None:
        """Fault injection (``gun``'s E-stop, or the station's with None), passed to the bench."""
        self.link.send({"op": "inject", "what": "estop", "gun": gun, "pressed": pressed})


class LinkConnectorVoltage(_LinkDriver):
    def voltage(self, gun: str) -> float | None:
        """The bench's connector sensor; unknown while the link is down or its state is stale."""
        link = self.link
        if not link.connected or asyncio.get_running_loop().time() - link.received_at > READING_STALE_S:
            return None
        volts = link.state["connector"].get(gun)
        return None if volts is None else float(volts)

    def current(self, gun: str) -> float | None:
        return None

    def drift(self, gun: str, volts: float | None) -> None:
        """Fault injection (the sensor reads ``volts`` off; None: true again), passed to the bench."""
        self.link.send({"op": "inject", "what": "drift", "gun": gun, "volts": volts})
