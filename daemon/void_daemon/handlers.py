"""Requests, on the I/O thread: one handler per message type, found in an explicit table.

Handlers answer small requests themselves and hand real work to the receivers, the scheduler or
the finisher; they never wait for any of them (``docs/architecture.md``). A handler refuses a
request by raising :class:`VoidError`, which goes back to the client as an ``error`` with the
request's id; any other exception is a bug, answered as ``internal`` while the daemon carries on.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from void_client import protocol as P
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.job_state import FINAL_STATES, JobState
from void_daemon import __version__, timings
from void_daemon.admission import (
    Limits,
    PathPolicy,
    check_client_files,
    check_engine,
    check_free_space,
    check_limits,
    memory_budget,
)
from void_daemon.bounds import MAX_JOB_ID_CHARS, bounded_status, check_spec_sizes, disk_error
from void_daemon.connections import ClientTable, busy_error
from void_daemon.engines import EngineConfig, capabilities
from void_daemon.housekeeping import Housekeeper
from void_daemon.jobs import Job, JobStore
from void_daemon.offload import CapabilityCache, SerialWorker
from void_daemon.progress import ProgressReporter
from void_daemon.scheduler import Scheduler
from void_daemon.stages import Finisher, Receiver, group_images, group_paths
from void_daemon.transport import Outbox, peer_user

log = logging.getLogger(__name__)

#: Input frames a client may have in flight per job (bounds daemon memory).
INPUT_CREDIT = 8
MAX_RESULT_CREDIT = 64
Handler = Callable[[bytes, Any, str], None]

#: Requests a client may send while its submit is being admitted off the I/O thread; they are
#: answered in order once the submit is (messages, bytes).
MAX_WAITING_MESSAGES = 64
MAX_WAITING_BYTES = 64 << 20
#: A submit whose answer never went out (its worker died) stops holding the client after this.
HANDOFF_TIMEOUT_S = 60.0


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
        #: Wired by the composition root (server.Daemon): runs ``clean`` off the I/O thread.
        self.housekeeper: Housekeeper | None = None
        # Admission (docs/reliability.md, "Admission, memory and connections"): the memory
        # budget is fixed at start; capabilities are cached; a submit's file work (job folder,
        # journal, output folder probe) runs on one worker thread, never on the I/O thread.
        if limits.memory_budget_bytes <= 0:
            limits.memory_budget_bytes = memory_budget(limits)
        self.clients = ClientTable(limits.max_clients)
        self.capabilities = CapabilityCache(lambda: capabilities(engine_config))
        self.admission = SerialWorker("void-admit")
        #: Per client with a submit on the admission worker: its later requests, held so that
        #: replies keep the order of requests (and their bytes).
        self._waiting: dict[bytes, tuple[deque, list[float]]] = {}
        outbox.on_handed_back = self._handed_back
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
            P.Clean.TYPE: self.clean,
        }

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, ident: bytes, parts: list) -> None:
        held = self._waiting.get(ident)
        if held is not None and time.monotonic() - held[1][1] > HANDOFF_TIMEOUT_S:
            log.warning("a submit of client %s was never answered; serving it again", ident.hex())
            self._handed_back(ident)
            held = self._waiting.get(ident)
        if held is not None:  # its submit is being admitted: answer this after that one
            size = sum(len(p) for p in parts)
            if len(held[0]) >= MAX_WAITING_MESSAGES or held[1][0] + size > MAX_WAITING_BYTES:
                self._refuse_early(
                    ident,
                    parts,
                    VoidError(
                        ErrorCode.BUSY,
                        "too many requests sent before the submit was answered; wait for it",
                        "id",
                    ),
                )
                return
            held[0].append(parts)
            held[1][0] += size
            return
        if not self.clients.admit(ident):  # beyond --max-clients: "busy", and no other work
            self._refuse_early(ident, parts, busy_error(self.clients.max_clients))
            return
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
        if len(msg.job) > MAX_JOB_ID_CHARS:  # never echoed back: a reply must stay small
            self._error(
                ident,
                VoidError(
                    ErrorCode.BAD_MESSAGE,
                    f"a job id has at most {MAX_JOB_ID_CHARS} characters",
                    "job",
                ),
                "",
                msg.id,
            )
            return
        handler = self.table.get(msg.TYPE)
        # Any request naming a job renews its lease (docs/reliability.md, "Jobs end").
        self.store.touch(msg.job, peer_user(parts[0]))
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

    def _error(
        self, ident: bytes, exc: VoidError, job: str = "", req: int = 0, handed_back: bool = False
    ) -> None:
        log.info("refused: %s", exc)
        self.outbox.send(ident, P.Error.from_exception(exc, job=job, id=req), handed_back)

    def _refuse_early(self, ident: bytes, parts: list, exc: VoidError) -> None:
        """Answer without decoding (only the request id is read) and without logging: these
        refusals come in floods."""
        try:
            req = P.peek_header(parts).id
        except VoidError:
            req = 0
        self.outbox.send(ident, P.Error.from_exception(exc, id=req))

    def _handed_back(self, ident: bytes) -> None:
        """On the I/O thread, once a submit's answer went out: the client's held requests now."""
        held = self._waiting.pop(ident, None)
        queue = held[0] if held is not None else deque()
        while queue:
            if ident in self._waiting:  # another submit was handed off: the rest waits for it
                waiting = self._waiting[ident]
                waiting[0].extend(queue)
                waiting[1][0] += sum(sum(len(p) for p in parts) for parts in queue)
                return
            self.dispatch(ident, queue.popleft())

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
                engines=self.capabilities.get(),
                gpu=gpu["gpu"],
                vram_free=gpu["vram_free"],
                queue_length=len(self.scheduler.active()),
            ),
        )

    def submit(self, ident: bytes, msg: P.Submit, user: str) -> None:
        # Lengths, padding widths and reserved ids first: nothing is parsed or expanded before.
        check_spec_sizes(msg.spec)
        spec = JobSpec.from_dict(msg.spec)
        # No lock on the queue: the I/O thread must not wait on the scheduler.
        check_limits(spec, self.limits, len(self.scheduler.active()))
        self._waiting[ident] = (deque(), [0, time.monotonic()])
        self.admission.submit(self._admit, ident, msg, spec, user)

    def _admit(self, ident: bytes, msg: P.Submit, spec: JobSpec, user: str) -> None:
        """The file work of a submit, on the admission worker (one at a time, in order)."""
        try:
            # Counted again where submits are serial: two cannot both take the last place.
            check_limits(spec, self.limits, len(self.scheduler.active()))
            check_engine(spec, self.engine_config)
            check_client_files(spec)
            if spec.transfer == "paths":
                self.paths.check_output(spec)
            check_free_space(spec, self.store.root)
            job = self._create(spec, user)
        except VoidError as exc:
            self._error(ident, exc, "", msg.id, handed_back=True)
            return
        except Exception as exc:
            log.exception("internal error admitting a job")
            self._error(
                ident,
                VoidError(ErrorCode.INTERNAL, f"internal error: {exc!r}"),
                "",
                msg.id,
                handed_back=True,
            )
            return
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
            handed_back=True,
        )

    def _create(self, spec: JobSpec, user: str) -> Job:
        """The job's folder, spec and journal; on a disk error nothing of it is left behind
        (a half-created job would be resumed as a queued job that never gets its frames)."""
        try:
            return self.store.create(spec, user)
        except OSError as exc:
            job = self.store.jobs.get(spec.job_id)
            if job is not None and not job.received:
                with self.store.lock:
                    self.store.jobs.pop(spec.job_id, None)
                shutil.rmtree(job.dir, ignore_errors=True)
            elif job is None and spec.job_id:
                # Only a folder this submit began: the spec is written atomically, so a folder
                # holding one belongs to someone else and stays.
                folder = self.store.root / spec.job_id
                if (
                    folder.is_dir()
                    and not folder.is_symlink()
                    and not (folder / "spec.json").exists()
                ):
                    shutil.rmtree(folder, ignore_errors=True)
            raise disk_error(exc, self.store.root, f"job {spec.job_id}") from exc

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
            )[-self.limits.max_status_jobs :]
        # ``attached``: results go to the asker (else it should attach).
        out = [j.summary(self.scheduler.position(j.id), j.owner == ident) for j in jobs]
        # Capped in entries and bytes, long names shortened: a 60-byte request once got 34 MiB.
        kept, left_out = bounded_status(
            out, self.limits.max_status_jobs, self.limits.max_status_bytes
        )
        self.outbox.send(
            ident,
            P.Status(id=msg.id, job=msg.job, jobs=kept, left_out=left_out),
        )

    def clean(self, ident: bytes, msg: P.Clean, user: str) -> None:
        """``void-remove jobs clean``: removing folders is file work, done by housekeeping."""
        if not 0 <= msg.older_than_s < 1e12:
            raise VoidError(
                ErrorCode.BAD_MESSAGE, "older_than_s must be 0 or more seconds", "older_than_s"
            )
        housekeeper = self.housekeeper
        if housekeeper is None:
            raise VoidError(ErrorCode.BAD_MESSAGE, "this daemon does not clean jobs", "type")

        def run() -> None:
            try:
                removed = housekeeper.clean(user, msg.older_than_s, msg.all_finished)
            except Exception as exc:  # told to the client, never lost in the pool
                log.exception("clean failed")
                self.outbox.send(
                    ident,
                    P.Error.from_exception(
                        VoidError(ErrorCode.IO_ERROR, f"cannot clean the jobs folder: {exc}"),
                        id=msg.id,
                    ),
                )
                return
            self.outbox.send(
                ident,
                P.Clean(
                    id=msg.id,
                    older_than_s=msg.older_than_s,
                    all_finished=msg.all_finished,
                    removed=[r.to_dict() for r in removed],
                    freed_bytes=sum(r.bytes for r in removed),
                ),
            )

        if housekeeper.submit(run) is None:
            raise VoidError(ErrorCode.DAEMON_UNREACHABLE, "the daemon is stopping", "type")
