"""The control API's routes: JSON in, JSON out, errors as ``{"error": "..."}``.

=======  ======================================  ==========================================
GET      /api/guns                               every gun (:func:`views.gun_view`)
GET      /api/modules                            every power module
GET      /api/limits                             run-time limits
PUT      /api/limits                             partial update; 400 names the bad key
POST     /api/guns/{gun}/stop-charging           PEP-WS stopCharging to the gun's SECC
POST     /api/guns/{gun}/inputs                  ``{"ids": [...]}`` -> getInput
POST     /api/guns/{gun}/outputs                 ``{"values": {...}}`` -> setOutput
POST     /api/sim/guns/{gun}/imd                 ``{"result": "warning"|"fault"|null}``
POST     /api/sim/guns/{gun}/supervision         ``{"allowed": bool}``
POST     /api/sim/modules/{address}/silence      ``{"silent": bool}``
POST     /api/sim/modules/{address}/fault        ``{"fault": "hardware", "active": bool}``
POST     /api/sim/modules/{address}/clear        every injection on the module undone
=======  ======================================  ==========================================

A request to the SECC answers 409 without a connected SECC, 504 when it
times out and 502 when the SECC answers with an error. The ``/api/sim``
routes answer 404 unless the station runs the simulated I/O drivers
(guns) or a module simulator service (modules).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from pecc_core import caps
from pecc_core.errors import SeccError, SeccNotConnected, SeccTimeout
from pecc_core.model import Isolation
from pecc_core.power import Fault
from pecc_plugins.ctl.http import HttpError, Request
from pecc_plugins.ctl.views import gun_view, modules_view

if TYPE_CHECKING:
    from pecc_core.gun import Gun
    from pecc_core.station import Station

Reply = tuple[HTTPStatus, Any]
Route = Callable[..., Awaitable[Reply]]

OK = HTTPStatus.OK
_FAULTS = [str(f) for f in Fault]
_INJECTABLE = {"warning": Isolation.WARNING, "fault": Isolation.FAULT, None: None}


class ControlApi:
    """Routes requests to the station (see the module doc)."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self._routes: list[tuple[re.Pattern[str], dict[str, Route]]] = [
            (re.compile(r"/api/guns"), {"GET": self.guns}),
            (re.compile(r"/api/modules"), {"GET": self.modules}),
            (re.compile(r"/api/limits"), {"GET": self.limits, "PUT": self.put_limits}),
            (re.compile(r"/api/guns/(?P<gun>[^/]+)/stop-charging"), {"POST": self.stop_charging}),
            (re.compile(r"/api/guns/(?P<gun>[^/]+)/inputs"), {"POST": self.inputs}),
            (re.compile(r"/api/guns/(?P<gun>[^/]+)/outputs"), {"POST": self.outputs}),
            (re.compile(r"/api/sim/guns/(?P<gun>[^/]+)/imd"), {"POST": self.sim_imd}),
            (re.compile(r"/api/sim/guns/(?P<gun>[^/]+)/supervision"), {"POST": self.sim_supervision}),
            (re.compile(r"/api/sim/modules/(?P<address>[^/]+)/silence"), {"POST": self.sim_silence}),
            (re.compile(r"/api/sim/modules/(?P<address>[^/]+)/fault"), {"POST": self.sim_fault}),
            (re.compile(r"/api/sim/modules/(?P<address>[^/]+)/clear"), {"POST": self.sim_clear}),
        ]

    async def __call__(self, request: Request) -> Reply:
        for pattern, methods in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            route = methods.get(request.method)
            if route is None:
                raise HttpError(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    f"{request.method} not allowed on {request.path}; use {', '.join(methods)}",
                )
            return await route(request, **match.groupdict())
        raise HttpError(HTTPStatus.NOT_FOUND, f"no API route {request.path}")

    def _gun(self, gun_id: str) -> Gun:
        gun = self.station.guns.get(gun_id)
        if gun is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no gun {gun_id!r}; guns: {sorted(self.station.guns)}")
        return gun

    # -- reading ---------------------------------------------------------------------

    async def guns(self, request: Request) -> Reply:
        return OK, {"guns": [gun_view(g) for g in self.station.guns.values()]}

    async def modules(self, request: Request) -> Reply:
        return OK, {"modules": modules_view(self.station)}

    async def limits(self, request: Request) -> Reply:
        return OK, caps.snapshot(self.station)

    async def put_limits(self, request: Request) -> Reply:
        try:
            return OK, caps.apply(self.station, request.json())
        except caps.CapsError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None

    # -- requests to the SECC -----------------------------------------------------------

    async def stop_charging(self, request: Request, gun: str) -> Reply:
        link = self._link(gun)
        return await _secc_call(link.stop_charging(), lambda _: {"gun": gun, "stopCharging": "accepted"})

    async def inputs(self, request: Request, gun: str) -> Reply:
        ids = _field(request, "ids", list, "a list of input identifiers")
        if not all(isinstance(i, str) for i in ids):
            raise HttpError(HTTPStatus.BAD_REQUEST, f"ids: got {ids!r}; expected strings")
        link = self._link(gun)
        return await _secc_call(link.get_input(ids), lambda values: {"gun": gun, "inputs": values})

    async def outputs(self, request: Request, gun: str) -> Reply:
        values = _field(request, "values", dict, "an object of output id -> value")
        link = self._link(gun)
        return await _secc_call(link.set_output(values), lambda _: {"gun": gun, "outputs": values})

    def _link(self, gun_id: str) -> Any:
        try:
            return self._gun(gun_id).link()
        except SeccNotConnected as exc:
            raise HttpError(HTTPStatus.CONFLICT, str(exc)) from None

    # -- simulation -------------------------------------------------------------------

    async def sim_imd(self, request: Request, gun: str) -> Reply:
        imd = self._sim(self.station.io.imd, "inject", "isolation monitor")
        result = _field(request, "result", (str, type(None)), '"warning", "fault" or null')
        if result not in _INJECTABLE:
            raise HttpError(HTTPStatus.BAD_REQUEST, f'result: got {result!r}; expected "warning", "fault" or null')
        imd.inject(self._gun(gun).id, _INJECTABLE[result])
        return OK, {"gun": gun, "imd": result}

    async def sim_supervision(self, request: Request, gun: str) -> Reply:
        supervision = self._sim(self.station.io.supervision, "allow", "CP/PP supervision")
        allowed = _field(request, "allowed", bool, "true or false")
        supervision.allow(self._gun(gun).id, allowed)
        return OK, {"gun": gun, "allowed": allowed}

    async def sim_silence(self, request: Request, address: str) -> Reply:
        sim, module = self._sim_module(address)
        silent = _field(request, "silent", bool, "true or false")
        sim.silence(module, silent)
        return OK, {"module": module, "silent": silent}

    async def sim_fault(self, request: Request, address: str) -> Reply:
        """Inject a fault by name (``{"fault": "hardware"}``) or by its status bit (``{"bit": 21}``)."""
        sim, module = self._sim_module(address)
        body = request.json()
        active = body.get("active", True) if isinstance(body, dict) else True
        if not isinstance(active, bool):
            raise HttpError(HTTPStatus.BAD_REQUEST, f"active: got {active!r}; expected true or false")
        if isinstance(body, dict) and "bit" in body:
            bit = body["bit"]
            if not isinstance(bit, int) or isinstance(bit, bool) or not 0 <= bit <= 31:
                raise HttpError(HTTPStatus.BAD_REQUEST, f"bit: got {bit!r}; expected a status bit number 0..31")
            sim.inject(module, bit, active)
            return OK, {"module": module, "bit": bit, "active": active}
        name = _field(request, "fault", str, f"one of {_FAULTS}, or a status bit number as \"bit\"")
        if name not in _FAULTS:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"fault: got {name!r}; expected one of {_FAULTS}")
        try:
            sim.fault(module, Fault(name), active)
        except ValueError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"fault: got {name!r}; {exc}") from None
        return OK, {"module": module, "fault": name, "active": active}

    async def sim_clear(self, request: Request, address: str) -> Reply:
        sim, module = self._sim_module(address)
        sim.clear(module)
        return OK, {"module": module, "cleared": True}

    def _sim_module(self, address: str) -> tuple[Any, int]:
        """The module simulator service and a configured module address."""
        sim = next((s for s in self.station.services if callable(getattr(s, "silence", None))), None)
        if sim is None:
            raise HttpError(HTTPStatus.NOT_FOUND, "this station runs no module simulator: no fault injection")
        if not address.isdigit() or int(address) not in self.station.driver.modules:
            raise HttpError(
                HTTPStatus.NOT_FOUND,
                f"no module {address!r}; modules: {sorted(self.station.driver.modules)}",
            )
        return sim, int(address)

    def _sim(self, driver: Any, method: str, what: str) -> Any:
        if not callable(getattr(driver, method, None)):
            raise HttpError(
                HTTPStatus.NOT_FOUND,
                f"this station's {what} is not simulated ({type(driver).__name__}): no fault injection",
            )
        return driver


def _field(request: Request, key: str, kind: type | tuple[type, ...], expected: str) -> Any:
    body = request.json()
    if not isinstance(body, dict) or key not in body:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"expected a JSON object with {key!r}: {expected}")
    value = body[key]
    if not isinstance(value, kind):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{key}: got {value!r}; expected {expected}")
    return value


async def _secc_call(call: Awaitable[Any], reply: Callable[[Any], Any]) -> Reply:
    """Await a PECC -> SECC request; its outcome as an HTTP answer."""
    try:
        return OK, reply(await call)
    except SeccTimeout as exc:
        raise HttpError(HTTPStatus.GATEWAY_TIMEOUT, f"the SECC did not answer: {exc}") from None
    except SeccError as exc:
        raise HttpError(HTTPStatus.BAD_GATEWAY, f"the SECC answered with an error: {exc}") from None
    except SeccNotConnected as exc:
        raise HttpError(HTTPStatus.CONFLICT, str(exc)) from None
