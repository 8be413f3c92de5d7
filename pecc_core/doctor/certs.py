"""The TLS files of a server: readable, the key private, the certificates valid and chained to the CA.

PECC itself refuses to start with a key others can read or a pair that
does not load (:mod:`pecc_core.profile.files`, :mod:`pecc_core.tls`);
this says so before, and adds what only shows later: a certificate that
expires soon (a station that stops serving ``wss://`` on a Sunday), one
not yet valid (a wrong clock) and a server certificate the SECCs' CA did
not issue.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from pecc_core.clock import wall
from pecc_core.doctor import Finding, Status, fail, ok, warn
from pecc_core.errors import ConfigError
from pecc_core.profile import files
from pecc_core.profile.model import TlsConfig
from pecc_core.tls import server_context

#: A certificate expiring within this is a warning.
EXPIRY_WARNING = timedelta(days=30)
_RENEW = "issue a new one (a lab CA: `pecc tls init`) and `systemctl reload pecc@NAME`"


def tls_checks(check: str, key: str, config: TlsConfig, now: datetime | None = None) -> list[Finding]:
    """Rows named ``check ...`` for the files of profile key ``key`` (``server.tls``), at ``now`` (the clock).

    One row per file, one per certificate's validity, one for the pair as
    the server loads it and one for the chain to the CA.
    """
    now = now or datetime.fromtimestamp(wall(), UTC)
    named = [("cert", config.cert, False), ("key", config.key, True)]
    if config.client_ca is not None:
        named.append(("client_ca", config.client_ca, False))
    rows = [_file(f"{check} {name}", f"{key}.{name}", path, private) for name, path, private in named]
    if any(row.status is Status.FAIL for row in rows):
        return rows
    chain = x509.load_pem_x509_certificates(config.cert.read_bytes())
    rows += [_validity(f"{check} cert", cert, now) for cert in chain]
    try:
        server_context(config, key)
    except ConfigError as exc:
        return [*rows, fail(f"{check} pair", str(exc), f"give {key}.key the key of {key}.cert")]
    rows.append(ok(f"{check} pair", "certificate and key load together"))
    if config.client_ca is not None:
        anchors = x509.load_pem_x509_certificates(config.client_ca.read_bytes())
        rows += [_validity(f"{check} client_ca", cert, now) for cert in anchors]
        rows.append(_chained(f"{check} chain", key, chain, anchors))
    return rows


def _file(check: str, key: str, path: Path, private: bool) -> Finding:
    problem = files.problem(key, path, private)
    if problem is None:
        return ok(check, f"{path} readable" + (", owner only" if private else ""))
    if files.problem(key, path) is None:  # readable: the problem is who else may read it
        return fail(check, problem, f"chmod 600 {path}")
    return fail(check, problem, f"check {key}: the file must exist, readable by the user PECC runs as")


def _validity(check: str, cert: x509.Certificate, now: datetime) -> Finding:
    subject = cert.subject.rfc4514_string()
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < start:
        return fail(
            check,
            f"{subject}: not valid before {start:%Y-%m-%d %H:%M} UTC; the clock says {now:%Y-%m-%d %H:%M}",
            "set the clock (`timedatectl`), or reissue the certificate if its date is wrong",
        )
    if now >= end:
        return fail(check, f"{subject}: expired on {end:%Y-%m-%d}", _RENEW)
    left = (end - now).days
    if end - now < EXPIRY_WARNING:
        return warn(check, f"{subject}: expires on {end:%Y-%m-%d}, in {left} days", _RENEW)
    return ok(check, f"{subject}: valid until {end:%Y-%m-%d} ({left} days)")


def _chained(check: str, key: str, chain: list[x509.Certificate], anchors: list[x509.Certificate]) -> Finding:
    """The server certificate (with the intermediates after it in its file) is issued by a CA of client_ca.

    A warning, not a failure: a server certificate from another CA works
    for SECCs that trust that one, but ``pecc tls init`` issues both from one.
    """
    last = chain[-1]
    if all(_issued(child, parent) for child, parent in itertools.pairwise(chain)) and any(
        last == anchor or _issued(last, anchor) for anchor in anchors
    ):
        return ok(check, f"{key}.cert chains to {key}.client_ca")
    return warn(check, f"{key}.cert is not issued by a CA of {key}.client_ca",
                "make sure the SECCs trust the CA that issued it, or issue it from client_ca")


def _issued(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
