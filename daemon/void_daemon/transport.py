"""The daemon's transport: the ROUTER socket's options and binding, and the outbox through which
every thread sends (see ``docs/architecture.md``, "The daemon's threads").

Only the I/O thread touches the ROUTER socket. Other threads call :meth:`Outbox.send`, which
pushes the message over a per-thread inproc PUSH socket; the I/O loop forwards it with
:meth:`Outbox.forward`. A client that stops reading (its pipe at ``SNDHWM``) gets its
must-deliver messages held in a bounded per-client backlog while its progress is dropped, so a
slow reader cannot make the daemon buffer without bound (``docs/reliability.md``).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import zmq

from void_client import protocol as P

log = logging.getLogger(__name__)

OUTBOX = "inproc://void-daemon-outbox"
#: First frame of every message queued for the I/O loop: may it be dropped for a slow reader?
#: Results must be delivered too, but their bytes are bounded by result credit, not the backlog.
DROPPABLE, MUST_DELIVER, RESULT = b"p", b"m", b"r"
#: A must-deliver reply that ends a request handed off the I/O thread (a submit's ack or error):
#: once it is forwarded, the I/O thread goes on with that client's later requests (in order).
HANDED_BACK = b"h"
#: How often the I/O loop retries the backlog of a client that stopped reading.
BACKLOG_RETRY_S = 0.05


def configure_router(router: zmq.Socket, send_hwm: int) -> None:
    """The ROUTER socket's options; see each line for why."""
    router.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_BYTES)
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a re-attaching client may reuse its identity
    # Sends to a vanished client raise instead of vanishing, and with NOBLOCK a full pipe
    # (SNDHWM: the client is not reading) raises too: see Outbox.forward.
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)
    router.setsockopt(zmq.SNDHWM, send_hwm)
    # ZMTP heartbeats: a client whose machine vanished (no FIN, no RST) is disconnected after
    # 30 s, so its messages stop queueing and its results wait for a re-attach instead.
    router.setsockopt(zmq.HEARTBEAT_IVL, 5_000)
    router.setsockopt(zmq.HEARTBEAT_TIMEOUT, 30_000)


def bind(sock: zmq.Socket, endpoint: str) -> None:
    """Bind; an ``ipc://`` socket file is created owner-only (0600): other users cannot connect."""
    path = endpoint[len("ipc://") :] if endpoint.startswith("ipc://") else ""
    if not path or path.startswith("@") or os.name != "posix":  # abstract sockets have no file
        sock.bind(endpoint)
        return
    old = os.umask(0o177)  # no window between bind and chmod where others could connect
    try:
        sock.bind(endpoint)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)


def peer_user(frame: Any) -> str:
    """The CurveZMQ key the ZAP handler authenticated the sender with; "" without Curve."""
    try:
        return frame.get("User-Id") or ""
    except (zmq.ZMQError, AttributeError, UnicodeDecodeError):
        return ""


class Outbox:
    """Messages from any thread to the I/O loop, and from there to the clients.

    ``on_undelivered(job, frames)`` is told which result frames of a job were dropped unsent
    (the client went away or stopped reading), so that a later pump or attach resends them.
    """

    def __init__(
        self,
        ctx: zmq.Context,
        max_backlog_messages: int,
        on_undelivered: Callable[[str, tuple[int, ...]], None],
        max_backlog_bytes: int = 64 << 20,
    ) -> None:
        self.ctx = ctx
        self.max_backlog_messages = max_backlog_messages
        self.max_backlog_bytes = max_backlog_bytes
        self.on_undelivered = on_undelivered
        self._local = threading.local()
        #: Per client identity: must-deliver messages waiting for a client that is not reading.
        self.backlog: dict[bytes, deque] = {}
        #: Per client identity: the byte size of each backlog entry (0 for results) and the sum;
        #: the cap is in bytes because one reply may be 60 bytes or 256 KiB.
        self._sizes: dict[bytes, deque] = {}
        self.backlog_bytes: dict[bytes, int] = {}
        #: Called on the I/O thread once a ``handed_back`` reply has been forwarded.
        self.on_handed_back: Callable[[bytes], None] | None = None

    def send(self, ident: bytes, msg: P.Message, handed_back: bool = False) -> None:
        """Thread-safe: every thread gets its own PUSH socket into the I/O loop.
        ``handed_back``: this is the reply to a request handed off the I/O thread, after which
        ``on_handed_back(ident)`` runs on the I/O thread."""
        if not ident:
            return
        sock = getattr(self._local, "push", None)
        if sock is None:
            sock = self.ctx.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(OUTBOX)
            self._local.push = sock
        # Progress is superseded by the next one; everything else (results, credit, errors,
        # replies) must reach the client or be resent.
        kind = (
            HANDED_BACK
            if handed_back
            else DROPPABLE
            if isinstance(msg, P.Progress)
            else RESULT
            if isinstance(msg, P.Result)
            else MUST_DELIVER
        )
        sock.send_multipart([ident, kind, *P.encode(msg)], copy=False)

    # The methods below run on the I/O thread only (they own the ROUTER socket).
    def poll_ms(self, idle_ms: int) -> int:
        """How long the I/O loop may wait: shorter while a backlog waits to be retried."""
        return int(BACKLOG_RETRY_S * 1000) if self.backlog else idle_ms

    def forward(self, router: zmq.Socket, parts: list) -> None:
        ident, kind, frames = parts[0].bytes, parts[1].bytes, [parts[0], *parts[2:]]
        try:
            self._forward(router, ident, kind, frames)
        finally:
            if kind == HANDED_BACK and self.on_handed_back is not None:
                self.on_handed_back(ident)

    def _forward(self, router: zmq.Socket, ident: bytes, kind: bytes, frames: list) -> None:
        if ident in self.backlog:  # keep order behind what already waits for this client
            self._hold(ident, kind, frames)
            return
        try:
            router.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:  # the client's pipe is at SNDHWM: it is not reading
            self._hold(ident, kind, frames)
        except zmq.ZMQError as exc:
            if exc.errno != errno.EHOSTUNREACH:
                raise
            self._drop(ident, [frames])  # the client went away; attach resends its results

    def _hold(self, ident: bytes, kind: bytes, frames: list) -> None:
        if kind == DROPPABLE:
            return
        backlog = self.backlog.setdefault(ident, deque())
        backlog.append(frames)
        size = 0 if kind == RESULT else sum(len(f) for f in frames)
        self._sizes.setdefault(ident, deque()).append(size)
        held = self.backlog_bytes[ident] = self.backlog_bytes.get(ident, 0) + size
        if len(backlog) > self.max_backlog_messages or held > self.max_backlog_bytes:
            log.warning(
                "client %s reads nothing and has %d messages (%d bytes) waiting; treating it as gone",
                ident.hex(),
                len(backlog),
                held,
            )
            self._forget(ident)
            self._drop(ident, list(backlog))

    def _forget(self, ident: bytes) -> None:
        self.backlog.pop(ident, None)
        self._sizes.pop(ident, None)
        self.backlog_bytes.pop(ident, None)

    def retry_backlog(self, router: zmq.Socket) -> None:
        for ident in list(self.backlog):
            backlog = self.backlog[ident]
            while backlog:
                try:
                    router.send_multipart(backlog[0], flags=zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                except zmq.ZMQError as exc:
                    if exc.errno != errno.EHOSTUNREACH:
                        raise
                    self._drop(ident, list(backlog))
                    backlog.clear()
                    break
                backlog.popleft()
                self.backlog_bytes[ident] -= self._sizes[ident].popleft()
            if not backlog:
                self._forget(ident)

    def _drop(self, ident: bytes, messages: list[list]) -> None:
        """Results that never left are no longer in flight: a later pump or attach resends them."""
        for frames in messages:
            try:
                head = P.peek_header(frames[1:2])
                if head.type != P.Result.TYPE or not head.image_frames:
                    continue
                self.on_undelivered(head.job, head.image_frames)
            except Exception:  # bookkeeping only: never let it stop the I/O loop
                log.exception("could not account for an undelivered message")
