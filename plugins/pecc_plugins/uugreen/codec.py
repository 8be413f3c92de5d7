"""UUGreenPower UR1000x0 CAN frames: pure encoding and decoding, no I/O.

Identifier (29 bits): protocol version 1 (bits 28-25), monitor address 1
(24-21), module address (20-14, 0 = broadcast), production date (13-9)
and serial-number low bits (8-0). The controller sends the last two as 0;
a module fills them in its replies, so replies are matched with
:data:`ADDRESS_MASK`, never by the exact identifier.

Data (8 bytes): group << 4 | message type, command, 0, 0, uint32 value
(big-endian). See ``CAN-PROTOCOLS.md`` for the command table.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from pecc_core.power import Fault
from pecc_plugins.canbus.scale import milli

PROTOCOL = 1
MONITOR = 1
BASE_ID = PROTOCOL << 25 | MONITOR << 21  # 0x02200000
#: The bits that identify the sender in a reply: protocol, monitor, module address.
ADDRESS_MASK = 0x1FFFC000
ADDRESS_SHIFT = 14
MAX_ADDRESS = 0x7F
MAX_GROUP = 0xF

_FRAME = struct.Struct(">BBHI")


class MsgType(IntEnum):
    SET = 0
    SET_RESPONSE = 1
    READ = 2
    READ_RESPONSE = 3
    SERIAL_RESPONSE = 4
    SET_ALL = 11
    SET_ALL_RESPONSE = 12


REQUESTS = frozenset({MsgType.SET, MsgType.READ, MsgType.SET_ALL})
RESPONSES = frozenset({MsgType.SET_RESPONSE, MsgType.READ_RESPONSE, MsgType.SERIAL_RESPONSE, MsgType.SET_ALL_RESPONSE})


class Cmd(IntEnum):
    VOUT = 0x00  # mV
    IOUT_SLOW = 0x01  # mA
    VREF = 0x02  # mV (set)
    ILIMIT = 0x03  # mA (set)
    SHUTDOWN = 0x04  # 0 = run, 1 = off (set)
    SERIAL = 0x05
    STATUS = 0x08  # status word, see STATUS_MAP
    VAB = 0x14
    VBC = 0x15
    VCA = 0x16
    TEMPERATURE = 0x1E  # inlet, milli-degC
    IOUT_FASTEST = 0x2F
    IOUT_FAST = 0x30  # mA; what the field deployment polls
    GROUP = 0x59
    MODE_SET = 0x5F  # VoltageMode (set)
    MODE_STATUS = 0x60  # the selection (read)
    VOUT_FAST = 0x62  # mV
    ACTUAL_RANGE = 0x65  # the range the module really runs in: 1 high, 2 low (read)
    CURRENT_CAPABILITY = 0x68  # mA the module can deliver (read)


class VoltageMode(IntEnum):
    HIGH = 1  # the 1000 V range
    LOW = 2  # the 500 V range
    AUTO = 3  # the module picks its range itself (firmware dependent)


#: The top of the low range (V): a module in it cannot deliver more.
LOW_RANGE_MAX_V = 500.0


def mode_for(voltage: float, low_max: float = LOW_RANGE_MAX_V) -> VoltageMode:
    """The range a session that may ask for up to ``voltage`` needs."""
    return VoltageMode.HIGH if voltage > low_max else VoltageMode.LOW


# Status word (cmd 0x08): the map two independent open drivers agree on
# (CAN-PROTOCOLS.md). Bits not listed there are reported as a vendor warning.
STATUS_MAP: dict[int, Fault] = {
    0: Fault.INPUT,  # AC input over-voltage (module stops)
    1: Fault.INPUT,  # AC input under-voltage
    2: Fault.INPUT,  # AC over-voltage disconnect
    3: Fault.HARDWARE,  # PFC bus over-voltage
    4: Fault.HARDWARE,  # PFC bus under-voltage
    5: Fault.HARDWARE,  # PFC bus unbalance
    6: Fault.OVER_VOLTAGE,  # DC output over-voltage
    7: Fault.OVER_VOLTAGE,  # DC over-voltage shutdown (latched)
    8: Fault.VENDOR_WARNING,  # DC output under-voltage: a warning
    9: Fault.VENDOR_WARNING,  # fan stopped: the module derates
    12: Fault.OVER_TEMPERATURE,  # ambient
    14: Fault.OVER_TEMPERATURE,  # PFC protection 1
    15: Fault.OVER_TEMPERATURE,  # PFC protection 2
    16: Fault.OVER_TEMPERATURE,  # DC/DC protection 1
    17: Fault.OVER_TEMPERATURE,  # DC/DC protection 2
    18: Fault.HARDWARE,  # PFC <-> DC/DC communication failure
    20: Fault.HARDWARE,  # PFC failure
    21: Fault.HARDWARE,  # DC/DC failure
    29: Fault.VENDOR_ERROR,  # duplicate serial number on the bus: configuration
    31: Fault.HARDWARE,  # bleeder (discharge) circuit failure
}
#: DC/DC off: the output is switched off (commanded or by itself); a state, not a fault.
STATUS_DCDC_OFF = 25


@dataclass(frozen=True, slots=True)
class Status:
    """A decoded status word."""

    faults: frozenset[Fault]
    output_off: bool


def status(word: int) -> Status:
    """Typed faults and the output state of a status word; unlisted bits are a vendor warning."""
    faults = {fault for bit, fault in STATUS_MAP.items() if word >> bit & 1}
    if word & ~(_KNOWN_BITS | 1 << STATUS_DCDC_OFF):
        faults.add(Fault.VENDOR_WARNING)
    return Status(frozenset(faults), bool(word >> STATUS_DCDC_OFF & 1))


_KNOWN_BITS = sum(1 << bit for bit in STATUS_MAP)


def module_id(address: int) -> int:
    """The identifier a controller uses for ``address`` (date and serial bits 0)."""
    if not 0 <= address <= MAX_ADDRESS:
        raise ValueError(f"UU module address {address} is outside 0..{MAX_ADDRESS}")
    return BASE_ID | address << ADDRESS_SHIFT


def reply_id(address: int, date: int, serial: int) -> int:
    """The identifier a module puts on its replies (with its date and serial bits)."""
    return module_id(address) | (date & 0x1F) << 9 | (serial & 0x1FF)


def address_of(arbitration_id: int) -> int | None:
    """The module address of a UU identifier, or None if it is not a UU frame."""
    if arbitration_id & ~(MAX_ADDRESS << ADDRESS_SHIFT) & ADDRESS_MASK != BASE_ID:
        return None
    return arbitration_id >> ADDRESS_SHIFT & MAX_ADDRESS


def pack(group: int, msg_type: int, cmd: int, value: int = 0) -> bytes:
    """The 8 data bytes of a UU frame."""
    if not 0 <= group <= MAX_GROUP:
        raise ValueError(f"UU group {group} is outside 0..{MAX_GROUP}")
    return _FRAME.pack(group << 4 | msg_type, cmd, 0, value & 0xFFFFFFFF)


def encode(address: int, group: int, msg_type: MsgType, cmd: int, value: int = 0) -> tuple[int, bytes]:
    """``(arbitration_id, data)`` of one controller frame to ``address``."""
    return module_id(address), pack(group, msg_type, cmd, value)


def set_voltage(address: int, group: int, volts: float) -> tuple[int, bytes]:
    return encode(address, group, MsgType.SET, Cmd.VREF, milli(volts))


def set_current(address: int, group: int, amperes: float) -> tuple[int, bytes]:
    return encode(address, group, MsgType.SET, Cmd.ILIMIT, milli(amperes))


def set_output(address: int, group: int, on: bool) -> tuple[int, bytes]:
    return encode(address, group, MsgType.SET, Cmd.SHUTDOWN, 0 if on else 1)


def set_mode(address: int, group: int, mode: VoltageMode) -> tuple[int, bytes]:
    return encode(address, group, MsgType.SET, Cmd.MODE_SET, mode)


def read(address: int, group: int, cmd: Cmd) -> tuple[int, bytes]:
    return encode(address, group, MsgType.READ, cmd)


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded UU frame (request or reply)."""

    address: int
    group: int
    msg_type: int
    cmd: int
    value: int


def decode(arbitration_id: int, data: bytes | bytearray) -> Frame | None:
    """The frame's fields, or None if it is not an 8-byte UU frame."""
    address = address_of(arbitration_id)
    if address is None or len(data) != 8:
        return None
    head, cmd, _, value = _FRAME.unpack(data)
    return Frame(address, head >> 4, head & 0xF, cmd, value)
