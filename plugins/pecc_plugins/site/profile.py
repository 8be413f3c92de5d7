"""The site profile of ``pecc site run``: the cabinets, the grid cap and its schedule, the policy, the broker.

::

    [site]
    id = "depot"                 # the topic tree: pecc/depot/...
    max_power_w = 150000         # the grid connection
    policy = "demand"            # equal | demand
    share_ttl_s = 5              # a share lapses this long after it was sent
    refresh_s = 1                # shares are re-sent (and re-planned) this often

    [broker]
    host = "127.0.0.1"
    port = 1883
    username = "pecc-site-depot"  # from pecc site init's clients/coordinator.toml
    password = "..."

    [keys]                       # written by pecc site init (relative paths: from this file)
    site = "keys/site.key"       # signs the shares and cap commands
    cabinets = { north = "keys/north.pub" }   # check each cabinet's demand

    [[cabinets]]
    id = "north"
    safe_share_w = 20000         # what it may draw without a coordinator
    priority = 0

    [[schedule]]                 # optional: a lower cap by time of day (local time)
    from = "17:00"
    max_power_w = 90000

Validated like a station profile: every problem is reported as ``key: got
VALUE; expected ...`` before anything starts. The safe shares must fit
under the lowest cap of the day, or the fallback itself could overload
the connection. The keys are read here too: a missing or wrong key file
is a profile error, not a coordinator that signs nothing.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from marshmallow import ValidationError, fields, validates_schema

from pecc_core.errors import ConfigError
from pecc_core.problems import describe
from pecc_core.profile.schema import (
    Integer,
    List,
    Nested,
    Number,
    StrictSchema,
    String,
    at_least,
    between,
    identifier,
)
from pecc_plugins.site import signing
from pecc_plugins.site.broker import BrokerSchema
from pecc_plugins.site.targets import POLICIES

_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class SiteProfileError(ConfigError):
    """The site profile is unusable: every problem on its own line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"invalid site profile {source}:\n" + "\n".join(f"  - {p}" for p in problems))


def _one_of(value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValidationError(f"expected one of {', '.join(choices)}")


def _clock(value: str) -> None:
    if not _CLOCK.match(value):
        raise ValidationError("expected a time of day HH:MM (00:00 to 23:59)")


def _some(value: list[Any]) -> None:
    if not value:
        raise ValidationError("expected at least one cabinet")


class SiteSchema(StrictSchema):
    id = String(required=True, validate=identifier)
    max_power_w = Number(required=True, validate=at_least(0))
    policy = String(load_default="demand", validate=lambda v: _one_of(v, POLICIES))
    share_ttl_s = Number(load_default=5.0, validate=between(1, 600))
    refresh_s = Number(load_default=1.0, validate=between(0.1, 60))
    grace_s = Number(load_default=1.0, validate=between(0, 60))


class CabinetSchema(StrictSchema):
    id = String(required=True, validate=identifier)
    safe_share_w = Number(required=True, validate=at_least(0))
    priority = Integer(load_default=0, validate=between(-1000, 1000))


class ScheduleSchema(StrictSchema):
    start = String(required=True, data_key="from", validate=_clock)
    max_power_w = Number(required=True, validate=at_least(0))


class KeysSchema(StrictSchema):
    """The coordinator's signing key and each cabinet's public key (PEM files, ``pecc site init``)."""

    site = String(required=True)
    cabinets = fields.Dict(keys=String(), values=String(), required=True)


class SiteProfileSchema(StrictSchema):
    site = Nested(SiteSchema, required=True)
    broker = Nested(BrokerSchema, load_default=lambda: BrokerSchema().load({}))
    keys = Nested(KeysSchema, load_default=None)
    cabinets = List(Nested(CabinetSchema), required=True, validate=_some)
    schedule = List(Nested(ScheduleSchema), load_default=list)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        ids = [c["id"] for c in data["cabinets"]]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValidationError(f"expected each cabinet id once; {twice} appear twice", "cabinets")
        safe = sum(c["safe_share_w"] for c in data["cabinets"])
        lowest = min([data["site"]["max_power_w"], *(s["max_power_w"] for s in data["schedule"])])
        if safe > lowest:
            raise ValidationError(
                f"expected safe shares summing to at most the lowest cap ({lowest:g} W); they sum to {safe:g} W",
                "cabinets",
            )
        unkeyed = [i for i in ids if data["keys"] is not None and i not in data["keys"]["cabinets"]]
        if unkeyed:
            raise ValidationError(f"expected a public key for every cabinet; none for {unkeyed}", "keys")
        starts = [s["start"] for s in data["schedule"]]
        if len(set(starts)) != len(starts):
            raise ValidationError("expected each start time once", "schedule")


@dataclass(frozen=True, slots=True)
class SiteProfile:
    """A validated site profile (see the module doc for the keys)."""

    id: str
    max_power_w: float
    policy: str
    share_ttl_s: float
    refresh_s: float
    grace_s: float
    broker: dict[str, Any]
    safe: dict[str, float]  # cabinet -> safe share (W), in profile order
    priority: dict[str, int]
    schedule: tuple[tuple[datetime.time, float], ...]  # (from, cap), by start time
    site_key: Ed25519PrivateKey | None  # signs shares and cap commands (None: read for pecc site init)
    cabinet_keys: dict[str, Ed25519PublicKey]  # check each cabinet's demand
    source: str = ""

    def cap_at(self, when: datetime.time, override: float | None = None) -> float:
        """The grid cap in force at local time ``when``: the schedule's entry, else the profile's
        (``override``, an operator's run-time cap, replaces the profile's; the schedule still lowers it)."""
        base = self.max_power_w if override is None else override
        if not self.schedule:
            return base
        before = [cap for start, cap in self.schedule if start <= when]
        return min(base, before[-1] if before else self.schedule[-1][1])


def parse(raw: Any, source: str = "(site profile)", base: Path | None = None, keys: bool = True) -> SiteProfile:
    """Validate ``raw`` (the TOML's mapping) into a :class:`SiteProfile`; :class:`SiteProfileError` otherwise.

    Relative key paths are read from ``base`` (the profile's folder; the working directory if None).
    ``keys=False`` reads a profile that has no keys yet (``pecc site init`` makes them).
    """
    try:
        data = SiteProfileSchema().load(raw)
    except ValidationError as exc:
        raise SiteProfileError(source, list(describe(exc.messages, raw))) from None
    site_key, cabinet_keys = None, {}
    if keys:
        if data["keys"] is None:
            raise SiteProfileError(source, ["keys: expected the [keys] table (pecc site init writes the keys)"])
        folder, files = base or Path(), data["keys"]
        try:
            site_key = signing.load_private(folder / files["site"], "keys.site")
            cabinet_keys = {
                c["id"]: signing.load_public(folder / files["cabinets"][c["id"]], f"keys.cabinets.{c['id']}")
                for c in data["cabinets"]
            }
        except signing.SiteKeyError as exc:
            raise SiteProfileError(source, [str(exc)]) from None
    site = data["site"]
    schedule = sorted(
        (datetime.time.fromisoformat(s["start"]), s["max_power_w"]) for s in data["schedule"]
    )
    return SiteProfile(
        id=site["id"],
        max_power_w=site["max_power_w"],
        policy=site["policy"],
        share_ttl_s=site["share_ttl_s"],
        refresh_s=site["refresh_s"],
        grace_s=site["grace_s"],
        broker=data["broker"],
        safe={c["id"]: c["safe_share_w"] for c in data["cabinets"]},
        priority={c["id"]: c["priority"] for c in data["cabinets"]},
        schedule=tuple(schedule),
        site_key=site_key,
        cabinet_keys=cabinet_keys,
        source=source,
    )


def load(path: str, keys: bool = True) -> SiteProfile:
    """Read and validate the site profile at ``path`` (``keys``: and its key files)."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SiteProfileError(path, [f"cannot be read: {exc}"]) from None
    return parse(raw, path, Path(path).parent, keys)
