"""Simulated UUGreenPower modules: answer UU frames like a UR1000x0 would.

Requests to the module's address (or to broadcast address 0, which gets
no reply) in the simulator's group are obeyed; each reply carries the
module's production-date and serial bits in the low 14 identifier bits,
so a driver that matched replies by exact identifier would fail here as
it would on a real cabinet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pecc_core.power import Fault
from pecc_plugins.modsim.physics import ModuleOutput
from pecc_plugins.uugreen import codec
from pecc_plugins.uugreen.codec import Cmd, MsgType, VoltageMode

if TYPE_CHECKING:
    from pecc_plugins.modsim.service import ModSim, SimModule

#: Power-on range of a simulated module.
DEFAULT_MODE = VoltageMode.LOW


class UuResponder:
    """The UU side of :class:`ModSim`: frames in, state changes and replies out."""

    protocol = "uugreen"

    def __init__(self, sim: ModSim, group: int) -> None:
        self.sim = sim
        self.group = group
        self.modes: dict[int, VoltageMode] = {}
        self.ids: dict[int, int] = {}
        #: range changes commanded while a module's output was running
        self.unsafe_mode_switches = 0
        for address, module in sim.modules.items():
            self.ids[address] = codec.reply_id(address, date=address * 7 % 31 + 1, serial=address * 37 % 511 + 1)
            self._set_mode(module.output, DEFAULT_MODE)

    def status_bits(self, fault: Fault) -> int:
        return codec.status_bits(fault)

    def handle(self, arbitration_id: int, data: bytes | bytearray) -> None:
        frame = codec.decode(arbitration_id, data)
        if frame is None or frame.msg_type not in codec.REQUESTS or frame.group != self.group:
            return
        if frame.address == 0:
            for module in self.sim.listening():
                self._obey(module, frame)
            return
        module = self.sim.reachable(frame.address)
        if module is None:
            return
        value = self._obey(module, frame)
        reply_type = MsgType.READ_RESPONSE if frame.msg_type == MsgType.READ else MsgType.SET_RESPONSE
        self.sim.reply(module, self.ids[frame.address], codec.pack(self.group, reply_type, frame.cmd, value))

    def _obey(self, module: SimModule, frame: codec.Frame) -> int:
        """Apply a set, or read a value; returns the value of the reply."""
        out, cmd, value = module.output, frame.cmd, frame.value
        if frame.msg_type == MsgType.READ:
            return self._read(module, cmd)
        if cmd == Cmd.VREF:
            out.voltage_setpoint = value / 1000
        elif cmd == Cmd.ILIMIT:
            out.current_setpoint = value / 1000
        elif cmd == Cmd.SHUTDOWN:
            out.on = value == 0
        elif cmd == Cmd.MODE_SET and value in (VoltageMode.HIGH, VoltageMode.LOW):
            if out.on and out.current > 1.0:
                self.unsafe_mode_switches += 1
            self._set_mode(out, VoltageMode(value))
        return value

    def _read(self, module: SimModule, cmd: int) -> int:
        out = module.output
        if cmd in (Cmd.VOUT, Cmd.VOUT_FAST):
            return round(out.voltage * 1000)
        if cmd in (Cmd.IOUT_SLOW, Cmd.IOUT_FAST, Cmd.IOUT_FASTEST):
            return round(out.current * 1000)
        if cmd == Cmd.TEMPERATURE:
            return round(out.temperature * 1000)
        if cmd == Cmd.STATUS:
            status = module.alarm_bits
            if out.overheated(self.sim.plant.config):
                status |= codec.status_bits(Fault.OVER_TEMPERATURE)
            if not out.running(self.sim.plant.config):
                status |= codec.STATUS_OUTPUT_OFF
            return status
        if cmd == Cmd.MODE_STATUS:
            return self.modes[out.address]
        if cmd == Cmd.GROUP:
            return self.group
        return 0

    def _set_mode(self, out: ModuleOutput, mode: VoltageMode) -> None:
        self.modes[out.address] = mode
        out.range_max = codec.MODE_THRESHOLD_V if mode is VoltageMode.LOW else out.voltage_max
