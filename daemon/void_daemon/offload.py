"""Work the I/O thread hands off: cached engine capabilities and a serial admission worker.

The I/O thread answers every client, so it must never wait on a file, a mount or an engine
(``docs/architecture.md``, "The daemon's threads"). Two things it used to do itself:

* ``hello`` recomputed every engine's capabilities (imports and weight-folder checks, ~15-50 ms
  of the I/O thread each time; 300 pipelined hellos stalled every client for seconds).
  :class:`CapabilityCache` computes them once at start and refreshes them on a background thread
  when they are older than ``refresh_s``; a ``hello`` only reads the last value.
* ``submit`` created the job's folder, spec and journal (mkdir, write, fsync) and probed
  the output folder. :class:`SerialWorker` runs that file work on one daemon thread, in arrival
  order, so that admission decisions that count jobs stay serial.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: Seconds before cached capabilities are refreshed (engines appear when weights are installed).
CAPABILITIES_REFRESH_S = 30.0


class CapabilityCache:
    """The engines' capabilities, computed once and refreshed off the I/O thread."""

    def __init__(
        self, compute: Callable[[], list[Any]], refresh_s: float = CAPABILITIES_REFRESH_S
    ) -> None:
        self._compute = compute
        self.refresh_s = refresh_s
        self._value: list[Any] = compute()  # at start, before the daemon answers anyone
        self._at = time.monotonic()
        self._refreshing = threading.Lock()

    def get(self) -> list[Any]:
        """The last computed capabilities; starts a background refresh when they are stale."""
        if time.monotonic() - self._at > self.refresh_s and self._refreshing.acquire(False):
            threading.Thread(target=self._refresh, name="void-capabilities", daemon=True).start()
        return self._value

    def _refresh(self) -> None:
        try:
            self._value = self._compute()
        except Exception:  # keep serving the last value; say why once per refresh
            log.exception("refreshing engine capabilities failed")
        finally:
            self._at = time.monotonic()
            self._refreshing.release()


class SerialWorker:
    """One daemon thread running submitted calls in order; a call that raises is logged (callers
    catch what they mean to report). A daemon thread: a call stuck on a hung mount cannot keep
    the process from exiting."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        self._queue.put((fn, args))

    def _run(self) -> None:
        while True:
            fn, args = self._queue.get()
            try:
                fn(*args)
            except Exception:
                log.exception("%s failed", getattr(fn, "__name__", "work"))


__all__ = ["CAPABILITIES_REFRESH_S", "CapabilityCache", "SerialWorker"]
