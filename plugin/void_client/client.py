"""``DaemonClient``: one DEALER socket to the daemon, requests with timeouts, an event stream.

Use it from one thread (ZeroMQ sockets are not thread-safe); host UIs run it on a worker
thread through :class:`void_client.session.JobSession` and get callbacks.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import zmq

from void_client import protocol as P
from void_client.curvezmq import CurveKeys, apply_client, client_keys_from_env
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec

log = logging.getLogger(__name__)


def is_local(endpoint: str) -> bool:
    if endpoint.startswith("ipc://"):
        return True
    host = endpoint.split("://", 1)[-1].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]", "::1")


#: How long a send may wait for room on the socket before the daemon counts as unreachable:
#: generous, because a busy daemon reading big frames drains its queue slowly.
SEND_TIMEOUT_S = 60.0


class DaemonClient:
    def __init__(
        self,
        endpoint: str = P.DEFAULT_ENDPOINT,
        timeout: float = 5.0,
        context: zmq.Context | None = None,
        curve: CurveKeys | None | bool = True,
    ) -> None:
        """``curve``: keys to reach a CurveZMQ daemon; True (default) reads them from the
        environment (``VOID_CURVE_SERVER_KEY``/``VOID_CURVE_CLIENT_KEY``), False never uses Curve."""
        self.endpoint = endpoint
        self.timeout = timeout
        self.ctx = context or zmq.Context.instance()
        keys = client_keys_from_env() if curve is True else (curve or None)
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_BYTES)
        if keys is not None:
            apply_client(self.sock, keys)
        self.sock.connect(endpoint)
        self._next_id = 1
        self._pending: deque[P.Message] = deque()
        self.capabilities: P.Hello | None = None

    # ------------------------------------------------------------------ basics
    def close(self) -> None:
        self.sock.close(0)

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def send(self, msg: P.Message, timeout: float | None = None) -> int:
        """Queue ``msg`` for the daemon. A DEALER with no live connection (a daemon that is gone,
        or a CurveZMQ handshake that failed) blocks a plain send forever; wait for room at most
        ``timeout`` seconds (default :data:`SEND_TIMEOUT_S`) and say the daemon is unreachable."""
        if not msg.id:
            msg.id = self._next_id
            self._next_id += 1
        parts = P.encode(msg)
        wait = SEND_TIMEOUT_S if timeout is None else timeout
        try:
            if not self.sock.poll(max(0, int(wait * 1000)) + 1, zmq.POLLOUT):
                raise zmq.Again()
            self.sock.send_multipart(parts, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            raise VoidError(
                ErrorCode.DAEMON_UNREACHABLE,
                f"could not send to the VOID daemon at {self.endpoint} within {wait:g} s (it is not "
                "running, or refused this client's keys); start it with 'void-daemon serve' or check "
                "the address and keys",
                "endpoint",
            ) from None
        return msg.id

    def recv(self, timeout: float | None = None) -> P.Message | None:
        """The next message from the daemon, or None after ``timeout`` seconds."""
        if self._pending:
            return self._pending.popleft()
        wait_ms = -1 if timeout is None else max(0, int(timeout * 1000))
        if not self.sock.poll(wait_ms, zmq.POLLIN):
            return None
        parts = self.sock.recv_multipart(copy=False)
        return P.decode(parts)

    def request(self, msg: P.Message, timeout: float | None = None) -> P.Message:
        """Send and wait for the reply with the same id; other messages are kept for later."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        req = self.send(msg, wait)
        held: list[P.Message] = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise VoidError(
                        ErrorCode.DAEMON_UNREACHABLE,
                        f"no answer from the VOID daemon at {self.endpoint}; start it with 'void-daemon serve --endpoint {self.endpoint}' or check the address",
                        "endpoint",
                    )
                if not self.sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                    continue
                reply = P.decode(self.sock.recv_multipart(copy=False))
                if reply.id == req:
                    if isinstance(reply, P.Error):
                        raise reply.to_exception()
                    return reply
                held.append(reply)
        finally:
            self._pending.extend(held)

    # ------------------------------------------------------------------ requests
    def hello(self, timeout: float | None = None) -> P.Hello:
        reply = self.request(P.Hello(client="void-client"), timeout)
        assert isinstance(reply, P.Hello)
        self.capabilities = reply
        return reply

    def submit(self, spec: JobSpec, result_credit: int = 8) -> P.Ack:
        reply = self.request(P.Submit(spec=spec.validate().to_dict(), result_credit=result_credit))
        assert isinstance(reply, P.Ack)
        return reply

    def send_frames(
        self,
        job: str,
        images: list[tuple[P.ImageDesc, Any]] | None = None,
        paths: list[P.PathEntry] | None = None,
    ) -> None:
        self.send(P.Frames(job=job, images=images or [], paths=paths or []))

    def ack(self, job: str, frames: list[int], credit: int = 0) -> None:
        self.send(P.Ack(job=job, frames=list(frames), credit=credit))

    def cancel(self, job: str) -> P.Message:
        return self.request(P.Cancel(job=job))

    def attach(self, job: str, result_credit: int = 8) -> P.Ack:
        reply = self.request(P.Attach(job=job, result_credit=result_credit))
        assert isinstance(reply, P.Ack)
        return reply

    def status(self, job: str = "") -> list[P.StatusJob]:
        reply = self.request(P.Status(job=job))
        assert isinstance(reply, P.Status)
        return reply.jobs

    def events(self, job: str, timeout: float | None = None) -> Iterator[P.Message]:
        """Progress, result and error messages for ``job`` until ``timeout`` passes in silence."""
        while True:
            msg = self.recv(timeout)
            if msg is None:
                return
            if msg.job in ("", job):
                yield msg


def connect(
    endpoint: str = P.DEFAULT_ENDPOINT, autostart: bool = True, timeout: float = 5.0
) -> DaemonClient:
    """A client that has said hello; starts a local daemon first when none answers."""
    client = DaemonClient(endpoint, timeout)
    try:
        client.hello(timeout=1.0 if autostart and is_local(endpoint) else timeout)
        return client
    except VoidError as exc:
        if exc.code != ErrorCode.DAEMON_UNREACHABLE or not (autostart and is_local(endpoint)):
            client.close()
            raise
    client.close()
    from void_client.autostart import start_local_daemon

    start_local_daemon(endpoint)
    client = DaemonClient(endpoint, timeout)
    client.hello(timeout=timeout)
    return client
