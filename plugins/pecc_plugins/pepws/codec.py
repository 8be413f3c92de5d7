"""Turning frames into messages and messages into frames.

Parsing is strict JSON (``NaN``/``Infinity`` are not JSON and are refused),
by orjson (about 1 us for a targetValues request, a third of :mod:`json`'s
time). orjson refuses a few texts that are JSON all the same (a number
beyond a double, an escaped lone surrogate); those go to :mod:`json`, so the
verdict on a frame, and the sequence number its error reply carries, do not
depend on the parser's limits.

Encoding produces compact UTF-8 JSON bytes (orjson), in the protocol's field
order (type, kind, sequenceNumber, payload), sent as text frames. A NaN or
an infinity anywhere in a payload is refused with ValueError (orjson would
silently write ``null``).

**Integer mode.** When the station reports ``floatValues: false`` the SECC
expects every number as an integer, so :class:`Encoder` rounds every float
of every message it builds. Status messages, the hot path (one per gun every
200 ms), are formatted from a template without building a dict; their
numbers are clamped into the official ranges so a noisy negative reading
(-0.3 V) or a missing sensor (NaN) can never produce an invalid message.
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import orjson

from pecc_plugins.pepws.schemas import INT32_MAX, SEQUENCE_MAX

if TYPE_CHECKING:
    from pecc_core.model import Status


class FrameError(Exception):
    """A frame that is not a JSON message; answered with an error ``format``, seq 0."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse(text: str | bytes) -> Any:
    """The JSON value of one text frame; :class:`FrameError` if it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass  # not JSON, or JSON beyond orjson's limits: the standard parser decides
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise FrameError(f"not valid JSON: {exc}") from None


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Parse (and check, and drop) a frame with the cyclic garbage collector paused.

    A parsed JSON value holds no reference cycles, so the collector has
    nothing to find in it, but its containers count toward its thresholds: a
    64 KiB frame of ``[[],[],...]`` is 21,000 new lists whose collections made
    parsing it ~7x slower (5 ms instead of 0.7 ms), and ``[{},{},...]`` worse.
    Freed again before the collector resumes, they never trigger one. A no-op
    when the application runs with the collector off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def sequence_of(message: Any) -> int:
    """The message's sequenceNumber if it is a valid one, else 0 (the protocol's "unknown")."""
    if not isinstance(message, dict):
        return 0
    seq = message.get("sequenceNumber")
    if isinstance(seq, bool):
        return 0
    if isinstance(seq, float) and math.isfinite(seq) and seq.is_integer():
        seq = int(seq)
    if isinstance(seq, int) and 0 <= seq <= SEQUENCE_MAX:
        return seq
    return 0


class SequenceCounter:
    """The sequence numbers of one direction of one connection: 1 ... 2^31-1, then 1 again."""

    __slots__ = ("last",)

    def __init__(self, last: int = 0) -> None:
        #: The number of the last request sent (0: none yet).
        self.last = last

    def next(self) -> int:
        self.last = 1 if self.last >= SEQUENCE_MAX else self.last + 1
        return self.last


def integers(value: Any) -> Any:
    """``value`` with every float rounded to an int, at any depth (integer mode).

    ValueError for a NaN or an infinity, which no integer stands for.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a JSON number")
        return round(value)
    if isinstance(value, dict):
        return {k: integers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [integers(v) for v in value]
    return value


def check_finite(value: Any) -> None:
    """ValueError if a NaN or an infinity is anywhere in ``value`` (float mode)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a JSON number")
    elif isinstance(value, dict):
        for item in value.values():
            check_finite(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_finite(item)


def _clamp(value: float) -> float:
    """Into [0, 2^31-1]; NaN becomes 0 (``not value > 0`` holds for NaN)."""
    if not value > 0:
        return 0
    return value if value <= INT32_MAX else INT32_MAX


def _finite(value: float) -> float:
    """Any finite number; NaN becomes 0, infinities the int32 bounds."""
    if math.isnan(value):
        return 0
    if value > INT32_MAX:
        return INT32_MAX
    return value if value >= -INT32_MAX else -INT32_MAX


_STATUS = (
    '{"type":"info","kind":"status","payload":{'
    '"measuredVoltage":%s,"measuredCurrent":%s,"drivenVoltage":%s,"drivenCurrent":%s,'
    '"temperature":%s,"contactorsStatus":"%s","isolationStatus":"%s","operationalStatus":"%s"}}'
)


class Encoder:
    """Builds the frames one station sends, in float or integer mode."""

    __slots__ = ("float_values",)

    def __init__(self, float_values: bool) -> None:
        self.float_values = float_values

    def message(self, msg_type: str, kind: str, payload: Any, seq: int | None = None) -> bytes:
        """One message as UTF-8 JSON; ValueError or TypeError if ``payload`` holds what JSON cannot."""
        if self.float_values:
            check_finite(payload)
        else:
            payload = integers(payload)
        frame: dict[str, Any] = {"type": msg_type, "kind": kind}
        if seq is not None:
            frame["sequenceNumber"] = seq
        frame["payload"] = payload
        return orjson.dumps(frame)

    def error(self, kind: str, seq: int, category: str, details: str) -> bytes:
        return self.message(
            "error", kind, {"errorCategory": category, "errorDetails": details}, seq
        )

    def status(self, s: Status) -> bytes:
        """The status info of one gun (hot path: a template, no dict, no json.dumps)."""
        values: tuple[float, ...] = (
            _clamp(s.measured_voltage),
            _clamp(s.measured_current),
            _clamp(s.driven_voltage),
            _clamp(s.driven_current),
            _finite(s.temperature),
        )
        if not self.float_values:
            values = tuple([round(v) for v in values])
        return (_STATUS % (*values, s.contactors, s.isolation, s.operational)).encode()
