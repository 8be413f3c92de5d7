"""The simulated modules' own reading of the two protocols, from CAN-PROTOCOLS.md.

Written from the protocol notes, not from the drivers' codecs, and never
importing them: a wrong constant in a driver must show up as a module that
does not understand it, not be mirrored here. Only what a module needs:
parse a controller frame, build a reply.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# -- UUGreenPower UR1000x0 --------------------------------------------------------
#
# Identifier: protocol 1 (bits 28-25), monitor 1 (24-21), module address
# (20-14; 0 broadcast), production date (13-9) and serial low bits (8-0),
# both 0 from the controller and filled in by the module in its replies.
# Data: group << 4 | message type, command, 0, 0, uint32 value.

UU_HEAD = 0x02200000  # protocol 1, monitor 1
UU_HEAD_MASK = 0x1FE00000
UU_SET, UU_SET_REPLY, UU_READ, UU_READ_REPLY = 0, 1, 2, 3

UU_VOUT, UU_IOUT_SLOW, UU_VREF, UU_ILIMIT, UU_SHUTDOWN = 0x00, 0x01, 0x02, 0x03, 0x04
UU_STATUS, UU_TEMPERATURE, UU_IOUT_FASTEST, UU_IOUT_FAST = 0x08, 0x1E, 0x2F, 0x30
UU_GROUP, UU_MODE_SET, UU_MODE_STATUS, UU_VOUT_FAST = 0x59, 0x5F, 0x60, 0x62
UU_ACTUAL_RANGE, UU_CAPABILITY = 0x65, 0x68
UU_HIGH, UU_LOW, UU_AUTO = 1, 2, 3

#: The status word, bit by bit as the notes' table gives it: (meaning, kind).
#: Kinds: "input", "hardware", "over_voltage", "warning", "over_temperature",
#: "configuration", "state".
UU_STATUS_BITS: dict[int, tuple[str, str]] = {
    0: ("AC input over-voltage", "input"),
    1: ("AC input under-voltage", "input"),
    2: ("AC over-voltage disconnect", "input"),
    3: ("PFC bus over-voltage", "hardware"),
    4: ("PFC bus under-voltage", "hardware"),
    5: ("PFC bus unbalance", "hardware"),
    6: ("DC output over-voltage", "over_voltage"),
    7: ("DC over-voltage shutdown", "over_voltage"),
    8: ("DC output under-voltage", "warning"),
    9: ("fan stopped", "warning"),
    12: ("over-temperature (ambient)", "over_temperature"),
    14: ("PFC over-temperature protection 1", "over_temperature"),
    15: ("PFC over-temperature protection 2", "over_temperature"),
    16: ("DC/DC over-temperature protection 1", "over_temperature"),
    17: ("DC/DC over-temperature protection 2", "over_temperature"),
    18: ("PFC - DC/DC communication failure", "hardware"),
    20: ("PFC failure", "hardware"),
    21: ("DC/DC failure", "hardware"),
    25: ("DC/DC off", "state"),
    29: ("duplicate serial number", "configuration"),
    31: ("bleeder circuit failure", "hardware"),
}
UU_DCDC_OFF_BIT = 25
UU_OVER_TEMPERATURE_BIT = 12

_UU_DATA = struct.Struct(">BBHI")


@dataclass(frozen=True, slots=True)
class UuRequest:
    address: int
    group: int
    kind: int
    cmd: int
    value: int


def uu_parse(arbitration_id: int, data: bytes | bytearray) -> UuRequest | None:
    """A controller frame (set or read), or None."""
    if arbitration_id & UU_HEAD_MASK != UU_HEAD or len(data) != 8:
        return None
    head, cmd, _, value = _UU_DATA.unpack(data)
    kind = head & 0x0F
    if kind not in (UU_SET, UU_READ):
        return None
    return UuRequest(arbitration_id >> 14 & 0x7F, head >> 4, kind, cmd, value)


def uu_reply(address: int, date: int, serial: int, group: int, kind: int, cmd: int, value: int) -> tuple[int, bytes]:
    """A module's reply: its date and serial bits in the identifier."""
    arbitration_id = UU_HEAD | address << 14 | (date & 0x1F) << 9 | serial & 0x1FF
    return arbitration_id, _UU_DATA.pack(group << 4 | kind, cmd, 0, value & 0xFFFFFFFF)


# -- InfyPower V1.13 ----------------------------------------------------------------
#
# Identifier: error code (28-26), device (25-22: 0x0A one module, 0x0B a
# group), command (21-16), destination (15-8), source (7-0).

INFY_SINGLE, INFY_GROUP = 0x0A, 0x0B
INFY_COUNT, INFY_VI, INFY_STATUS, INFY_CAPS = 0x02, 0x03, 0x04, 0x0A
INFY_BARCODE, INFY_AFTER_DIODE, INFY_ON_OFF, INFY_SET_VI = 0x0B, 0x0C, 0x1A, 0x1C
INFY_COMMAND_INVALID, INFY_DATA_INVALID = 2, 3

#: The alarm bits, (byte, bit) -> (meaning, kind), as the notes' table gives them.
INFY_ALARMS: dict[tuple[int, int], tuple[str, str]] = {
    (7, 0): ("output short circuit", "short_circuit"),
    (7, 4): ("sleeping", "state"),
    (7, 5): ("discharge abnormal", "hardware"),
    (6, 0): ("DC side off", "state"),
    (6, 1): ("module fault", "hardware"),
    (6, 2): ("module protection", "hardware"),
    (6, 3): ("fan fault", "warning"),
    (6, 4): ("over-temperature", "over_temperature"),
    (6, 5): ("output over-voltage", "over_voltage"),
    (6, 6): ("walk-in enabled", "state"),
    (6, 7): ("CAN communication interrupted", "warning"),
    (5, 0): ("power limited", "state"),
    (5, 1): ("module ID repeated", "configuration"),
    (5, 2): ("load sharing alarm", "warning"),
    (5, 3): ("input phase lost", "input"),
    (5, 4): ("input unbalanced", "warning"),
    (5, 5): ("input under-voltage", "input"),
    (5, 6): ("input over-voltage protection", "input"),
    (5, 7): ("PFC side off", "state"),
}
INFY_DC_OFF = (6, 0)
INFY_WALK_IN = (6, 6)
INFY_OVER_TEMPERATURE = (6, 4)


def infy_bit(byte: int, bit: int) -> int:
    """An alarm as a bit of the simulator's alarm word (byte 5 high .. byte 7 low)."""
    return 1 << ((7 - byte) * 8 + bit)


@dataclass(frozen=True, slots=True)
class InfyRequest:
    device: int
    cmd: int
    destination: int
    source: int
    data: bytes


def infy_parse(arbitration_id: int, data: bytes | bytearray) -> InfyRequest | None:
    """A controller frame (error code 0, device 0x0A or 0x0B), or None."""
    device = arbitration_id >> 22 & 0xF
    if arbitration_id >> 26 & 7 or device not in (INFY_SINGLE, INFY_GROUP) or len(data) != 8:
        return None
    return InfyRequest(
        device, arbitration_id >> 16 & 0x3F, arbitration_id >> 8 & 0xFF, arbitration_id & 0xFF, bytes(data)
    )


def infy_reply_id(cmd: int, controller: int, source: int, device: int, error: int = 0) -> int:
    return (error & 7) << 26 | device << 22 | cmd << 16 | controller << 8 | source


def infy_status(alarms: int, temperature: float) -> bytes:
    """Status reply: temperature (degC, signed) in byte 4, alarm bytes 5-7."""
    degrees = struct.pack(">b", max(-128, min(127, round(temperature))))
    return bytes(4) + degrees + (alarms & 0xFFFFFF).to_bytes(3, "big")


def infy_vi(volts: float, amperes: float) -> bytes:
    return struct.pack(">ff", volts, amperes)


def infy_after_diode(volts: float, amperes: float) -> bytes:
    return struct.pack(">HH", _tenths(volts), _tenths(amperes)) + bytes(4)


def infy_capabilities(v_max: float, v_min: float, i_max: float, power: float) -> bytes:
    return struct.pack(">HHHH", round(v_max), round(v_min), _tenths(i_max), round(power / 10) & 0xFFFF)


def infy_count(count: int) -> bytes:
    return bytes((0, 0, count & 0xFF)) + bytes(5)


def _tenths(value: float) -> int:
    return max(0, min(0xFFFF, round(value * 10)))
