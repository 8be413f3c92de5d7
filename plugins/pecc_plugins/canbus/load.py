"""Bus time of CAN frames: how full a bus is at a given frame rate.

An extended (29-bit) data frame with ``n`` data bytes has 67 + 8n bits
before stuffing: SOF 1, identifier 11, SRR 1, IDE 1, identifier 18, RTR 1,
r1 r0 2, DLC 4, data 8n, CRC 15, CRC delimiter 1, ACK 2, EOF 7, plus
3 bits of intermission. Bit stuffing (a complementary bit after five equal
ones) applies from SOF to the end of the CRC, 54 + 8n bits, so at most
(54 + 8n - 1) // 4 extra bits. :func:`stuffed_bits` counts the real ones for
a given frame.
"""

from __future__ import annotations

from dataclasses import dataclass

EXTENDED_OVERHEAD_BITS = 67
_STUFFED_REGION_OVERHEAD = 54
_CRC15_POLY = 0x4599


def nominal_bits(dlc: int) -> int:
    """Bits of an extended data frame without stuffing (incl. intermission)."""
    return EXTENDED_OVERHEAD_BITS + 8 * dlc


def worst_case_bits(dlc: int) -> int:
    """Bits of an extended data frame with the most stuffing possible."""
    return nominal_bits(dlc) + (_STUFFED_REGION_OVERHEAD + 8 * dlc - 1) // 4


_ESTIMATED = tuple((nominal_bits(n) + worst_case_bits(n)) // 2 for n in range(9))


def estimated_bits(dlc: int) -> int:
    """Bits of an extended data frame with half the worst-case stuffing.

    For running bus-load estimates on the hot path (a table look-up);
    :func:`stuffed_bits` counts the real stuff bits of a given frame.
    """
    return _ESTIMATED[min(dlc, 8)]


def _crc15(bits: list[int]) -> int:
    crc = 0
    for bit in bits:
        top = ((crc >> 14) & 1) ^ bit
        crc = (crc << 1) & 0x7FFF
        if top:
            crc ^= _CRC15_POLY
    return crc


def _bits(value: int, width: int) -> list[int]:
    return [(value >> i) & 1 for i in range(width - 1, -1, -1)]


def stuffed_bits(arbitration_id: int, data: bytes) -> int:
    """Exact bits on the wire of this extended data frame, stuff bits included.

    For measurements and documentation, not for the per-frame hot path.
    """
    dlc = len(data)
    head = [0, *_bits(arbitration_id >> 18, 11), 1, 1, *_bits(arbitration_id & 0x3FFFF, 18), 0, 0, 0]
    head += _bits(dlc, 4)
    for byte in data:
        head += _bits(byte, 8)
    region = head + _bits(_crc15(head), 15)
    stuff = 0
    run_bit, run = region[0], 1
    for bit in region[1:]:
        if bit == run_bit:
            run += 1
            if run == 5:
                stuff += 1
                # the stuff bit is the complement and starts a new run of one
                run_bit, run = 1 - bit, 1
        else:
            run_bit, run = bit, 1
    return nominal_bits(dlc) + stuff


@dataclass(frozen=True, slots=True)
class BusLoad:
    """Frames per second and the share of bus time they take."""

    frames_per_s: float
    bits_per_s: float
    bitrate: int

    @property
    def percent(self) -> float:
        return 100.0 * self.bits_per_s / self.bitrate


def load_of(frames: int, data_bytes: int, seconds: float, bitrate: int) -> BusLoad:
    """The load of ``frames`` frames carrying ``data_bytes`` over ``seconds``.

    Uses the worst-case stuffing of an 8-byte frame scaled to the mean
    length, so the figure is an upper bound (real stuffing is lower).
    """
    if seconds <= 0 or frames == 0:
        return BusLoad(0.0, 0.0, bitrate)
    mean_dlc = data_bytes / frames
    bits = frames * (nominal_bits(0) + 8 * mean_dlc + (_STUFFED_REGION_OVERHEAD + 8 * mean_dlc - 1) / 4)
    return BusLoad(frames / seconds, bits / seconds, bitrate)
