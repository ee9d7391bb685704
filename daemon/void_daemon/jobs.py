"""Jobs on disk: a directory per job with its spec, an append-only journal and atomic files.

Layout under the jobs directory::

    <job>/spec.json            the JobSpec
    <job>/journal.jsonl        one JSON event per line; a torn last line is ignored
    <job>/in/<pos>.plate.npy   received plate (native dtype, all channels)
    <job>/in/<pos>.qm.npy      its quadmask (uint8)
    <job>/out/<pos>.npy        the finished frame, written before it is announced
    <job>/out/<pos>.<layer>.npy its fill/matte layers, for a job whose spec lists ``outputs``
    cache/                     per-window engine results by content hash, shared by all jobs

If the daemon dies, :meth:`JobStore.load_unfinished` rebuilds each job from its journal, so
finished windows are not recomputed and finished frames are not lost. Every file is written to a
temp name, fsynced and renamed, and the journal line that announces it is written after the
rename, so a line in the journal always names a whole file; temp files a crash left behind are
deleted on replay. Folders are private to the daemon's user (0700): footage is under NDA.

The jobs folder must belong to the daemon's user and not be writable by others, and a job folder
is never a link (``docs/reliability.md``, "One daemon per jobs folder"): whoever could write the
folder could otherwise redirect a job's files. A final job's stored frames are dropped by the
retention policy (:mod:`void_daemon.housekeeping`); its journal then says what it held.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from void_client.atomic import write_text_atomic
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.job_state import FINAL_STATES, JobState
from void_client.protocol import StatusJob
from void_daemon.cache import save_npy_atomic
from void_daemon.folder_lock import check_jobs_folder
from void_daemon.retention import disk_bytes

log = logging.getLogger(__name__)

#: Daemon lives that froze or died while starting a job (engine load, colour config) before it
#: is no longer resumed automatically (``docs/reliability.md``, "Jobs end").
MAX_START_ATTEMPTS = 2

#: Job folders and the jobs root are readable by the daemon's user only.
PRIVATE_DIR_MODE = 0o700


@dataclass
class Job:
    """A job's state, rebuilt from its journal (everything above "transient") plus what only
    this daemon's life knows. Fields change under ``lock``."""

    spec: JobSpec
    dir: Path
    state: JobState = JobState.QUEUED
    received: set[int] = field(default_factory=set)
    windows_done: dict[int, dict[str, Any]] = field(default_factory=dict)
    final: set[int] = field(default_factory=set)
    acked: set[int] = field(default_factory=set)
    error: dict | None = None
    #: Path mode: the plate file each position came from (its spec is reused for the output).
    sources: dict[int, str] = field(default_factory=dict)
    owner: bytes = b""
    #: The authenticated client (CurveZMQ public key) that submitted the job; "" without Curve.
    #: Only the same user may see, feed, cancel or attach to the job.
    user: str = ""
    created: float = field(default_factory=time.time)
    cancel_requested: bool = False
    #: When the job reached a final state (epoch seconds; 0 while active): retention ages by it.
    ended: float = 0.0
    #: Its stored frames were dropped by the retention policy: from then on the journal, not the
    #: files, says which frames were received and finished.
    pruned: bool = False
    #: Bytes its folder holds (kept current by the stages that write it and by housekeeping).
    disk_bytes: int = 0
    # transient (not journalled)
    result_credit: int = 8
    inflight: set[int] = field(default_factory=set)
    input_credit: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    #: Monotonic time a client last named the job or one of its inputs was stored. ``None`` for a
    #: job replayed after a restart until a client names it: see :meth:`holds_a_place`.
    seen: float | None = field(default_factory=time.monotonic)
    #: Start of the lease of a job nobody has named in this daemon's life.
    lease_from: float = field(default_factory=time.monotonic)
    #: Called once the job reaches a final state (housekeeping drops what it no longer needs).
    on_final: Callable[[Job], None] | None = field(default=None, repr=False)
    #: Frames of this job whose pixels the daemon holds in memory now, and the most at once in
    #: this daemon's life (``status``: ``frames_held_peak``). Inputs live on disk between
    #: stages, so this is bounded by one window (with its margins, ``Engine.margin``) plus the
    #: input credit, whatever the shot's length (``docs/benchmarks.md``, "Long shots: memory
    #: bounded by the window").
    frames_held: int = 0
    frames_held_peak: int = 0

    @property
    def id(self) -> str:
        return self.spec.job_id

    @property
    def n(self) -> int:
        return len(self.spec.frames)

    def frame(self, pos: int) -> int:
        return self.spec.frames[pos]

    def position(self, frame: int) -> int:
        try:
            return self._index[frame]
        except AttributeError:
            self._index: dict[int, int] = {f: i for i, f in enumerate(self.spec.frames)}
            return self.position(frame)
        except KeyError:
            raise VoidError(
                ErrorCode.UNKNOWN_FRAME, f"frame {frame} is not in job {self.id}'s range", "frames"
            ) from None

    # ---- frames in memory
    def hold(self, frames: int) -> None:
        """``frames`` more frames' pixels are in memory for this job (until :meth:`release`)."""
        with self.lock:
            self.frames_held += frames
            self.frames_held_peak = max(self.frames_held_peak, self.frames_held)

    def release(self, frames: int) -> None:
        with self.lock:
            self.frames_held -= frames

    @contextmanager
    def holding(self, frames: int) -> Iterator[None]:
        """:meth:`hold` for the block, then :meth:`release`, whatever the block raises."""
        self.hold(frames)
        try:
            yield
        finally:
            self.release(frames)

    # ---- lease (docs/reliability.md, "Jobs end")
    def touch(self) -> None:
        """A client named the job, or an input of it was stored: its inputs are still coming."""
        self.seen = time.monotonic()

    def last_heard(self) -> float:
        return self.lease_from if self.seen is None else max(self.seen, self.lease_from)

    def holds_a_place(self) -> bool:
        """Counts against ``--max-jobs`` and in queue positions: an active job that has all its
        inputs, or that a client has named in this daemon's life. An orphan replayed after a
        restart (its client died mid-upload) holds none; it expires after its lease."""
        return self.state not in FINAL_STATES and (
            self.seen is not None or len(self.received) >= self.n
        )

    # ---- files
    def plate_path(self, pos: int) -> Path:
        return self.dir / "in" / f"{pos:06d}.plate.npy"

    def quadmask_path(self, pos: int) -> Path:
        return self.dir / "in" / f"{pos:06d}.qm.npy"

    def out_path(self, pos: int) -> Path:
        return self.dir / "out" / f"{pos:06d}.npy"

    def load_plate(self, pos: int, mmap: bool = True) -> np.ndarray:
        return np.load(self.plate_path(pos), mmap_mode="r" if mmap else None)

    def load_quadmask(self, pos: int) -> np.ndarray:
        return np.load(self.quadmask_path(pos))

    def load_out(self, pos: int) -> np.ndarray:
        return np.load(self.out_path(pos))

    def layer_path(self, pos: int, layer: str) -> Path:
        return self.dir / "out" / f"{pos:06d}.{layer}.npy"

    def load_layer(self, pos: int, layer: str) -> np.ndarray:
        return np.load(self.layer_path(pos, layer))

    # ---- journal
    def log(self, event: str, **data: Any) -> None:
        line = json.dumps({"t": time.time(), "event": event, **data})
        with self.lock, open(self.dir / "journal.jsonl", "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def store_input(self, pos: int, plate: np.ndarray, quadmask: np.ndarray) -> None:
        save_npy_atomic(self.plate_path(pos), plate)
        save_npy_atomic(self.quadmask_path(pos), quadmask)
        with self.lock:
            self.received.add(pos)
            self.disk_bytes += plate.nbytes + quadmask.nbytes
            self.touch()  # a slow path-mode read is progress too, not a vanished client
        self.log("received", pos=pos)

    def store_output(
        self, pos: int, pixels: np.ndarray, layers: dict[str, np.ndarray] | None = None
    ) -> None:
        layers = layers or {}
        for name, arr in layers.items():  # before the frame: a final frame has its layers
            save_npy_atomic(self.layer_path(pos, name), arr)
        save_npy_atomic(self.out_path(pos), pixels)
        with self.lock:
            self.final.add(pos)
            self.disk_bytes += pixels.nbytes + sum(a.nbytes for a in layers.values())
        self.log("final", pos=pos)

    def set_state(self, state: JobState, error: dict | None = None) -> None:
        with self.lock:
            self.state = state
            if error is not None:
                self.error = error
            if state in FINAL_STATES:
                self.ended = time.time()
        self.log("state", state=state.value, error=error)
        if state in FINAL_STATES and self.on_final is not None:
            self.on_final(self)

    def summary(self, queue_position: int, attached: bool) -> StatusJob:
        """This job in a ``status`` reply."""
        with self.lock:
            return {
                "job": self.id,
                "name": self.spec.name,
                "state": self.state.value,
                "frames_total": self.n,
                "frames_received": len(self.received),
                "frames_done": len(self.final),
                "frames_acked": len(self.acked),
                "frames_inflight": len(self.inflight),
                "windows_done": len(self.windows_done),
                "frames_held_peak": self.frames_held_peak,
                "error": self.error,
                "engine": self.spec.engine,
                "queue_position": queue_position,
                "attached": attached,
                "disk_bytes": self.disk_bytes,
                "created": self.created,
                # Where fill and matte go (docs/protocol.md, ``status``): patterns the daemon
                # writes (path mode), else to the client that collects the job; and whether
                # they are layers of the output itself (--grade-layers).
                "outputs": list(self.spec.outputs),
                "layer_patterns": {str(k): str(v) for k, v in self.spec.layer_patterns.items()},
                "layers_in_out": bool(self.spec.layers_in_out),
            }

    def missing_frames(self) -> list[int]:
        with self.lock:
            return [self.frame(p) for p in range(self.n) if p not in self.received]


class JobStore:
    """Creates, finds and resumes jobs under one directory."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        check_jobs_folder(self.root)  # before anything is made or changed in it
        self.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        if hasattr(os, "getuid") and self.root.stat().st_uid == os.getuid():
            os.chmod(self.root, PRIVATE_DIR_MODE)  # an existing folder made with a looser umask
        self.cache_dir = self.root / "cache"
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        #: Called with each job that reaches a final state (wired to housekeeping).
        self.on_job_ended: Callable[[Job], None] | None = None

    def _ended(self, job: Job) -> None:
        if self.on_job_ended is not None:
            self.on_job_ended(job)

    def touch(self, job_id: str, user: str) -> None:
        """A request named this job: renew its lease (only for the key that owns it)."""
        job = self.jobs.get(job_id) if job_id else None
        if job is not None and job.user == user:
            job.touch()

    def create(self, spec: JobSpec, user: str = "") -> Job:
        if not spec.job_id:
            spec.job_id = uuid.uuid4().hex[:12]
        if not spec.job_id.replace("-", "").replace("_", "").isalnum() or len(spec.job_id) > 64:
            raise VoidError(
                ErrorCode.BAD_SPEC, "job_id may only hold letters, digits, '-' and '_'", "job_id"
            )
        with self.lock:
            if spec.job_id in self.jobs:
                raise VoidError(
                    ErrorCode.BAD_SPEC,
                    f"job {spec.job_id} already exists; attach to it instead",
                    "job_id",
                )
            d = self.root / spec.job_id
            # A new folder, never an existing entry: a link planted under this name would
            # redirect the job's files (a folder a crash left without its spec is reused).
            if d.is_symlink() or d.exists() and (not d.is_dir() or (d / "spec.json").exists()):
                raise VoidError(
                    ErrorCode.BAD_SPEC,
                    f"job_id {spec.job_id!r} is already taken in the jobs folder (by a file, a "
                    "link or an old job); leave job_id empty or choose another",
                    "job_id",
                )
            d.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
            (d / "in").mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
            (d / "out").mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
            write_text_atomic(d / "spec.json", spec.to_json())
            job = Job(spec=spec, dir=d, user=user, on_final=self._ended)
            self.jobs[spec.job_id] = job
        job.log("created", user=user)
        return job

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise VoidError(ErrorCode.UNKNOWN_JOB, f"no job {job_id!r} on this daemon", "job")
        return job

    def load_unfinished(self) -> list[Job]:
        """Rebuild every job whose journal does not end in a final state."""
        resumed = []
        if self.cache_dir.is_dir():  # engine results a crash left half-written
            for p in self.cache_dir.glob("*/.*"):
                p.unlink(missing_ok=True)
        for d in sorted(self.root.iterdir()):
            if d.is_symlink():
                log.warning("%s is a link, not a job folder; it is never followed (remove it)", d)
                continue
            if not (d / "spec.json").exists() or d.name in self.jobs:
                continue
            try:
                job = self._replay(d)
            except Exception:
                log.exception("cannot resume job in %s; leaving it alone", d)
                continue
            self.jobs[job.id] = job
            if job.state not in FINAL_STATES:
                resumed.append(job)
        return resumed

    def _replay(self, d: Path) -> Job:
        spec = JobSpec.from_json((d / "spec.json").read_text())
        # Dormant until a client names it (seen=None); its lease runs from this restart.
        job = Job(spec=spec, dir=d, seen=None, on_final=self._ended)
        _remove_temp_files(d)
        journal = d / "journal.jsonl"
        lines = _read_journal(journal)
        received: set[int] = set()
        final: set[int] = set()
        was_pruned = False
        starts = 0  # daemon lives that began starting the job and never got it started
        for line in lines:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue  # torn write at a crash
            kind = e.get("event")
            if kind == "received":
                received.add(e["pos"])
            elif kind == "final":
                final.add(e["pos"])
            if (
                kind == "received"
                and job.plate_path(e["pos"]).exists()
                and job.quadmask_path(e["pos"]).exists()
            ):
                job.received.add(e["pos"])
            elif kind == "window":
                job.windows_done[e["index"]] = e
            elif kind == "final" and job.out_path(e["pos"]).exists():
                job.final.add(e["pos"])
            elif kind == "source":
                job.sources[e["pos"]] = e["plate"]
            elif kind == "acked":
                job.acked.update(e["pos"])
            elif kind == "state":
                job.state = _journalled_state(e["state"])
                job.error = e.get("error")
                job.ended = float(e.get("t", 0.0)) if job.state in FINAL_STATES else 0.0
            elif kind == "created":
                job.created = e.get("t", job.created)
                job.user = str(e.get("user") or "")
            elif kind == "pruned":
                was_pruned = True
                job.pruned = not e.get("kept_outputs")
            elif kind == "starting":
                starts += 1
            elif kind in ("started", "window"):
                starts = 0
        if was_pruned:
            # The files were dropped on purpose: the journal says what the job held.
            job.received, job.final = received, final
        job.disk_bytes = disk_bytes(d)
        if job.state in FINAL_STATES:
            return job
        if starts >= MAX_START_ATTEMPTS:
            # The daemon froze or died twice while starting it (an engine that hangs loading,
            # a colour config that never finishes reading): a third try would freeze it again.
            exc = VoidError(
                ErrorCode.ENGINE_FAILED,
                f"the job failed to start {'twice' if starts == 2 else f'{starts} times'} (the daemon stopped or froze while "
                "loading its engine and colour settings); it is not resumed automatically. "
                "Check its settings (ocio_config, engine) and submit it again",
                "engine",
                job.id,
            )
            log.warning("job %s: %s", job.id, exc.message)
            job.state = JobState.QUEUED
            job.set_state(JobState.FAILED, exc.to_dict())
            return job
        job.state = JobState.QUEUED  # its inputs and windows are on disk: queue it again
        return job


def _journalled_state(text: str) -> JobState:
    """A state line of the journal. An unknown one (``finishing``, written by older daemons) is
    treated as unfinished, so the job is resumed rather than lost."""
    try:
        return JobState(text)
    except ValueError:
        return JobState.QUEUED


def _read_journal(journal: Path) -> list[str]:
    """The journal's whole lines. A line torn by a crash is cut off, so that the next event
    appended by this daemon's life starts on a line of its own instead of gluing onto it."""
    if not journal.exists():
        return []
    data = journal.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        log.warning(
            "%s: dropping a torn last line (%d bytes) left by a crash", journal, len(data) - end
        )
        with open(journal, "r+b") as f:
            f.truncate(end)
            os.fsync(f.fileno())
    return data[:end].decode("utf-8", "replace").splitlines()


def _remove_temp_files(job_dir: Path) -> None:
    """Temp files (``.name.*``) are half-written by definition once their writer is gone."""
    for folder in (job_dir, job_dir / "in", job_dir / "out"):
        if folder.is_dir():
            for p in folder.glob(".*"):
                if p.is_file():
                    p.unlink(missing_ok=True)
