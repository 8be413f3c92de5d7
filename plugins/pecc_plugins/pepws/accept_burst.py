"""How many accepted sockets the event loop holds before the admission gate can close them.

The gate (:mod:`pecc_plugins.pepws.admission`) sees a socket in
``connection_made``, and a socket it refuses frees its descriptor only once
the loop closes it. Until then each one costs a descriptor the handshake
budget must leave free, and how many that are depends on how the loop
accepts:

asyncio (``selector_events.BaseSelectorEventLoop._accept_connection``)
    accepts up to ``backlog`` sockets per readiness event, one loop turn;
    ``connection_made`` runs two turns later (the ``_accept_connection2``
    task's first step makes the transport, which schedules it with
    ``call_soon``), and a refused socket's descriptor closes one turn after
    that (``abort`` schedules ``_call_connection_lost``, which closes the
    socket). While the listen queue stays full, the sockets of three turns'
    accepts are open at once: three times the backlog. Measured with an ``abort`` in
    ``connection_made`` against a flood: 300 open at once with a backlog of 100.
uvloop (libuv's ``uv__server_io`` in src/unix/stream.c, libuv 1.45 and later; uvloop 0.23 bundles 1.52.1)
    accepts one socket per readiness event ("unix: don't accept() connections
    in a loop", libuv #3696); ``connection_made`` runs in the next loop
    iteration's idle phase, and a refused socket's descriptor closes there at
    once (``uv_close`` closes it, ``uv__stream_close``). One poll phase reads
    the listening socket once per ``epoll_wait``, and ``uv__io_poll``
    (src/unix/linux.c) waits again, at most 48 times, only while each wait
    fills its array of 1024 events: at most 48 sockets, one where fewer than
    1024 descriptors are ready. Past the open-file limit, libuv sheds the
    load itself (``uv__emfile_trick``): it closes a descriptor it keeps in
    reserve, accepts and closes every queued connection, and opens the
    reserve again; nothing reaches uvloop, so nothing is logged, and a
    queued SECC's connection is closed with the flood's. Without the
    reserve (not reopened) the failed accept is dropped silently and the
    listening socket, still readable, is tried again every iteration until
    a descriptor is free.

Another loop (the proactor, say) is counted as asyncio's selector loop.
"""

from __future__ import annotations

import asyncio

from pecc_core.asyncutil import loop_name

#: The smallest listen backlog: the kernel's queue of connections not yet
#: accepted, and asyncio's accept burst (see above). A smaller burst leaves
#: more of the open-file limit to the handshake budget.
MIN_BACKLOG = 64
#: Bursts open at once on asyncio (see above).
ASYNCIO_BURSTS = 3
#: libuv's ``epoll_wait`` calls in one poll phase at most (``count = 48`` in ``uv__io_poll``).
UVLOOP_BURST = 48
#: Descriptors kept free for everything else: log files, the control API and its clients.
OTHER_FILES = 32


def backlog(guns: int) -> int:
    """The listen backlog of a station of ``guns``: at least :data:`MIN_BACKLOG`, twice its guns.

    After a restart of the station, or of the network between, every gun's
    SECC connects at once, and a reconnect may race its old connection's
    close. A connection the full queue drops waits for the client's SYN
    retransmission (a second or more on Linux): a gun late to its SECC.
    """
    return max(MIN_BACKLOG, 2 * guns)


def unseen_sockets(loop: asyncio.AbstractEventLoop, backlog: int) -> int:
    """Accepted sockets ``loop`` can hold open before the gate has closed the ones it refuses."""
    if loop_name(loop) == "uvloop":
        return UVLOOP_BURST
    return ASYNCIO_BURSTS * backlog


def margin(loop: asyncio.AbstractEventLoop, backlog: int) -> int:
    """Descriptors the handshake budget leaves free on ``loop`` listening with ``backlog``, beyond one per gun."""
    return unseen_sockets(loop, backlog) + OTHER_FILES
