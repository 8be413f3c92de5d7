"""UUGreenPower UR1000x0 power-module driver (``power.driver.name = "uugreen"``).

Frames are in :mod:`.codec` (pure), the driver in :mod:`.driver`. Params::

    driver = { name = "uugreen", params = { interface = "socketcan",
               channel = "can1", bitrate = 125000, group = 1 } }

plus the polling budget of :class:`~pecc_plugins.canbus.params.DriverParams`
(``poll_ms`` 200, ``idle_poll_ms`` 1000, ``status_ms`` 1000,
``temperature_ms`` 5000, ``resend_ms`` 1000, ``offline_ms`` 6000: longer
than the module watchdog, ``off_current_a`` 2), ``range_select``
(``"session"``: chosen once per session from the EV's maximum voltage;
``"module"``: the firmware picks), ``low_range_max_v`` (500) and
``mode_switch_ms`` (2000).
"""

from __future__ import annotations

from typing import Any

from marshmallow import post_load, validate

from pecc_core import hookimpl
from pecc_core.hookspecs import PowerDriverFactory, Register
from pecc_core.profile.schema import Integer, Milliseconds, Number, String, between
from pecc_plugins.canbus.params import DriverParams, bus_config, driver_timing
from pecc_plugins.uugreen import codec
from pecc_plugins.uugreen.driver import UuDriver, UuSettings


class UuParams(DriverParams):
    group = Integer(load_default=0, validate=between(0, codec.MAX_GROUP))
    range_select = String(
        load_default="session", validate=validate.OneOf(["session", "module"], error="expected one of {choices}")
    )
    low_range_max_v = Number(load_default=codec.LOW_RANGE_MAX_V, validate=between(50.0, 1000.0))
    mode_switch_s = Milliseconds(data_key="mode_switch_ms", load_default=2000, validate=between(0, 60_000))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> UuSettings:
        return UuSettings(
            bus=bus_config(data),
            timing=driver_timing(data),
            group=data["group"],
            range_select=data["range_select"],
            low_range_max_v=data["low_range_max_v"],
            mode_switch_s=data["mode_switch_s"],
        )


@hookimpl
def pecc_register_power_drivers(register: Register[PowerDriverFactory]) -> None:
    register("uugreen", UuDriver, params=UuParams, summary="UUGreenPower UR1000x0 modules on CAN")
