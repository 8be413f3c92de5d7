"""The InfyPower V1.13 driver: :class:`ModuleDriver` plus Infy frames.

Setpoints (cmd 0x1C, voltage and current together) and on/off always go
to one module. Reads go to each module (``addressing = "fixed"``) or, in
``"group"`` addressing, once to the whole group: every module answers with
its own source address, and the group's module count (cmd 0x02) is read
beside the status to notice modules that are missing or extra. Each
module's capabilities (cmd 0x0A) are read when it is first heard and
narrow the profile's ratings. Modules switch themselves off after 10 s
without controller frames, so a module is offline only after 15 s.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import can

from pecc_core.power import Mode, ModuleState
from pecc_core.profile.model import ModuleConfig
from pecc_plugins.canbus.link import BusConfig
from pecc_plugins.canbus.moduledriver import DriverTiming, ModuleDriver
from pecc_plugins.infy import codec
from pecc_plugins.infy.codec import Cmd

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InfySettings:
    """The validated ``params`` of the ``infy`` driver."""

    bus: BusConfig
    timing: DriverTiming
    addressing: str = "fixed"  # or "group"
    group: int = 0
    controller: int = codec.CONTROLLER


class InfyDriver(ModuleDriver):
    """Drives InfyPower modules (REG/CEG/LRG families) on one bus."""

    def __init__(self, settings: InfySettings, modules: Sequence[ModuleConfig]) -> None:
        super().__init__("infy", settings.bus, settings.timing, modules)
        self.settings = settings
        self._rated = {m.address: m for m in modules}
        self._capabilities_read: set[int] = set()
        #: the module count the group reported (group addressing), or None
        self.group_count: int | None = None

    def _forget(self, module: ModuleState) -> None:
        # a module that comes back may be another unit with other ratings
        self._capabilities_read.discard(module.address)

    # -- frames in ----------------------------------------------------------------

    def _decode(self, msg: can.Message) -> None:
        frame = codec.decode(msg.arbitration_id, msg.data)
        if frame is None or frame.destination != self.settings.controller or frame.error:
            return
        if frame.cmd == Cmd.COUNT:
            self._counted(codec.count(frame.data))
            return
        module = self._heard(frame.source)
        if module is None:
            return
        cmd = frame.cmd
        if cmd == Cmd.READ_VI:
            values = codec.vi(frame.data)
            if values is not None:
                module.voltage, module.current = values
                self._measured(module)
        elif cmd == Cmd.STATUS:
            bits, module.temperature = codec.status(frame.data)
            self._vendor_faults(module, codec.faults_of(bits))
        elif cmd == Cmd.CAPABILITIES:
            self._narrow(module, codec.capabilities(frame.data))

    def _counted(self, count: int) -> None:
        if count != self.group_count:
            level = logging.INFO if count == len(self.modules) else logging.WARNING
            group, configured = self.settings.group, len(self.modules)
            log.log(level, "infy: group %d reports %d modules, profile has %d", group, count, configured)
            self.group_count = count

    def _narrow(self, module: ModuleState, caps: codec.Capabilities) -> None:
        """Ratings: the profile's, narrowed by what the module says it can do."""
        self._capabilities_read.add(module.address)
        rated = self._rated[module.address]
        narrowed = (
            max(rated.voltage_min, caps.voltage_min),
            min(rated.voltage_max, caps.voltage_max),
            min(rated.current_max, caps.current_max),
            min(rated.power_max, caps.power_max),
        )
        present = (module.voltage_min, module.voltage_max, module.current_max, module.power_max)
        if narrowed != present:
            module.voltage_min, module.voltage_max, module.current_max, module.power_max = narrowed
            log.info("infy: module %d ratings %s-%s V, %s A, %s W", module.address, *narrowed)
            self._notify(module)

    # -- frames out ---------------------------------------------------------------

    def _poll_all(self, full: bool) -> None:
        if self.settings.addressing == "fixed":
            super()._poll_all(full)
            return
        group = self.settings.group
        self._send(codec.read_group(group, Cmd.READ_VI))
        if full:
            self._send(codec.read_group(group, Cmd.STATUS))
            self._send(codec.read_group(group, Cmd.COUNT))
            for module in self.modules.values():
                self._ask_capabilities(module)

    def _poll(self, module: ModuleState, full: bool) -> None:
        self._send(codec.read(module.address, Cmd.READ_VI))
        if full:
            self._send(codec.read(module.address, Cmd.STATUS))
            self._ask_capabilities(module)

    def _ask_capabilities(self, module: ModuleState) -> None:
        """Read the ratings of a module that answers but has not told them yet."""
        if module.address not in self._capabilities_read and module.last_seen:
            self._send(codec.read(module.address, Cmd.CAPABILITIES))

    def _update(self, module: ModuleState, voltage: float, current: float) -> None:
        self._send(codec.set_vi(module.address, module.voltage_setpoint, module.current_setpoint))

    def _apply(self, module: ModuleState) -> None:
        address = module.address
        if module.mode is Mode.EXPORT:
            self._send(codec.set_vi(address, module.voltage_setpoint, module.current_setpoint))
            self._send(codec.set_output(address, True))
        else:
            self._send(codec.set_output(address, False))
            self._send(codec.set_vi(address, 0.0, 0.0))
