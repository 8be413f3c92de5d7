"""The InfyPower V1.13 driver: :class:`ModuleDriver` plus Infy frames.

Setpoints (cmd 0x1C, voltage and current together) and on/off always go
to one module, and so do the reads, as the reference drivers do them:
V/I (0x03), V/I after the output diode (0x0C), status (0x04) per module;
in ``addressing = "group"`` the group's module count (0x02, device 0x0B)
is read besides, to notice modules that are missing or extra.

- The present voltage is the one after the output diode (0x0C): the
  module side (0x03) drops to ~0 V when the module is off while the
  connector still holds the battery.
- A module does not accept a current limit below 1 A (``min_current_a``):
  a share below it switches the module off instead, and a 0 A request
  switches every module off.
- A reply with a non-zero error code is a refusal: counted per code in
  :attr:`InfyDriver.refusals`, logged, and a typed fault while it lasts:
  a refused setpoint or on/off makes the module unusable (its state is
  sent again at the status rate, and the first accepted set clears it),
  a refused read is a warning until that read is answered.
- Each module's capabilities (0x0A) are read when it is first heard and
  narrow the profile's ratings. Modules switch themselves off after 10 s
  without controller frames, so a module is offline only after 15 s.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import can

from pecc_core.power import Fault, Mode, ModuleState
from pecc_core.profile.model import ModuleConfig
from pecc_plugins.canbus.decoder import FrameDecoder
from pecc_plugins.canbus.link import BusConfig
from pecc_plugins.canbus.moduledriver import ModuleDriver
from pecc_plugins.canbus.polling import DriverTiming, PollFrames, Reading
from pecc_plugins.infy import codec
from pecc_plugins.infy.codec import Cmd
from pecc_plugins.infy.decoder import InfyDecoder

log = logging.getLogger(__name__)

#: Commands whose refusal means the module does not do what the station asked.
_SETS = frozenset({Cmd.SET_VI, Cmd.ON_OFF})


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
        self._after_diode: set[int] = set()  # modules that answer cmd 0x0C
        self._status_faults: dict[int, frozenset[Fault]] = {}
        self._refused: dict[int, set[int]] = {}  # commands each module refuses now
        #: refusals seen, by (module, command, error code)
        self.refusals: Counter[tuple[int, int, int]] = Counter()
        #: the module count the group reported (group addressing), or None
        self.group_count: int | None = None
        self._count_due = 0.0

    @classmethod
    def frame_decoder(cls, settings: InfySettings) -> FrameDecoder:
        return InfyDecoder(settings.controller)

    @classmethod
    def poll_frames(cls, settings: InfySettings) -> PollFrames:
        """Reads of V/I, V/I after the diode and the status (with the temperature); every frame answered.

        A change is one V-and-I frame (:meth:`update`), a refresh that and
        the on (:meth:`apply`); in group addressing the group's module count
        is read at the status rate and answered once.
        """
        group = settings.addressing == "group"
        return PollFrames(measurement=2, status=1, temperature=0, change=1, refresh=2, bus_status=int(group))

    def slot(self, frame: tuple[int, bytes]) -> Hashable | None:
        """Voltage and current (cmd 0x1C, both in one frame): the newest wins; not the output switch."""
        return frame[0] if frame[0] >> 16 & 0x3F == Cmd.SET_VI else None

    def forget(self, module: ModuleState) -> None:
        # a module that comes back may be another unit with other ratings
        self._capabilities_read.discard(module.address)
        self._after_diode.discard(module.address)

    # -- frames in ----------------------------------------------------------------

    def decode(self, msg: can.Message) -> None:
        frame = codec.decode(msg.arbitration_id, msg.data)
        if frame is None or frame.destination != self.settings.controller:
            return
        if frame.cmd == Cmd.COUNT:
            if not frame.error:
                self._counted(codec.count(frame.data))
            return
        module = self.heard(frame.source)
        if module is None:
            return
        cmd = frame.cmd
        if frame.error:
            self._refusal(module, cmd, frame.error)
            return
        refused = self._refused.get(module.address)
        if refused and cmd in refused:
            # an accepted set clears every set refusal: the module takes orders again
            refused.difference_update(_SETS if cmd in _SETS else (cmd,))
            self._faults(module)
        if cmd == Cmd.READ_VI:
            values = codec.vi(frame.data)
            if values is not None:
                if module.address not in self._after_diode:
                    self.voltage_measured(module, values[0])  # until the module answers 0x0C
                module.current = values[1]
                self.measured(module)
        elif cmd == Cmd.VI_AFTER_DIODE:
            self._after_diode.add(module.address)
            self.voltage_measured(module, codec.after_diode(frame.data)[0])
        elif cmd == Cmd.STATUS:
            status = codec.status(frame.data)
            module.temperature = status.temperature
            self._status_faults[module.address] = status.faults
            self._faults(module)
            self.output_reported(module, not status.dc_off)
        elif cmd == Cmd.CAPABILITIES:
            self._narrow(module, codec.capabilities(frame.data))

    def _refusal(self, module: ModuleState, cmd: int, error: int) -> None:
        """A reply with an error code: the module refused ``cmd``."""
        key = (module.address, cmd, error)
        self.refusals[key] += 1
        refused = self._refused.setdefault(module.address, set())
        if cmd not in refused:
            try:
                name = codec.ErrorCode(error).name
            except ValueError:
                name = str(error)
            log.warning("infy: module %d refused command 0x%02X: error %s", module.address, cmd, name)
            refused.add(cmd)
            self._faults(module)

    def _faults(self, module: ModuleState) -> None:
        """Status faults plus the refusals in force."""
        faults = set(self._status_faults.get(module.address, ()))
        refused = self._refused.get(module.address, set())
        if refused & _SETS:
            faults.add(Fault.VENDOR_ERROR)
        elif refused:
            faults.add(Fault.VENDOR_WARNING)
        self.faults_reported(module, faults)

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
            self.notify(module)

    # -- frames out ---------------------------------------------------------------

    def poll_bus(self, now: float) -> None:
        if self.settings.addressing == "group" and now >= self._count_due:
            self._count_due = now + self.timing.status_s
            self.send(codec.read_group(self.settings.group, Cmd.COUNT))

    def poll(self, module: ModuleState, readings: Reading) -> None:
        address = module.address
        if Reading.MEASUREMENT in readings:
            self.send(codec.read(address, Cmd.READ_VI))
            self.send(codec.read(address, Cmd.VI_AFTER_DIODE))
        if Reading.STATUS in readings:  # carries the temperature too
            self.send(codec.read(address, Cmd.STATUS))
            if self._refused.get(address, set()) & _SETS:
                self.send_state(module)  # retried at the status rate until accepted
            if address not in self._capabilities_read and module.last_seen:
                self.send(codec.read(address, Cmd.CAPABILITIES))

    def update(self, module: ModuleState, voltage: float, current: float) -> None:
        self.send(codec.set_vi(module.address, module.voltage_setpoint, module.current_setpoint))

    def apply(self, module: ModuleState) -> None:
        address = module.address
        if module.mode is Mode.EXPORT:
            self.send(codec.set_vi(address, module.voltage_setpoint, module.current_setpoint))
            self.send(codec.set_output(address, True))
        else:
            # off, never a 0 A limit while on: the module does not accept one
            self.send(codec.set_output(address, False))
