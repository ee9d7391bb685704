"""How many clients the daemon serves, and descriptors kept for its real work.

ZeroMQ accepts connections on its own threads, so an idle peer costs the daemon a file
descriptor without ever sending a byte; a thousand of them under a 1024-descriptor limit once
made a running job fail with "Too many open files". Three measures, all on the I/O thread
(cheap bookkeeping only, no file or engine work):

* :func:`raise_descriptor_limit` lifts the soft ``RLIMIT_NOFILE`` to the hard limit at start and
  says how many clients fit beside :data:`DESCRIPTOR_RESERVE` descriptors kept for jobs (stored
  frames, journals, the engine);
* :class:`ClientTable` counts the peers that have spoken; a new peer beyond ``--max-clients``
  gets a ``busy`` error instead of service;
* it also counts open connections from a socket monitor and shuts down (``shutdown(2)``, so
  libzmq closes its own descriptor) any connection beyond ``max_clients + grace``, so that
  idle connections cannot use up the descriptors jobs need.

See ``docs/reliability.md`` ("Admission, memory and connections").
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import OrderedDict

from void_client.errors import ErrorCode, VoidError

log = logging.getLogger(__name__)

#: Clients served at once unless ``--max-clients`` says otherwise (a studio floor's panels,
#: farm tasks and CLIs on one workstation daemon).
DEFAULT_MAX_CLIENTS = 64
#: Descriptors kept for the daemon's own work beside its clients' connections.
DESCRIPTOR_RESERVE = 128


def raise_descriptor_limit() -> int:
    """Lift the soft descriptor limit to the hard one; the soft limit now in force (or a large
    number where the platform has no such limit)."""
    try:
        import resource
    except ImportError:  # Windows: no RLIMIT_NOFILE
        return 1 << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):  # e.g. macOS caps it at OPEN_MAX
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def fit_max_clients(requested: int, descriptor_limit: int) -> int:
    """``requested``, lowered (with a warning) so that clients, their grace and the reserve fit
    in ``descriptor_limit`` descriptors."""
    room = max(1, (descriptor_limit - DESCRIPTOR_RESERVE) * 4 // 5)  # 1/5 for the grace
    if requested > room:
        log.warning(
            "--max-clients %d does not fit in %d file descriptors (keeping %d for jobs); "
            "serving at most %d clients (raise the limit with ulimit -n to serve more)",
            requested,
            descriptor_limit,
            DESCRIPTOR_RESERVE,
            room,
        )
        return room
    return requested


def busy_error(max_clients: int) -> VoidError:
    return VoidError(
        ErrorCode.BUSY,
        f"the daemon already serves {max_clients} clients (its --max-clients); close an idle "
        f"panel or retry in a moment",
        "client",
    )


class ClientTable:
    """Peers by identity (most recently heard last) and open connections by descriptor.

    Used by the I/O thread only. A peer is admitted when it first speaks and fewer than
    ``max_clients`` peers are known; peers whose connections closed are forgotten, oldest
    first, when there are more known peers than open connections.
    """

    def __init__(self, max_clients: int = DEFAULT_MAX_CLIENTS, grace: int | None = None) -> None:
        self.max_clients = max(1, max_clients)
        #: Connections kept open beyond the limit so that their peers can hear ``busy``.
        self.grace = max(4, self.max_clients // 4) if grace is None else grace
        self.peers: OrderedDict[bytes, float] = OrderedDict()
        self.connections: set[int] = set()
        self.refused = 0
        self.shut = 0
        self.quiet_until = 0.0

    # ---- peers
    def admit(self, ident: bytes) -> bool:
        """True when ``ident`` may be served; False: answer it with :func:`busy_error`."""
        if ident in self.peers:
            self.peers.move_to_end(ident)
            self.peers[ident] = time.monotonic()
            return True
        self._forget_closed()
        if len(self.peers) >= self.max_clients:
            self.refused += 1
            return False
        self.peers[ident] = time.monotonic()
        return True

    def _forget_closed(self) -> None:
        # Without ROUTER_NOTIFY (a draft API) the daemon cannot tell which identity a closed
        # connection had. The newcomer holds one open connection and is no peer yet, so at most
        # ``connections - 1`` known peers can still be connected: beyond that, the least
        # recently heard are the ones gone. A wrong guess only makes that peer count as new.
        if not self.connections:
            return  # no monitor (or nothing counted yet): nothing to go by
        while self.peers and len(self.peers) >= len(self.connections):
            self.peers.popitem(last=False)

    # ---- connections (socket monitor events)
    def accepted(self, fd: int) -> bool:
        """Count a new connection; False when it is beyond the limit and was shut down."""
        self.connections.add(fd)
        if len(self.connections) <= self.max_clients + self.grace:
            return True
        self.connections.discard(fd)
        self.shut += 1
        _shutdown(fd)
        return False

    def closed(self, fd: int) -> None:
        self.connections.discard(fd)


#: Socket monitor events the table needs (``zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED``).
MONITOR_EVENTS = 0x0020 | 0x0200


def drain_monitor(monitor: object, table: ClientTable) -> None:
    """Apply every event waiting on a ROUTER's monitor socket to ``table`` (I/O thread)."""
    import zmq
    from zmq.utils.monitor import parse_monitor_message

    for _ in range(256):  # bounded: the I/O loop has clients to serve
        try:
            frames = monitor.recv_multipart(zmq.NOBLOCK)  # type: ignore[attr-defined]
        except zmq.Again:
            return
        try:
            event = parse_monitor_message(frames)
        except Exception:  # a malformed event is libzmq's business, never the loop's death
            continue
        if event["event"] == zmq.EVENT_ACCEPTED:
            if not table.accepted(int(event["value"])) and time.monotonic() > table.quiet_until:
                table.quiet_until = time.monotonic() + 10.0  # a flood logs once per 10 s
                log.warning(
                    "refusing connections beyond --max-clients %d (+%d kept to hear busy); "
                    "%d refused so far",
                    table.max_clients,
                    table.grace,
                    table.shut,
                )
        elif event["event"] == zmq.EVENT_DISCONNECTED:
            table.closed(int(event["value"]))


def _shutdown(fd: int) -> None:
    """End a connection libzmq accepted, without closing its descriptor under libzmq's feet:
    ``shutdown(2)`` on a duplicate makes libzmq see the peer go and close the original."""
    try:
        dup = os.dup(fd)
    except OSError:
        return  # already closed by libzmq
    try:
        s = socket.socket(fileno=dup)
    except OSError:  # not a socket (the number was reused): leave it alone
        os.close(dup)
        return
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        s.close()


__all__ = [
    "MONITOR_EVENTS",
    "drain_monitor",
    "DEFAULT_MAX_CLIENTS",
    "DESCRIPTOR_RESERVE",
    "ClientTable",
    "busy_error",
    "fit_max_clients",
    "raise_descriptor_limit",
]
