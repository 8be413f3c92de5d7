"""CAN-level power-module simulator with an EV/battery model (service ``modsim``).

Simulated modules answer the real vendor drivers on python-can buses:
the ``sim`` profiles run the very driver code a cabinet runs. Without bus
params (no ``channel``) it simulates every bus of the profile, each with
its driver's protocol, interface, channel, bitrate and group. With them
it simulates one bus, the profile's bus ``bus`` (its name; default: the
profile's only bus), with these params::

    [[services]]
    name = "modsim"
    params = { protocol = "uugreen", channel = "pecc-sim", group = 1 }

plus ``interface`` (virtual), ``bitrate``. Either way: ``tick_ms`` (50),
``watchdog_ms`` (module output off after this silence; default 5000 for
uugreen, configurable; 10000 for infy, the protocol's own),
``low_range_max_v`` (500) and ``high_range_current_share`` (0.5) for the
UU ranges, ``slew_v_per_s`` (500, also the soft start from 0 V),
``node_capacitance_f``, ``bleeder_ohm``, ``battery_ohm``, ``ocv_per_soc``,
``thermal_tau_s``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import post_load, validate

from pecc_core import hookimpl
from pecc_core.hookspecs import Register, ServiceFactory
from pecc_core.profile.schema import Integer, Milliseconds, Number, String, between
from pecc_plugins.canbus.params import BusParams, bus_config
from pecc_plugins.modsim.physics import PhysicsConfig
from pecc_plugins.modsim.service import PROTOCOLS, make_modsim
from pecc_plugins.modsim.settings import SimSettings


class SimParams(BusParams):
    #: without a channel: every bus of the profile, where its driver's params say
    channel = String(load_default=None, validate=validate.Length(min=1, error="expected a name"))
    bus_name = String(data_key="bus", load_default=None, allow_none=True)
    protocol = String(
        load_default="uugreen",
        validate=validate.OneOf(sorted(PROTOCOLS), error="expected one of {choices}"),
    )
    group = Integer(load_default=0, validate=between(0, 15))
    tick_s = Milliseconds(data_key="tick_ms", load_default=50, validate=between(1, 1000))
    watchdog_s = Milliseconds(data_key="watchdog_ms", load_default=None, allow_none=True, validate=between(10, 600_000))
    low_range_max_v = Number(load_default=500.0, validate=between(50.0, 1000.0))
    high_range_current_share = Number(load_default=0.5, validate=between(0.05, 1.0))
    slew_v_per_s = Number(load_default=500.0, validate=between(1.0, 100_000.0))
    node_capacitance_f = Number(load_default=0.002, validate=between(1e-6, 10.0))
    bleeder_ohm = Number(load_default=500.0, validate=between(1.0, 1e7))
    battery_ohm = Number(load_default=0.05, validate=between(0.001, 10.0))
    ocv_per_soc = Number(load_default=0.002, validate=between(0.0, 0.1))
    thermal_tau_s = Number(load_default=60.0, validate=between(0.01, 10_000.0))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> SimSettings:
        return SimSettings(
            bus=None if data["channel"] is None else bus_config(data),
            bus_name=data["bus_name"],
            protocol=data["protocol"],
            group=data["group"],
            tick_s=data["tick_s"],
            watchdog_s=data["watchdog_s"],
            low_range_max_v=data["low_range_max_v"],
            high_range_current_share=data["high_range_current_share"],
            physics=PhysicsConfig(
                slew_v_per_s=data["slew_v_per_s"],
                node_capacitance_f=data["node_capacitance_f"],
                bleeder_ohm=data["bleeder_ohm"],
                battery_ohm=data["battery_ohm"],
                ocv_per_soc=data["ocv_per_soc"],
                thermal_tau_s=data["thermal_tau_s"],
            ),
        )


@hookimpl
def pecc_register_services(register: Register[ServiceFactory]) -> None:
    register("modsim", make_modsim, params=SimParams, summary="simulated CAN power modules with an EV model")
