"""InfyPower V1.13 CAN frames: pure encoding and decoding, no I/O.

Identifier (29 bits): error code (28-26, 0 = ok), device number (25-22:
``0x0A`` one module, ``0x0B`` a group), command (21-16), destination
(15-8), source (7-0; the controller is ``0xF0``). Values are big-endian.
See ``CAN-PROTOCOLS.md`` for the command table.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum

from pecc_core.power import Fault
from pecc_plugins.canbus.scale import milli

CONTROLLER = 0xF0
DEVICE_MODULE = 0x0A
DEVICE_GROUP = 0x0B
MAX_ADDRESS = 0xFF

_VI = struct.Struct(">II")
_FLOATS = struct.Struct(">ff")
_CAPS = struct.Struct(">HHHH")
_EMPTY = bytes(8)


class Cmd(IntEnum):
    COUNT = 0x02  # modules in a group: byte 2
    READ_VI = 0x03  # float32 V, float32 A
    STATUS = 0x04  # alarm bits in bytes 5-7
    CAPABILITIES = 0x0A  # uint16 Vmax (1 V), Vmin (1 V), Imax (0.1 A), Pmax (10 W)
    BARCODE = 0x0B
    VI_AFTER_DIODE = 0x0C  # uint16 x 0.1
    ON_OFF = 0x1A  # byte 0: 0 = on, 1 = off
    SET_VI = 0x1C  # uint32 mV, uint32 mA


def frame_id(cmd: int, destination: int, source: int = CONTROLLER, device: int = DEVICE_MODULE, error: int = 0) -> int:
    for name, value, top in (("destination", destination, 0xFF), ("source", source, 0xFF), ("command", cmd, 0x3F)):
        if not 0 <= value <= top:
            raise ValueError(f"Infy {name} {value} is outside 0..{top}")
    return (error & 7) << 26 | (device & 0xF) << 22 | cmd << 16 | destination << 8 | source


def set_vi(address: int, volts: float, amperes: float) -> tuple[int, bytes]:
    """Set output voltage and current limit of one module (cmd 0x1C)."""
    return frame_id(Cmd.SET_VI, address), _VI.pack(milli(volts), milli(amperes))


def set_output(address: int, on: bool) -> tuple[int, bytes]:
    return frame_id(Cmd.ON_OFF, address), bytes((0 if on else 1,)) + bytes(7)


def read(address: int, cmd: Cmd) -> tuple[int, bytes]:
    return frame_id(cmd, address), _EMPTY


def read_group(group: int, cmd: Cmd) -> tuple[int, bytes]:
    """A read to every module of ``group``: each answers with its own address."""
    return frame_id(cmd, group, device=DEVICE_GROUP), _EMPTY


@dataclass(frozen=True, slots=True)
class Frame:
    error: int
    device: int
    cmd: int
    destination: int
    source: int
    data: bytes


def decode(arbitration_id: int, data: bytes | bytearray) -> Frame | None:
    """The frame's fields, or None if it is not an 8-byte Infy frame."""
    device = arbitration_id >> 22 & 0xF
    if len(data) != 8 or device not in (DEVICE_MODULE, DEVICE_GROUP):
        return None
    return Frame(
        arbitration_id >> 26 & 7,
        device,
        arbitration_id >> 16 & 0x3F,
        arbitration_id >> 8 & 0xFF,
        arbitration_id & 0xFF,
        bytes(data),
    )


# -- payloads -------------------------------------------------------------------


def vi(data: bytes) -> tuple[float, float] | None:
    """Voltage and current of a READ_VI reply; None if either is not a finite number."""
    volts, amperes = _FLOATS.unpack(data)
    if not (math.isfinite(volts) and math.isfinite(amperes)):
        return None
    return volts, amperes


@dataclass(frozen=True, slots=True)
class Capabilities:
    voltage_max: float
    voltage_min: float
    current_max: float
    power_max: float


def capabilities(data: bytes) -> Capabilities:
    vmax, vmin, imax, pmax = _CAPS.unpack(data)
    return Capabilities(float(vmax), float(vmin), imax / 10, pmax * 10.0)


def count(data: bytes) -> int:
    return data[2]


def after_diode(data: bytes) -> tuple[float, float]:
    """The two values of cmd 0x0C: voltage after the output diode, then a current, uint16 x 0.1 each.

    The notes call the pair V/I; EVerest's driver names the second the
    *available* current. Only the voltage is used.
    """
    return int.from_bytes(data[0:2], "big") / 10, int.from_bytes(data[2:4], "big") / 10


# Status (cmd 0x04): bytes 5 (high) to 7 (low) as one 24-bit word, so that
# byte 7 bit 0 is word bit 0, byte 6 bit 0 word bit 8, byte 5 bit 0 word
# bit 16 (the map EVerest's and an independent CEG driver decode). A module
# with a fault, protection, short-circuit, over-voltage or over-temperature
# alarm, a discharge failure, a lost input or a duplicate address is taken
# out of service; the other alarms are warnings; "state" bits are not
# faults. Byte 4 carries the temperature in degC (signed: *check*).
STATUS_MAP: dict[int, Fault] = {
    0: Fault.OVER_CURRENT,  # byte 7 bit 0: output short circuit
    5: Fault.HARDWARE,  # byte 7 bit 5: discharge abnormal
    9: Fault.HARDWARE,  # byte 6 bit 1: module fault
    10: Fault.HARDWARE,  # byte 6 bit 2: module protection
    11: Fault.VENDOR_WARNING,  # byte 6 bit 3: fan fault
    12: Fault.OVER_TEMPERATURE,  # byte 6 bit 4
    13: Fault.OVER_VOLTAGE,  # byte 6 bit 5: output over-voltage
    15: Fault.VENDOR_WARNING,  # byte 6 bit 7: CAN communication interrupted
    17: Fault.VENDOR_ERROR,  # byte 5 bit 1: module ID repeated on the bus
    18: Fault.VENDOR_WARNING,  # byte 5 bit 2: load sharing alarm
    19: Fault.INPUT,  # byte 5 bit 3: input phase lost
    20: Fault.VENDOR_WARNING,  # byte 5 bit 4: input unbalanced
    21: Fault.INPUT,  # byte 5 bit 5: input under-voltage
    22: Fault.INPUT,  # byte 5 bit 6: input over-voltage protection
}
#: byte 6 bit 0: the DC side is off (a state)
STATUS_DC_OFF = 8


@dataclass(frozen=True, slots=True)
class Status:
    """A decoded status reply."""

    faults: frozenset[Fault]
    dc_off: bool
    temperature: float


def status(data: bytes) -> Status:
    """Typed faults, the DC side state and the temperature of a STATUS reply."""
    word = data[5] << 16 | data[6] << 8 | data[7]
    temperature = data[4] - 256 if data[4] & 0x80 else data[4]
    faults = frozenset(fault for bit, fault in STATUS_MAP.items() if word >> bit & 1)
    return Status(faults, bool(word >> STATUS_DC_OFF & 1), float(temperature))


class ErrorCode(IntEnum):
    """Error codes a module puts in bits 28-26 of a reply (EVerest's names; *check* for V1.13)."""

    OK = 0
    COMMAND_INVALID = 2
    DATA_INVALID = 3
    BUSY_STARTING = 7
