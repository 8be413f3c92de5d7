"""marshmallow schemas that turn a raw profile mapping into a :class:`Profile`.

Every message is written for the person who edits the profile: it says what
was expected. The loader adds the key path and the offending value. Unknown
keys are refused everywhere: a misspelt limit must never be silently
ignored on a charger.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates, validates_schema

from pecc_core import __version__
from pecc_core.logs import FORMATS, LEVELS
from pecc_core.profile import model
from pecc_core.profile.access import AllowSchema, TlsSchema
from pecc_core.profile.fields import (
    Boolean,
    Integer,
    List,
    Milliseconds,
    Nested,
    Number,
    StrictSchema,
    String,
    at_least,
    between,
    identifier,
)

#: The field types are re-exported: plugins import them from here.
__all__ = [
    "Boolean",
    "Integer",
    "List",
    "Milliseconds",
    "Nested",
    "Number",
    "ProfileSchema",
    "StrictSchema",
    "String",
    "at_least",
    "between",
    "build",
    "identifier",
]

MAX_SECCS = 6
MAX_GUNS_PER_SECC = 12
_LOGGER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SUBPROTOCOL = re.compile(r"^pep1\.\d+$")


def _check_range(data: dict[str, Any], lo: str, hi: str) -> None:
    if lo in data and hi in data and data[lo] > data[hi]:
        raise ValidationError(f"expected {lo} <= {hi} ({data[lo]} > {data[hi]})", lo)


class PluginChoiceSchema(StrictSchema):
    """``{name = "...", params = {...}}``; params are checked later by the plugin's schema."""

    name = String(required=True, validate=validate.Length(min=1, error="expected a name"))
    params = fields.Dict(keys=fields.String(), load_default=dict)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> model.PluginChoice:
        return model.PluginChoice(**data)


class StationSchema(StrictSchema):
    name = String(load_default="pecc")
    manufacturer = String(load_default="PECC")
    firmware_version = String(load_default=__version__)
    float_values = Boolean(load_default=True)
    allow_oversize = Boolean(load_default=False)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> model.StationConfig:
        return model.StationConfig(**data)


class ServerSchema(StrictSchema):
    transport = String(load_default="pepws")
    host = String(load_default="127.0.0.1")
    port = Integer(load_default=8765, validate=between(0, 65535))
    subprotocols = List(
        String(validate=validate.Regexp(_SUBPROTOCOL, error="expected 'pep1.<minor>'")),
        load_default=lambda: ["pep1.5"],
        validate=validate.Length(min=1, error="expected at least one sub-protocol"),
    )
    require_subprotocol = Boolean(load_default=False)
    max_frame_bytes = Integer(load_default=65536, validate=between(1024, 16 * 1024 * 1024))
    send_queue = Integer(load_default=64, validate=between(1, 100_000))
    tls = Nested(TlsSchema, load_default=None)
    refuse_insecure = Boolean(load_default=False)
    handshake_timeout_ms = Integer(load_default=3000, validate=between(100, 60_000))
    max_handshakes = Integer(load_default=256, validate=between(1, 100_000))
    max_handshakes_per_peer = Integer(load_default=0, validate=between(0, 100_000))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> model.ServerConfig:
        data["subprotocols"] = tuple(data["subprotocols"])
        return model.ServerConfig(**data)


class TimingsSchema(StrictSchema):
    status_interval_ms = Integer(load_default=200, validate=between(10, 10_000))
    request_timeout_ms = Integer(load_default=500, validate=between(10, 60_000))
    secc_unresponsive_ms = Integer(load_default=5000, validate=between(100, 600_000))
    ping_interval_ms = Integer(load_default=1000, validate=between(10, 600_000))
    control_cycle_ms = Integer(load_default=100, validate=between(5, 10_000))
    cable_check_ms = Integer(load_default=37_000, validate=between(0, 600_000))
    precharge_ms = Integer(load_default=4000, validate=between(0, 600_000))

    @validates_schema
    def ping_inside_timeout(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("ping_interval_ms", 0) >= data.get("secc_unresponsive_ms", 1):
            raise ValidationError(
                "expected ping_interval_ms < secc_unresponsive_ms", "ping_interval_ms"
            )

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> model.Timings:
        return model.Timings(**data)


class SafetySchema(StrictSchema):
    """``[safety]``: IEC 61851-23:2023 settings; the defaults follow the standard and EVerest."""

    cable_check_voltage = Number(load_default=None, allow_none=True, validate=between(0, 1500))
    cable_check_tolerance_v = Number(load_default=10.0, validate=between(0.1, 100))
    cable_check_voltage_ms = Integer(load_default=10_000, validate=between(10, 600_000))
    imd_self_test = String(
        load_default="after_close",
        validate=validate.OneOf(["after_close", "before_close", "both"], error="expected one of {choices}"),
    )
    imd_self_test_ms = Integer(load_default=20_000, validate=between(10, 600_000))
    isolation_samples = Integer(load_default=1, validate=between(1, 100))
    isolation_sample_ms = Integer(load_default=5_000, validate=between(10, 600_000))
    edition = String(load_default="2023", validate=validate.OneOf(["2023", "2014"], error="expected one of {choices}"))
    cable_check_discharge = Boolean(load_default=True)
    error_over_voltage_ms = Integer(load_default=400, validate=between(0, 60_000))
    plausibility_v = Number(load_default=50.0, validate=between(1, 1000))
    ramp_a_per_s = Number(load_default=25.0, validate=between(0.1, 1e9))
    reading_stale_ms = Integer(load_default=1000, validate=between(10, 60_000))
    #: within the SECC's 37 s PE_CABLE_CHECK_TIME, leaving the test its time
    module_wait_ms = Integer(load_default=30_000, validate=between(0, 600_000))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> model.SafetyConfig:
        return model.SafetyConfig(**data)


class GunSchema(StrictSchema):
    id = String(required=True, validate=identifier)
    path = String(validate=validate.Regexp(r"^/\S*$", error="expected a URL path like '/gun1'"))
    voltage_min = Number(load_default=150.0, validate=at_least(0))
    voltage_max = Number(required=True, validate=at_least(0))
    current_min = Number(load_default=0.0, validate=at_least(0))
    current_max = Number(required=True, validate=at_least(0))
    power_max = Number(required=True, validate=at_least(0))
    precharge_current = Number(load_default=2.0, validate=between(0, 10))
    bidirectional = Boolean(load_default=False)

    @validates_schema
    def ranges(self, data: dict[str, Any], **_: Any) -> None:
        _check_range(data, "voltage_min", "voltage_max")
        _check_range(data, "current_min", "current_max")


class SeccSchema(StrictSchema):
    id = String(required=True, validate=identifier)
    guns = List(
        Nested(GunSchema),
        required=True,
        validate=validate.Length(min=1, error="expected at least one gun"),
    )
    allow = Nested(AllowSchema, load_default=model.SeccAllow)


class ModuleSchema(StrictSchema):
    address = Integer(required=True, validate=between(0, 255))
    voltage_min = Number(load_default=150.0, validate=at_least(0))
    voltage_max = Number(load_default=1000.0, validate=at_least(0))
    current_max = Number(load_default=100.0, validate=at_least(0))
    power_max = Number(load_default=30_000.0, validate=at_least(0))
    guns = List(String(), load_default=list)

    @validates_schema
    def ranges(self, data: dict[str, Any], **_: Any) -> None:
        _check_range(data, "voltage_min", "voltage_max")


#: The bus of a profile that writes ``[power]`` in the single-bus form without naming it.
DEFAULT_BUS = "can"
_BUS_NAME = validate.Regexp(r"^[a-z0-9_-]+$", error="expected a name of a-z, 0-9, '_' and '-'")


def _modules(**kwargs: Any) -> List:
    return List(Nested(ModuleSchema), validate=validate.Length(min=1, error="expected at least one module"), **kwargs)


def _unique_addresses(modules: list[dict[str, Any]], bus: str | None) -> None:
    twice = _twice(m["address"] for m in modules)
    if twice is not None:
        where = f" on bus {bus!r}" if bus else ""
        raise ValidationError(f"expected unique module addresses{where}, {twice} is used twice", "modules")


class BusSchema(StrictSchema):
    """One ``[[power.buses]]`` table: a bus, its driver and its modules."""

    name = String(required=True, validate=_BUS_NAME)
    driver = Nested(PluginChoiceSchema, required=True)
    modules = _modules(required=True)

    @validates_schema
    def unique_addresses(self, data: dict[str, Any], **_: Any) -> None:
        _unique_addresses(data["modules"], data["name"])


class PowerSchema(StrictSchema):
    """``[power]``: any number of ``buses``, or one bus written as ``driver`` and ``modules``.

    The single-bus form (the only one before several buses) stays valid:
    its bus is named ``bus``, :data:`DEFAULT_BUS` if not given. Either
    form loads to the same :class:`~pecc_core.profile.model.PowerConfig`
    (:mod:`pecc_core.profile.dump` shows a profile in the form it was
    written in).
    """

    bus = String(load_only=True, validate=_BUS_NAME)
    driver = Nested(PluginChoiceSchema, load_only=True)
    modules = _modules(load_only=True)
    buses = List(Nested(BusSchema), validate=validate.Length(min=1, error="expected at least one bus"))
    max_modules_per_gun = Integer(load_default=0, validate=at_least(0))

    @validates_schema
    def one_form(self, data: dict[str, Any], **_: Any) -> None:
        single = [key for key in ("bus", "driver", "modules") if key in data]
        if "buses" in data:
            if single:
                raise ValidationError(f"expected either buses or the single-bus {single[0]}, not both", single[0])
            twice = _twice(bus["name"] for bus in data["buses"])
            if twice is not None:
                raise ValidationError(f"expected unique bus names, {twice!r} is used twice", "buses")
            return
        for key in ("driver", "modules"):  # required in this form
            if key not in data:
                raise ValidationError(self.fields[key].error_messages["required"], key)
        _unique_addresses(data["modules"], None)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> model.PowerConfig:
        if "buses" in data:
            raws = [(f"power.buses[{i}]", bus) for i, bus in enumerate(data["buses"])]
        else:
            raws = [("power", {"name": data.get("bus", DEFAULT_BUS), **data})]
        buses = tuple(
            model.PowerBusConfig(
                name=raw["name"],
                driver=raw["driver"],
                modules=tuple(
                    model.ModuleConfig(**{**m, "guns": tuple(m["guns"]), "bus": raw["name"]}) for m in raw["modules"]
                ),
                key=key,
            )
            for key, raw in raws
        )
        return model.PowerConfig(buses=buses, max_modules_per_gun=data["max_modules_per_gun"])


class IoSchema(StrictSchema):
    """Required, every role: a real cabinet must never fall back to simulated contactors."""

    contactors = Nested(PluginChoiceSchema, required=True)
    imd = Nested(PluginChoiceSchema, required=True)
    supervision = Nested(PluginChoiceSchema, required=True)
    matrix = Nested(PluginChoiceSchema, required=True)
    #: Optional: an emergency-stop input; a voltage sensor at the connector (docs/safety.md).
    estop = Nested(PluginChoiceSchema, load_default=None)
    connector = Nested(PluginChoiceSchema, load_default=None)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> model.IoConfig:
        return model.IoConfig(**data)


class SiteSchema(StrictSchema):
    max_power_w = Number(load_default=None, allow_none=True, validate=at_least(0))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> model.SiteConfig:
        return model.SiteConfig(**data)


def _twice(values: Any) -> Any:
    """The first value that occurs more than once, or None."""
    for value, count in Counter(values).items():
        if count > 1:
            return value
    return None


class ProfileSchema(StrictSchema):
    log_level = String(load_default="INFO", validate=validate.OneOf(LEVELS, error="expected one of {choices}"))
    log_format = String(load_default="text", validate=validate.OneOf(FORMATS, error="expected one of {choices}"))
    #: A level per logger (``"pecc_plugins.pepws" = "DEBUG"``), over ``log_level``.
    log_levels = fields.Dict(keys=String(), values=String(), load_default=dict)
    station = Nested(StationSchema, load_default=lambda: StationSchema().load({}))
    server = Nested(ServerSchema, load_default=lambda: ServerSchema().load({}))
    timings = Nested(TimingsSchema, load_default=lambda: TimingsSchema().load({}))
    safety = Nested(SafetySchema, load_default=lambda: SafetySchema().load({}))
    seccs = List(
        Nested(SeccSchema),
        required=True,
        validate=validate.Length(min=1, error="expected at least one SECC"),
    )
    power = Nested(PowerSchema, required=True)
    io = Nested(IoSchema, required=True)
    policy = Nested(PluginChoiceSchema, load_default=lambda: model.PluginChoice("static"))
    site = Nested(SiteSchema, load_default=lambda: SiteSchema().load({}))
    services = List(Nested(PluginChoiceSchema), load_default=list)

    @validates("log_levels")
    def logger_levels(self, value: dict[str, str], **_: Any) -> None:
        errors = {
            name: [
                f"expected a logger name like pecc_plugins.pepws, not {name!r}"
                if not _LOGGER.match(name)
                else f"expected one of {', '.join(LEVELS)}"
            ]
            for name, level in value.items()
            if not _LOGGER.match(name) or level not in LEVELS
        }
        if errors:
            raise ValidationError(errors)

    @validates_schema
    def station_shape(self, data: dict[str, Any], **_: Any) -> None:
        seccs = data.get("seccs") or []
        oversize = data.get("station") is not None and data["station"].allow_oversize
        if len(seccs) > MAX_SECCS and not oversize:
            raise ValidationError(
                f"expected at most {MAX_SECCS} SECCs, got {len(seccs)} "
                "(set station.allow_oversize = true to allow more)",
                "seccs",
            )
        twice = _twice(s["id"] for s in seccs)
        if twice:
            raise ValidationError(f"expected unique SECC ids, {twice!r} is used twice", "seccs")
        for i, secc in enumerate(seccs):
            if len(secc["guns"]) > MAX_GUNS_PER_SECC and not oversize:
                raise ValidationError(
                    {i: {"guns": [(
                        f"expected at most {MAX_GUNS_PER_SECC} guns per SECC, got "
                        f"{len(secc['guns'])} (set station.allow_oversize = true to allow more)"
                    )]}},
                    "seccs",
                )
        guns = [g for s in seccs for g in s["guns"]]
        twice = _twice(g["id"] for g in guns)
        if twice:
            raise ValidationError(f"expected unique gun ids, {twice!r} is used twice", "seccs")
        twice = _twice(self._path(s, g) for s in seccs for g in s["guns"])
        if twice:
            raise ValidationError(f"expected a unique URL path per gun, {twice!r} is used twice", "seccs")
        self._check_identities(data.get("server"), seccs)
        ids = {g["id"] for g in guns}
        power = data.get("power")
        for b, bus in enumerate(power.buses if power is not None else ()):
            for i, module in enumerate(bus.modules):
                unknown = [g for g in module.guns if g not in ids]
                if unknown:
                    where: dict[Any, Any] = {"modules": {i: {"guns": [
                        f"expected gun ids of this profile, unknown: {unknown}"
                    ]}}}
                    raise ValidationError(where if bus.key == "power" else {"buses": {b: where}}, "power")

    @staticmethod
    def _check_identities(server: model.ServerConfig | None, seccs: list[dict[str, Any]]) -> None:
        """Certificate names and fingerprints need client certificates, so mutual TLS."""
        tls = server.tls if server is not None else None
        if tls is not None and tls.client_ca is not None:
            return
        for i, secc in enumerate(seccs):
            allow = secc.get("allow") or model.SeccAllow()
            needs_ca = "expected server.tls.client_ca too: certificate identities need client certificates"
            for key in ("names", "fingerprints"):
                if getattr(allow, key):
                    raise ValidationError({i: {"allow": {key: [f"{needs_ca} (mutual TLS)"]}}}, "seccs")

    @staticmethod
    def _path(secc: dict[str, Any], gun: dict[str, Any]) -> str:
        return gun.get("path") or f"/{secc['id']}/{gun['id']}"

    @post_load
    def make(self, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        data["seccs"] = tuple(
            model.SeccConfig(
                s["id"],
                tuple(
                    model.GunConfig(secc=s["id"], **{**g, "path": self._path(s, g)}) for g in s["guns"]
                ),
                s["allow"],
            )
            for s in data["seccs"]
        )
        data["services"] = tuple(data["services"])
        return data


def build(data: dict[str, Any], name: str, source: Path) -> model.Profile:
    """Validate ``data`` and build the profile; raises marshmallow's ValidationError."""
    loaded = ProfileSchema().load(data)
    tls = loaded["server"].tls
    if tls is not None:
        loaded["server"] = replace(loaded["server"], tls=_relative_to(tls, source.parent))
    return model.Profile(name=name, source=source, **loaded)


def _relative_to(tls: model.TlsConfig, folder: Path) -> model.TlsConfig:
    """TLS file paths as given, relative ones taken from the profile's folder."""
    ca = tls.client_ca
    return replace(
        tls, cert=folder / tls.cert, key=folder / tls.key, client_ca=folder / ca if ca else None
    )
