"""The simulated SECC's hardware inputs and outputs (getInput / setOutput).

A real SECC board has a few digital and analog inputs, temperature sensors
and relay outputs that the PECC may read or drive. The simulator offers a
fixed, documented set so a PECC integration can be tested against it:

- inputs: ``d1``-``d4`` (digital, bool), ``a1``-``a2`` (analog, V),
  ``t1``-``t2`` (temperatures, degC);
- outputs: ``o1``-``o4`` (digital, bool), initially off.

Reading or writing anything else, or writing a value of the wrong type,
is refused; the client answers such a request with error category
``value``, as the protocol asks.
"""

from __future__ import annotations

from typing import Any


class IoRefused(Exception):
    """An identifier or value the simulated board does not have."""


class SeccIo:
    """One gun's simulated board."""

    __slots__ = ("inputs", "outputs")

    def __init__(self) -> None:
        self.inputs: dict[str, bool | float] = {
            "d1": True,
            "d2": False,
            "d3": False,
            "d4": True,
            "a1": 12.0,
            "a2": 0.0,
            "t1": 25.0,
            "t2": 27.5,
        }
        self.outputs: dict[str, bool] = {f"o{i}": False for i in range(1, 5)}

    def read(self, identifiers: Any) -> dict[str, bool | float]:
        """The values of ``identifiers``; :class:`IoRefused` names the unknown ones."""
        unknown = [i for i in identifiers if i not in self.inputs]
        if unknown:
            raise IoRefused(f"unknown input identifier(s): {', '.join(map(str, unknown))}")
        return {i: self.inputs[i] for i in identifiers}

    def write(self, values: dict[str, Any]) -> None:
        """Set outputs, all or nothing; :class:`IoRefused` says what is wrong."""
        for name, value in values.items():
            if name not in self.outputs:
                raise IoRefused(f"unknown output identifier: {name}")
            if not isinstance(value, bool):
                raise IoRefused(f"output {name} takes true or false, got {value!r}")
        self.outputs.update(values)
