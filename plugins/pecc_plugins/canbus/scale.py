"""Unit scaling shared by the vendor codecs."""


def milli(value: float) -> int:
    """``value`` in thousandths as an unsigned 32-bit field: saturates, never wraps.

    A negative or oversized setpoint must never turn into a huge or small
    one on the wire.
    """
    return min(max(0, round(value * 1000)), 0xFFFFFFFF)
