"""A validated profile written back as a profile mapping: every default filled in.

``pecc profiles show`` prints it as TOML, which ``pecc profiles validate``
accepts back and which loads to the same :class:`Profile`. The core part is
dumped by :class:`~pecc_core.profile.schema.ProfileSchema`. A plugin's
validated params may be any object its schema builds, so each plugin
choice is written as its params were written, plus every top-level default
of that plugin's params schema that was not (so a driver's defaults appear
too). ``[power]`` is shown in the form it was written in (one bus as
``driver`` and ``modules``, or ``buses``). TOML has no null: a key whose value is None (its default, e.g. no site
cap) is left out.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from marshmallow import Schema, missing

from pecc_core.profile.model import PluginChoice, Profile
from pecc_core.profile.schema import ProfileSchema

if TYPE_CHECKING:
    from pecc_core.plugins import PluginManager
    from pecc_core.registry import Registry


def to_mapping(profile: Profile, plugins: PluginManager) -> dict[str, Any]:
    """``profile`` as the mapping a profile file holds, defaults included, None values left out."""

    def dumped(choice: PluginChoice, registry: Registry) -> PluginChoice:
        schema = registry.get(choice.name).params
        defaults = {} if schema is None else _defaults(schema())
        return replace(choice, params={**defaults, **choice.raw})

    roles = ("contactors", "imd", "supervision", "matrix")
    plain = replace(
        profile,
        power=replace(profile.power, buses=tuple(
            replace(bus, driver=dumped(bus.driver, plugins.registry("power_driver"))) for bus in profile.power.buses
        )),
        io=replace(profile.io, **{r: dumped(getattr(profile.io, r), plugins.registry(f"io.{r}")) for r in roles}),
        policy=dumped(profile.policy, plugins.registry("limit_policy")),
        services=tuple(dumped(s, plugins.registry("service")) for s in profile.services),
    )
    mapping: dict[str, Any] = _without_none(ProfileSchema().dump(plain))
    power = mapping["power"]
    if profile.power.buses[0].key == "power":  # written in the single-bus form: shown in it
        (bus,) = power.pop("buses")
        mapping["power"] = {"bus": bus["name"], "driver": bus["driver"], "modules": bus["modules"], **power}
    return mapping


def _defaults(schema: Schema) -> dict[str, Any]:
    """The schema's load defaults (called if callable) as a profile writes them, by its keys.

    A default is the loaded value (e.g. seconds of a field written in
    milliseconds): the field serializes it back to the profile's form.
    """
    defaults = {}
    for name, field in schema.fields.items():
        default = field.load_default
        if default is missing:
            continue
        value = default() if callable(default) else default
        defaults[field.data_key or name] = field.serialize(name, {name: value})
    return defaults


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_none(v) for v in value]
    return value
