"""``pecc site init``: the keys, broker identities and ACL of one site, written once, deployed by hand.

For a site profile it writes, under one directory::

    keys/site.key            the coordinator's signing key (shares, cap commands)   -> coordinator only
    keys/site.pub            its public half                                        -> every cabinet
    keys/<cabinet>.key       a cabinet's signing key (demand, presence)             -> that cabinet only
    keys/<cabinet>.pub       its public half                                        -> the coordinator
    mosquitto/mosquitto.conf a listener with no anonymous access, the files below
    mosquitto/passwords      one identity per client, hashed as mosquitto_passwd does
    mosquitto/acl            who may write and read which topic
    clients/<client>.toml    each client's broker login and key paths, to copy into its profile

Private keys and the client files are readable by their owner only. The
ACL gives the coordinator alone the shares, its state and nothing of the
cabinets' but reading; each cabinet writes only its own demand, presence
and telemetry and reads only its own share and the coordinator's state;
the operator (``pecc site status``, ``set-cap``) reads the site and writes
only the cap command, which the coordinator also checks for the site
key's signature.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from pecc_plugins.site import signing
from pecc_plugins.site.profile import SiteProfile
from pecc_plugins.site.topics import Topics

#: mosquitto_passwd's PBKDF2-SHA512 hash: ``$7$<iterations>$<salt>$<hash>`` (base64), 12-byte salt.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12


def coordinator_user(site: str) -> str:
    return f"pecc-site-{site}"


def cabinet_user(site: str, cabinet: str) -> str:
    return f"pecc-{site}-{cabinet}"


def operator_user(site: str) -> str:
    return f"pecc-site-{site}-operator"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """A password file entry's hash in mosquitto's ``$7$`` form (PBKDF2-HMAC-SHA512)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def acl(profile: SiteProfile) -> str:
    """The ``acl_file``: per identity, the topics it may write and read (everything else is denied)."""
    topics = Topics(profile.id)
    lines = ["# Written by pecc site init: who may read and write which topic of this site.", ""]
    lines += [f"user {coordinator_user(profile.id)}",
              f"topic write {topics.coordinator}",
              f"topic read {topics.cap_set}",
              f"topic write {topics.root}/cabinets/+/share",
              f"topic read {topics.presences}",
              f"topic read {topics.demands}", ""]
    for cabinet in profile.safe:
        own = topics.cabinet(cabinet)
        lines += [f"user {cabinet_user(profile.id, cabinet)}",
                  f"topic read {topics.share(cabinet)}",
                  f"topic read {topics.coordinator}",
                  f"topic write {topics.presence(cabinet)}",
                  f"topic write {topics.demand(cabinet)}",
                  f"topic write {own}/guns/#",
                  f"topic write {topics.events(cabinet)}",
                  f"topic write {topics.sessions(cabinet)}",
                  f"topic write {topics.incidents(cabinet)}", ""]
    lines += [f"user {operator_user(profile.id)}",
              f"topic read {topics.root}/#",
              f"topic write {topics.cap_set}", ""]
    return "\n".join(lines)


def broker_conf(profile: SiteProfile, directory: Path) -> str:
    """A ``mosquitto.conf`` for the site: the profile's port, no anonymous clients, the files beside it."""
    return "\n".join([
        "# Written by pecc site init. Add TLS (certfile, keyfile, cafile) for a broker off this host.",
        "per_listener_settings false",
        f"listener {profile.broker['port']} {profile.broker['host']}",
        "allow_anonymous false",
        f"password_file {directory / 'passwords'}",
        f"acl_file {directory / 'acl'}",
        "",
    ])


@dataclass(frozen=True, slots=True)
class Written:
    """What :func:`write` made: the directory and each client's file."""

    directory: Path
    clients: dict[str, Path]


def write(profile: SiteProfile, directory: Path) -> Written:
    """Write the site's keys, broker configuration and client files under ``directory``.

    Refuses (FileExistsError) to overwrite an earlier run: new keys would
    lock every deployed cabinet out.
    """
    keys, broker_dir, clients_dir = directory / "keys", directory / "mosquitto", directory / "clients"
    if keys.exists():
        raise FileExistsError(f"{keys} exists: pecc site init does not replace a site's keys")
    for folder in (keys, broker_dir, clients_dir):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    broker_dir = broker_dir.resolve()
    site_key = signing.new_key()
    signing.write_private(site_key, keys / "site.key")
    signing.write_public(site_key, keys / "site.pub")
    logins: dict[str, str] = {}
    clients: dict[str, Path] = {}

    def login(user: str) -> dict[str, Any]:
        password = logins[user] = secrets.token_urlsafe(24)
        return {"host": profile.broker["host"], "port": profile.broker["port"], "username": user,
                "password": password}

    site_key_file = str((keys / "site.key").resolve())
    coordinator = {"broker": login(coordinator_user(profile.id)),
                   "keys": {"site": site_key_file,
                            "cabinets": {c: str((keys / f"{c}.pub").resolve()) for c in profile.safe}}}
    clients["coordinator"] = _private_toml(clients_dir / "coordinator.toml", coordinator)
    for cabinet in profile.safe:
        key = signing.new_key()
        signing.write_private(key, keys / f"{cabinet}.key")
        signing.write_public(key, keys / f"{cabinet}.pub")
        params = {"site": profile.id, "cabinet": cabinet, "broker": login(cabinet_user(profile.id, cabinet)),
                  "key": str((keys / f"{cabinet}.key").resolve()), "site_key": str((keys / "site.pub").resolve())}
        clients[cabinet] = _private_toml(clients_dir / f"{cabinet}.toml", {"params": params})
    operator = {"broker": login(operator_user(profile.id)), "keys": {"site": site_key_file}}
    clients["operator"] = _private_toml(clients_dir / "operator.toml", operator)
    passwords = "".join(f"{user}:{password_hash(password)}\n" for user, password in logins.items())
    _private_text(broker_dir / "passwords", passwords)
    (broker_dir / "acl").write_text(acl(profile))
    (broker_dir / "mosquitto.conf").write_text(broker_conf(profile, broker_dir))
    return Written(directory, clients)


def _private_toml(path: Path, data: Mapping[str, Any]) -> Path:
    _private_text(path, "# Written by pecc site init: copy into the client's profile; keep it secret.\n"
                  + tomli_w.dumps(data))
    return path


def _private_text(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)
