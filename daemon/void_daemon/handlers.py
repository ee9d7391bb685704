"""Requests, on the I/O thread: one handler per message type, found in an explicit table.

Handlers answer small requests themselves and hand real work to the receivers, the scheduler or
the finisher; they never wait for any of them (``docs/architecture.md``). A handler refuses a
request by raising :class:`VoidError`, which goes back to the client as an ``error`` with the
request's id; any other exception is a bug, answered as ``internal`` while the daemon carries on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from void_client import protocol as P
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.job_state import FINAL_STATES, JobState
from void_daemon import __version__, timings
from void_daemon.admission import Limits, PathPolicy, check_engine, check_limits
from void_daemon.engines import EngineConfig, capabilities
from void_daemon.jobs import Job, JobStore
from void_daemon.progress import ProgressReporter
from void_daemon.scheduler import Scheduler
from void_daemon.stages import Finisher, Receiver, group_images, group_paths
from void_daemon.transport import Outbox, peer_user

log = logging.getLogger(__name__)

#: Input frames a client may have in flight per job (bounds daemon memory).
INPUT_CREDIT = 8
MAX_RESULT_CREDIT = 64
#: Jobs listed by a ``status`` request for all jobs.
STATUS_MAX_JOBS = 500

Handler = Callable[[bytes, Any, str], None]


class Handlers:
    """The daemon's answers to each message type a client may send."""

    def __init__(
        self,
        outbox: Outbox,
        store: JobStore,
        scheduler: Scheduler,
        receiver: Receiver,
        finisher: Finisher,
        progress: ProgressReporter,
        limits: Limits,
        paths: PathPolicy,
        engine_config: EngineConfig,
        gpu: Callable[[], dict[str, Any]],
    ) -> None:
        self.outbox = outbox
        self.store = store
        self.scheduler = scheduler
        self.receiver = receiver
        self.finisher = finisher
        self.progress = progress
        self.limits = limits
        self.paths = paths
        self.engine_config = engine_config
        self.gpu = gpu
        #: Message type -> handler. Types not listed here (results, progress, errors) are
        #: daemon -> client only and are refused.
        self.table: dict[str, Handler] = {
            P.Hello.TYPE: self.hello,
            P.Submit.TYPE: self.submit,
            P.Frames.TYPE: self.frames,
            P.Ack.TYPE: self.ack,
            P.Cancel.TYPE: self.cancel,
            P.Attach.TYPE: self.attach,
            P.Status.TYPE: self.status,
        }

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, ident: bytes, parts: list) -> None:
        try:
            msg = P.decode(parts)
        except VoidError as exc:
            # So that the client's pending request gets the error, answer with its id if readable.
            try:
                head = P.peek_header(parts)
                job, req = head.job, head.id
            except VoidError:
                job, req = "", 0
            self._error(ident, exc, job, req)
            return
        except Exception as exc:  # decode is meant to raise VoidError only; never die of a bug
            log.exception("internal error decoding a message")
            self._error(
                ident,
                VoidError(
                    ErrorCode.INTERNAL,
                    f"internal error decoding the message: {exc.__class__.__name__}",
                ),
            )
            return
        handler = self.table.get(msg.TYPE)
        try:
            if handler is None:
                raise VoidError(
                    ErrorCode.UNKNOWN_TYPE,
                    f"a daemon does not accept {msg.TYPE!r} messages",
                    "type",
                )
            handler(ident, msg, peer_user(parts[0]))
        except VoidError as exc:
            self._error(ident, exc, msg.job, msg.id)
        except Exception as exc:  # the daemon keeps serving whatever one request does
            log.exception("internal error handling %s", msg.TYPE)
            self._error(
                ident,
                VoidError(ErrorCode.INTERNAL, f"internal error: {exc.__class__.__name__}: {exc}"),
                msg.job,
                msg.id,
            )

    def _error(self, ident: bytes, exc: VoidError, job: str = "", req: int = 0) -> None:
        log.info("refused: %s", exc)
        self.outbox.send(ident, P.Error.from_exception(exc, job=job, id=req))

    def _job(self, job_id: str, user: str) -> Job:
        """The job, if ``user`` may touch it: with CurveZMQ, jobs belong to the submitting key.
        Another key is told the job does not exist, which leaks nothing about other clients."""
        job = self.store.get(job_id)
        if job.user != user:
            raise VoidError(
                ErrorCode.UNKNOWN_JOB,
                f"no job {job_id!r} on this daemon for this client key",
                "job",
            )
        return job

    # ------------------------------------------------------------------ handlers
    def hello(self, ident: bytes, msg: P.Hello, user: str) -> None:
        gpu = self.gpu()
        self.outbox.send(
            ident,
            P.Hello(
                id=msg.id,
                daemon_version=__version__,
                engines=capabilities(self.engine_config),
                gpu=gpu["gpu"],
                vram_free=gpu["vram_free"],
                queue_length=len(self.scheduler.active()),
            ),
        )

    def submit(self, ident: bytes, msg: P.Submit, user: str) -> None:
        spec = JobSpec.from_dict(msg.spec)
        # No lock on the queue: the I/O thread must not wait on the scheduler.
        check_limits(spec, self.limits, len(self.scheduler.active()), self.store.root)
        check_engine(spec, self.engine_config)
        if spec.transfer == "paths":
            self.paths.check_output(spec)
        job = self.store.create(spec, user)
        job.owner = ident
        job.result_credit = max(1, min(msg.result_credit, MAX_RESULT_CREDIT))
        job.input_credit = job.n if spec.transfer == "paths" else min(INPUT_CREDIT, job.n)
        self.scheduler.add(job.id)
        log.info(
            "job %s: %d frames %dx%d, engine %s, %d windows",
            job.id,
            job.n,
            spec.width,
            spec.height,
            spec.engine,
            self.scheduler.windows_of(job),
        )
        self.outbox.send(
            ident,
            P.Ack(
                job=job.id,
                id=msg.id,
                credit=job.input_credit,
                queue_position=self.scheduler.position(job.id),
            ),
        )

    def frames(self, ident: bytes, msg: P.Frames, user: str) -> None:
        arrived = time.monotonic()
        job = self._job(msg.job, user)
        if job.state == JobState.FAILED and job.error:
            # The client may not have heard why yet (the failure is sent from another thread):
            # answer with the reason, not with "it takes no more frames".
            raise VoidError(
                ErrorCode(job.error["code"]), job.error["message"], job.error.get("field"), job.id
            )
        if job.state in FINAL_STATES:
            raise VoidError(
                ErrorCode.CANCELLED if job.state == JobState.CANCELLED else ErrorCode.BAD_MESSAGE,
                f"job {job.id} is {job.state}; it takes no more frames",
                "job",
            )
        if (
            msg.images
            and job.spec.transfer != "pixels"
            or msg.paths
            and job.spec.transfer != "paths"
        ):
            raise VoidError(
                ErrorCode.BAD_MESSAGE,
                f"job {job.id} was submitted for {job.spec.transfer} transfer",
                "transfer",
            )
        job.owner = ident
        entries = (
            group_images(job, msg.images) if msg.images else group_paths(job, msg.paths, self.paths)
        )
        with job.lock:
            if len(entries) > job.input_credit:
                raise VoidError(
                    ErrorCode.NO_CREDIT,
                    f"{len(entries)} frames sent with {job.input_credit} credit; wait for acks",
                    "frames",
                )
            job.input_credit -= len(entries)
        for entry in entries:
            timings.record(job.id, "receive", entry["pos"], arrived)
            self.receiver.submit(job, entry)

    def ack(self, ident: bytes, msg: P.Ack, user: str) -> None:
        job = self._job(msg.job, user)
        frames = [f for f in msg.frames[: job.n] if isinstance(f, int) and not isinstance(f, bool)]
        with job.lock:
            # Only finished frames can be acknowledged: an early or bogus ack must not make the
            # job look delivered (``done``) before its frames exist.
            positions = [p for p in (job.position(f) for f in frames) if p in job.final]
            job.acked.update(positions)
            job.inflight.difference_update(positions)
            if msg.credit > 0:
                job.result_credit = min(msg.credit, MAX_RESULT_CREDIT)
        if positions:
            job.log("acked", pos=positions)
        self.finisher.pump_later(job)

    def cancel(self, ident: bytes, msg: P.Cancel, user: str) -> None:
        job = self._job(msg.job, user)
        with job.lock:
            job.cancel_requested = True
        if job.state not in FINAL_STATES:
            job.set_state(JobState.CANCELLED)
        with self.scheduler.cond:
            self.scheduler.cond.notify_all()
        self.outbox.send(
            ident,
            P.Progress(
                job=job.id,
                id=msg.id,
                stage=JobState.CANCELLED.value,
                frames_total=job.n,
                frames_done=len(job.final),
            ),
        )

    def attach(self, ident: bytes, msg: P.Attach, user: str) -> None:
        job = self._job(msg.job, user)
        with job.lock:
            job.owner = ident
            job.inflight.clear()  # everything not acknowledged is sent again
            job.result_credit = max(1, min(msg.result_credit, MAX_RESULT_CREDIT))
            missing = job.missing_frames()
            if job.spec.transfer == "pixels":
                job.input_credit = min(INPUT_CREDIT, len(missing))
        self.outbox.send(
            ident,
            P.Ack(
                job=job.id,
                id=msg.id,
                credit=job.input_credit if missing else 0,
                missing=missing,
                queue_position=self.scheduler.position(job.id),
            ),
        )
        if job.state in (JobState.FAILED, JobState.CANCELLED) and job.error:
            self.outbox.send(ident, P.Error(job=job.id, **job.error))
        self.progress.report(job, job.state, force=True)
        self.finisher.pump_later(job)

    def status(self, ident: bytes, msg: P.Status, user: str) -> None:
        if msg.job:
            jobs = [self._job(msg.job, user)]
        else:  # the newest jobs of this client key, enough for any panel
            jobs = sorted(
                (j for j in list(self.store.jobs.values()) if j.user == user),
                key=lambda j: j.created,
            )[-STATUS_MAX_JOBS:]
        # ``attached``: results go to the asker (else it should attach).
        out = [j.summary(self.scheduler.position(j.id), j.owner == ident) for j in jobs]
        self.outbox.send(ident, P.Status(id=msg.id, job=msg.job, jobs=out))
