"""The UUGreenPower UR1000x0 driver: :class:`ModuleDriver` plus UU frames.

Per module: voltage reference, current limit and run/stop frames addressed
to that module only (a broadcast current limit would make every module
deliver it in full), reads of Vout fast, Iout fast (every poll) and inlet
temperature and status (every ``status_every`` polls), replies matched by
the masked identifier. The hi/lo voltage range is switched only with the
output off: off, wait, select, wait, then the cached setpoints.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import can

from pecc_core.power import Mode, ModuleState
from pecc_core.profile.model import ModuleConfig
from pecc_plugins.canbus.link import BusConfig
from pecc_plugins.canbus.moduledriver import DriverTiming, ModuleDriver
from pecc_plugins.uugreen import codec
from pecc_plugins.uugreen.codec import Cmd, VoltageMode

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UuSettings:
    """The validated ``params`` of the ``uugreen`` driver."""

    bus: BusConfig
    timing: DriverTiming
    group: int = 0
    mode_threshold_v: float = codec.MODE_THRESHOLD_V
    mode_switch_s: float = 2.0


class UuDriver(ModuleDriver):
    """Drives UR1000x0 modules of one group on one bus."""

    def __init__(self, settings: UuSettings, modules: Sequence[ModuleConfig]) -> None:
        super().__init__("uugreen", settings.bus, settings.timing, modules)
        for module in modules:
            if not 1 <= module.address <= codec.MAX_ADDRESS:  # 0 is the broadcast address
                raise ValueError(f"uugreen: module address {module.address} is outside 1..{codec.MAX_ADDRESS}")
        self.settings = settings
        self._group = settings.group
        self._range: dict[int, VoltageMode] = {}  # as the module last reported or confirmed
        self._switching: dict[int, asyncio.Task[None]] = {}
        self._output_on: set[int] = set()  # modules last commanded to run

    async def stop(self) -> None:
        for task in list(self._switching.values()):
            task.cancel()
        await super().stop()

    def _settled(self, module: ModuleState) -> bool:
        return module.address not in self._switching

    def _forget(self, module: ModuleState) -> None:
        # a module that was silent may have restarted in its default range
        self._range.pop(module.address, None)
        self._output_on.discard(module.address)

    # -- frames in ----------------------------------------------------------------

    def _decode(self, msg: can.Message) -> None:
        frame = codec.decode(msg.arbitration_id, msg.data)
        if frame is None or frame.msg_type not in codec.RESPONSES or frame.group != self._group:
            return
        module = self._heard(frame.address)
        if module is None:
            return
        cmd, value = frame.cmd, frame.value
        if cmd == Cmd.VOUT_FAST or cmd == Cmd.VOUT:
            module.voltage = value / 1000
            self._measured(module)
        elif cmd == Cmd.IOUT_FAST or cmd == Cmd.IOUT_SLOW or cmd == Cmd.IOUT_FASTEST:
            module.current = value / 1000
            self._measured(module)
        elif cmd == Cmd.TEMPERATURE:
            module.temperature = _signed(value) / 1000
        elif cmd == Cmd.STATUS:
            self._vendor_faults(module, codec.faults_of(value))
        elif cmd == Cmd.MODE_STATUS or cmd == Cmd.MODE_SET:
            if value in (VoltageMode.HIGH, VoltageMode.LOW):
                self._range[module.address] = VoltageMode(value)

    # -- frames out ---------------------------------------------------------------

    def _poll(self, module: ModuleState, full: bool) -> None:
        address, group = module.address, self._group
        self._send(codec.read(address, group, Cmd.VOUT_FAST))
        self._send(codec.read(address, group, Cmd.IOUT_FAST))
        if full:
            self._send(codec.read(address, group, Cmd.TEMPERATURE))
            self._send(codec.read(address, group, Cmd.STATUS))
            if address not in self._range:
                self._send(codec.read(address, group, Cmd.MODE_STATUS))

    def _apply(self, module: ModuleState) -> None:
        address, group = module.address, self._group
        if module.mode is Mode.OFF:
            # Off always goes out at once, even in the middle of a range switch.
            self._output_on.discard(address)
            self._send(codec.set_current(address, group, 0.0))
            self._send(codec.set_output(address, group, False))
            return
        if address in self._switching:
            return  # the switch applies the setpoints when it is done
        needed = codec.mode_for(module.voltage_setpoint, self.settings.mode_threshold_v)
        if self._range.get(address) is not needed:
            self._switching[address] = asyncio.get_running_loop().create_task(
                self._switch_range(module, needed), name=f"uugreen-range-{address}"
            )
            return
        self._send(codec.set_voltage(address, group, module.voltage_setpoint))
        self._send(codec.set_current(address, group, module.current_setpoint))
        self._send(codec.set_output(address, group, True))
        self._output_on.add(address)

    def _update(self, module: ModuleState, voltage: float, current: float) -> None:
        address, group = module.address, self._group
        needed = codec.mode_for(module.voltage_setpoint, self.settings.mode_threshold_v)
        if address in self._switching or self._range.get(address) is not needed:
            self._apply(module)  # starts the range switch, or leaves it to the running one
            return
        if module.voltage_setpoint != voltage:
            self._send(codec.set_voltage(address, group, module.voltage_setpoint))
        if module.current_setpoint != current:
            self._send(codec.set_current(address, group, module.current_setpoint))

    async def _switch_range(self, module: ModuleState, mode: VoltageMode) -> None:
        """Change the hi/lo range with the output off, then re-apply the setpoints."""
        address, group, wait = module.address, self._group, self.settings.mode_switch_s
        log.info("uugreen: module %d to %s-voltage range", address, mode.name.lower())
        try:
            if address in self._output_on:
                self._send(codec.set_output(address, group, False))
                await asyncio.sleep(wait)
                if not await self.wait_off([address], wait):
                    # never switch under load: the next refresh starts over
                    log.warning(
                        "uugreen: module %d still carries %.1f A; range switch postponed", address, module.current
                    )
                    return
                self._output_on.discard(address)
            self._send(codec.set_mode(address, group, mode))
            await asyncio.sleep(wait)
            self._range[address] = mode
        finally:
            del self._switching[address]
        if self.link.up:
            self._send_state(module)


def _signed(value: int) -> int:
    """A uint32 field read as a signed value (temperatures below 0)."""
    return value - (1 << 32) if value & 0x80000000 else value
