"""Workers that keep the panel's event loop free: daemon status, a job, frame previews.

Each worker is a QObject moved to its own QThread and owns whatever blocks: a
:class:`~void_client.client.DaemonClient` (ZeroMQ sockets belong to one thread), a
:class:`~void_client.session.JobSession`, EXR reads. The GUI thread only ever talks to them
through queued signals, and they answer through signals too, so nothing the daemon or the disk
does can freeze the host's UI.

A job writes its output the way ``void-remove run`` does: the output sequence is held with the
lock and manifest of :func:`~void_client.output_manifest.claim_output`, and unless the request
says ``overwrite`` a new job goes to the next free ``_v###`` version
(:func:`~void_client.output_manifest.next_version`, the CLI's ``--version-up``). See
docs/panel.md and docs/architecture.md.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from void_client import protocol as P
from void_client.client import DaemonClient, connect
from void_client.errors import ErrorCode, VoidError
from void_client.output_manifest import claim_output, next_version
from void_client.panel.history import HistoryEntry, JobHistory
from void_client.panel.qt import QtCore, Signal, Slot
from void_client.preview import PreviewSource
from void_client.sequence import sweep_stale_temps
from void_client.sequence_job import RemoveRequest, SequenceJob, check_writable_folder
from void_client.session import FrameInput, JobSession

log = logging.getLogger(__name__)

#: How often the panel asks the daemon how it is, and how long it waits for the answer.
STATUS_INTERVAL_S = 2.0
STATUS_TIMEOUT_S = 1.0


# --------------------------------------------------------------------------- daemon status


@dataclass
class DaemonStatus:
    """What one hello + status round trip said (or why it failed)."""

    endpoint: str
    connected: bool = False
    version: str = ""
    engines: list[P.EngineInfo] = field(default_factory=list)
    gpu: str = ""
    vram_free: int = 0
    queue_length: int = 0
    jobs: list[P.StatusJob] = field(default_factory=list)
    error: str = ""
    round_trip_ms: float = 0.0

    @classmethod
    def from_hello(
        cls, endpoint: str, hello: P.Hello, jobs: list[P.StatusJob], round_trip_ms: float
    ) -> DaemonStatus:
        return cls(
            endpoint,
            True,
            hello.daemon_version,
            list(hello.engines),
            hello.gpu,
            int(hello.vram_free),
            int(hello.queue_length),
            jobs,
            "",
            round_trip_ms,
        )

    def available_engines(self) -> list[str]:
        return [e["name"] for e in self.engines if e.get("available")]


class StatusWorker(QtCore.QObject):
    """Answers ``poll()`` with a :class:`DaemonStatus`; ``start_daemon()`` starts a local one."""

    status = Signal(object)
    job_cancelled = Signal(str, str)  # job id, "" or why the daemon refused

    def __init__(self, endpoint: str, timeout_s: float = STATUS_TIMEOUT_S) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._client: DaemonClient | None = None
        #: Set while a poll runs, so the GUI's timer never queues polls behind a slow one.
        self.busy = threading.Event()

    @Slot()
    def poll(self) -> None:
        self.busy.set()
        try:
            self.status.emit(self._poll())
        finally:
            self.busy.clear()

    def _poll(self) -> DaemonStatus:
        t0 = time.perf_counter()
        try:
            if self._client is None:
                self._client = DaemonClient(self.endpoint, self.timeout_s)
            hello = self._client.hello(timeout=self.timeout_s)
            jobs = self._client.status()
        except VoidError as exc:
            # A fresh socket next time: a late reply must not be mistaken for the next answer.
            self.close()
            return DaemonStatus(self.endpoint, False, error=exc.message)
        return DaemonStatus.from_hello(
            self.endpoint, hello, jobs, (time.perf_counter() - t0) * 1000
        )

    @Slot(str)
    def cancel_job(self, job: str) -> None:
        """Cancel any job the daemon knows (one started by the CLI or a host too), then poll."""
        self.busy.set()
        try:
            if self._client is None:
                self._client = DaemonClient(self.endpoint, self.timeout_s)
            self._client.cancel(job)
            self.job_cancelled.emit(job, "")
        except VoidError as exc:
            self.close()
            self.job_cancelled.emit(job, exc.message)
        finally:
            self.busy.clear()
        self.poll()

    @Slot(str)
    def set_endpoint(self, endpoint: str) -> None:
        if endpoint != self.endpoint:
            self.close()
            self.endpoint = endpoint
        self.poll()

    @Slot()
    def start_daemon(self) -> None:
        """Start a local daemon (``connect`` with autostart; takes seconds), then poll."""
        self.busy.set()
        try:
            connect(self.endpoint, autostart=True, timeout=self.timeout_s * 5).close()
        except VoidError as exc:
            self.status.emit(DaemonStatus(self.endpoint, False, error=exc.message))
            return
        finally:
            self.busy.clear()
        self.poll()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


# --------------------------------------------------------------------------- one job


class _Detached(Exception):
    """Raised inside the session's callbacks to stop following a job without cancelling it."""


class JobWorker(QtCore.QObject):
    """Runs one job (new, or re-attached) through :class:`JobSession` on its thread.

    Signals, in order: ``submitted`` once the daemon knows the job; then any number of
    ``progress`` and ``frames_written``; then exactly one of ``finished``, ``failed`` or
    ``detached``; then ``done``.
    """

    submitted = Signal(str, object)  # job id, {"name", "frames", "attached", "out"}
    progress = Signal(object)  # protocol.Progress
    frames_written = Signal(list)  # frame numbers now on disk
    finished = Signal(object)  # session.JobReport
    failed = Signal(str, str, str)  # error code, message, field
    detached = Signal(str)
    done = Signal()

    def __init__(
        self,
        request: RemoveRequest,
        attach: str = "",
        history_path: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        self.request = request
        self.attach = attach
        self.history_path = history_path
        self.job = attach
        self.cancel_event = threading.Event()
        self._detach = threading.Event()

    # Called from the GUI thread: both only set events the session polls.
    def cancel(self) -> None:
        self.cancel_event.set()

    def detach(self) -> None:
        self._detach.set()

    @property
    def detaching(self) -> bool:
        return self._detach.is_set()

    @Slot()
    def run(self) -> None:
        client: DaemonClient | None = None
        try:
            req = self.request
            if not self.attach and not req.overwrite:
                # Version up (the default): never into a sequence that already holds frames.
                req = dataclasses.replace(req, out=next_version(req.out))
            seq = SequenceJob(req)
            spec = seq.job_spec()
            # The same checks as remove_sequence, before any GPU time is spent.
            if not self.attach:
                seq.check_remove_not_empty()
            check_writable_folder(os.path.dirname(seq.out.path(seq.frames[0])) or ".")
            sweep_stale_temps(seq.out)  # a previous client killed mid-write
            inputs = [req.plate, req.remove, req.affected]
            # A preview claims only the frames it writes (``keep``), as the CLI does: its
            # context frames are computed, never written, and would leave the manifest "failed".
            wanted = [f for f in seq.frames if f in req.keep] if req.keep else seq.frames
            with claim_output(
                seq.out, wanted, spec, inputs, req.overwrite, job=self.attach
            ) as claim:
                seq.on_written = claim.frame_written
                client = connect(req.endpoint, autostart=req.autostart)
                if not self.attach:
                    # Submit first and record the job before a single frame goes out, then
                    # stream through the same attach path a later session would use: whatever
                    # happens to this host from here on, the history can re-attach.
                    self.job = client.submit(spec).job
                    claim.set_job(self.job)
                    if self.history_path is not None:
                        JobHistory(self.history_path).record(
                            HistoryEntry.from_request(self.job, spec.name, req, len(seq.frames))
                        )
                self.submitted.emit(
                    self.job,
                    {
                        "name": spec.name,
                        "frames": list(seq.frames),
                        "attached": bool(self.attach),
                        "out": req.out,
                    },
                )
                session = JobSession(
                    client,
                    None,
                    self._reader(seq),
                    self._writer(seq),
                    self._on_event,
                    self.cancel_event,
                    attach=self.job,
                )
                try:
                    report = session.run()
                except _Detached:
                    claim.finish("detached")  # the job runs on; History ▸ Re-attach collects it
                    raise
                have = claim.frames_on_record() | set(report.frames_written)
                report.frames_missing = [f for f in seq.frames if f not in have]
                if report.frames_missing:
                    claim.finish("incomplete")
            self.finished.emit(report)
        except _Detached:
            self.detached.emit(self.job)
        except VoidError as exc:
            self.failed.emit(exc.code.value, exc.message, exc.field or "")
        except Exception as exc:  # a bug must reach the panel's log, not kill the thread silently
            log.exception("job worker failed")
            self.failed.emit(ErrorCode.INTERNAL.value, f"{exc.__class__.__name__}: {exc}", "")
        finally:
            if client is not None:
                client.close()
            self.done.emit()

    def _check_detach(self) -> None:
        if self._detach.is_set():
            raise _Detached()

    def _reader(self, seq: SequenceJob) -> Any:
        def read(frame: int) -> FrameInput:
            self._check_detach()
            return seq.read_frame(frame)

        return read

    def _writer(self, seq: SequenceJob) -> Any:
        def write(frame: int, pixels: np.ndarray) -> None:
            seq.write_result(frame, pixels)
            # Emitted from the session's write pool: Qt queues it to the GUI thread. A
            # preview's context frames (not in ``keep``) are computed but never written.
            if not seq.req.keep or frame in seq.req.keep:
                self.frames_written.emit([frame])
            self._check_detach()

        return write

    def _on_event(self, msg: P.Message) -> None:
        if isinstance(msg, P.Progress):
            self.progress.emit(msg)
        # Results are reported once written (frames_written); errors end the session (failed).
        self._check_detach()


# --------------------------------------------------------------------------- previews


class PreviewLoader(QtCore.QObject):
    """Loads viewer frames off the GUI thread. Only the latest request counts, so scrubbing
    fast never builds a queue of reads nobody will look at."""

    loaded = Signal(object)  # preview.FramePreview
    failed = Signal(int, str)
    _kick = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._wanted: tuple[PreviewSource, int] | None = None
        self._kick.connect(self._work)

    def request(self, source: PreviewSource, frame: int) -> None:
        """Any thread: load ``frame`` from ``source`` next (replacing an unstarted request)."""
        with self._lock:
            self._wanted = (source, frame)
        self._kick.emit()

    @Slot()
    def _work(self) -> None:
        with self._lock:
            wanted, self._wanted = self._wanted, None
        if wanted is None:
            return
        source, frame = wanted
        try:
            self.loaded.emit(source.load(frame))
        except VoidError as exc:
            self.failed.emit(frame, exc.message)
        except Exception as exc:
            log.exception("preview of frame %d failed", frame)
            self.failed.emit(frame, f"{exc.__class__.__name__}: {exc}")


class CoverageScanner(QtCore.QObject):
    """Measures the mattes' coverage of every frame off the GUI thread (preview before Run).

    Each scan has a token; starting a new scan (or :meth:`stop`) makes the running one stop at
    its next frame, so editing the Job tab never queues scans of sequences nobody looks at.
    Results come in batches (a signal per frame would flood the GUI on long shots).
    """

    measured = Signal(int, list)  # token, [preview.MatteCoverage, ...]
    failed = Signal(int, int, str)  # token, frame, message
    finished = Signal(int)  # token
    _kick = Signal(int, object, list)

    #: Frames per ``measured`` batch.
    BATCH = 8

    def __init__(self) -> None:
        super().__init__()
        self.current = 0
        self._kick.connect(self._scan)

    def scan(self, token: int, source: object, frames: list[int]) -> None:
        """Any thread: measure ``frames`` of ``source`` (anything with ``coverage(frame)``)."""
        self.current = token  # an int assignment: atomic, read by the running scan
        self._kick.emit(token, source, list(frames))

    def stop(self) -> None:
        self.current = -1

    @Slot(int, object, list)
    def _scan(self, token: int, source: Any, frames: list[int]) -> None:
        batch: list = []
        for frame in frames:
            if token != self.current:
                return
            try:
                batch.append(source.coverage(frame))
            except VoidError as exc:
                self.failed.emit(token, frame, exc.message)
            except Exception as exc:
                log.warning("coverage of frame %d failed: %s", frame, exc)
                self.failed.emit(token, frame, f"{exc.__class__.__name__}: {exc}")
            if len(batch) >= self.BATCH:
                self.measured.emit(token, batch)
                batch = []
        if batch:
            self.measured.emit(token, batch)
        self.finished.emit(token)
