"""UU frames byte for byte against CAN-PROTOCOLS.md, and codec round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pecc_plugins.uugreen import codec
from pecc_plugins.uugreen.codec import Cmd, MsgType, VoltageMode

from pecc_core.power import Fault


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.mark.parametrize(
    ("frame", "arbitration_id", "data"),
    [
        (codec.set_voltage(1, 0, 500.0), 0x02204000, "00 02 00 00 00 07 A1 20"),
        (codec.set_voltage(1, 1, 500.0), 0x02204000, "10 02 00 00 00 07 A1 20"),
        (codec.set_current(1, 0, 50.0), 0x02204000, "00 03 00 00 00 00 C3 50"),
        (codec.set_output(1, 0, True), 0x02204000, "00 04 00 00 00 00 00 00"),
        (codec.set_output(1, 0, False), 0x02204000, "00 04 00 00 00 00 00 01"),
        (codec.set_mode(1, 0, VoltageMode.LOW), 0x02204000, "00 5F 00 00 00 00 00 02"),
        (codec.set_mode(1, 0, VoltageMode.HIGH), 0x02204000, "00 5F 00 00 00 00 00 01"),
        (codec.read(1, 0, Cmd.VOUT_FAST), 0x02204000, "02 62 00 00 00 00 00 00"),
        (codec.read(1, 1, Cmd.VOUT_FAST), 0x02204000, "12 62 00 00 00 00 00 00"),
        (codec.read(2, 1, Cmd.IOUT_FAST), 0x02208000, "12 30 00 00 00 00 00 00"),
    ],
)
def test_frames_match_the_protocol_notes(frame: tuple[int, bytes], arbitration_id: int, data: str) -> None:
    assert frame == (arbitration_id, hexbytes(data))


def test_module_ids() -> None:
    assert codec.module_id(1) == 0x02204000
    assert codec.module_id(2) == 0x02208000


def test_a_reply_is_matched_by_masked_id_whatever_its_date_and_serial() -> None:
    reply_id = codec.reply_id(1, date=0x1F, serial=0x1FF)
    assert reply_id != 0x02204000
    assert reply_id & codec.ADDRESS_MASK == 0x02204000
    frame = codec.decode(reply_id, hexbytes("13 62 00 00 00 07 A1 20"))
    assert frame == codec.Frame(address=1, group=1, msg_type=MsgType.READ_RESPONSE, cmd=0x62, value=500_000)


@pytest.mark.parametrize(
    ("arbitration_id", "data"),
    [
        (0x02204000, b"\x13\x62\x00\x00"),  # short frame
        (0x04204000, bytes(8)),  # protocol version 2
        (0x02404000, bytes(8)),  # another monitor address
        (0x029C00F0, bytes(8)),  # an Infy frame on the same bus
    ],
)
def test_foreign_frames_do_not_decode(arbitration_id: int, data: bytes) -> None:
    assert codec.decode(arbitration_id, data) is None


@pytest.mark.parametrize("bad", [lambda: codec.module_id(128), lambda: codec.set_voltage(1, 16, 10.0)])
def test_out_of_range_fields_are_refused(bad) -> None:
    with pytest.raises(ValueError):
        bad()


def test_mode_threshold() -> None:
    assert codec.mode_for(500.0) is VoltageMode.LOW
    assert codec.mode_for(500.1) is VoltageMode.HIGH


def test_status_bits_map_to_typed_faults() -> None:
    assert codec.faults_of(0) == set()
    assert codec.faults_of(codec.STATUS_OUTPUT_OFF) == set()
    assert codec.faults_of(1 << 1) == {Fault.OVER_TEMPERATURE}
    assert codec.faults_of(1 << 2 | 1 << 20) == {Fault.OVER_VOLTAGE, Fault.VENDOR_WARNING}
    for fault in Fault:
        if fault is not Fault.COMMUNICATION:
            assert fault in codec.faults_of(codec.status_bits(fault))


@given(
    address=st.integers(0, codec.MAX_ADDRESS),
    group=st.integers(0, codec.MAX_GROUP),
    msg_type=st.sampled_from(MsgType),
    cmd=st.integers(0, 255),
    value=st.integers(0, 2**32 - 1),
    date=st.integers(0, 31),
    serial=st.integers(0, 511),
)
def test_round_trip(address: int, group: int, msg_type: MsgType, cmd: int, value: int, date: int, serial: int) -> None:
    arbitration_id, data = codec.encode(address, group, msg_type, cmd, value)
    assert arbitration_id < 1 << 29 and len(data) == 8
    sent = codec.decode(arbitration_id, data)
    replied = codec.decode(codec.reply_id(address, date, serial), data)
    assert sent == replied == codec.Frame(address, group, msg_type, cmd, value)


@given(st.integers(0, 2**29 - 1), st.binary(min_size=0, max_size=8))
def test_decode_never_raises(arbitration_id: int, data: bytes) -> None:
    frame = codec.decode(arbitration_id, data)
    if frame is not None:  # bytes 2-3 are reserved: not part of the decoded frame
        packed = codec.encode(frame.address, frame.group, frame.msg_type, frame.cmd, frame.value)[1]
        assert packed[:2] + packed[4:] == data[:2] + data[4:]


@given(st.floats(0, 4_000_000, allow_nan=False))
def test_setpoints_carry_milli_units(volts: float) -> None:
    _, data = codec.set_voltage(3, 1, volts)
    assert abs(int.from_bytes(data[4:], "big") - volts * 1000) <= 0.5
