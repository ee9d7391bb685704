"""Progress and ETA messages for a job's owner (``docs/protocol.md``, ``progress``).

Called from every thread; it only reads job counters and queues a droppable message on the
outbox, so it never blocks (see ``docs/architecture.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from void_client import protocol as P
from void_client.job_state import JobState
from void_daemon.jobs import Job

#: At most one unforced progress message per job this often.
PROGRESS_INTERVAL_S = 0.25


class ProgressReporter:
    """Rate-limited ``progress`` messages; the ETA is the mean window time so far times the
    windows left."""

    def __init__(
        self,
        send: Callable[[bytes, P.Message], None],
        position: Callable[[str], int],
        windows_of: Callable[[Job], int],
    ) -> None:
        self.send = send
        self.position = position
        self.windows_of = windows_of
        self.last_sent: dict[str, float] = {}
        self.window_times: dict[str, list[float]] = {}

    def window_ran(self, job: Job, seconds: float) -> None:
        self.window_times.setdefault(job.id, []).append(seconds)

    def report(
        self,
        job: Job,
        stage: JobState,
        window: int | None = None,
        cached: bool = False,
        message: str = "",
        force: bool = False,
    ) -> None:
        now = time.monotonic()
        if not force and now - self.last_sent.get(job.id, 0.0) < PROGRESS_INTERVAL_S:
            return
        self.last_sent[job.id] = now
        n_windows = self.windows_of(job)
        times = self.window_times.get(job.id, [])
        remaining = n_windows - len(job.windows_done)
        eta = (sum(times) / len(times)) * remaining if times else -1.0
        self.send(
            job.owner,
            P.Progress(
                job=job.id,
                stage=stage.value,
                window=len(job.windows_done) if window is None else window,
                windows=n_windows,
                frames_done=len(job.final),
                frames_total=job.n,
                frames_received=len(job.received),
                eta_s=float(eta),
                queue_position=self.position(job.id),
                cached=cached,
                message=message,
            ),
        )
