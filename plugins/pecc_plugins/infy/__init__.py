"""InfyPower V1.13 power-module driver (``power.driver.name = "infy"``).

Frames are in :mod:`.codec` (pure), the driver in :mod:`.driver`. Params::

    driver = { name = "infy", params = { interface = "socketcan",
               channel = "can0", addressing = "group", group = 1 } }

plus ``bitrate`` (125000), ``controller`` (source address, 0xF0), the
polling budget of :class:`~pecc_plugins.canbus.params.DriverParams` with
Infy defaults (``poll_ms`` 500, ``idle_poll_ms`` 1000, ``status_ms``
1000: known drivers read V/I, status and V after the diode once a second),
``offline_ms`` (15000: the modules' own watchdog is 10 s),
``off_current_a`` (2) and ``min_current_a`` (1: the modules refuse less).
"""

from __future__ import annotations

from typing import Any

from marshmallow import post_load, validate

from pecc_core import hookimpl
from pecc_core.hookspecs import PowerDriverFactory, Register
from pecc_core.profile.schema import Integer, Milliseconds, Number, String, between
from pecc_plugins.canbus.params import DriverParams, bus_config, driver_timing
from pecc_plugins.infy import codec
from pecc_plugins.infy.driver import InfyDriver, InfySettings


class InfyParams(DriverParams):
    addressing = String(
        load_default="fixed", validate=validate.OneOf(["fixed", "group"], error="expected one of {choices}")
    )
    group = Integer(load_default=0, validate=between(0, codec.MAX_ADDRESS))
    controller = Integer(load_default=codec.CONTROLLER, validate=between(0, codec.MAX_ADDRESS))
    poll_s = Milliseconds(data_key="poll_ms", load_default=500, validate=between(10, 60_000))
    offline_s = Milliseconds(data_key="offline_ms", load_default=15_000, validate=between(10, 600_000))
    min_current_a = Number(load_default=1.0, validate=between(1.0, 100.0))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> InfySettings:
        return InfySettings(
            bus=bus_config(data),
            timing=driver_timing(data),
            addressing=data["addressing"],
            group=data["group"],
            controller=data["controller"],
        )


@hookimpl
def pecc_register_power_drivers(register: Register[PowerDriverFactory]) -> None:
    register("infy", InfyDriver, params=InfyParams, summary="InfyPower V1.13 modules on CAN")
