"""The control API's routes that change something: JSON in, JSON out, errors as ``{"error": "..."}``.

Each is a command: it runs on the station's loop (:func:`.app.on_station`).
The reads (``GET /api/guns``, ``/api/guns/{gun}``, ``/api/modules``,
``/api/limits``) are answered from the station's snapshot by :mod:`.reads`.

=======  ======================================  ==========================================
PUT      /api/limits                             partial update; 400 names the bad key
POST     /api/limits/reset                       back to the profile's limits
POST     /api/guns/{gun}/stop-charging           PEP-WS stopCharging to the gun's SECC
POST     /api/guns/{gun}/inputs                  ``{"ids": [...]}`` -> getInput
POST     /api/guns/{gun}/outputs                 ``{"values": {...}}`` -> setOutput
POST     /api/sim/guns/{gun}/imd                 ``{"result": "warning"|"fault"|null}``
POST     /api/sim/guns/{gun}/imd/resistance      ``{"ohm": number|null}`` (null: healthy again)
POST     /api/sim/guns/{gun}/imd/self-test       ``{"fails": bool}``
POST     /api/sim/guns/{gun}/supervision         ``{"allowed": bool}``
POST     /api/sim/modules/{address}/silence      ``{"silent": bool}``
POST     /api/sim/modules/{address}/fault        ``{"fault": "hardware", "active": bool}``
POST     /api/sim/modules/{address}/clear        every injection on the module undone
=======  ======================================  ==========================================

A request to the SECC answers 409 without a connected SECC, 504 when it
times out and 502 when the SECC answers with an error. A limits change is
answered once it is on disk (:mod:`.limits`); 503 if it applies but
could not be saved. The ``/api/sim``
routes answer 404 unless the station runs the simulated I/O drivers
(guns) or a module simulator service (modules).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from marshmallow import Schema

from pecc_core import caps
from pecc_core.errors import SeccError, SeccNotConnected, SeccTimeout
from pecc_core.io import IoRole
from pecc_core.model import Isolation
from pecc_core.power import Fault, InjectsModuleFaults, ModuleId
from pecc_plugins.ctl import bodies
from pecc_plugins.ctl.keys import LIMITS, STATION
from pecc_plugins.ctl.limits import NotSaved
from pecc_plugins.ctl.middleware import error, read_json

if TYPE_CHECKING:
    from pecc_core.gun import Gun
    from pecc_core.station import Station

routes = web.RouteTableDef()

_FAULTS = [str(f) for f in Fault]
_INJECTABLE = {"warning": Isolation.WARNING, "fault": Isolation.FAULT, None: None}
#: ``can1:5`` (a bus name of the profile, an address 0..255), or a bare address on a station of one bus; ASCII only
_MODULE = re.compile(r"(?:[a-z0-9_-]{1,64}:)?[0-9]{1,3}")


def answer(data: Any) -> web.Response:
    return web.json_response(data)


def _station(request: web.Request) -> Station:
    return request.app[STATION]


def _gun(request: web.Request) -> Gun:
    station = _station(request)
    gun_id = request.match_info["gun"]
    gun = station.guns.get(gun_id)
    if gun is None:
        raise error(web.HTTPNotFound, f"no gun {gun_id!r}; guns: {sorted(station.guns)}")
    return gun


async def _body(request: web.Request, schema: Schema) -> dict[str, Any]:
    try:
        return bodies.load(schema, await read_json(request))
    except bodies.BodyError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None


# -- limits -----------------------------------------------------------------------


@routes.put("/api/limits")
async def put_limits(request: web.Request) -> web.Response:
    update = await read_json(request)
    try:
        bodies.load(bodies.LimitsBody(), update)
        return answer(await request.app[LIMITS].apply(update))
    except (bodies.BodyError, caps.CapsError) as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None
    except NotSaved as exc:
        raise error(web.HTTPServiceUnavailable, str(exc)) from None


@routes.post("/api/limits/reset")
async def reset_limits(request: web.Request) -> web.Response:
    await _body(request, bodies.EmptyBody())
    try:
        return answer(await request.app[LIMITS].reset())
    except NotSaved as exc:
        raise error(web.HTTPServiceUnavailable, str(exc)) from None


# -- requests to the SECC -------------------------------------------------------------


@routes.post("/api/guns/{gun}/stop-charging")
async def stop_charging(request: web.Request) -> web.Response:
    gun_id = _gun(request).id
    await _body(request, bodies.EmptyBody())
    accepted = {"gun": gun_id, "stopCharging": "accepted"}
    return await _secc_call(gun_id, _link(request).stop_charging(), lambda _: accepted)


@routes.post("/api/guns/{gun}/inputs")
async def inputs(request: web.Request) -> web.Response:
    gun_id = _gun(request).id
    ids = (await _body(request, bodies.InputsBody()))["ids"]
    return await _secc_call(gun_id, _link(request).get_input(ids), lambda values: {"gun": gun_id, "inputs": values})


@routes.post("/api/guns/{gun}/outputs")
async def outputs(request: web.Request) -> web.Response:
    gun_id = _gun(request).id
    values = (await _body(request, bodies.OutputsBody()))["values"]
    return await _secc_call(gun_id, _link(request).set_output(values), lambda _: {"gun": gun_id, "outputs": values})


def _link(request: web.Request) -> Any:
    try:
        return _gun(request).link()
    except SeccNotConnected as exc:
        raise error(web.HTTPConflict, str(exc)) from None


async def _secc_call(gun_id: str, call: Awaitable[Any], reply: Callable[[Any], Any]) -> web.Response:
    """Await a PECC -> SECC request of gun ``gun_id``; its outcome as an HTTP answer."""
    try:
        return answer(reply(await call))
    except SeccTimeout as exc:
        raise error(web.HTTPGatewayTimeout, f"gun {gun_id}: the SECC did not answer: {exc}") from None
    except SeccError as exc:
        raise error(web.HTTPBadGateway, f"gun {gun_id}: the SECC answered with an error: {exc}") from None
    except SeccNotConnected as exc:
        raise error(web.HTTPConflict, f"gun {gun_id}: {exc}") from None


# -- simulation -------------------------------------------------------------------


@dataclass(frozen=True)
class _GunSim:
    """One gun injection route: a body's one value handed to a simulated I/O driver.

    Checked in this order: the driver (404 unless it is simulated), the
    gun (404), the body (400).
    """

    path: str  #: below ``/api/sim/guns/{gun}/``
    role: IoRole  #: which of the station's I/O drivers
    what: str  #: the driver, as a 404 names it
    method: str  #: the simulated driver's method, called ``(gun_id, value)``
    schema: type[bodies.Body]
    key: str  #: the body's one key
    reply: str  #: that value's key in the answer
    value: Callable[[Any], Any] = lambda v: v  #: the body's value as the method takes it

    async def handle(self, request: web.Request) -> web.Response:
        driver = _sim(getattr(_station(request).io, self.role), self.method, self.what)
        gun_id = _gun(request).id
        value = (await _body(request, self.schema()))[self.key]
        getattr(driver, self.method)(gun_id, self.value(value))
        return answer({"gun": gun_id, self.reply: value})


_GUN_SIMS = (
    _GunSim("imd", "imd", "isolation monitor", "inject", bodies.ImdBody, "result", "imd", _INJECTABLE.__getitem__),
    _GunSim("imd/resistance", "imd", "isolation monitor", "set_resistance", bodies.ResistanceBody, "ohm", "ohm"),
    _GunSim(
        "imd/self-test", "imd", "isolation monitor", "fail_self_test", bodies.SelfTestBody, "fails", "self_test_fails"
    ),
    _GunSim("supervision", "supervision", "CP/PP supervision", "allow", bodies.SupervisionBody, "allowed", "allowed"),
)
for _gun_sim in _GUN_SIMS:
    routes.post(f"/api/sim/guns/{{gun}}/{_gun_sim.path}")(_gun_sim.handle)


@routes.post("/api/sim/modules/{module}/silence")
async def sim_silence(request: web.Request) -> web.Response:
    sim, module = _sim_module(request)
    silent = (await _body(request, bodies.SilenceBody()))["silent"]
    sim.silence(module, silent)
    return answer({"module": str(module), "silent": silent})


@routes.post("/api/sim/modules/{module}/fault")
async def sim_fault(request: web.Request) -> web.Response:
    """Inject a fault by name (``{"fault": "hardware"}``) or by its status bit (``{"bit": 21}``)."""
    sim, module = _sim_module(request)
    body = await _body(request, bodies.FaultBody())
    active = body["active"]
    if "bit" in body:
        sim.inject(module, body["bit"], active)
        return answer({"module": str(module), "bit": body["bit"], "active": active})
    name = body["fault"]
    if name not in _FAULTS:
        raise error(web.HTTPBadRequest, f"fault: got {name!r}; expected one of {_FAULTS}")
    try:
        sim.fault(module, Fault(name), active)
    except ValueError as exc:
        raise error(web.HTTPBadRequest, f"fault: got {name!r}; {exc}") from None
    return answer({"module": str(module), "fault": name, "active": active})


@routes.post("/api/sim/modules/{module}/clear")
async def sim_clear(request: web.Request) -> web.Response:
    sim, module = _sim_module(request)
    await _body(request, bodies.EmptyBody())
    sim.clear(module)
    return answer({"module": str(module), "cleared": True})


def _sim_module(request: web.Request) -> tuple[InjectsModuleFaults, ModuleId]:
    """A configured module (``can1:5``, or ``5`` on a station of one bus) and the service that simulates it."""
    station = _station(request)
    text = request.match_info["module"]
    sims = [s for s in station.services if isinstance(s, InjectsModuleFaults)]
    if not sims:
        raise error(web.HTTPNotFound, "this station runs no module simulator: no fault injection")
    modules = station.power.modules
    try:
        module = ModuleId.parse(text, list(station.power.buses)) if _MODULE.fullmatch(text) else None
    except ValueError:
        module = None
    if module is None or module not in modules:
        raise error(web.HTTPNotFound, f"no module {text!r}; modules: {', '.join(map(str, modules))}")
    sim = next((s for s in sims if s.simulates(module)), None)
    if sim is None:
        raise error(web.HTTPNotFound, f"module {module} is not simulated: no fault injection")
    return sim, module


def _sim(driver: Any, method: str, what: str) -> Any:
    if not callable(getattr(driver, method, None)):
        raise error(
            web.HTTPNotFound,
            f"this station's {what} is not simulated ({type(driver).__name__}): no fault injection",
        )
    return driver
