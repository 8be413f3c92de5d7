"""Infy frames byte for byte against CAN-PROTOCOLS.md, and codec round trips."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pecc_core.power import BLOCKING, Fault
from pecc_plugins.infy import codec
from pecc_plugins.infy.codec import Cmd


@pytest.mark.parametrize(
    ("frame", "arbitration_id", "data"),
    [
        (codec.set_vi(0, 500.0, 50.0), 0x029C00F0, "00 07 A1 20 00 00 C3 50"),
        (codec.set_output(1, True), 0x029A01F0, "00 00 00 00 00 00 00 00"),
        (codec.set_output(1, False), 0x029A01F0, "01 00 00 00 00 00 00 00"),
        (codec.read_group(1, Cmd.COUNT), 0x02C201F0, "00 00 00 00 00 00 00 00"),
        (codec.read(2, Cmd.READ_VI), 0x028302F0, "00 00 00 00 00 00 00 00"),
        (codec.read(2, Cmd.STATUS), 0x028402F0, "00 00 00 00 00 00 00 00"),
        (codec.read(2, Cmd.CAPABILITIES), 0x028A02F0, "00 00 00 00 00 00 00 00"),
        (codec.read(2, Cmd.VI_AFTER_DIODE), 0x028C02F0, "00 00 00 00 00 00 00 00"),
    ],
)
def test_frames_match_the_protocol_notes(frame: tuple[int, bytes], arbitration_id: int, data: str) -> None:
    assert frame == (arbitration_id, bytes.fromhex(data))


def test_replies_decode() -> None:
    reply_id = codec.frame_id(Cmd.READ_VI, codec.CONTROLLER, source=3)
    frame = codec.decode(reply_id, bytes.fromhex("43 FA 00 00 42 48 00 00"))  # 500.0 V, 50.0 A
    assert frame is not None and (frame.source, frame.destination, frame.cmd) == (3, 0xF0, Cmd.READ_VI)
    assert codec.vi(frame.data) == (500.0, 50.0)
    caps = codec.capabilities(bytes.fromhex("03 E8 00 96 03 E8 0B B8"))
    assert caps == codec.Capabilities(voltage_max=1000.0, voltage_min=150.0, current_max=100.0, power_max=30_000.0)
    assert codec.count(bytes.fromhex("00 00 04 00 00 00 00 00")) == 4
    # cmd 0x0C: uint16 x 0.1 V, then uint16 x 0.1 A
    assert codec.after_diode(bytes.fromhex("0F A0 01 F4 00 00 00 00")) == (400.0, 50.0)


def test_a_reply_with_an_error_code_decodes_with_it() -> None:
    # bits 28-26 = 3 (data invalid), device 0x0A, cmd 0x1C, to 0xF0 from module 2
    frame = codec.decode(0x0E9CF002, bytes(8))
    assert frame is not None and (frame.error, frame.cmd, frame.source) == (3, 0x1C, 2)


# The alarm table of CAN-PROTOCOLS.md, written out here: (byte, bit, typed fault or None for a
# state bit). Faults that take the module out of service: fault, protection, short circuit,
# over-voltage, over-temperature, discharge failure, lost input, duplicate ID.
INFY_ALARMS = [
    (7, 0, Fault.OVER_CURRENT),  # output short circuit
    (7, 4, None),  # sleeping
    (7, 5, Fault.HARDWARE),  # discharge abnormal
    (6, 0, None),  # DC side off (state)
    (6, 1, Fault.HARDWARE),  # module fault
    (6, 2, Fault.HARDWARE),  # module protection
    (6, 3, Fault.VENDOR_WARNING),  # fan fault
    (6, 4, Fault.OVER_TEMPERATURE),
    (6, 5, Fault.OVER_VOLTAGE),  # output over-voltage
    (6, 6, None),  # walk-in enabled (state)
    (6, 7, Fault.VENDOR_WARNING),  # CAN communication interrupted
    (5, 0, None),  # power limited (state)
    (5, 1, Fault.VENDOR_ERROR),  # module ID repeated
    (5, 2, Fault.VENDOR_WARNING),  # load sharing alarm
    (5, 3, Fault.INPUT),  # input phase lost
    (5, 4, Fault.VENDOR_WARNING),  # input unbalanced
    (5, 5, Fault.INPUT),  # input under-voltage
    (5, 6, Fault.INPUT),  # input over-voltage protection
    (5, 7, None),  # PFC side off (state)
]


@pytest.mark.parametrize(("byte", "bit", "fault"), INFY_ALARMS)
def test_every_alarm_bit_of_the_table(byte: int, bit: int, fault: Fault | None) -> None:
    data = bytearray(8)
    data[byte] = 1 << bit
    status = codec.status(bytes(data))
    assert status.faults == (frozenset() if fault is None else {fault})
    assert status.dc_off == ((byte, bit) == (6, 0))
    blocking = fault is not None and fault in BLOCKING
    assert blocking == (fault not in (None, Fault.VENDOR_WARNING))


@given(st.binary(min_size=3, max_size=3))
def test_any_alarm_bytes_are_the_union_of_their_bits(alarms: bytes) -> None:
    data = bytes(5) + alarms
    expected = {f for byte, bit, f in INFY_ALARMS if data[byte] >> bit & 1} - {None}
    status = codec.status(data)
    assert status.faults == expected and status.dc_off == bool(data[6] & 1)


def test_temperature_is_byte_4_signed() -> None:
    assert codec.status(bytes.fromhex("00 00 00 00 F6 00 00 00")).temperature == -10.0
    assert codec.status(bytes.fromhex("00 00 00 00 37 00 10 01")) == codec.Status(
        frozenset({Fault.OVER_TEMPERATURE, Fault.OVER_CURRENT}), False, 55.0
    )


def test_non_finite_readings_are_dropped() -> None:
    assert codec.vi(bytes.fromhex("7F C0 00 00 3F 80 00 00")) is None  # NaN V
    assert codec.vi(bytes.fromhex("3F 80 00 00 7F 80 00 00")) is None  # inf A


@pytest.mark.parametrize("arbitration_id", [0x02204000, 0x1C9C00F0 & ~(0xF << 22)])
def test_foreign_frames_do_not_decode(arbitration_id: int) -> None:
    assert codec.decode(arbitration_id, bytes(8)) is None


@given(
    cmd=st.integers(0, 0x3F),
    destination=st.integers(0, 255),
    source=st.integers(0, 255),
    device=st.sampled_from([codec.DEVICE_MODULE, codec.DEVICE_GROUP]),
    error=st.integers(0, 7),
    data=st.binary(min_size=8, max_size=8),
)
def test_id_round_trip(cmd: int, destination: int, source: int, device: int, error: int, data: bytes) -> None:
    arbitration_id = codec.frame_id(cmd, destination, source, device, error)
    assert arbitration_id < 1 << 29
    assert codec.decode(arbitration_id, data) == codec.Frame(error, device, cmd, destination, source, data)


@given(st.floats(0, 4_000_000, allow_nan=False), st.floats(0, 4_000_000, allow_nan=False))
def test_set_vi_carries_milli_units(volts: float, amperes: float) -> None:
    _, data = codec.set_vi(4, volts, amperes)
    assert abs(int.from_bytes(data[:4], "big") - volts * 1000) <= 0.5
    assert abs(int.from_bytes(data[4:], "big") - amperes * 1000) <= 0.5


finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@given(finite32, finite32)
def test_vi_decodes_two_big_endian_floats(volts: float, amperes: float) -> None:
    assert codec.vi(struct.pack(">ff", volts, amperes)) == (volts, amperes)


@given(st.binary(min_size=8, max_size=8))
def test_status_never_raises_and_ignores_bytes_0_to_3(data: bytes) -> None:
    assert codec.status(data) == codec.status(bytes(4) + data[4:])
