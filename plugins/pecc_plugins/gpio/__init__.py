"""Linux GPIO I/O drivers: contactors, CP/PP supervision, IMD and relay matrix.

Registered under the name ``gpio`` for every I/O role; the field cabinet
profile (``cabinet-uu12``) shows the wiring parameters. ``pecc doctor``
checks that every line they use is on one of the machine's GPIO chips
(:mod:`.doctor`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from marshmallow import Schema, fields, validate

from pecc_core import hookimpl
from pecc_core.hookspecs import RegisterIoDriver
from pecc_plugins.gpio.drivers import GpioContactors, GpioEmergencyStop, GpioImd, GpioMatrix, GpioSupervision
from pecc_plugins.gpio.lines import DEFAULT_ROOT

if TYPE_CHECKING:
    from pecc_core.doctor import Check
    from pecc_core.profile.model import Profile
    from pecc_core.registry import Registry


def _per_gun() -> fields.Dict:
    return fields.Dict(keys=fields.String(), values=fields.Integer(validate=validate.Range(min=0)), required=True)


class _Lines(Schema):
    root = fields.String(load_default=str(DEFAULT_ROOT))
    active_low = fields.Boolean(load_default=False)


class ContactorParams(_Lines):
    command = _per_gun()
    feedback = _per_gun()
    timeout_ms = fields.Integer(load_default=300, validate=validate.Range(min=1, max=450))


class SupervisionParams(_Lines):
    lines = _per_gun()


class ImdParams(_Lines):
    start = _per_gun()
    ok = _per_gun()
    warning = _per_gun()
    #: self-test request line per gun (none: the self-test, and so the cable check, fails)
    test = fields.Dict(keys=fields.String(), values=fields.Integer(validate=validate.Range(min=0)), load_default=None)
    test_ms = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    #: the IMD's measurement time after its start: before it the OK line is no fresh sample (default test_ms)
    settle_ms = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0))
    sample_ms = fields.Integer(load_default=1000, validate=validate.Range(min=1))


class EmergencyStopParams(_Lines):
    line = fields.Integer(required=True, validate=validate.Range(min=0))


class MatrixParams(_Lines):
    base = fields.Integer(required=True, validate=validate.Range(min=0))
    #: per bus (its name): the base of its modules' lines, for a profile of several buses
    bases = fields.Dict(keys=fields.String(), values=fields.Integer(validate=validate.Range(min=0)), load_default=dict)
    guns = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    switch_ms = fields.Integer(load_default=50, validate=validate.Range(min=0, max=5000))


@hookimpl
def pecc_register_io_drivers(register: RegisterIoDriver) -> None:
    register("contactors", "gpio", GpioContactors, params=ContactorParams,
             summary="contactor command + auxiliary feedback lines per gun")
    register("supervision", "gpio", GpioSupervision, params=SupervisionParams,
             summary="CP/PP supervision input line per gun")
    register("imd", "gpio", GpioImd, params=ImdParams,
             summary="IMD with start and self-test inputs and OK/warning outputs per gun")
    register("estop", "gpio", GpioEmergencyStop, params=EmergencyStopParams,
             summary="one emergency-stop input line for the station")
    register("matrix", "gpio", GpioMatrix, params=MatrixParams,
             summary="one relay line per module-to-gun connection")


@hookimpl
def pecc_doctor_checks(profile: Profile, registry: Callable[[str], Registry]) -> list[Check]:
    from pecc_plugins.gpio.doctor import checks

    return checks(profile, registry)
