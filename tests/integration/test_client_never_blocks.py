"""A client call never hangs the artist's session, whatever state the daemon's socket is in."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.daemons import free_port
from void_client.client import DaemonClient
from void_client.errors import ErrorCode, VoidError


def test_a_request_with_no_connection_left_says_unreachable_instead_of_blocking() -> None:
    # A DEALER with no live connection (the daemon went away, or a CurveZMQ handshake failed and
    # its pipe was torn down) blocks a plain send forever; CI once hung here for 300 s.
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    outcome: list[object] = []
    with DaemonClient(endpoint, curve=False) as c:
        c.sock.disconnect(endpoint)  # no pipe at all: the state a failed handshake leaves

        def call() -> None:
            try:
                c.hello(timeout=0.5)
            except VoidError as exc:
                outcome.append(exc)

        t0 = time.monotonic()
        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(10)
        waited = time.monotonic() - t0
    if worker.is_alive():
        pytest.fail("hello() was still blocked in send after 10 s")
    (err,) = outcome
    assert isinstance(err, VoidError) and err.code == ErrorCode.DAEMON_UNREACHABLE
    assert "could not send" in err.message and waited < 5
