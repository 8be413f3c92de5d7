"""Simulated InfyPower modules: answer V1.13 frames like a REG/CEG module would.

A module obeys frames to its own address (device ``0x0A``) and to its
group (device ``0x0B``); it answers the controller that sent the frame
with its own address as source. A group's module count (cmd 0x02) is
answered once, by the group's lowest address. Unknown commands get an
error-code reply, as the protocol does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pecc_core.power import Fault
from pecc_plugins.infy import codec
from pecc_plugins.infy.codec import Cmd

if TYPE_CHECKING:
    from pecc_plugins.modsim.service import ModSim, SimModule

ERROR_INVALID_COMMAND = 2


class InfyResponder:
    """The Infy side of :class:`ModSim`."""

    protocol = "infy"

    def __init__(self, sim: ModSim, group: int) -> None:
        self.sim = sim
        self.group = group

    def status_bits(self, fault: Fault) -> int:
        return codec.status_bits(fault)

    def handle(self, arbitration_id: int, data: bytes | bytearray) -> None:
        frame = codec.decode(arbitration_id, data)
        if frame is None or frame.error:
            return
        if frame.device == codec.DEVICE_GROUP:
            if frame.destination != self.group:
                return
            modules = list(self.sim.listening())
            if frame.cmd == Cmd.COUNT:
                modules = modules[:1]
            for module in modules:
                self._answer(module, frame)
            return
        module = self.sim.reachable(frame.destination)
        if module is not None:
            self._answer(module, frame)

    def _answer(self, module: SimModule, frame: codec.Frame) -> None:
        out, cmd, data = module.output, frame.cmd, frame.data
        error = 0
        if cmd == Cmd.SET_VI:
            out.voltage_setpoint = int.from_bytes(data[:4], "big") / 1000
            out.current_setpoint = int.from_bytes(data[4:], "big") / 1000
            reply = data
        elif cmd == Cmd.ON_OFF:
            out.on = data[0] == 0
            reply = data
        elif cmd == Cmd.READ_VI:
            reply = codec.pack_vi(out.voltage, out.current)
        elif cmd == Cmd.STATUS:
            bits = module.alarm_bits
            config = self.sim.plant.config
            if out.overheated(config):
                bits |= codec.status_bits(Fault.OVER_TEMPERATURE)
            if not out.running(config):
                bits |= codec.STATUS_DC_OFF
            reply = codec.pack_status(bits, out.temperature)
        elif cmd == Cmd.CAPABILITIES:
            reply = codec.pack_capabilities(
                codec.Capabilities(out.voltage_max, out.voltage_min, out.current_max, out.power_max)
            )
        elif cmd == Cmd.COUNT:
            reply = codec.pack_count(sum(1 for m in self.sim.modules.values() if not m.silent))
        else:
            error, reply = ERROR_INVALID_COMMAND, bytes(8)
        arbitration_id = codec.frame_id(
            cmd, frame.source, source=out.address, device=frame.device, error=error
        )
        self.sim.reply(module, arbitration_id, reply)
