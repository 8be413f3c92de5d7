"""UU frames explained for ``pecc can monitor`` (the SDK's decoder contract).

Status bit names follow the status word table of the protocol notes
(CAN-PROTOCOLS.md, "Module status word").
"""

from __future__ import annotations

from pecc_plugins.canbus.decoder import Decoded, Kind, bit_names
from pecc_plugins.uugreen import codec
from pecc_plugins.uugreen.codec import Cmd, MsgType

STATUS_NAMES: dict[int, str] = {
    0: "AC over-voltage",
    1: "AC under-voltage",
    2: "AC over-voltage shutdown",
    3: "PFC bus over-voltage",
    4: "PFC bus under-voltage",
    5: "PFC bus unbalance",
    6: "DC over-voltage",
    7: "DC over-voltage shutdown",
    8: "DC under-voltage",
    9: "fan stopped",
    12: "over-temperature",
    14: "PFC over-temperature 1",
    15: "PFC over-temperature 2",
    16: "DC/DC over-temperature 1",
    17: "DC/DC over-temperature 2",
    18: "PFC-DC/DC communication failure",
    20: "PFC failure",
    21: "DC/DC failure",
    25: "DC/DC off",
    29: "duplicate serial number",
    31: "bleeder failure",
}
RANGES = {1: "high (1000 V)", 2: "low (500 V)", 3: "automatic"}
#: cmd -> (name, unit) of values in milli-units
_MILLI: dict[int, tuple[str, str]] = {
    Cmd.VOUT: ("Vout", "V"),
    Cmd.VOUT_FAST: ("Vout fast", "V"),
    Cmd.IOUT_SLOW: ("Iout slow", "A"),
    Cmd.IOUT_FAST: ("Iout fast", "A"),
    Cmd.IOUT_FASTEST: ("Iout fastest", "A"),
    Cmd.VAB: ("AC Vab", "V"),
    Cmd.VBC: ("AC Vbc", "V"),
    Cmd.VCA: ("AC Vca", "V"),
    0x68: ("current capability", "A"),
}
_SETPOINTS: dict[int, tuple[str, str]] = {Cmd.VREF: ("voltage reference", "V"), Cmd.ILIMIT: ("current limit", "A")}
_NAMES: dict[int, str] = {
    Cmd.SHUTDOWN: "output",
    Cmd.SERIAL: "serial number",
    Cmd.STATUS: "status",
    Cmd.TEMPERATURE: "inlet temperature",
    Cmd.GROUP: "group address",
    Cmd.MODE_SET: "range select",
    Cmd.MODE_STATUS: "range selected",
    0x65: "range",
    0x72: "current and capability",
}


def _name(cmd: int) -> str:
    if cmd in _MILLI:
        return _MILLI[cmd][0]
    if cmd in _SETPOINTS:
        return _SETPOINTS[cmd][0]
    return _NAMES.get(cmd, f"cmd 0x{cmd:02X}")


class UuDecoder:
    """Decodes the frames of one UU group (frames of other groups are not shown)."""

    def __init__(self, group: int) -> None:
        self.group = group

    def decode(self, arbitration_id: int, data: bytes) -> tuple[Decoded, ...]:
        frame = codec.decode(arbitration_id, data)
        if frame is None or frame.group != self.group:
            return ()
        module = frame.address or None
        cmd, value = frame.cmd, frame.value
        if frame.msg_type in codec.REQUESTS:
            if frame.msg_type == MsgType.READ:
                return (Decoded(module, False, Kind.POLL, _name(cmd)),)
            if cmd in _SETPOINTS:
                name, unit = _SETPOINTS[cmd]
                return (Decoded(module, False, Kind.SETPOINT, name, value / 1000, unit),)
            if cmd == Cmd.SHUTDOWN:
                return (Decoded(module, False, Kind.COMMAND, "output", "off" if value else "on"),)
            if cmd == Cmd.MODE_SET:
                return (Decoded(module, False, Kind.COMMAND, "range select", RANGES.get(value, str(value))),)
            return (Decoded(module, False, Kind.COMMAND, _name(cmd), value),)
        if frame.msg_type == MsgType.SET_RESPONSE:
            return (Decoded(module, True, Kind.OTHER, f"{_name(cmd)} acknowledged", value),)
        if frame.msg_type != MsgType.READ_RESPONSE:
            return (Decoded(module, True, Kind.OTHER, f"message type {frame.msg_type} {_name(cmd)}", value),)
        if cmd in _MILLI:
            name, unit = _MILLI[cmd]
            return (Decoded(module, True, Kind.READING, name, value / 1000, unit),)
        if cmd == Cmd.TEMPERATURE:
            signed = value - (1 << 32) if value & 0x80000000 else value
            return (Decoded(module, True, Kind.READING, "inlet temperature", signed / 1000, "degC"),)
        if cmd == Cmd.STATUS:
            flags = bit_names(value, STATUS_NAMES)
            return (Decoded(module, True, Kind.STATUS, "status", f"0x{value:08X}", flags=flags),)
        if cmd in (Cmd.MODE_STATUS, 0x65):
            return (Decoded(module, True, Kind.READING, _name(cmd), RANGES.get(value, str(value))),)
        return (Decoded(module, True, Kind.READING, _name(cmd), value),)
