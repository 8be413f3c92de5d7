"""The decoder contract: how a vendor plugin explains its frames to a person.

``pecc can monitor`` shows the traffic of a profile's bus decoded per
module. It knows no protocol: the profile's power driver class provides a
decoder through the classmethod
:meth:`~pecc_plugins.canbus.moduledriver.ModuleDriver.frame_decoder`,
which returns a :class:`FrameDecoder` for the driver's validated params
(group, controller address ...). A decoder is pure: one frame in, the
values it carries out (one :class:`Decoded` each; none for frames it does
not know); it never sends and keeps no state, so it also works on a
recording.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Kind(StrEnum):
    """What a frame does, as the monitor groups it."""

    SETPOINT = "setpoint"  #: controller -> module: a voltage, a current limit
    COMMAND = "command"  #: controller -> module: on/off, range, other settings
    POLL = "poll"  #: controller -> module: a read request
    READING = "reading"  #: module -> controller: a measured value
    STATUS = "status"  #: module -> controller: status / alarm bits
    ERROR = "error"  #: a refusal or an error code
    OTHER = "other"  #: known protocol, nothing the monitor shows per module


@dataclass(frozen=True, slots=True)
class Decoded:
    """One frame as an integrator reads it.

    :attr module: the module address it goes to or comes from; None for a
        broadcast or group frame.
    :attr from_module: True for module -> controller, False for controller -> module.
    :attr name: what the value is, in the protocol's words ("voltage reference").
    :attr value: the value in ``unit`` (V, A, degC ...), or None.
    :attr flags: the names of the status bits that are set.
    :attr error: the error or refusal the frame reports, if any.
    """

    module: int | None
    from_module: bool
    kind: Kind
    name: str
    value: float | int | str | None = None
    unit: str = ""
    flags: tuple[str, ...] = ()
    error: str | None = None

    def text(self) -> str:
        """One line: ``module 3 <- reading Vout fast 400.0 V``."""
        who = "all" if self.module is None else f"module {self.module}"
        arrow = "->" if self.from_module else "<-"
        parts = [f"{who} {arrow} {self.kind} {self.name}"]
        if self.value is not None:
            value = f"{self.value:g}" if isinstance(self.value, float) else str(self.value)
            parts.append(f"{value} {self.unit}".rstrip())
        if self.flags:
            parts.append("[" + ", ".join(self.flags) + "]")
        if self.error:
            parts.append(f"ERROR {self.error}")
        return " ".join(parts)

    def as_json(self) -> dict[str, object]:
        return {
            "module": self.module,
            "from_module": self.from_module,
            "kind": str(self.kind),
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "flags": list(self.flags),
            "error": self.error,
        }


class FrameDecoder(Protocol):
    """Turns frames of one vendor protocol into :class:`Decoded` values."""

    def decode(self, arbitration_id: int, data: bytes) -> tuple[Decoded, ...]:
        """What the frame carries (a frame may carry several values); () if it is not this protocol's."""
        ...


def bit_names(word: int, names: dict[int, str]) -> tuple[str, ...]:
    """Names of the set bits of ``word`` (unnamed ones as ``bit N``), lowest first."""
    out = []
    bit = 0
    while word >> bit:
        if word >> bit & 1:
            out.append(names.get(bit, f"bit {bit}"))
        bit += 1
    return tuple(out)
