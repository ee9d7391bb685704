"""One run of a host node, after the host has exported its inputs: :class:`NodeRun`.

It checks the exports, sends the job to the daemon (re-attaching to the job of an interrupted
run with the same fingerprint), writes results as they arrive and the manifest at the end.
:meth:`NodeRun.run` blocks (batch, render farm); :meth:`NodeRun.start` runs on a worker thread (GUI).

The run folder is named by the settings fingerprint, so two different settings never share a
result sequence; results are still written through the output manifest and lock of
:func:`~void_client.output_manifest.claim_output` (as ``void-remove run`` does), so a second
writer (the same node run twice at once, a script pointed at the folder) is refused and a
cancelled run is recorded as such. Re-attaching to the run's own job is allowed: its frames are
its own. See docs/nuke.md and docs/architecture.md.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from void_client import protocol as P
from void_client.client import DaemonClient, connect, is_local
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.job_state import JobState
from void_client.node_job.plan import Manifest, RunPlan
from void_client.node_job.run_state import RunStage, RunState
from void_client.node_job.settings import NodeSettings
from void_client.output_manifest import OutputClaim, claim_output
from void_client.sequence import sweep_stale_temps
from void_client.sequence_job import SequenceJob
from void_client.session import JobReport, JobSession

log = logging.getLogger(__name__)


#: How long a daemon on this machine may take to answer hello before a host offers to start one.
LOCAL_PROBE_S = 1.0


class NodeRun:
    """One run of a host node, after the host has rendered :meth:`RunPlan.exports`.

    ``on_state`` gets a copy of the :class:`RunState` on every change and ``on_frame`` each frame
    number once its result is on disk; both are called from worker threads.
    """

    def __init__(
        self,
        plan: RunPlan,
        settings: NodeSettings,
        on_state: Callable[[RunState], None] | None = None,
        on_frame: Callable[[int], None] | None = None,
        autostart: bool = True,
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.on_state = on_state or (lambda state: None)
        self.on_frame = on_frame or (lambda frame: None)
        self.autostart = autostart
        self.cancel_event = threading.Event()
        self.state = RunState(total=len(plan.frames))
        self.spec: JobSpec | None = None
        self.report: JobReport | None = None
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()

    def cancel(self) -> None:
        self.cancel_event.set()

    def start(self, on_done: Callable[[NodeRun], None]) -> threading.Thread:
        """Run on a worker thread; ``on_done(self)`` is called from it at the end, whatever happened."""

        def target() -> None:
            try:
                self.run()
            except VoidError:
                pass  # already in self.state
            except Exception as exc:  # a bug must still end the run visibly
                log.exception("VOID Remove run failed")
                self._set(
                    stage=JobState.FAILED,
                    error=VoidError(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}"),
                )
            finally:
                on_done(self)

        t = threading.Thread(target=target, name="void-node-run", daemon=True)
        t.start()
        return t

    def run(self) -> JobReport:
        """Blocking: check the exports, run the job, write results and the manifest."""
        self._t0 = time.perf_counter()
        try:
            report = self._run()
        except VoidError as exc:
            final = JobState.CANCELLED if exc.code == ErrorCode.CANCELLED else JobState.FAILED
            self._set(stage=final, error=exc)
            raise
        self.report = report
        self._set(
            stage=JobState.DONE,
            written=len(report.frames_written),
            seconds=time.perf_counter() - self._t0,
        )
        return report

    # ------------------------------------------------------------------ internals
    def _set(self, **changes: Any) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self.state, k, v)
            snapshot = dataclasses.replace(self.state)
        self.on_state(snapshot)

    def _run(self) -> JobReport:
        plan = self.plan
        req = plan.request(self.settings, self.autostart)
        self._set(stage=RunStage.CHECKING)
        seq = SequenceJob(req)  # refuses missing export frames, naming them
        seq.check_remove_not_empty()
        self.spec = dataclasses.replace(seq.job_spec(), name=plan.name).validate()
        previous = Manifest.load(plan.manifest_path)
        attach = (
            previous.job
            if previous and previous.fingerprint == plan.fingerprint and not previous.complete
            else ""
        )
        manifest = Manifest(plan.fingerprint, plan.first, plan.last)
        self._set(stage=RunStage.CONNECTING)
        if self.cancel_event.is_set():
            raise VoidError(ErrorCode.CANCELLED, "cancelled before the job was sent")
        if not req.autostart and is_local(req.endpoint):
            with DaemonClient(req.endpoint) as probe:  # fail fast: loopback answers in milliseconds
                probe.hello(timeout=LOCAL_PROBE_S)
        sweep_stale_temps(seq.out)  # a previous session killed mid-write
        inputs = [req.plate, req.remove, req.affected]
        with claim_output(seq.out, seq.frames, self.spec, inputs, job=attach) as claim:
            seq.on_written = claim.frame_written
            client = connect(req.endpoint, autostart=req.autostart)
            try:
                report = self._session(client, seq, manifest, attach, claim)
            finally:
                client.close()
        manifest.job, manifest.complete = report.job, True
        manifest.frames_written, manifest.seconds = len(report.frames_written), report.seconds
        manifest.save(plan.manifest_path)
        return report

    def _session(
        self, client: Any, seq: SequenceJob, manifest: Manifest, attach: str, claim: OutputClaim
    ) -> JobReport:
        def write(frame: int, pixels: Any) -> None:
            seq.write_result(frame, pixels)
            with self._lock:
                self.state.written += 1
            self.on_frame(frame)
            self._set()

        def on_event(msg: P.Message) -> None:
            with self._lock:
                self.state.update(msg)
                job = self.state.job
            if job and manifest.job != job:
                # Remember the job as soon as it exists, so a new session can re-attach to it.
                manifest.job = job
                manifest.save(self.plan.manifest_path)
            if job and claim.job != job:
                claim.set_job(job)  # the output manifest names the job writing the frames
            self._set()

        if attach and self._ended(client, attach):
            # The earlier run was cancelled (or its job failed): this run is the artist asking
            # again, so it submits anew instead of re-attaching to an ended job.
            attach = ""
        if attach:
            try:
                log.info("re-attaching to job %s", attach)
                return JobSession(
                    client, None, seq.read_frame, write, on_event, self.cancel_event, attach=attach
                ).run()
            except VoidError as exc:
                if self.cancel_event.is_set() or exc.code == ErrorCode.CANCELLED:
                    raise
                log.info(
                    "could not re-attach to job %s (%s); submitting it again", attach, exc.message
                )
        return JobSession(
            client, self.spec, seq.read_frame, write, on_event, self.cancel_event
        ).run()

    @staticmethod
    def _ended(client: Any, job: str) -> bool:
        """True when the daemon has ``job`` as cancelled or failed (unknown: the attach finds out)."""
        try:
            jobs = client.status(job)
        except VoidError:
            return False
        ended = [
            j
            for j in jobs
            if j.get("job") == job and j.get("state") in (JobState.CANCELLED, JobState.FAILED)
        ]
        if ended:
            log.info("job %s was %s; submitting it again", job, ended[0]["state"])
        return bool(ended)
