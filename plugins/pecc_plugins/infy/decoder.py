"""InfyPower V1.13 frames explained for ``pecc can monitor`` (the SDK's decoder contract).

Alarm bit names follow the status table of the protocol notes
(CAN-PROTOCOLS.md, "Status (cmd 0x04) alarm bytes"), numbered as the
24-bit word of bytes 5 (high) to 7 (low). Error codes (identifier bits
28-26) by the codec's ``ErrorCode`` names.
"""

from __future__ import annotations

import struct

from pecc_plugins.canbus.decoder import Decoded, Kind, bit_names
from pecc_plugins.infy import codec
from pecc_plugins.infy.codec import Cmd

ALARM_NAMES: dict[int, str] = {
    0: "output short circuit",
    4: "sleeping",
    5: "discharge abnormal",
    8: "DC side off",
    9: "module fault",
    10: "module protection",
    11: "fan fault",
    12: "over-temperature",
    13: "output over-voltage",
    14: "walk-in enabled",
    15: "CAN communication interrupted",
    16: "power limited",
    17: "module ID repeated",
    18: "load sharing alarm",
    19: "input phase lost",
    20: "input unbalanced",
    21: "input under-voltage",
    22: "input over-voltage",
    23: "PFC side off",
}
_NAMES: dict[int, str] = {
    Cmd.COUNT: "group module count",
    Cmd.READ_VI: "V/I",
    Cmd.STATUS: "status",
    Cmd.CAPABILITIES: "capabilities",
    Cmd.BARCODE: "barcode",
    Cmd.VI_AFTER_DIODE: "V/I after diode",
    Cmd.ON_OFF: "output",
    Cmd.SET_VI: "voltage and current",
}
_U32X2 = struct.Struct(">II")


def _name(cmd: int) -> str:
    return _NAMES.get(cmd, f"cmd 0x{cmd:02X}")


class InfyDecoder:
    """Decodes the frames between the controller ``controller`` and its modules."""

    def __init__(self, controller: int = codec.CONTROLLER) -> None:
        self.controller = controller

    def decode(self, arbitration_id: int, data: bytes) -> tuple[Decoded, ...]:
        frame = codec.decode(arbitration_id, data)
        if frame is None:
            return ()
        if frame.source == self.controller:
            module = None if frame.device == codec.DEVICE_GROUP else frame.destination
            return self._request(module, frame)
        if frame.destination != self.controller:
            return ()
        module = frame.source
        if frame.error:
            known = frame.error in codec.ErrorCode.__members__.values()
            why = codec.ErrorCode(frame.error).name.lower().replace("_", " ") if known else f"error code {frame.error}"
            return (Decoded(module, True, Kind.ERROR, f"{_name(frame.cmd)} refused", error=why),)
        return self._reply(module, frame)

    @staticmethod
    def _request(module: int | None, frame: codec.Frame) -> tuple[Decoded, ...]:
        if frame.cmd == Cmd.SET_VI:
            millivolts, milliamperes = _U32X2.unpack(frame.data)
            return (
                Decoded(module, False, Kind.SETPOINT, "voltage", millivolts / 1000, "V"),
                Decoded(module, False, Kind.SETPOINT, "current limit", milliamperes / 1000, "A"),
            )
        if frame.cmd == Cmd.ON_OFF:
            return (Decoded(module, False, Kind.COMMAND, "output", "off" if frame.data[0] else "on"),)
        return (Decoded(module, False, Kind.POLL, _name(frame.cmd)),)

    @staticmethod
    def _reply(module: int, frame: codec.Frame) -> tuple[Decoded, ...]:
        cmd, data = frame.cmd, frame.data
        if cmd == Cmd.READ_VI:
            values = codec.vi(data)
            if values is None:
                return (Decoded(module, True, Kind.ERROR, "V/I", error="not a number"),)
            return (
                Decoded(module, True, Kind.READING, "Vout (module side)", round(values[0], 3), "V"),
                Decoded(module, True, Kind.READING, "Iout", round(values[1], 3), "A"),
            )
        if cmd == Cmd.VI_AFTER_DIODE:
            volts, amperes = codec.after_diode(data)
            return (
                Decoded(module, True, Kind.READING, "Vout after diode", volts / 10, "V"),
                Decoded(module, True, Kind.READING, "Iout after diode", amperes / 10, "A"),
            )
        if cmd == Cmd.STATUS:
            bits = data[5] << 16 | data[6] << 8 | data[7]
            return (
                Decoded(module, True, Kind.STATUS, "status", f"0x{bits:06X}", flags=bit_names(bits, ALARM_NAMES)),
                Decoded(module, True, Kind.READING, "temperature", codec.status(data).temperature, "degC"),
            )
        if cmd == Cmd.CAPABILITIES:
            caps = codec.capabilities(data)
            text = f"{caps.voltage_min:g}-{caps.voltage_max:g} V, {caps.current_max:g} A, {caps.power_max:g} W"
            return (Decoded(module, True, Kind.READING, "capabilities", text),)
        if cmd == Cmd.COUNT:
            return (Decoded(module, True, Kind.OTHER, "group module count", codec.count(data)),)
        return (Decoded(module, True, Kind.OTHER, _name(cmd), data.hex(" ")),)
