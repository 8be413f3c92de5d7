"""Infy frames byte for byte against CAN-PROTOCOLS.md, and codec round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pecc_plugins.infy import codec
from pecc_plugins.infy.codec import Cmd

from pecc_core.power import Fault


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
    ],
)
def test_frames_match_the_protocol_notes(frame: tuple[int, bytes], arbitration_id: int, data: str) -> None:
    assert frame == (arbitration_id, bytes.fromhex(data))


def test_replies_decode() -> None:
    reply_id = codec.frame_id(Cmd.READ_VI, codec.CONTROLLER, source=3)
    frame = codec.decode(reply_id, codec.pack_vi(500.0, 50.0))
    assert frame is not None and (frame.source, frame.destination, frame.cmd) == (3, 0xF0, Cmd.READ_VI)
    assert codec.vi(frame.data) == (500.0, 50.0)
    caps = codec.capabilities(bytes.fromhex("03 E8 00 96 03 E8 0B B8"))
    assert caps == codec.Capabilities(voltage_max=1000.0, voltage_min=150.0, current_max=100.0, power_max=30_000.0)
    assert codec.count(codec.pack_count(4)) == 4


def test_status_word_and_temperature() -> None:
    bits, temperature = codec.status(bytes.fromhex("00 00 00 00 F6 00 10 01"))
    assert temperature == -10.0
    assert codec.faults_of(bits) == {Fault.OVER_TEMPERATURE, Fault.OVER_CURRENT}
    assert codec.faults_of(codec.STATUS_DC_OFF | 1 << 4 | 1 << 16) == set()  # off, sleeping, power limit


def test_non_finite_readings_are_dropped() -> None:
    assert codec.vi(codec.pack_vi(math.nan, 1.0)) is None
    assert codec.vi(codec.pack_vi(1.0, math.inf)) is None


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


@given(st.integers(0, 0xFFFFFF), st.integers(-128, 127))
def test_status_round_trip(bits: int, temperature: int) -> None:
    assert codec.status(codec.pack_status(bits, temperature)) == (bits, float(temperature))


finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@given(finite32, finite32)
def test_vi_round_trip(volts: float, amperes: float) -> None:
    assert codec.vi(codec.pack_vi(volts, amperes)) == (volts, amperes)
