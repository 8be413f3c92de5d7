"""The profile parameters every CAN plugin shares: where its bus is.

Vendor drivers and simulators subclass :class:`BusParams` and add their
own fields; :func:`bus_config` turns the loaded values into the
:class:`~pecc_plugins.canbus.link.BusConfig` their :class:`CanLink` needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from marshmallow import ValidationError, validate, validates_schema

from pecc_core.profile.schema import Integer, Milliseconds, Number, StrictSchema, String, between
from pecc_plugins.canbus.link import BusConfig
from pecc_plugins.canbus.polling import DriverTiming
from pecc_plugins.canbus.scheduler import TxConfig


class BusParams(StrictSchema):
    """``interface``, ``channel``, ``bitrate``, transmit pacing and how to retry a dead bus.

    ``virtual`` accepts and ignores the bitrate; ``timedvirtual`` runs its
    wire at it; ``socketcan`` needs the interface brought up with its
    bitrate outside PECC (``ip link``, see docs/bring-up.md).

    Transmit scheduler (:mod:`pecc_plugins.canbus.scheduler`): ``tx_gap_us``
    is the time a frame is given on the bus (0: its estimated wire time at
    ``bitrate``), ``tx_burst`` the frames that may follow each other back
    to back after a quiet spell, ``tx_catch_up`` those that may when the
    scheduler fell behind (a late event loop; below the device's transmit
    queue), ``tx_poll_every`` the share of the wire polls keep while
    setpoints wait (one frame in that many; 0: setpoints always first),
    ``tx_give_up_ms`` how long a refused poll or setpoint is
    retried, ``off_escalate_ms`` how long a refused off is retried before
    its module counts as unreachable (it is retried after that too).
    """

    interface = String(load_default="virtual", validate=validate.Length(min=1, error="expected a name"))
    channel = String(required=True, validate=validate.Length(min=1, error="expected a name"))
    bitrate = Integer(load_default=125_000, validate=between(10_000, 1_000_000))
    reopen_min_s = Milliseconds(data_key="reopen_min_ms", load_default=100, validate=between(1, 60_000))
    reopen_max_s = Milliseconds(data_key="reopen_max_ms", load_default=5_000, validate=between(1, 600_000))
    tx_gap_us = Integer(load_default=0, validate=between(0, 1_000_000))
    tx_burst = Integer(load_default=2, validate=between(1, 64))
    tx_catch_up = Integer(load_default=8, validate=between(1, 64))
    tx_poll_every = Integer(load_default=4, validate=between(0, 64))
    tx_give_up_s = Milliseconds(data_key="tx_give_up_ms", load_default=1000, validate=between(1, 60_000))
    off_escalate_s = Milliseconds(data_key="off_escalate_ms", load_default=500, validate=between(1, 60_000))


def bus_config(params: Mapping[str, Any]) -> BusConfig:
    """The link configuration out of loaded :class:`BusParams`."""
    return BusConfig(
        interface=params["interface"],
        channel=params["channel"],
        bitrate=params["bitrate"],
        reopen_min_s=params["reopen_min_s"],
        reopen_max_s=params["reopen_max_s"],
        tx=TxConfig(
            gap_s=params["tx_gap_us"] / 1e6 or None,
            burst=params["tx_burst"],
            catch_up=params["tx_catch_up"],
            poll_every=params["tx_poll_every"],
            give_up_s=params["tx_give_up_s"],
            off_escalate_s=params["off_escalate_s"],
        ),
    )


class DriverParams(BusParams):
    """:class:`BusParams` plus the polling budget and offline timing of a module driver.

    The profile writes milliseconds (``poll_ms``); the loaded values are
    seconds under the :class:`DriverTiming` names (``poll_s``). A vendor
    schema overrides a field to change its default, keeping its
    ``data_key`` (``offline_s = Milliseconds(data_key="offline_ms", ...)``:
    it must stay longer than the vendor's module watchdog).
    """

    poll_s = Milliseconds(data_key="poll_ms", load_default=200, validate=between(10, 60_000))
    idle_poll_s = Milliseconds(data_key="idle_poll_ms", load_default=1000, validate=between(10, 60_000))
    status_s = Milliseconds(data_key="status_ms", load_default=1000, validate=between(10, 60_000))
    temperature_s = Milliseconds(data_key="temperature_ms", load_default=5000, validate=between(10, 600_000))
    resend_s = Milliseconds(data_key="resend_ms", load_default=1000, validate=between(10, 60_000))
    offline_s = Milliseconds(data_key="offline_ms", load_default=6000, validate=between(10, 600_000))
    off_current_a = Number(load_default=2.0, validate=between(0.0, 100.0))
    min_current_a = Number(load_default=0.0, validate=between(0.0, 100.0))
    #: the modules' own watchdog (Infy: 10 s; a longer value is the safe side)
    watchdog_s = Milliseconds(data_key="watchdog_ms", load_default=10_000, validate=between(10, 600_000))
    #: raises of an exporting module's setpoints held back (lower ones always go at once); 0: off
    deadband_v = Number(load_default=1.0, validate=between(0.0, 10.0))
    deadband_a = Number(load_default=0.0, validate=between(0.0, 10.0))

    @validates_schema
    def rates(self, data: dict[str, Any], **_: Any) -> None:
        """Idle modules are not read faster than active ones, and every module is read before it counts as lost.

        The values are seconds; the messages name the profile's keys and milliseconds.
        """
        if data["idle_poll_s"] < data["poll_s"]:
            raise ValidationError(f"expected at least poll_ms ({_ms(data['poll_s'])})", "idle_poll_ms")
        slowest = max(data["idle_poll_s"], data["status_s"])
        if data["offline_s"] < 2 * slowest:
            raise ValidationError(
                f"expected at least twice the slowest read (idle_poll_ms, status_ms: {_ms(slowest)})",
                "offline_ms",
            )


def _ms(seconds: float) -> int:
    """A loaded duration back in the profile's milliseconds, for a message."""
    return round(seconds * 1000)


def driver_timing(params: Mapping[str, Any]) -> DriverTiming:
    """The driver timing out of loaded :class:`DriverParams` (loaded under the timing's own names)."""
    return DriverTiming(**{f.name: params[f.name] for f in fields(DriverTiming)})
