"""Simulated InfyPower modules: answer V1.13 frames like a REG/CEG module would.

A module obeys frames to its own address (device ``0x0A``) and to its
group (device ``0x0B``); it answers the controller that sent the frame
with its own address as source. A group's module count (cmd 0x02) is
answered once, by the group's lowest address. The module side of the
output diode is read by cmd 0x03, the voltage after it by cmd 0x0C. A
current limit below 1 A is refused (error code 3, data invalid), unknown
commands too (error code 2), and a module can be made to refuse every
set with a chosen code.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from pecc_core.power import Fault
from pecc_plugins.modsim import wire

if TYPE_CHECKING:
    from pecc_plugins.modsim.responder import SimModule, Simulator

#: The smallest current limit (mA) a module accepts.
MIN_CURRENT_MA = 1000

_BIT_OF: dict[Fault, tuple[int, int]] = {
    Fault.OVER_CURRENT: (7, 0),
    Fault.HARDWARE: (6, 1),
    Fault.VENDOR_WARNING: (6, 3),
    Fault.OVER_TEMPERATURE: (6, 4),
    Fault.OVER_VOLTAGE: (6, 5),
    Fault.VENDOR_ERROR: (5, 1),
    Fault.INPUT: (5, 3),
}
STOPPING = frozenset({"short_circuit", "hardware", "over_voltage", "over_temperature", "input"})


class InfyResponder:
    """The Infy side of :class:`~.service.ModSim`."""

    protocol = "infy"

    def __init__(self, sim: Simulator, group: int) -> None:
        self.sim = sim
        self.group = group

    def bit_for(self, fault: Fault) -> int:
        try:
            byte, bit = _BIT_OF[fault]
        except KeyError:
            raise ValueError(f"an Infy module has no alarm bit for {fault}") from None
        return (7 - byte) * 8 + bit

    def stops(self, bits: int) -> bool:
        return any(
            bits & wire.infy_bit(byte, bit) and kind in STOPPING
            for (byte, bit), (_, kind) in wire.INFY_ALARMS.items()
        )

    def handle(self, arbitration_id: int, data: bytes | bytearray) -> None:
        request = wire.infy_parse(arbitration_id, data)
        if request is None:
            return
        if request.device == wire.INFY_GROUP:
            if request.destination != self.group:
                return
            listeners = list(self.sim.listening())
            if request.cmd == wire.INFY_COUNT:
                listeners = listeners[:1]
            for listener in listeners:
                self._answer(listener, request)
            return
        module = self.sim.reachable(request.destination)
        if module is not None:
            self._answer(module, request)

    def _answer(self, module: SimModule, request: wire.InfyRequest) -> None:
        out, cmd, data = module.output, request.cmd, request.data
        error, reply = 0, data
        if cmd in (wire.INFY_SET_VI, wire.INFY_ON_OFF) and module.refusal:
            error = module.refusal
        elif cmd == wire.INFY_SET_VI:
            millivolts, milliamperes = struct.unpack(">II", data)
            if milliamperes < MIN_CURRENT_MA:
                error = wire.INFY_DATA_INVALID
            else:
                out.voltage_setpoint, out.current_setpoint = millivolts / 1000, milliamperes / 1000
        elif cmd == wire.INFY_ON_OFF:
            out.on = data[0] == 0
        elif cmd == wire.INFY_VI:
            reply = wire.infy_vi(out.module_voltage, out.current)
        elif cmd == wire.INFY_AFTER_DIODE:
            reply = wire.infy_after_diode(out.voltage, out.current)
        elif cmd == wire.INFY_STATUS:
            alarms = module.alarm_bits
            config = self.sim.plant.config
            if out.overheated(config):
                alarms |= wire.infy_bit(*wire.INFY_OVER_TEMPERATURE)
            if not out.running(config):
                alarms |= wire.infy_bit(*wire.INFY_DC_OFF)
            reply = wire.infy_status(alarms, out.temperature)
        elif cmd == wire.INFY_CAPS:
            reply = wire.infy_capabilities(out.voltage_max, out.voltage_min, out.current_max, out.power_max)
        elif cmd == wire.INFY_COUNT:
            reply = wire.infy_count(sum(1 for m in self.sim.modules.values() if not m.silent))
        elif cmd == wire.INFY_BARCODE:
            reply = b"V" + out.address.to_bytes(7, "big")
        else:
            error, reply = wire.INFY_COMMAND_INVALID, bytes(8)
        arbitration_id = wire.infy_reply_id(cmd, request.source, out.address, request.device, error)
        self.sim.reply(module, arbitration_id, reply)
