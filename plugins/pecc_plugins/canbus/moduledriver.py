"""What every CAN power-module driver does, whatever the vendor protocol.

:class:`ModuleDriver` implements :class:`pecc_core.power.PowerDriver` up to
the frames: it keeps the module table, owns the :class:`CanLink`, runs the
poll loop, splits currents, caches mode and setpoints, detects silent
modules, recovers them (cached mode and setpoints re-applied *before* the
module is declared online again), reacts to the bus dying, and waits for
outputs to go off. A vendor driver subclasses it and supplies the frames:
:meth:`_decode`, :meth:`_poll` and :meth:`_apply`.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import can

from pecc_core.power import BLOCKING, Fault, Mode, ModuleListener, ModuleState
from pecc_core.profile.model import ModuleConfig
from pecc_core.sharing import fair_shares
from pecc_plugins.canbus.episode import Episode
from pecc_plugins.canbus.link import BusConfig, CanLink
from pecc_plugins.canbus.tasks import cancel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DriverTiming:
    """How often a driver talks to its modules and when it gives up on one.

    :attr poll_s: period of the measurement reads (voltage, current).
    :attr status_every: read temperature and status every n-th poll.
    :attr resend_s: period of the setpoint refresh (modules forget
        setpoints and shut off after their own watchdog time).
    :attr offline_s: silence after which a module is offline; longer than
        the module's watchdog, so it has switched itself off by then.
    :attr off_current_a: output current below which relays may open.
    :attr setpoint_interval_s: shortest time between two setpoint updates
        of a module; changes in between are merged into the next update,
        except a drop of the current or voltage (:data:`URGENT_DROP`).
    """

    poll_s: float = 0.25
    status_every: int = 4
    resend_s: float = 1.0
    offline_s: float = 6.0
    off_current_a: float = 2.0
    setpoint_interval_s: float = 0.2


#: A setpoint falling by more than this share of its last sent value goes out at once.
URGENT_DROP = 0.1


class ModuleDriver(ABC):
    """The vendor-neutral part of a CAN power-module driver.

    :param name: the driver's name in logs.
    :param bus: where the bus is.
    :param timing: poll, refresh and offline periods.
    :param modules: the profile's modules; frames from other addresses are
        ignored.
    """

    def __init__(
        self, name: str, bus: BusConfig, timing: DriverTiming, modules: Sequence[ModuleConfig]
    ) -> None:
        self.name = name
        self.timing = timing
        self.modules: dict[int, ModuleState] = {
            m.address: ModuleState(m.address, m.voltage_min, m.voltage_max, m.current_max, m.power_max)
            for m in modules
        }
        self.bus_ok = False
        #: frames that came from addresses outside the configuration
        self.ignored_frames = 0
        self.link = CanLink(bus, self._decode, self._bus_state, name)
        self._listeners: list[ModuleListener] = []
        self._recovering: dict[int, float] = {}  # address -> when the cached state was re-applied
        self._waiters: list[asyncio.Future[None]] = []
        self._poll_task: asyncio.Task[None] | None = None
        self._since = 0.0  # when polling started: silence is counted from here
        self._sent: dict[int, tuple[Mode, float, float]] = {}  # the state each module was last sent
        self._sent_at: dict[int, float] = {}
        self._deferred: dict[int, asyncio.TimerHandle] = {}  # merged setpoint updates waiting

    # -- PowerDriver ------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._since = loop.time()
        await self.link.start()
        if not self.link.up:
            self._bus_state(False)
        self._poll_task = loop.create_task(self._poll_loop(), name=f"{self.name}-poll")

    async def stop(self) -> None:
        for module in self.modules.values():
            self._command(module, Mode.OFF, 0.0, 0.0)
        await cancel(self._poll_task)
        self._poll_task = None
        for handle in self._deferred.values():
            handle.cancel()
        self._deferred.clear()
        await self.link.stop()
        self._wake()

    def export(self, addresses: Sequence[int], voltage: float, current: float) -> None:
        chosen = [m for a in addresses if (m := self.modules.get(a)) is not None]
        able = [m for m in chosen if m.usable and m.voltage_min <= voltage]
        caps = [min(m.current_max, m.power_max / voltage) if voltage > 0 else m.current_max for m in able]
        for module, share in zip(able, fair_shares(current, caps), strict=True):
            self._command(module, Mode.EXPORT, min(voltage, module.voltage_max), share)
        for module in chosen:
            if module not in able:
                self._command(module, Mode.OFF, 0.0, 0.0)

    def off(self, addresses: Sequence[int]) -> None:
        for address in addresses:
            module = self.modules.get(address)
            if module is not None:
                self._command(module, Mode.OFF, 0.0, 0.0)
                if self.link.up:
                    self._poll(module, False)  # measure the falling current soon

    async def wait_off(self, addresses: Sequence[int], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        limit = self.timing.off_current_a
        while True:
            if not any(
                m.online and abs(m.current) > limit
                for a in addresses
                if (m := self.modules.get(a)) is not None
            ):
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            done, _ = await asyncio.wait((waiter,), timeout=remaining)
            if not done:
                self._waiters.remove(waiter)
                return False

    def add_listener(self, listener: ModuleListener) -> None:
        self._listeners.append(listener)

    # -- for vendor subclasses ----------------------------------------------------

    @abstractmethod
    def _decode(self, msg: can.Message) -> None:
        """Handle one received frame (call :meth:`_heard` first for its module)."""

    @abstractmethod
    def _poll(self, module: ModuleState, full: bool) -> None:
        """Send the read requests of one poll; ``full`` adds temperature and status."""

    def _poll_all(self, full: bool) -> None:
        """One poll of every module; a protocol with group reads overrides this."""
        for module in self.modules.values():
            self._poll(module, full)

    @abstractmethod
    def _apply(self, module: ModuleState) -> None:
        """Send the module's cached mode and setpoints (``module.mode`` etc.).

        Called through :meth:`_send_state`. An ``OFF`` must go out at once,
        whatever sequence the vendor code is in the middle of.
        """

    def _update(self, module: ModuleState, voltage: float, current: float) -> None:
        """Send new setpoints of a module that stays in ``EXPORT``.

        ``voltage`` and ``current`` are the values it was last sent; a
        protocol with separate frames sends only what changed.
        """
        self._apply(module)

    def _send_state(self, module: ModuleState) -> None:
        """Send the module's whole cached state now and remember it as sent."""
        self._apply(module)
        address = module.address
        self._sent[address] = (module.mode, module.voltage_setpoint, module.current_setpoint)
        self._sent_at[address] = asyncio.get_running_loop().time()

    def _settled(self, module: ModuleState) -> bool:
        """True once the re-applied state has fully gone out (no sequence still running)."""
        return True

    def _forget(self, module: ModuleState) -> None:
        """The module was lost: drop what the driver believed about its internal state."""

    def _send(self, frame: tuple[int, bytes]) -> bool:
        return self.link.send(*frame)

    def _heard(self, address: int) -> ModuleState | None:
        """A frame came from ``address``: its module, or None if not configured.

        Runs recovery: the first frame from a module that is not online
        re-applies its cached state; a frame at least one poll later, once
        the vendor's sequence is done (:meth:`_settled`), declares it online.
        """
        module = self.modules.get(address)
        if module is None:
            self.ignored_frames += 1
            return None
        now = asyncio.get_running_loop().time()
        module.last_seen = now
        if not module.online:
            applied = self._recovering.get(address)
            if applied is None:
                self._recovering[address] = now
                self._send_state(module)
            elif now - applied >= self.timing.poll_s and self._settled(module):
                del self._recovering[address]
                module.online = True
                module.faults.discard(Fault.COMMUNICATION)
                log.info("%s: module %d online", self.name, address)
                self._notify(module)
        return module

    def _measured(self, module: ModuleState) -> None:
        """A measurement of ``module`` changed: wake :meth:`wait_off` callers."""
        if self._waiters:
            self._wake()

    def _vendor_faults(self, module: ModuleState, faults: set[Fault]) -> None:
        """Replace the module's protocol-reported faults by ``faults``.

        A blocking fault also commands the module off: an unusable module
        must not be switched back on by the setpoint refresh. It exports
        again when it is usable and the station asks for it.
        """
        if Fault.COMMUNICATION in module.faults:
            faults = faults | {Fault.COMMUNICATION}
        if faults != module.faults:
            log.warning(
                "%s: module %d faults %s", self.name, module.address, ", ".join(sorted(faults)) or "cleared"
            )
            module.faults = faults
            if faults & BLOCKING:
                self._command(module, Mode.OFF, 0.0, 0.0)
            self._notify(module)

    def _notify(self, module: ModuleState) -> None:
        for listener in self._listeners:
            try:
                listener(module)
            except Exception:
                log.exception("%s: module listener failed", self.name)

    # -- internals ------------------------------------------------------------------

    def _command(self, module: ModuleState, mode: Mode, voltage: float, current: float) -> None:
        if (module.mode, module.voltage_setpoint, module.current_setpoint) == (mode, voltage, current):
            return
        module.mode = mode
        module.voltage_setpoint = voltage
        module.current_setpoint = current
        self._flush(module)

    def _flush(self, module: ModuleState) -> None:
        """Send what changed in the module's cached state, rate-limited.

        A mode change goes out at once; new setpoints of an exporting module
        at most every ``setpoint_interval_s`` (the latest values win), unless
        one of them drops by more than :data:`URGENT_DROP`.
        """
        address = module.address
        handle = self._deferred.pop(address, None)
        if handle is not None:
            handle.cancel()
        if not self.link.up:
            return
        sent = self._sent.get(address)
        if sent is None or sent[0] is not module.mode:
            self._send_state(module)
            return
        _, voltage, current = sent
        if module.mode is Mode.OFF or (voltage, current) == (module.voltage_setpoint, module.current_setpoint):
            return
        loop = asyncio.get_running_loop()
        due = self._sent_at[address] + self.timing.setpoint_interval_s
        dropped = (
            module.voltage_setpoint < voltage * (1 - URGENT_DROP)
            or module.current_setpoint < current * (1 - URGENT_DROP)
        )
        if dropped or loop.time() >= due:
            self._update(module, voltage, current)
            self._sent[address] = (module.mode, module.voltage_setpoint, module.current_setpoint)
            self._sent_at[address] = loop.time()
        else:
            self._deferred[address] = loop.call_at(due, self._flush, module)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _lost(self, module: ModuleState) -> None:
        self._recovering.pop(module.address, None)
        self._sent.pop(module.address, None)
        self._forget(module)
        if module.online or Fault.COMMUNICATION not in module.faults:
            module.online = False
            module.faults.add(Fault.COMMUNICATION)
            log.warning("%s: module %d: communication lost", self.name, module.address)
            self._notify(module)

    def _bus_state(self, up: bool) -> None:
        self.bus_ok = up
        if up:
            self._since = asyncio.get_running_loop().time()
            for module in self.modules.values():
                self._send_state(module)
            return
        for module in self.modules.values():
            self._lost(module)
        self._wake()

    async def _poll_loop(self) -> None:
        loop = asyncio.get_running_loop()
        timing = self.timing
        tick = 0
        next_resend = loop.time() + timing.resend_s
        failures = Episode(log, f"{self.name}: polling")
        while True:  # the first poll goes out at once: modules are found sooner
            now = loop.time()
            try:
                self._poll_once(now, tick % timing.status_every == 0, now >= next_resend)
            except Exception as exc:  # a bug must not stop offline detection for good
                failures.failed(exc, traceback=True, level=logging.ERROR)
            else:
                failures.ok()
                tick += 1
                if now >= next_resend:
                    next_resend = now + timing.resend_s
            await asyncio.sleep(timing.poll_s)

    def _poll_once(self, now: float, full: bool, resend: bool) -> None:
        """Detect silent modules, send one poll and, when due, refresh the setpoints."""
        for module in self.modules.values():
            if now - max(module.last_seen, self._since) > self.timing.offline_s:
                self._lost(module)
        if not self.link.up:
            return
        self._poll_all(full)
        if resend:
            for module in self.modules.values():
                self._send_state(module)
