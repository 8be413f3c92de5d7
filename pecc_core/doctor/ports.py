"""Whether a listening port is free: bound (and released at once) as the server would bind it."""

from __future__ import annotations

import errno
import socket

from pecc_core.doctor import Finding, fail, ok


def port_check(check: str, host: str, port: int, host_key: str, port_key: str) -> Finding:
    """One row: ``host``:``port`` (profile keys ``host_key``, ``port_key``) can be listened on now.

    Bound with ``SO_REUSEADDR``, as asyncio's servers bind, so a port whose
    last connections linger in TIME_WAIT counts as free, as it is to them.
    """
    if port == 0:
        return ok(check, f"{port_key} = 0: any free port")
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return fail(check, f"{host!r} does not resolve: {exc.strerror}", f"set {host_key} to an address of this host")
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                return _refused(check, exc, str(address[0]), port, host_key, port_key)
    return ok(check, f"{host}:{port} free")


def _refused(check: str, exc: OSError, host: str, port: int, host_key: str, port_key: str) -> Finding:
    if exc.errno == errno.EADDRINUSE:
        return fail(
            check,
            f"{host}:{port} is in use",
            f"stop what listens there (`ss -ltnp 'sport = :{port}'`: a PECC already running?) or change {port_key}",
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return fail(check, f"{host} is not an address of this machine",
                    f"set {host_key} to one of `ip -brief address` (or 0.0.0.0)")
    if exc.errno == errno.EACCES:
        return fail(check, f"port {port} needs privileges to listen on",
                    f"set {port_key} to 1024 or above, or grant CAP_NET_BIND_SERVICE")
    return fail(check, f"{host}:{port} cannot be bound: {exc.strerror or exc}", f"check {host_key} and {port_key}")
