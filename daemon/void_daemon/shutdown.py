"""SIGTERM always stops the daemon within seconds (``docs/reliability.md``, "Jobs end").

A graceful stop lets the running window reach a step boundary, but a thread can be stuck in a
call that never returns (a read from a FIFO or a hung network mount, an engine that ignores
cancellation). So the stop is bounded: active jobs are journalled as ``interrupted`` first (a
restart resumes them from the journal), and whatever is still running after
:data:`STOP_GRACE_S` is abandoned with ``os._exit``. A second SIGTERM/SIGINT exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from void_client.job_state import FINAL_STATES
from void_daemon.jobs import Job

log = logging.getLogger(__name__)

#: Seconds a stop may wait for threads to finish before the process exits anyway.
STOP_GRACE_S = 3.0


def journal_interrupted(jobs: Iterable[Job], running: dict[str, int]) -> list[str]:
    """Journal every active job as interrupted (once); a stuck thread holding a job's lock
    delays this by at most half a second per job."""
    done = []
    for job in jobs:
        if job.state in FINAL_STATES or getattr(job, "_interrupted_logged", False):
            continue
        if not job.lock.acquire(timeout=0.5):
            log.warning("job %s: busy in a stuck thread; not journalled as interrupted", job.id)
            continue
        try:
            job.log("interrupted", state=str(job.state), window=running.get(job.id))
            job._interrupted_logged = True  # type: ignore[attr-defined]
            done.append(job.id)
        except OSError:
            log.exception("job %s: cannot journal the interruption", job.id)
        finally:
            job.lock.release()
    return done


def stuck_threads() -> list[str]:
    """Non-daemon threads other than this one still alive (they would block interpreter exit)."""
    me = threading.current_thread()
    return [t.name for t in threading.enumerate() if t is not me and t.is_alive() and not t.daemon]


def hard_exit(code: int, why: str) -> None:
    log.warning("%s; exiting now", why)
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # a broken log stream must not keep the process alive
            pass
    sys.stderr.flush()
    os._exit(code)


class StopWatchdog:
    """Started by the first SIGTERM/SIGINT: if the process is still alive ``grace`` seconds
    later, journal the interruption and exit."""

    def __init__(self, on_deadline: Callable[[], object], grace: float = STOP_GRACE_S) -> None:
        self.on_deadline = on_deadline
        self.grace = grace
        self.started = threading.Event()

    def arm(self) -> None:
        if self.started.is_set():
            return
        self.started.set()
        threading.Thread(target=self._run, name="void-stop-watchdog", daemon=True).start()

    def _run(self) -> None:
        # A little longer than the stop's own bound: a clean stop always wins the race.
        threading.Event().wait(self.grace + 2.0)
        try:
            self.on_deadline()
        finally:
            hard_exit(
                0,
                f"still running {self.grace + 2.0:.0f} s after SIGTERM (threads: "
                f"{', '.join(stuck_threads()) or 'main'})",
            )


def install(stop: Callable[[], None], on_deadline: Callable[[], object]) -> StopWatchdog:
    """SIGTERM/SIGINT: first one stops gracefully (bounded by the watchdog), second exits now."""
    watchdog = StopWatchdog(on_deadline)

    def handler(signum: int, frame: Any) -> None:
        if watchdog.started.is_set():
            on_deadline()
            hard_exit(0, f"second {signal.Signals(signum).name}")
        watchdog.arm()
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return watchdog
