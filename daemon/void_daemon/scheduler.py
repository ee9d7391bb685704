"""The fair queue and the one compute thread that runs the engine (``docs/architecture.md``).

The scheduler thread blocks only on the engine and on ``cond`` (woken whenever inputs arrive, a
window is finished, or a job ends or is cancelled). Every change to ``queue`` is made with
``cond`` held; readers on the I/O thread take a copy without the lock, so that the I/O thread
never waits for a window to finish.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from void_client.errors import ErrorCode, VoidError
from void_client.job_state import FINAL_STATES, JobState
from void_client.windows import plan_windows
from void_daemon import timings
from void_daemon.bounds import disk_error
from void_daemon.cache import WindowCache
from void_daemon.engines import Engine, EngineConfig, load_engine
from void_daemon.jobs import Job, JobStore
from void_daemon.progress import ProgressReporter
from void_daemon.runner import JobRunner
from void_daemon.stages import Failures, Finisher

log = logging.getLogger(__name__)


class Scheduler:
    """Round robin at window granularity across the active jobs, in submission order."""

    def __init__(
        self,
        store: JobStore,
        cache: WindowCache,
        engine_config: EngineConfig,
        cond: threading.Condition,
        stopping: threading.Event,
    ) -> None:
        self.store = store
        self.cache = cache
        self.engine_config = engine_config
        self.cond = cond
        self.stopping = stopping
        #: Job ids in submission order; finished jobs leave it when the next window is picked.
        self.queue: list[str] = []
        self.runners: dict[str, JobRunner] = {}
        self.engines: dict[str, Engine] = {}
        #: Job id -> the window index in the engine now.
        self.running: dict[str, int] = {}
        #: Jobs resumed with every window done, whose frames have been handed to the finisher.
        self.resumed_finish: set[str] = set()
        #: Fair queue: the turn at which each job last had a window run (least recent goes next).
        self._turn: dict[str, int] = {}
        self._turns = 0
        # Wired by the composition root (server.Daemon): they need the scheduler in turn.
        self.progress: ProgressReporter
        self.failures: Failures
        self.finisher: Finisher

    # ---- queue (read from any thread)
    def add(self, job_id: str) -> None:
        with self.cond:
            self.queue.append(job_id)
            self.cond.notify_all()

    def active(self) -> list[str]:
        """Jobs holding a place (``--max-jobs``, queue positions): not orphans replayed after a
        restart that no client has named since (``Job.holds_a_place``)."""
        jobs = self.store.jobs
        return [j for j in list(self.queue) if j in jobs and jobs[j].holds_a_place()]

    def _unfinished(self) -> list[str]:
        jobs = self.store.jobs
        return [j for j in list(self.queue) if j in jobs and jobs[j].state not in FINAL_STATES]

    def position(self, job_id: str) -> int:
        active = self.active()
        return active.index(job_id) if job_id in active else -1

    def windows_of(self, job: Job) -> int:
        runner = self.runners.get(job.id)
        if runner is not None:
            return len(runner.windows)
        return len(plan_windows(job.n, job.spec.window, job.spec.overlap))

    def forget_runner(self, job_id: str) -> None:
        self.runners.pop(job_id, None)

    # ---- the compute thread
    def loop(self) -> None:
        while not self.stopping.is_set():
            try:
                with self.cond:
                    pick = self._next()
                    if pick is None:
                        self.cond.wait(0.5)
                        continue
                job, runner, k = pick
                self._run_window(job, runner, k)
            except Exception:  # the one compute thread must outlive any job's bug
                log.exception("scheduler error; carrying on")
                time.sleep(0.1)

    def close_engines(self) -> None:
        for engine in self.engines.values():
            engine.close()

    def _engine(self, name: str) -> Engine:
        if name not in self.engines:
            self.engines[name] = load_engine(name, self.engine_config)
        return self.engines[name]

    def _next(self) -> tuple[Job, JobRunner, int] | None:
        """Called with ``cond`` held (as is every change to ``queue``)."""
        active = self._unfinished()
        # Finished jobs leave, so the queue does not grow with the daemon's age.
        self.queue[:] = active
        for gone in set(self._turn) - set(active):
            del self._turn[gone]
        if not active:
            return None
        # Round robin at window granularity: the ready job served least recently goes next
        # (a new job counts as never served), ties in submission order. Unlike an index into
        # the list, this stays fair while jobs arrive and finish.
        for job_id in sorted(active, key=lambda j: self._turn.get(j, -1)):
            job = self.store.jobs[job_id]
            if job.cancel_requested:
                continue
            runner = self.runners.get(job.id)
            if runner is None:
                # Journalled around the start, so that a job that freezes the daemon while
                # starting is not resumed forever (JobStore._replay, MAX_START_ATTEMPTS).
                job.log("starting")
                with self.failures.guard(job, "planning", other=_cannot_plan(job.id)) as attempt:
                    runner = self.runners[job.id] = JobRunner(
                        job, self._engine(job.spec.engine), self.cache
                    )
                if not attempt.ok or runner is None:
                    continue
                job.log("started")
            pending = [w.index for w in runner.windows if w.index not in job.windows_done]
            if not pending:
                # Resumed after a crash between the last window and its frames: finish them.
                if job.id not in self.resumed_finish and runner.ready_positions():
                    self.resumed_finish.add(job.id)
                    self.finisher.finish_later(job, runner)
                continue
            if runner.window_ready(pending[0]):
                self._turns += 1
                self._turn[job.id] = self._turns
                return job, runner, pending[0]
        return None

    def _run_window(self, job: Job, runner: JobRunner, k: int) -> None:
        if job.state in (JobState.QUEUED, JobState.RECEIVING):
            job.set_state(JobState.RUNNING)
        self.running[job.id] = k
        n_windows = len(runner.windows)

        def step(i: int, n: int, stage: str) -> None:
            self.progress.report(job, JobState.RUNNING, window=k, message=f"{stage} {i}/{n}")

        def cancelled() -> bool:
            return job.cancel_requested or self.stopping.is_set()

        def on_cancel() -> None:
            log.info("job %s cancelled in window %d", job.id, k)
            runner.engine.close()

        self.progress.report(job, JobState.RUNNING, window=k, force=True)
        t0 = time.monotonic()
        try:
            with self.failures.guard(
                job,
                f"window {k}",
                other=lambda exc: VoidError(
                    ErrorCode.ENGINE_FAILED,
                    f"engine {job.spec.engine} failed on window {k + 1}/{n_windows}: {exc}",
                    "engine",
                    job.id,
                ),
                # The window cache or the journal: disk full, folder gone.
                io=lambda exc: disk_error(
                    exc, self.store.root, f"the result of window {k + 1}/{n_windows}", job.id
                ),
                cancelled=on_cancel,
            ) as attempt:
                outcome = runner.run_window(k, step, cancelled)
        finally:
            self.running.pop(job.id, None)
        if not attempt.ok:
            return
        timings.record(job.id, "engine", k, t0)
        self.progress.window_ran(job, outcome.seconds)
        self.progress.report(job, JobState.RUNNING, window=k + 1, cached=outcome.cached, force=True)
        self.finisher.finish_later(job, runner)


def _cannot_plan(job_id: str) -> Callable[[Exception], VoidError]:
    def error(exc: Exception) -> VoidError:
        return VoidError(
            ErrorCode.INTERNAL,
            f"cannot plan the job: {exc.__class__.__name__}: {exc}",
            None,
            job_id,
        )

    return error
