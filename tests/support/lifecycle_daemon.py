"""The real daemon with a *freeze* injected, for the lifecycle tests: ``python lifecycle_daemon.py serve ...``.

``$VOID_TEST_HANG`` picks what blocks forever (a thread stuck in a call that never returns, the
way a FIFO or a hung network mount blocks a read):

* ``start``     — starting a job (building its runner: where a FIFO ``ocio_config`` froze it);
* ``window:K``  — the engine, inside window K, ignoring cancellation;
* ``receive:N`` — a receiver storing the N-th input frame.

When the hang begins the process writes ``$VOID_TEST_MARKER`` (if set), so a test knows the
daemon is frozen without guessing with sleeps. Everything else is the real daemon; other faults
(``$VOID_TEST_FAULT``) are passed on to ``fault_daemon.py``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fault_daemon  # noqa: E402  (the sibling script, for the SIGKILL faults)


def freeze() -> None:
    marker = os.environ.get("VOID_TEST_MARKER", "")
    if marker:
        Path(marker).write_text(f"{os.getpid()} {threading.current_thread().name}\n")
    while True:  # blocks like a read from a FIFO nobody writes: no cancellation point
        time.sleep(3600)


def install(hang: str) -> None:
    kind, _, arg = hang.partition(":")
    if kind == "start":
        from void_daemon import runner

        init = runner.JobRunner.__init__

        def frozen_init(self, *a, **kw):  # type: ignore[no-untyped-def]
            freeze()
            init(self, *a, **kw)

        runner.JobRunner.__init__ = frozen_init
    elif kind == "window":
        from void_daemon.engines.propagate import PropagateEngine

        target = int(arg)
        fill = PropagateEngine.fill

        def frozen_fill(self, window):  # type: ignore[no-untyped-def]
            if window.index == target:
                freeze()
            return fill(self, window)

        PropagateEngine.fill = frozen_fill
    elif kind == "receive":
        from void_daemon import jobs

        count = {"n": 0}
        store = jobs.Job.store_input
        lock = threading.Lock()

        def frozen_store(self, pos, plate, quadmask):  # type: ignore[no-untyped-def]
            with lock:
                count["n"] += 1
                hit = count["n"] == int(arg)
            if hit:
                freeze()
            return store(self, pos, plate, quadmask)

        jobs.Job.store_input = frozen_store
    elif hang:
        raise SystemExit(f"unknown hang {hang!r}")


if __name__ == "__main__":
    fault_daemon.install(os.environ.get("VOID_TEST_FAULT", ""))
    install(os.environ.get("VOID_TEST_HANG", ""))
    from void_daemon.cli import main

    sys.exit(main(sys.argv[1:]))
