"""Run one job against the daemon: send frames within credit, write results as they arrive.

:class:`JobSession` is what the CLI, the Nuke node and the Resolve script all use. It reads
the next frames while earlier ones are on the wire, writes results on a small thread pool and
acknowledges each result only once it is on disk, so a crash never loses a frame: the daemon
resends whatever was not acknowledged when a client re-attaches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from void_client import protocol as P
from void_client.client import DaemonClient
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec

log = logging.getLogger(__name__)

#: With no word from the daemon for this long, ask it for the job's status (and re-attach: a
#: daemon restarted after a crash knows the job from its journal but not this client). A daemon
#: that is gone fails that request, so a dead daemon is reported as ``daemon_unreachable``
#: after at most ``STALL_CHECK_S`` plus the client's request timeout.
STALL_CHECK_S = 10.0
#: While input frames are still to be sent and none went out for this long, the client sends a
#: cheap ``status`` for its job: a heartbeat, so the daemon can tell a slow upload from a
#: client that vanished and expire the latter's job (the daemon's lease is documented there).
HEARTBEAT_S = 5.0
#: How long a cancel (Ctrl-C, a failed upload) waits for the daemon's confirmation.
CANCEL_WAIT_S = 3.0


@dataclass
class FrameInput:
    """One frame as the client sends it."""

    frame: int
    plate: np.ndarray  # (h, w, c) float16/float32
    remove: np.ndarray  # (h, w) matte
    affected: np.ndarray | None = None
    channels: list[str] = field(default_factory=list)
    data_window: tuple[int, int, int, int] | None = None
    display_window: tuple[int, int, int, int] | None = None
    #: The artist's clean frame for this frame (``--reference``): (h, w, 3) RGB or (h, w, 1).
    reference: np.ndarray | None = None

    def images(self) -> list[tuple[P.ImageDesc, np.ndarray]]:
        out = []
        win = {"data_window": self.data_window, "display_window": self.display_window}
        plate = _wire(self.plate)
        out.append((P.ImageDesc.for_array(self.frame, "plate", plate, self.channels, **win), plate))
        for role, m in (("remove", self.remove), ("affected", self.affected)):
            if m is not None:
                arr = _wire(m)[..., None] if np.asarray(m).ndim == 2 else _wire(m)
                out.append((P.ImageDesc.for_array(self.frame, role, arr), arr))
        if self.reference is not None:
            ref = _wire(self.reference)
            out.append((P.ImageDesc.for_array(self.frame, "reference", ref), ref))
        return out


def _wire(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype not in (np.float16, np.float32):
        a = a.astype(np.float32)
    return np.ascontiguousarray(a)


@dataclass
class JobReport:
    job: str
    frames_written: list[int]
    seconds: float
    windows: int = 0
    cached_windows: int = 0
    #: Requested frames this command did not put in the output (filled in by the caller that
    #: knows the output, e.g. :func:`void_client.sequence_job.remove_sequence`).
    frames_missing: list[int] = field(default_factory=list)
    #: The session returned once the daemon held every input (``detach_after_upload``).
    detached: bool = False


@dataclass
class JobClock:
    """A job's size and time left, from its ``progress`` messages, for any front end.

    The daemon sends ``frames_total`` with every message and ``eta_s`` once its first window
    has finished (the mean window time so far times the windows left; -1 before). Between
    messages the ETA counts down on ``clock``, so a long window does not freeze it.
    """

    total: int = 0
    eta_s: float = -1.0
    clock: Callable[[], float] = time.monotonic
    _at: float = field(default=0.0, init=False, repr=False)

    def update(self, msg: P.Message) -> None:
        if not isinstance(msg, P.Progress):
            return
        if msg.frames_total > 0:
            self.total = msg.frames_total
        if msg.stage == "done":
            self.eta_s, self._at = 0.0, self.clock()
        elif msg.eta_s >= 0:
            self.eta_s, self._at = msg.eta_s, self.clock()

    def remaining(self) -> float | None:
        """Seconds left, or None while no window has finished."""
        if self.eta_s < 0:
            return None
        return max(0.0, self.eta_s - (self.clock() - self._at))

    def eta_text(self) -> str:
        """``ETA 1:05:09`` / ``ETA 3:07``, or ``ETA after the first window``."""
        left = self.remaining()
        if left is None:
            return "ETA after the first window"
        m, sec = divmod(round(left), 60)
        h, m = divmod(m, 60)
        return f"ETA {h}:{m:02d}:{sec:02d}" if h else f"ETA {m}:{sec:02d}"


class JobSession:
    """Drive one job to completion. ``on_event`` gets every Progress/Result/Error message.

    Either submit a new job (``spec`` given) or re-attach (``attach=job_id``).
    """

    def __init__(
        self,
        client: DaemonClient,
        spec: JobSpec | None,
        read_frame: Callable[[int], FrameInput] | None,
        write_result: Callable[[int, np.ndarray], None] | None,
        on_event: Callable[[P.Message], None] | None = None,
        cancel: threading.Event | None = None,
        attach: str = "",
        result_credit: int = 8,
        io_threads: int = 2,
        on_submit: Callable[[str], None] | None = None,
        detach_after_upload: bool = False,
        write_layers: Callable[[int, dict[str, tuple[list[str], np.ndarray]]], None] | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.read_frame = read_frame
        self.write_result = write_result
        self.on_event = on_event or (lambda msg: None)
        self.cancel_event = cancel or threading.Event()
        self.attach_id = attach
        self.result_credit = result_credit
        self.io_threads = io_threads
        self.job = attach
        self.on_submit = on_submit
        self.detach_after_upload = detach_after_upload
        #: Gets each result's ``fill``/``matte`` layers (role → channel names, pixels) before the
        #: composite is written; a job whose spec lists ``outputs`` sends them.
        self.write_layers = write_layers

    def cancel(self) -> None:
        self.cancel_event.set()

    def start(self) -> threading.Thread:
        """Run on a worker thread (host UIs). Errors arrive through ``on_event`` as Error."""

        def target() -> None:
            try:
                self.run()
            except VoidError as exc:
                self.on_event(P.Error.from_exception(exc, job=self.job))

        t = threading.Thread(target=target, name="void-job", daemon=True)
        t.start()
        return t

    def _cancel_on_daemon(self) -> bool:
        """Ask the daemon to cancel this job and wait briefly for its word; False if none came."""
        if not self.job:
            return False
        try:
            self.client.request(P.Cancel(job=self.job), timeout=CANCEL_WAIT_S)
            return True
        except VoidError as exc:
            log.warning("job %s: the daemon did not confirm the cancel: %s", self.job, exc.message)
            return False

    def run(self) -> JobReport:
        t0 = time.perf_counter()
        if self.cancel_event.is_set():  # cancelled before anything was sent
            raise VoidError(ErrorCode.CANCELLED, "cancelled before the job was submitted")
        if self.attach_id:
            ack = self.client.attach(self.attach_id, self.result_credit)
            to_send = list(ack.missing)
        else:
            assert self.spec is not None
            ack = self.client.submit(self.spec, self.result_credit)
            self.job = ack.job
            to_send = list(self.spec.frames)
        if self.on_submit is not None:
            self.on_submit(self.job)
        credit = ack.credit
        if to_send and self.read_frame is None:
            raise VoidError(
                ErrorCode.MISSING_FRAMES,
                f"job {self.job} still needs {len(to_send)} input frames; re-attach from a session that can read them",
                "frames",
            )
        written: list[int] = []
        reads: list[tuple[int, Future]] = []
        writes: dict[int, Future] = {}
        done = False
        windows = cached = 0
        last_heard = last_sent = time.monotonic()
        upload_failed = False
        with (
            ThreadPoolExecutor(self.io_threads, thread_name_prefix="void-read") as rpool,
            ThreadPoolExecutor(self.io_threads, thread_name_prefix="void-write") as wpool,
        ):
            try:
                while not done:
                    if self.cancel_event.is_set():
                        confirmed = self._cancel_on_daemon()
                        raise VoidError(
                            ErrorCode.CANCELLED,
                            f"job {self.job} cancelled"
                            + ("" if confirmed else " (the daemon did not confirm in time)"),
                            job=self.job,
                        )
                    # Read ahead of the credit so the wire never waits on EXR decoding.
                    while to_send and len(reads) < credit + self.io_threads:
                        f = to_send.pop(0)
                        reads.append((f, rpool.submit(self.read_frame, f)))  # type: ignore[arg-type]
                    while credit > 0 and reads and reads[0][1].done():
                        f, fut = reads.pop(0)
                        try:
                            frame_input = fut.result()
                        except BaseException:
                            upload_failed = True  # the job can never get its inputs: cancel it
                            raise
                        self.client.send_frames(self.job, images=frame_input.images())
                        credit -= 1
                        last_sent = time.monotonic()
                    uploading = bool(to_send or reads)
                    if uploading and time.monotonic() - last_sent > HEARTBEAT_S:
                        # Heartbeat: the reply (a Status) is ignored below.
                        self.client.send(P.Status(job=self.job))
                        last_sent = time.monotonic()
                    if self.detach_after_upload and not uploading:
                        for fut in writes.values():
                            fut.result()
                        done_writes = list(writes)
                        if done_writes:
                            written.extend(done_writes)
                            self.client.ack(self.job, done_writes)
                        # A round trip: the daemon has taken every frame sent before it.
                        self.client.status(self.job)
                        return JobReport(
                            self.job,
                            sorted(written),
                            time.perf_counter() - t0,
                            windows,
                            cached,
                            detached=True,
                        )
                    # Acknowledge results that are safely on disk.
                    finished = [f for f, fut in writes.items() if fut.done()]
                    if finished:
                        for f in finished:
                            writes.pop(f).result()
                        written.extend(finished)
                        self.client.ack(self.job, finished)
                    wait = 0.005 if (reads and credit > 0) or writes else 0.2
                    msg = self.client.recv(wait)
                    if msg is None:
                        if time.monotonic() - last_heard > STALL_CHECK_S:
                            state = self.client.status(self.job)[0]  # raises if the daemon is gone
                            last_heard = time.monotonic()
                            if state["state"] == "cancelled":
                                raise VoidError(
                                    ErrorCode.CANCELLED,
                                    f"job {self.job} was cancelled on the daemon "
                                    "(void-remove cancel, or another client)",
                                    job=self.job,
                                )
                            if state["state"] == "failed":
                                raise VoidError(
                                    ErrorCode.ENGINE_FAILED,
                                    f"job {self.job} is {state['state']}: {state.get('error')}",
                                    job=self.job,
                                )
                            if not state.get("attached", True):
                                # A daemon restarted after a crash knows the job from its journal
                                # but not this client: re-attach, resend the frames it lost.
                                ack = self.client.attach(self.job, self.result_credit)
                                queued = set(to_send) | {f for f, _ in reads}
                                to_send.extend(f for f in ack.missing if f not in queued)
                                credit = ack.credit
                        continue
                    last_heard = time.monotonic()
                    if msg.job and msg.job != self.job:
                        continue
                    if isinstance(msg, P.Ack):
                        credit += msg.credit
                    elif isinstance(msg, P.Result):
                        layers: dict[int, dict[str, tuple[list[str], np.ndarray]]] = {}
                        for desc, arr in msg.images:
                            if desc.role in P.LAYER_ROLES:
                                layers.setdefault(desc.frame, {})[desc.role] = (desc.channels, arr)
                        for desc, arr in msg.images:
                            if desc.role != "result":
                                continue
                            if desc.frame in written:
                                self.client.ack(
                                    self.job, [desc.frame]
                                )  # a resend after re-attach: its ack was lost
                                continue
                            if desc.frame in writes:
                                continue  # a resend while our write is still running; acked when it lands
                            writes[desc.frame] = wpool.submit(
                                self._write, desc.frame, arr, layers.get(desc.frame, {})
                            )
                        self.on_event(msg)
                    elif isinstance(msg, P.Progress):
                        windows = msg.windows
                        cached += int(msg.cached)
                        self.on_event(msg)
                        if msg.stage == "done":
                            done = True
                        elif msg.stage == "cancelled":
                            raise VoidError(
                                ErrorCode.CANCELLED, f"job {self.job} was cancelled", job=self.job
                            )
                    elif isinstance(msg, P.Error):
                        self.on_event(msg)
                        raise msg.to_exception()
                for fut in writes.values():
                    fut.result()
            except BaseException:
                for _, fut in reads:
                    fut.cancel()
                if upload_failed:
                    # A frame that cannot be read (corrupt, wrong size) means the job can never
                    # run: cancel it rather than leave it queued for ever.
                    self._cancel_on_daemon()
                raise
        return JobReport(self.job, sorted(written), time.perf_counter() - t0, windows, cached)

    def _write(
        self, frame: int, arr: np.ndarray, layers: dict[str, tuple[list[str], np.ndarray]]
    ) -> None:
        if self.write_result is not None:
            try:
                if self.write_layers is not None:  # first: a written composite has its layers
                    self.write_layers(frame, {k: (c, np.array(a)) for k, (c, a) in layers.items()})
                self.write_result(frame, np.array(arr))  # own the memory: the zmq frame is reused
            except (
                OSError
            ) as exc:  # disk full, read-only or missing folder: say which frame, keep the code
                raise VoidError(
                    ErrorCode.IO_ERROR, f"cannot write result frame {frame}: {exc}", "out", self.job
                ) from exc
