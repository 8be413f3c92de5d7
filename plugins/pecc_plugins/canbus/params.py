"""The profile parameters every CAN plugin shares: where its bus is.

Vendor drivers and simulators subclass :class:`BusParams` and add their
own fields; :func:`bus_config` turns the loaded values into the
:class:`~pecc_plugins.canbus.link.BusConfig` their :class:`CanLink` needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, validate, validates_schema

from pecc_core.profile.schema import Integer, Number, StrictSchema, String, between
from pecc_plugins.canbus.link import BusConfig
from pecc_plugins.canbus.moduledriver import DriverTiming
from pecc_plugins.canbus.scheduler import TxConfig


class BusParams(StrictSchema):
    """``interface``, ``channel``, ``bitrate``, transmit pacing and how to retry a dead bus.

    ``virtual`` accepts and ignores the bitrate; ``timedvirtual`` runs its
    wire at it; ``socketcan`` needs the interface brought up with its
    bitrate outside PECC (``ip link``, see docs/bring-up.md).

    Transmit scheduler (:mod:`pecc_plugins.canbus.scheduler`): ``tx_gap_us``
    is the time a frame is given on the bus (0: its estimated wire time at
    ``bitrate``), ``tx_burst`` the frames that may follow each other back
    to back, ``tx_give_up_ms`` how long a refused poll or setpoint is
    retried, ``off_escalate_ms`` how long a refused off is retried before
    its module counts as unreachable (it is retried after that too).
    """

    interface = String(load_default="virtual", validate=validate.Length(min=1, error="expected a name"))
    channel = String(required=True, validate=validate.Length(min=1, error="expected a name"))
    bitrate = Integer(load_default=125_000, validate=between(10_000, 1_000_000))
    reopen_min_ms = Integer(load_default=100, validate=between(1, 60_000))
    reopen_max_ms = Integer(load_default=5_000, validate=between(1, 600_000))
    tx_gap_us = Integer(load_default=0, validate=between(0, 1_000_000))
    tx_burst = Integer(load_default=2, validate=between(1, 64))
    tx_give_up_ms = Integer(load_default=1000, validate=between(1, 60_000))
    off_escalate_ms = Integer(load_default=500, validate=between(1, 60_000))


def bus_config(params: Mapping[str, Any]) -> BusConfig:
    """The link configuration out of loaded :class:`BusParams`."""
    return BusConfig(
        interface=params["interface"],
        channel=params["channel"],
        bitrate=params["bitrate"],
        reopen_min_s=params["reopen_min_ms"] / 1000,
        reopen_max_s=params["reopen_max_ms"] / 1000,
        tx=TxConfig(
            gap_s=params["tx_gap_us"] / 1e6 or None,
            burst=params["tx_burst"],
            give_up_s=params["tx_give_up_ms"] / 1000,
            off_escalate_s=params["off_escalate_ms"] / 1000,
        ),
    )


class DriverParams(BusParams):
    """:class:`BusParams` plus the polling budget and offline timing of a module driver.

    A vendor schema overrides a field to change its default (``offline_ms``
    must stay longer than the vendor's module watchdog).
    """

    poll_ms = Integer(load_default=200, validate=between(10, 60_000))
    idle_poll_ms = Integer(load_default=1000, validate=between(10, 60_000))
    status_ms = Integer(load_default=1000, validate=between(10, 60_000))
    temperature_ms = Integer(load_default=5000, validate=between(10, 600_000))
    resend_ms = Integer(load_default=1000, validate=between(10, 60_000))
    offline_ms = Integer(load_default=6000, validate=between(10, 600_000))
    off_current_a = Number(load_default=2.0, validate=between(0.0, 100.0))
    min_current_a = Number(load_default=0.0, validate=between(0.0, 100.0))
    #: the modules' own watchdog (Infy: 10 s; a longer value is the safe side)
    watchdog_ms = Integer(load_default=10_000, validate=between(10, 600_000))

    @validates_schema
    def rates(self, data: dict[str, Any], **_: Any) -> None:
        """Idle modules are not read faster than active ones, and every module is read before it counts as lost."""
        if data["idle_poll_ms"] < data["poll_ms"]:
            raise ValidationError(
                f"expected at least poll_ms ({data['poll_ms']})", "idle_poll_ms"
            )
        slowest = max(data["idle_poll_ms"], data["status_ms"])
        if data["offline_ms"] < 2 * slowest:
            raise ValidationError(
                f"expected at least twice the slowest read (idle_poll_ms, status_ms: {slowest})",
                "offline_ms",
            )


def driver_timing(params: Mapping[str, Any]) -> DriverTiming:
    """The driver timing out of loaded :class:`DriverParams`."""
    return DriverTiming(
        poll_s=params["poll_ms"] / 1000,
        idle_poll_s=params["idle_poll_ms"] / 1000,
        status_s=params["status_ms"] / 1000,
        temperature_s=params["temperature_ms"] / 1000,
        resend_s=params["resend_ms"] / 1000,
        offline_s=params["offline_ms"] / 1000,
        off_current_a=params["off_current_a"],
        min_current_a=params["min_current_a"],
        watchdog_s=params["watchdog_ms"] / 1000,
    )
