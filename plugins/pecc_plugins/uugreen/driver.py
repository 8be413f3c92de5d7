"""The UUGreenPower UR1000x0 driver: :class:`ModuleDriver` plus UU frames.

Per module: voltage reference, current limit and run/stop frames addressed
to that module only (a broadcast current limit would make every module
deliver it in full); reads of Vout fast and Iout fast at the driver's
measurement rates, the status word and the inlet temperature less often,
the actual range (cmd 101) and the current capability (cmd 104) when they
are not known; replies matched by the masked identifier.

Ranges: a module in the low range cannot deliver above ~500 V, and a
switch needs the output off for seconds. In ``range_select = "session"``
the range is chosen when a module starts exporting, from the most the
session may ask for (the EV's maximum voltage, through ``export``'s
``voltage_max``) — off, wait, select, wait, then the setpoints — and never
while it exports: a voltage above the range is held at its top. In
``"module"`` the module is told to pick its range itself (firmware that
supports it) and the driver only reads which one it runs in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import can

from pecc_core.errors import ConfigError
from pecc_core.power import Mode, ModuleState
from pecc_core.profile.model import ModuleConfig
from pecc_plugins.canbus.decoder import FrameDecoder
from pecc_plugins.canbus.link import BusConfig
from pecc_plugins.canbus.moduledriver import ModuleDriver
from pecc_plugins.canbus.polling import DriverTiming, PollFrames, Reading
from pecc_plugins.uugreen import codec
from pecc_plugins.uugreen.codec import Cmd, MsgType, VoltageMode
from pecc_plugins.uugreen.decoder import UuDecoder

log = logging.getLogger(__name__)

#: Registers whose newer setpoint makes an older one still waiting moot (:meth:`UuDriver.slot`).
_VALUE_REGISTERS = frozenset({Cmd.VREF, Cmd.ILIMIT})


@dataclass(frozen=True, slots=True)
class UuSettings:
    """The validated ``params`` of the ``uugreen`` driver."""

    bus: BusConfig
    timing: DriverTiming
    group: int = 0
    range_select: str = "session"  # or "module"
    low_range_max_v: float = codec.LOW_RANGE_MAX_V
    mode_switch_s: float = 2.0

class UuDriver(ModuleDriver):
    """Drives UR1000x0 modules of one group on one bus."""

    separate_setpoints = True  # a register write each

    def __init__(self, settings: UuSettings, modules: Sequence[ModuleConfig]) -> None:
        super().__init__("uugreen", settings.bus, settings.timing, modules)
        for i, module in enumerate(modules):
            if not 1 <= module.address <= codec.MAX_ADDRESS:  # 0 is the broadcast address
                raise ConfigError(
                    f"power.modules[{i}].address: got {module.address}; expected a UU address "
                    f"from 1 to {codec.MAX_ADDRESS} (0 is the broadcast address)"
                )
        self.settings = settings
        self._group = settings.group
        self._rated = {m.address: m.current_max for m in modules}
        self._range: dict[int, VoltageMode] = {}  # what cmd 101 last said
        self._capability_read: set[int] = set()  # cmd 104 answered in the present range
        self._auto_sent: set[int] = set()  # told to pick its range itself
        self._switching: dict[int, asyncio.Task[None]] = {}
        self._output_on: set[int] = set()  # modules last commanded to run
        #: range switches started, per module (one per session at most)
        self.range_switches: dict[int, int] = dict.fromkeys(self.modules, 0)

    @classmethod
    def frame_decoder(cls, settings: UuSettings) -> FrameDecoder:
        return UuDecoder(settings.group)

    @classmethod
    def poll_frames(cls, settings: UuSettings) -> PollFrames:
        """One read each of Vout fast and Iout fast, the status, the temperature; every frame answered.

        A change sets the voltage and the current (:meth:`update`), a
        refresh both and the output on (:meth:`apply`).
        """
        return PollFrames(measurement=2, status=1, temperature=1, change=2, refresh=3)

    async def stop(self) -> None:
        for task in list(self._switching.values()):
            task.cancel()
        await super().stop()

    def settled(self, module: ModuleState) -> bool:
        return module.address not in self._switching

    def slot(self, frame: tuple[int, bytes]) -> Hashable | None:
        """The voltage reference and the current limit: plain values, the newest wins.

        Not the output switch nor the range: their order within a range change
        (output off, range, output on) is the sequence.
        """
        arbitration_id, data = frame
        if data[0] & 0xF == MsgType.SET and data[1] in _VALUE_REGISTERS:
            return arbitration_id, data[1]
        return None

    def forget(self, module: ModuleState) -> None:
        # a module that was silent may have restarted in its default range
        address = module.address
        self._range.pop(address, None)
        self._capability_read.discard(address)
        self._auto_sent.discard(address)
        self._output_on.discard(address)

    # -- frames in ----------------------------------------------------------------

    def decode(self, msg: can.Message) -> None:
        frame = codec.decode(msg.arbitration_id, msg.data)
        if frame is None or frame.msg_type not in codec.RESPONSES or frame.group != self._group:
            return
        module = self.heard(frame.address)
        if module is None or frame.msg_type != MsgType.READ_RESPONSE:
            return
        cmd, value = frame.cmd, frame.value
        if cmd in (Cmd.VOUT_FAST, Cmd.VOUT):
            self.voltage_measured(module, value / 1000)
        elif cmd in (Cmd.IOUT_FAST, Cmd.IOUT_SLOW, Cmd.IOUT_FASTEST):
            module.current = value / 1000
            self.measured(module)
        elif cmd == Cmd.TEMPERATURE:
            module.temperature = _signed(value) / 1000
        elif cmd == Cmd.STATUS:
            status = codec.status(value)
            self.faults_reported(module, set(status.faults))
            self.output_reported(module, not status.output_off)
        elif cmd == Cmd.ACTUAL_RANGE:
            self._ranged(module, value)
        elif cmd == Cmd.CURRENT_CAPABILITY:
            self._capable(module, value / 1000)

    def _ranged(self, module: ModuleState, value: int) -> None:
        if value not in (VoltageMode.HIGH, VoltageMode.LOW):
            log.warning("uugreen: module %d reports range %d; expected 1 or 2", module.address, value)
            return
        mode = VoltageMode(value)
        if self._range.get(module.address) is not mode:
            self._range[module.address] = mode
            self._capability_read.discard(module.address)  # the capability is the range's

    def _capable(self, module: ModuleState, amperes: float) -> None:
        """The module's current capability (cmd 104) in its present range narrows its rating."""
        self._capability_read.add(module.address)
        current_max = min(self._rated[module.address], amperes)
        if current_max != module.current_max:
            log.info("uugreen: module %d can deliver %.1f A", module.address, current_max)
            module.current_max = current_max
            self.notify(module)

    # -- frames out ---------------------------------------------------------------

    def poll(self, module: ModuleState, readings: Reading) -> None:
        address, group = module.address, self._group
        if Reading.MEASUREMENT in readings:
            self.send(codec.read(address, group, Cmd.VOUT_FAST))
            self.send(codec.read(address, group, Cmd.IOUT_FAST))
        if address not in self._range:  # with the first reads: a session may start soon
            self.send(codec.read(address, group, Cmd.ACTUAL_RANGE))
        if Reading.STATUS in readings:
            self.send(codec.read(address, group, Cmd.STATUS))
            if self.settings.range_select == "module" and address not in self._auto_sent and module.last_seen:
                self.send(codec.set_mode(address, group, VoltageMode.AUTO))
                self._auto_sent.add(address)
            if address in self._range and address not in self._capability_read:
                self.send(codec.read(address, group, Cmd.CURRENT_CAPABILITY))
        if Reading.TEMPERATURE in readings:
            self.send(codec.read(address, group, Cmd.TEMPERATURE))

    def prepare(self, module: ModuleState, voltage_max: float) -> None:
        address = module.address
        if self.settings.range_select != "session" or module.mode is Mode.EXPORT or address in self._switching:
            return  # the module picks, or it is charging: never switched mid-charge
        needed = codec.mode_for(voltage_max, self.settings.low_range_max_v)
        if self._range.get(address) is needed or not self.link.up:
            return
        self.range_switches[address] += 1
        self._switching[address] = asyncio.get_running_loop().create_task(
            self._switch_range(module, needed), name=f"uugreen-range-{address}"
        )

    def apply(self, module: ModuleState) -> None:
        address, group = module.address, self._group
        if module.mode is Mode.OFF:
            # Off always goes out at once, even in the middle of a range switch.
            self._output_on.discard(address)
            self.send(codec.set_output(address, group, False))
            self.send(codec.set_current(address, group, 0.0))
            return
        if address in self._switching:
            return  # the switch applies the setpoints when it is done
        self.send(codec.set_voltage(address, group, self._deliverable(module)))
        self.send(codec.set_current(address, group, module.current_setpoint))
        self.send(codec.set_output(address, group, True))
        self._output_on.add(address)
        if self.settings.range_select == "module":
            self._range.pop(address, None)  # it may have picked another: read it again

    def update(self, module: ModuleState, voltage: float, current: float) -> None:
        address, group = module.address, self._group
        if address in self._switching:
            return
        if module.voltage_setpoint != voltage:
            self.send(codec.set_voltage(address, group, self._deliverable(module)))
        if module.current_setpoint != current:
            self.send(codec.set_current(address, group, module.current_setpoint))

    def _deliverable(self, module: ModuleState) -> float:
        """The voltage setpoint, held at the top of the low range in that range (chosen by the driver)."""
        if self.settings.range_select == "session" and self._range.get(module.address) is VoltageMode.LOW:
            return min(module.voltage_setpoint, self.settings.low_range_max_v)
        return module.voltage_setpoint

    async def _switch_range(self, module: ModuleState, mode: VoltageMode) -> None:
        """Change the range with the output off, then apply the cached state."""
        address, group, wait = module.address, self._group, self.settings.mode_switch_s
        log.info("uugreen: module %d to the %s range", address, mode.name.lower())
        try:
            if address in self._output_on or abs(module.current) > self.timing.off_current_a:
                self.send(codec.set_output(address, group, False))
                self._output_on.discard(address)
                await asyncio.sleep(wait)
                if not await self.wait_off([address], self.timing.offline_s):
                    # never switched under load: the module stays off
                    log.error(
                        "uugreen: module %d still carries %.1f A; range switch given up", address, module.current
                    )
                    self.off([address])
                    return
            self.send(codec.set_mode(address, group, mode))
            await asyncio.sleep(wait)
            self._range[address] = mode  # until cmd 101 says otherwise
            self._capability_read.discard(address)
            self.send(codec.read(address, group, Cmd.ACTUAL_RANGE))
        finally:
            del self._switching[address]
        if self.link.up:
            self.send_state(module)

def _signed(value: int) -> int:
    """A uint32 field read as a signed value (temperatures below 0)."""
    return value - (1 << 32) if value & 0x80000000 else value
