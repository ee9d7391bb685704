"""The real daemon with one fault injected, for the crash tests: ``python fault_daemon.py serve ...``.

``$VOID_TEST_FAULT`` picks the moment the process SIGKILLs itself (no cleanup, no flush):

* ``window:K``         — when the engine starts window K (mid-window: inputs loaded, no result);
* ``write:out:N``      — half-way through writing the N-th finished frame (``out/*.npy``);
* ``journal:EVENT:N``  — half-way through the N-th journal line of type EVENT (a torn line).

The library code has no test hooks: the faults are patched in here, around the real functions.
"""

from __future__ import annotations

import io
import os
import signal
import sys

import numpy as np


def die() -> None:
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(fault: str) -> None:
    kind, _, arg = fault.partition(":")
    if kind == "window":
        from void_daemon.engines.propagate import PropagateEngine

        target = int(arg)
        fill = PropagateEngine.fill

        def faulty_fill(self, window):  # type: ignore[no-untyped-def]
            if window.index == target:
                die()
            return fill(self, window)

        PropagateEngine.fill = faulty_fill
    elif kind == "write":
        folder, _, nth = arg.partition(":")
        count = {"n": 0}
        save = np.save

        def faulty_save(file, arr, *a, **kw):  # type: ignore[no-untyped-def]
            name = (
                os.readlink(f"/proc/self/fd/{file.fileno()}")
                if hasattr(file, "fileno")
                else str(file)
            )
            if f"/{folder}/" in name:
                count["n"] += 1
                if count["n"] == int(nth):
                    buf = io.BytesIO()
                    save(buf, arr, *a, **kw)
                    data = buf.getvalue()
                    file.write(data[: len(data) // 2])
                    file.flush()
                    os.fsync(file.fileno())
                    die()
            return save(file, arr, *a, **kw)

        np.save = faulty_save
    elif kind == "journal":
        event, _, nth = arg.partition(":")
        import json

        from void_daemon import jobs

        count = {"n": 0}
        log = jobs.Job.log

        def faulty_log(self, ev, **data):  # type: ignore[no-untyped-def]
            if ev == event:
                count["n"] += 1
                if count["n"] == int(nth):
                    line = json.dumps({"t": 0.0, "event": ev, **data})
                    # Under the journal's lock, so no other thread appends after the torn half.
                    with self.lock, open(self.dir / "journal.jsonl", "a") as f:
                        f.write(line[: len(line) // 2])
                        f.flush()
                        os.fsync(f.fileno())
                        die()
            return log(self, ev, **data)

        jobs.Job.log = faulty_log
    elif fault:
        raise SystemExit(f"unknown fault {fault!r}")


if __name__ == "__main__":
    install(os.environ.get("VOID_TEST_FAULT", ""))
    from void_daemon.cli import main

    sys.exit(main(sys.argv[1:]))
