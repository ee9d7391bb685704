"""Optional stage timings for profiling the bridge (``bench/profile_bridge.py``).

With ``VOID_DAEMON_TIMINGS=<file>`` in the daemon's environment, every pipeline stage of every
frame or window appends one JSON line ``{"job", "stage", "index", "t0", "t1"}`` with
``time.monotonic()`` seconds (one clock for all processes of the machine, so a client's own
timestamps line up). Stages: ``receive`` (frames message handled, index = position),
``decode`` (quadmask built and input stored), ``engine`` (one window, index = window),
``encode`` (seam blend + composite + store), ``send`` (result queued for the client).
Off by default, and then it costs one attribute test per event.
"""

from __future__ import annotations

import json
import os
import threading
import time

PATH = os.environ.get("VOID_DAEMON_TIMINGS", "")
_lock = threading.Lock()


def record(job: str, stage: str, index: int, t0: float) -> None:
    """Record that ``stage`` of item ``index`` ran from ``t0`` until now."""
    if not PATH:
        return
    line = json.dumps(
        {"job": job, "stage": stage, "index": int(index), "t0": t0, "t1": time.monotonic()}
    )
    with _lock, open(PATH, "a") as f:
        f.write(line + "\n")
