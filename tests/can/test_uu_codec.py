"""UU frames byte for byte against CAN-PROTOCOLS.md, and codec round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pecc_core.power import BLOCKING, Fault
from pecc_plugins.uugreen import codec
from pecc_plugins.uugreen.codec import Cmd, MsgType, VoltageMode


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


def test_range_for_a_session() -> None:
    assert codec.mode_for(500.0) is VoltageMode.LOW
    assert codec.mode_for(500.1) is VoltageMode.HIGH
    assert (VoltageMode.HIGH, VoltageMode.LOW, VoltageMode.AUTO) == (1, 2, 3)


@pytest.mark.parametrize(
    ("frame", "data"),
    [
        (codec.read(1, 1, Cmd.ACTUAL_RANGE), "12 65 00 00 00 00 00 00"),  # cmd 101
        (codec.read(1, 1, Cmd.CURRENT_CAPABILITY), "12 68 00 00 00 00 00 00"),  # cmd 104
        (codec.read(1, 1, Cmd.STATUS), "12 08 00 00 00 00 00 00"),
        (codec.set_mode(1, 1, VoltageMode.AUTO), "10 5F 00 00 00 00 00 03"),
    ],
)
def test_range_and_capability_frames(frame: tuple[int, bytes], data: str) -> None:
    assert frame == (0x02204000, hexbytes(data))


# The status word map of CAN-PROTOCOLS.md, written out here: bit -> typed fault, or None for
# the DC/DC-off state bit. Bits 20 (PFC failure), 21 (DC/DC failure) and 12 (over-temperature)
# must take the module out of service.
UU_STATUS = {
    0: Fault.INPUT,  # AC input over-voltage (module stops)
    1: Fault.INPUT,  # AC input under-voltage
    2: Fault.INPUT,  # AC over-voltage disconnect
    3: Fault.HARDWARE,  # PFC bus over-voltage
    4: Fault.HARDWARE,  # PFC bus under-voltage
    5: Fault.HARDWARE,  # PFC bus unbalance
    6: Fault.OVER_VOLTAGE,  # DC output over-voltage
    7: Fault.OVER_VOLTAGE,  # DC over-voltage shutdown
    8: Fault.VENDOR_WARNING,  # DC output under-voltage: warning
    9: Fault.VENDOR_WARNING,  # fan stopped: warning, derate
    12: Fault.OVER_TEMPERATURE,
    14: Fault.OVER_TEMPERATURE,
    15: Fault.OVER_TEMPERATURE,
    16: Fault.OVER_TEMPERATURE,
    17: Fault.OVER_TEMPERATURE,
    18: Fault.HARDWARE,  # PFC <-> DC/DC communication failure
    20: Fault.HARDWARE,  # PFC failure
    21: Fault.HARDWARE,  # DC/DC failure
    25: None,  # DC/DC off: state
    29: Fault.VENDOR_ERROR,  # duplicate serial number: configuration fault
    31: Fault.HARDWARE,  # bleeder circuit failure
}


@pytest.mark.parametrize("bit", range(32))
def test_every_status_bit_decodes_from_a_reply_frame(bit: int) -> None:
    data = hexbytes("13 08 00 00") + (1 << bit).to_bytes(4, "big")
    frame = codec.decode(codec.reply_id(1, date=9, serial=300), data)
    assert frame is not None and (frame.cmd, frame.msg_type) == (0x08, MsgType.READ_RESPONSE)
    status = codec.status(frame.value)
    expected = UU_STATUS.get(bit, Fault.VENDOR_WARNING)  # bits not in the table: a warning
    assert status.faults == (frozenset() if expected is None else {expected})
    assert status.output_off == (bit == 25)


@pytest.mark.parametrize("bit", [12, 20, 21])
def test_the_field_failures_block_the_module(bit: int) -> None:
    assert codec.status(1 << bit).faults & BLOCKING


@given(st.integers(0, 2**32 - 1))
def test_any_status_word_is_the_union_of_its_bits(word: int) -> None:
    bits = [b for b in range(32) if word >> b & 1]
    expected = {UU_STATUS.get(b, Fault.VENDOR_WARNING) for b in bits} - {None}
    assert codec.status(word) == codec.Status(frozenset(expected), bool(word >> 25 & 1))


def test_status_words_combine() -> None:
    status = codec.status(1 << 21 | 1 << 25 | 1 << 9)
    assert status == codec.Status(frozenset({Fault.HARDWARE, Fault.VENDOR_WARNING}), True)
    assert codec.status(0) == codec.Status(frozenset(), False)


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
