"""What every CAN power-module driver does, whatever the vendor protocol.

:class:`ModuleDriver` implements :class:`pecc_core.power.PowerDriver` up to
the frames: it keeps the module table, owns the :class:`CanLink`, polls
each module at the rate its state needs, splits currents, caches mode and
setpoints and sends their changes at once (small raises of an exporting
module's setpoints held within the deadband), corrects outputs whose status
disagrees with what was sent, detects silent modules, recovers them
(cached mode and setpoints re-applied *before* the module is declared
online again), reacts to the bus dying, and waits for outputs to go off.
Three parts have modules of their own: the polling budget
(:class:`~pecc_plugins.canbus.polling.PollPlan`), what each module was
last sent (:class:`~pecc_plugins.canbus.setpoints.SentState`) and the
times of silence and recovery
(:class:`~pecc_plugins.canbus.recovery.Recovery`). A vendor driver
subclasses it and supplies the frames: :meth:`decode`, :meth:`poll` and
:meth:`apply`.

Frames go out through the link's transmit scheduler in three classes
(:class:`~pecc_plugins.canbus.scheduler.Priority`): what :meth:`apply`
sends for a module in ``OFF`` goes first, other setpoints next, polls
last. The class follows from the hook that sends (:meth:`send` needs no
argument in vendor code); an off that cannot go out in time makes its
module unreachable (:meth:`_off_stuck`).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import can

from pecc_core.asyncutil import cancel
from pecc_core.episode import Episode
from pecc_core.power import BLOCKING, BusTap, Fault, Mode, ModuleListener, ModuleState
from pecc_core.profile.model import ModuleConfig
from pecc_core.sharing import fair_shares
from pecc_plugins.canbus.decoder import FrameDecoder
from pecc_plugins.canbus.link import BusConfig, CanLink
from pecc_plugins.canbus.polling import TICK_S, DriverTiming, PollFrames, PollPlan, Reading
from pecc_plugins.canbus.recovery import Recovery
from pecc_plugins.canbus.scheduler import Pending, Priority
from pecc_plugins.canbus.setpoints import Deadband, Due, SentState

log = logging.getLogger(__name__)


class ModuleDriver(ABC):
    """The vendor-neutral part of a CAN power-module driver.

    Its vendor API has two kinds of public methods and one class
    attribute, and nothing else a vendor touches: *hooks* a vendor driver implements and the base calls
    (:meth:`decode`, :meth:`poll`, :meth:`apply` required; :meth:`poll_bus`,
    :meth:`update`, :meth:`prepare`, :meth:`current_cap`, :meth:`settled`,
    :meth:`forget`, :meth:`slot`, :meth:`frame_decoder`, :meth:`poll_frames`
    optional), and *helpers* a vendor driver calls: :meth:`send` and
    :meth:`send_state` put frames on the bus, :meth:`heard`, :meth:`measured`,
    :meth:`voltage_measured`, :meth:`faults_reported` and
    :meth:`output_reported` tell the base what a frame said, :meth:`notify`
    that a module changed otherwise; :attr:`separate_setpoints` says how
    :meth:`update` sends. Underscored names are internals.

    :param name: the driver's name in logs.
    :param bus: where the bus is.
    :param timing: poll, refresh and offline periods.
    :param modules: the profile's modules; frames from other addresses are
        ignored.
    """

    #: Whether :meth:`update` sends the voltage and the current in frames of
    #: their own. When False (one frame carries both, or the default
    #: :meth:`update` re-applies the whole state), a setpoint that must go
    #: takes a raise the deadband holds along with it.
    separate_setpoints: ClassVar[bool] = False

    def __init__(
        self, name: str, bus: BusConfig, timing: DriverTiming, modules: Sequence[ModuleConfig]
    ) -> None:
        self.name = name
        self.timing = timing
        self.modules: dict[int, ModuleState] = {
            m.address: ModuleState(m.address, m.voltage_min, m.voltage_max, m.current_max, m.power_max, bus=m.bus)
            for m in modules
        }
        self.bus_ok = False
        #: frames that came from addresses outside the configuration
        self.ignored_frames = 0
        self.link = CanLink(bus, self.decode, self._bus_state, name, on_stuck=self._off_stuck)
        # the transmit class and module of the hook that is sending (see _sending_as)
        self._tx: tuple[Priority, int | None] = (Priority.SETPOINT, None)
        self._listeners: list[ModuleListener] = []
        self._recovery = Recovery(timing)
        self._waiters: list[asyncio.Future[None]] = []
        self._poll_task: asyncio.Task[None] | None = None
        self._sent = SentState()
        self._band = Deadband(timing.deadband_v, timing.deadband_a)
        self._plan = PollPlan(timing, list(self.modules))

    # -- PowerDriver ------------------------------------------------------------

    @property
    def watchdog_s(self) -> float:
        """The modules' own watchdog time (s): see :class:`DriverTiming`."""
        return self.timing.watchdog_s

    def add_bus_tap(self, tap: BusTap) -> None:
        """:class:`pecc_core.power.HasBusTap`: every frame of this driver's bus to ``tap``."""
        self.link.add_tap(tap)

    def remove_bus_tap(self, tap: BusTap) -> None:
        self.link.remove_tap(tap)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._recovery.restart(now)
        self._plan.restart(now)
        await self.link.start()
        if not self.link.up:
            self._bus_state(False)
        self._poll_task = loop.create_task(self._poll_loop(), name=f"{self.name}-poll")

    async def stop(self) -> None:
        for module in self.modules.values():
            self._command(module, Mode.OFF, 0.0, 0.0)
        await cancel(self._poll_task)
        self._poll_task = None
        await self.link.stop()
        self._wake()

    def export(
        self, addresses: Sequence[int], voltage: float, current: float, voltage_max: float | None = None
    ) -> None:
        chosen = [m for a in addresses if (m := self.modules.get(a)) is not None]
        able = [m for m in chosen if m.usable and m.voltage_min <= voltage]
        caps = [self.current_cap(m, voltage) for m in able]
        floor = self.timing.min_current_a
        if floor > 0.0:
            # as many modules as can each regulate at least the floor; the others off
            count = int(max(current, 0.0) / floor + 1e-9)
            fit = sorted((i for i in range(len(able)) if caps[i] >= floor), key=lambda i: caps[i], reverse=True)
            keep = sorted(fit[:count])
            able, caps = [able[i] for i in keep], [caps[i] for i in keep]
        session_max = voltage if voltage_max is None else max(voltage, voltage_max)
        for module, share in zip(able, fair_shares(current, caps), strict=True):
            self.prepare(module, session_max)
            self._command(module, Mode.EXPORT, min(voltage, module.voltage_max), share)
        for module in chosen:
            if module not in able:
                self._command(module, Mode.OFF, 0.0, 0.0)

    def off(self, addresses: Sequence[int]) -> None:
        for address in addresses:
            module = self.modules.get(address)
            if module is not None:
                self._command(module, Mode.OFF, 0.0, 0.0)

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

    # -- hooks: a vendor driver implements these, the base calls them --------------

    @classmethod
    def frame_decoder(cls, settings: Any) -> FrameDecoder:
        """A decoder of this protocol's frames for ``pecc can monitor``.

        ``settings`` are the driver's validated params (what its schema's
        ``post_load`` made, with the bus in ``settings.bus``). The default
        refuses: a vendor driver overrides it to make its traffic readable
        on a live bus (see :mod:`pecc_plugins.canbus.decoder`).
        """
        raise NotImplementedError(f"{cls.__name__} provides no CAN frame decoder")

    @classmethod
    def poll_frames(cls, settings: Any) -> PollFrames | None:
        """What this protocol's polls and setpoints cost on the bus, per module (for the bus budget).

        ``settings`` are the driver's validated params, as for
        :meth:`frame_decoder`. None (the default): the driver does not say,
        and its bus is not budgeted before it runs
        (:mod:`pecc_plugins.canbus.budget`).
        """
        return None

    @abstractmethod
    def decode(self, msg: can.Message) -> None:
        """Handle one received frame (call :meth:`heard` first for its module)."""

    @abstractmethod
    def poll(self, module: ModuleState, readings: Reading) -> None:
        """Send the read requests for ``readings`` of one module."""

    @abstractmethod
    def apply(self, module: ModuleState) -> None:
        """Send the module's cached mode and setpoints (``module.mode`` etc.).

        Called through :meth:`send_state`. An ``OFF`` must go out at once,
        whatever sequence the vendor code is in the middle of.
        """

    def poll_bus(self, now: float) -> None:
        """Reads that concern the bus rather than one module (a group count); every tick."""

    def update(self, module: ModuleState, voltage: float, current: float) -> None:
        """Send new setpoints of a module that stays in ``EXPORT``.

        ``voltage`` and ``current`` are the values to compare with: a
        protocol with separate frames (:attr:`separate_setpoints`) sends
        only a setpoint that differs from its own, and none that equals it
        (unchanged since it was last sent, or a raise the deadband holds).
        """
        self.apply(module)

    def prepare(self, module: ModuleState, voltage_max: float) -> None:
        """The module is about to export, in a session that may ask for up to ``voltage_max``.

        A protocol with voltage ranges chooses the range here (UU).
        """

    def current_cap(self, module: ModuleState, voltage: float) -> float:
        """The most current ``module`` can deliver at ``voltage``: constant current, then constant power."""
        return min(module.current_max, module.power_max / voltage) if voltage > 0 else module.current_max

    def settled(self, module: ModuleState) -> bool:
        """True once the re-applied state has fully gone out (no sequence still running)."""
        return True

    def forget(self, module: ModuleState) -> None:
        """The module was lost: drop what the driver believed about its internal state."""

    def slot(self, frame: tuple[int, bytes]) -> Hashable | None:
        """The register ``frame`` writes, if it is a setpoint whose newer value makes an older one moot.

        None (the default): every frame goes out. A protocol returns, say,
        the identifier and the command bytes of a register write; never
        for a frame whose effect depends on its predecessor (a counter, a
        sequence step).
        """
        return None

    # -- helpers: a vendor driver calls these from its hooks and tasks ---------------

    def send(self, frame: tuple[int, bytes], priority: Priority | None = None) -> bool:
        """Queue ``frame`` on the bus; False if it was refused (bus down, queue full).

        Its class is that of the hook sending it (:meth:`apply` of an off:
        ``OFF``; :meth:`apply`, :meth:`update`: ``SETPOINT``; :meth:`poll`,
        :meth:`poll_bus`: ``POLL``); code outside these hooks (a vendor
        task) sends ``SETPOINT`` unless it gives ``priority``. A setpoint
        replaces one for the same register still waiting (:meth:`slot`).
        """
        tx_class, owner = self._tx
        return self.link.send(frame[0], frame[1], priority or tx_class, owner, self.slot(frame))

    def send_state(self, module: ModuleState) -> None:
        """Send the module's whole cached state now (through :meth:`apply`) and remember it as sent.

        The base does so whenever the state must reach the module again; a
        vendor driver calls it when a sequence of its own is done (a range
        switch) or to retry a state the module refused.
        """
        self._send_state(module, Priority.OFF if module.mode is Mode.OFF else Priority.SETPOINT)

    def heard(self, address: int) -> ModuleState | None:
        """A frame came from ``address``: its module, or None if not configured.

        Runs recovery: the first frame from a module that is not online
        re-applies its cached state; a frame at least one poll later, once
        the vendor's sequence is done (:meth:`settled`), declares it online.
        """
        module = self.modules.get(address)
        if module is None:
            self.ignored_frames += 1
            return None
        now = asyncio.get_running_loop().time()
        module.last_seen = now
        if not module.online:
            if self._recovery.begin(address, now):
                self.send_state(module)
            elif self._recovery.ready(address, now) and self.settled(module):
                self._recovery.end(address)
                module.online = True
                module.faults.discard(Fault.COMMUNICATION)
                log.info("%s: module %s online", self.name, module.id, extra={"module_address": str(module.id)})
                self.notify(module)
        return module

    def measured(self, module: ModuleState) -> None:
        """A measurement of ``module`` changed: wake :meth:`wait_off` callers."""
        if self._waiters:
            self._wake()

    def voltage_measured(self, module: ModuleState, volts: float) -> None:
        """A voltage reading of ``module``, in a frame of its own (:attr:`ModuleState.voltage_seen`).

        Call after :meth:`heard` for the frame (its time is the reading's).
        """
        module.voltage = volts
        module.voltage_seen = module.last_seen
        self.measured(module)

    def faults_reported(self, module: ModuleState, faults: set[Fault]) -> None:
        """Replace the module's protocol-reported faults by ``faults``.

        A blocking fault also commands the module off: an unusable module
        must not be switched back on by the setpoint refresh. It exports
        again when it is usable and the station asks for it.
        """
        if Fault.COMMUNICATION in module.faults:
            faults = faults | {Fault.COMMUNICATION}
        if faults != module.faults:
            log.warning(
                "%s: module %s faults %s", self.name, module.id, ", ".join(sorted(faults)) or "cleared",
                extra={"module_address": str(module.id)},
            )
            module.faults = faults
            if faults & BLOCKING:
                self._command(module, Mode.OFF, 0.0, 0.0)
            self.notify(module)

    def output_reported(self, module: ModuleState, running: bool) -> None:
        """The module's status says whether its output runs: correct it if that is not what was sent.

        A module that runs although it was commanded off (a lost frame) gets
        its off again at once; one that stopped by itself while it should
        export (its own watchdog, a restart) gets its state re-applied.
        """
        expected = module.mode is Mode.EXPORT
        if running == expected or not module.online or not self.settled(module):
            return
        if running or not module.faults & BLOCKING:
            log.warning(
                "%s: module %s output %s, commanded %s: sending its state again",
                self.name, module.id, "on" if running else "off", module.mode,
            )
            self.send_state(module)

    def notify(self, module: ModuleState) -> None:
        """Tell the station that ``module`` changed otherwise (a rating read from it); its listeners run now."""
        for listener in self._listeners:
            try:
                listener(module)
            except Exception:
                log.exception("%s: module listener failed", self.name)

    # -- internals ------------------------------------------------------------------

    def _send_state(self, module: ModuleState, priority: Priority) -> None:
        """:meth:`send_state` in ``priority``.

        The periodic refresh (against the module's watchdog) repeats what
        the module was already sent: it goes in the ``POLL`` class, behind
        fresh offs and setpoints (refreshes of many modules at once would
        otherwise hold a new target back by tens of frames).
        """
        with self._sending_as(priority, module.address):
            self.apply(module)
        self._sent.sent(module)
        self._plan.refreshed(module.address, asyncio.get_running_loop().time())

    @contextmanager
    def _sending_as(self, priority: Priority, owner: int | None) -> Iterator[None]:
        """Within the block, :meth:`send` queues in ``priority``, for module ``owner`` (None: no module).

        The class of a frame follows from the hook that sends it; this is
        where a hook's class is set, and restored after it (hooks nest: an
        ``apply`` may run within a ``poll``).
        """
        saved = self._tx
        self._tx = (priority, owner)
        try:
            yield
        finally:
            self._tx = saved

    def _off_stuck(self, frame: Pending) -> None:
        """An off could not go out in time: its module counts as unreachable.

        Lost like a silent module (``COMMUNICATION``: unusable, the station
        takes it out of service); the off stays queued, and the module
        comes back through the usual recovery once the bus carries frames
        and it answers.
        """
        module = self.modules.get(frame.owner) if frame.owner is not None else None
        if module is not None and module.online:
            log.error(
                "%s: module %s: off command not sent; taking the module out of service", self.name, module.id
            )
            self._lost(module)

    def _command(self, module: ModuleState, mode: Mode, voltage: float, current: float) -> None:
        if (module.mode, module.voltage_setpoint, module.current_setpoint) == (mode, voltage, current):
            return
        if mode is not module.mode:
            self._plan.measure_soon(module.address)
        module.mode = mode
        module.voltage_setpoint = voltage
        module.current_setpoint = current
        self._flush(module)

    def _flush(self, module: ModuleState) -> None:
        """Send what must go of the module's cached state, now.

        A mode change sends the whole state, a setpoint change of an
        exporting module only the setpoints (:meth:`update`). Lower
        setpoints go within the call; a raise within the deadband
        (:class:`~pecc_plugins.canbus.setpoints.Deadband`) is held until the
        raises add up to more than the band, or until the refresh, due no
        later than ``resend_s`` after the first raise held.
        """
        if not self.link.up:
            return
        if self._sent.whole_due(module):
            self.send_state(module)
            return
        now = asyncio.get_running_loop().time()
        due = self._sent.changed_setpoints(module, self._band)
        if due is not None:
            if not self.separate_setpoints:
                due = Due(True, True, due.sent_voltage, due.sent_current)
            voltage = due.sent_voltage if due.voltage else module.voltage_setpoint
            current = due.sent_current if due.current else module.current_setpoint
            with self._sending_as(Priority.SETPOINT, module.address):
                self.update(module, voltage, current)
            self._sent.sent_setpoints(module, due)
        if module.mode is not Mode.EXPORT:
            return
        if self._sent.held(module):
            self._plan.held(module.address, now)
        elif due is not None:
            # a setpoint just sent is as good as a refresh: no refresh burst while targets change
            self._plan.refreshed(module.address, now)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _lost(self, module: ModuleState) -> None:
        if self._mark_lost(module):
            self.notify(module)

    def _mark_lost(self, module: ModuleState) -> bool:
        """Take ``module`` offline; True if it was not already (its listeners are then due)."""
        self._recovery.end(module.address)
        self._sent.forget(module.address)
        self.forget(module)
        if not module.online and Fault.COMMUNICATION in module.faults:
            return False
        module.online = False
        module.faults.add(Fault.COMMUNICATION)
        log.warning(
            "%s: module %s: communication lost",
            self.name,
            module.id,
            extra={"module_address": str(module.id)},
        )
        return True

    def _bus_state(self, up: bool) -> None:
        self.bus_ok = up
        if up:
            self._recovery.restart(asyncio.get_running_loop().time())
            for module in self.modules.values():
                self.send_state(module)
            return
        # every module offline first, then the listeners: none of them sees a
        # half-lost bus (a gun whose modules all went must read as a lost power
        # stage, not as one failed module beside answering ones)
        lost = [module for module in self.modules.values() if self._mark_lost(module)]
        for module in lost:
            self.notify(module)
        self._wake()

    async def _poll_loop(self) -> None:
        loop = asyncio.get_running_loop()
        tick = min(self.timing.poll_s, TICK_S)
        failures = Episode(log, f"{self.name}: polling")
        while True:
            try:
                self._poll_once(loop.time())
            except Exception as exc:  # a bug must not stop offline detection for good
                failures.failed(exc, traceback=True, level=logging.ERROR)
            else:
                failures.ok()
            await asyncio.sleep(tick)

    def _poll_once(self, now: float) -> None:
        """Detect silent modules, send the reads that are due and, when due, refresh setpoints."""
        for module in self.modules.values():
            if self._recovery.silent(module, now):
                self._lost(module)
        if not self.link.up:
            return
        with self._sending_as(Priority.POLL, None):
            self.poll_bus(now)
        for address, module in self.modules.items():
            readings = self._plan.readings_due(module, now)
            if readings:
                with self._sending_as(Priority.POLL, None):
                    self.poll(module, readings)
            if module.mode is Mode.EXPORT and self._plan.refresh_due(address, now):
                self._send_state(module, Priority.POLL)
