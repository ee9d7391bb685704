"""The daemon's housekeeping thread: job leases, the retention policy, ``clean`` requests.

See ``docs/reliability.md`` ("Jobs end", "Disk"). Everything here touches files or walks job
folders, so it runs on its own single thread, never on the I/O thread:

* **leases** — a job whose inputs are still incomplete and that nobody has named for
  ``lease_s`` (no request for it, no input stored) is failed with ``missing_frames``: its client
  went away. After a restart such a job is *dormant* (it holds no place in the queue) until a
  client names it, and expires ``lease_s`` after the restart like any other orphan;
* **retention** — :mod:`void_daemon.retention`: a final job's stored inputs are dropped (and its
  outputs, once collected), old final jobs are removed, a disk budget is kept;
* **clean** — ``void-remove jobs clean``, on behalf of one client key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from void_client.errors import ErrorCode, VoidError
from void_client.job_state import FINAL_STATES
from void_daemon.jobs import Job, JobStore
from void_daemon.retention import (
    DAY_S,
    JobUsage,
    Removal,
    RetentionPolicy,
    disk_bytes,
    drop_files,
    plan,
    plan_clean,
    remove_job_folder,
    trim_cache,
)

log = logging.getLogger(__name__)

#: Default lease: a client that uploads sends something about its job far more often than this.
DEFAULT_LEASE_S = 60.0
#: The longest pause between two retention passes (leases are checked every second).
RETENTION_EVERY_S = 60.0


class Housekeeper:
    def __init__(
        self,
        store: JobStore,
        policy: RetentionPolicy,
        lease_s: float,
        fail: Callable[[Job, VoidError], None],
        forget: Callable[[str], None],
    ) -> None:
        """``fail`` fails a job and tells its client; ``forget`` drops the daemon's per-job state
        (runner, timings) of a removed job."""
        self.store = store
        self.policy = policy
        self.lease_s = lease_s
        self._fail = fail
        self._forget = forget
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="void-housekeeping")
        self._stop = threading.Event()
        self._last_retention = 0.0
        #: Job id -> results acknowledged when its stored frames were last dropped.
        self._pruned_at: dict[str, int] = {}
        age_s = policy.retention_days * DAY_S
        # A short retention period (tests, scratch machines) is applied promptly.
        self._retention_every = (
            min(RETENTION_EVERY_S, max(1.0, age_s / 10)) if age_s > 0 else RETENTION_EVERY_S
        )

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.submit(self.retention_pass)
        threading.Thread(target=self._ticker, name="void-housekeeping-timer", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable, *args: object) -> Future | None:
        if self._stop.is_set():
            return None
        try:
            future = self._pool.submit(self._guard, fn, *args)
        except RuntimeError:  # shut down meanwhile
            return None
        return future

    @staticmethod
    def _guard(fn: Callable, *args: object) -> object:
        try:
            return fn(*args)
        except Exception:  # housekeeping must never stop: log it and carry on
            log.exception("housekeeping: %s failed", getattr(fn, "__name__", fn))
            raise

    def _ticker(self) -> None:
        while not self._stop.wait(1.0):
            self.submit(self.expire_orphans, time.monotonic())
            if time.monotonic() - self._last_retention >= self._retention_every:
                self.submit(self.retention_pass)

    # ------------------------------------------------------------------ leases
    def expire_orphans(self, now: float) -> list[str]:
        expired = []
        for job in list(self.store.jobs.values()):
            with job.lock:
                if job.state in FINAL_STATES or job.cancel_requested or len(job.received) >= job.n:
                    continue
                quiet = now - job.last_heard()
                received = len(job.received)
            if quiet <= self.lease_s:
                continue
            log.warning(
                "job %s: no word of it for %.0f s with %d/%d frames received; its client went away",
                job.id,
                quiet,
                received,
                job.n,
            )
            self._fail(
                job,
                VoidError(
                    ErrorCode.MISSING_FRAMES,
                    f"inputs stopped arriving: the client went away after sending {received} of "
                    f"{job.n} frames (nothing heard for {self.lease_s:g} s); run the job again",
                    "frames",
                    job.id,
                ),
            )
            expired.append(job.id)
        return expired

    # ------------------------------------------------------------------ retention
    def job_ended(self, job: Job) -> None:
        """A job reached a final state: drop what it no longer needs (on this thread)."""
        self.submit(self.prune, job)
        if self.policy.disk_budget_bytes > 0:
            self.submit(self.retention_pass)

    def prune(self, job: Job) -> int:
        """Drop a final job's stored inputs and its collected outputs; journal what went."""
        if not self.policy.drop_collected:
            return 0
        with job.lock:
            # Again only when a client collected more results since (an attach after the end).
            if (
                job.state not in FINAL_STATES
                or job.pruned
                or self._pruned_at.get(job.id) == len(job.acked)
            ):
                return 0
            self._pruned_at[job.id] = len(job.acked)
            keep = {job.out_path(p).name for p in job.final - job.acked}
            keep |= {  # an uncollected frame's fill/matte layers go with it
                job.layer_path(p, layer).name
                for p in job.final - job.acked
                for layer in job.spec.outputs
            }
        freed = drop_files(job.dir / "in") + drop_files(job.dir / "out", keep=keep)
        job.pruned = not keep
        job.log("pruned", freed=freed, kept_outputs=len(keep))
        job.disk_bytes = disk_bytes(job.dir)
        log.info(
            "job %s is %s: dropped its stored frames (%.1f MiB), %d uncollected results kept",
            job.id,
            job.state,
            freed / 2**20,
            len(keep),
        )
        return freed

    def _usage(self, jobs: list[Job]) -> list[JobUsage]:
        out = []
        for j in jobs:
            if j.state in FINAL_STATES:  # active jobs keep theirs current as they write
                j.disk_bytes = disk_bytes(j.dir)
            out.append(JobUsage(j.id, j.state in FINAL_STATES, j.ended or j.created, j.disk_bytes))
        return out

    def retention_pass(self) -> list[Removal]:
        self._last_retention = time.monotonic()
        jobs = list(self.store.jobs.values())
        for job in jobs:
            if job.state in FINAL_STATES and not job.pruned:
                self.prune(job)
        cache_bytes = disk_bytes(self.store.cache_dir)
        removals, cache_excess = plan(self._usage(jobs), time.time(), self.policy, cache_bytes)
        done = [r for r in removals if self._remove(r)]
        if self.policy.disk_budget_bytes > 0:  # what is left over, jobs that resisted included
            used = sum(j.disk_bytes for j in list(self.store.jobs.values())) + cache_bytes
            cache_excess = max(0, used - self.policy.disk_budget_bytes)
        age_s = self.policy.retention_days * DAY_S if self.policy.retention_days > 0 else 0.0
        if cache_excess or age_s:
            files, freed = trim_cache(self.store.cache_dir, time.time(), age_s, cache_excess)
            if files:
                log.info(
                    "removed %d window-cache entries (%.1f MiB): %s",
                    files,
                    freed / 2**20,
                    "over the disk budget" if cache_excess else "unused for the retention period",
                )
        return done

    def clean(self, user: str, older_than_s: float, all_finished: bool) -> list[Removal]:
        """``void-remove jobs clean`` for one client key: only its own final jobs."""
        mine = [j for j in list(self.store.jobs.values()) if j.user == user]
        removals = plan_clean(self._usage(mine), time.time(), older_than_s, all_finished)
        return [r for r in removals if self._remove(r)]

    def _remove(self, removal: Removal) -> bool:
        job = self.store.jobs.get(removal.job)
        if job is None or job.state not in FINAL_STATES:
            return False
        with self.store.lock:
            self.store.jobs.pop(job.id, None)
        self._forget(job.id)
        try:
            removal.bytes = remove_job_folder(self.store.root, Path(job.dir))
        except (OSError, ValueError) as exc:
            log.warning("could not remove job %s (%s): %s", job.id, job.dir, exc)
            return False
        log.info(
            "removed job %s (%s, %.1f MiB): %s",
            job.id,
            job.state,
            removal.bytes / 2**20,
            removal.reason,
        )
        return True
