"""Farm tasks, in-process: one window of a farm job, or its assembly (seam blend + final EXRs).

No daemon is involved. A farm node runs ``void-remove task window|assemble``, which calls
:func:`run_window_task` / :func:`run_assemble_task`, and the daemon's own :class:`JobRunner` does
the work, so a farm job and a local run give the same pixels.

State lives in the job's folder on shared storage (see :class:`void_client.farm.FarmSpec`):

* each task appends to its **own** journal (``journal/window-003.jsonl``, ``journal/assemble.jsonl``),
  so no two farm nodes ever append to one file; state is the replay of all of them;
* a window is finished once its ``window`` event is journalled *and* its result is in the
  content-addressed cache (written first, atomically); a finished window is skipped;
* ``chain`` seams: the frames a window starts from (the previous windows' finished frames) are
  stored under ``out/`` by the window that needs them;
* ``assemble`` writes each output EXR atomically and journals it, so a re-run continues.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from void_client.errors import ErrorCode, VoidError
from void_client.farm.farm_spec import FarmSpec
from void_client.job_state import JobState
from void_client.quadmask import build_quadmask
from void_client.sequence import (
    Image,
    SequencePattern,
    SequenceRef,
    read_image,
    read_matte,
    write_image,
)
from void_daemon.cache import WindowCache
from void_daemon.engines import Engine, EngineConfig, WindowInput, engine_class, load_engine
from void_daemon.jobs import Job
from void_daemon.runner import JobRunner

log = logging.getLogger(__name__)

#: ``(percent 0..100, message)``; the task command turns these into the farm's progress lines.
Progress = Callable[[float, str], None]

#: Fault injection for resilience tests and farm drills: ``window:<k>`` kills the process
#: (SIGKILL, no clean-up) after window k's engine result is in the cache and before the window
#: is journalled as done, the worst moment for a node to die.
FAULT_ENV = "VOID_REMOVE_TASK_FAULT"


def _no_progress(percent: float, message: str) -> None:
    pass


@dataclass
class TaskOutcome:
    """What one task did, for its last status line and for tests."""

    kind: str
    index: int | None = None
    skipped: bool = False
    cached: bool = False
    seconds: float = 0.0
    frames_written: list[int] = field(default_factory=list)


@dataclass
class FarmJob(Job):
    """A :class:`Job` whose inputs are the shot's own files and whose journal is per task.

    The daemon copies inputs into its job folder; a farm task reads them straight from the
    plate and matte sequences (shared storage) and builds each quadmask exactly as the daemon's
    receiver does.
    """

    farm: FarmSpec | None = None
    task: str = ""
    #: Positions whose output EXR has been written (journalled by ``assemble``).
    written: set[int] = field(default_factory=set)
    _last_plate: tuple[int, Image] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        assert self.farm is not None
        self.plate_ref = SequenceRef.parse(self.farm.plate)
        self.remove_ref = SequenceRef.parse(self.farm.remove)
        self.affected_ref = SequenceRef.parse(self.farm.affected) if self.farm.affected else None

    # ---- inputs, read from the shot's sequences
    def plate_image(self, pos: int) -> Image:
        """The plate with its spec (reused for the output); the last one read is kept."""
        if self._last_plate is not None and self._last_plate[0] == pos:
            return self._last_plate[1]
        frame = self.frame(pos)
        img = read_image(self.plate_ref.path(frame), frame, self.plate_ref.channel)
        h, w, c = img.pixels.shape
        if (w, h) != (self.spec.width, self.spec.height):
            raise VoidError(
                ErrorCode.RESOLUTION_MISMATCH,
                f"plate frame {frame} is {w}x{h} but the job is {self.spec.width}x{self.spec.height}",
                "plate",
                self.id,
            )
        if c != len(self.spec.channels):
            raise VoidError(
                ErrorCode.SHAPE_MISMATCH,
                f"plate frame {frame} has {c} channels, the job declared {len(self.spec.channels)}",
                "plate",
                self.id,
            )
        self._last_plate = (pos, img)
        return img

    def load_plate(self, pos: int, mmap: bool = True) -> np.ndarray:
        return self.plate_image(pos).pixels

    def load_quadmask(self, pos: int) -> np.ndarray:
        frame = self.frame(pos)
        remove = read_matte(self.remove_ref.path(frame), frame, self.remove_ref.channel)
        affected = (
            read_matte(self.affected_ref.path(frame), frame, self.affected_ref.channel)
            if self.affected_ref
            else None
        )
        for name, m in (("remove", remove), ("affected", affected)):
            if m is not None and m.shape != (self.spec.height, self.spec.width):
                raise VoidError(
                    ErrorCode.RESOLUTION_MISMATCH,
                    f"{name} matte frame {frame} is {m.shape[1]}x{m.shape[0]} but the plate is {self.spec.width}x{self.spec.height}",
                    name,
                    self.id,
                )
        return build_quadmask(remove, affected, self.spec.dilation, frame=frame)

    # ---- journal: one file per task
    def log(self, event: str, **data: Any) -> None:
        if event == "window" and os.environ.get(FAULT_ENV) == f"window:{data.get('index')}":
            log.warning(
                "%s=%s: killing this task before window %s is journalled",
                FAULT_ENV,
                os.environ[FAULT_ENV],
                data.get("index"),
            )
            os.kill(os.getpid(), signal.SIGKILL)
        line = json.dumps({"t": time.time(), "event": event, "task": self.task, **data})
        path = self.dir / "journal" / f"{self.task}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock, open(path, "a+b") as f:
            # A previous run of this task killed mid-line left a torn line: start on a fresh one,
            # so this event is not glued onto it (replay skips the torn line).
            f.seek(0, os.SEEK_END)
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            f.write(line.encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())


def open_farm_job(farm: FarmSpec, task: str) -> tuple[FarmJob, WindowCache]:
    """The job's state as every task journal left it (torn last lines ignored)."""
    cache = WindowCache(farm.cache_dir)
    job = FarmJob(spec=farm.job, dir=farm.job_dir, farm=farm, task=task)
    job.received = set(
        range(job.n)
    )  # the inputs are the shot's files, all there (checked at submission)
    out = SequencePattern.parse(farm.out_pattern)
    for path in sorted((job.dir / "journal").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue  # a node died mid-write
            kind = e.get("event")
            if kind == "window":
                # Done means journalled *and* cached: a result lost from the cache is recomputed.
                if cache.get(e["key"], mmap=True) is not None:
                    job.windows_done[e["index"]] = e
                else:
                    job.windows_done.pop(e["index"], None)
            elif kind == "final" and job.out_path(e["pos"]).exists():
                job.final.add(e["pos"])
            elif kind == "written" and os.path.exists(out.path(job.frame(e["pos"]))):
                job.written.add(e["pos"])
    return job, cache


class _EngineIdentity(Engine):
    """What the runner needs of an engine to finish frames (colour space, model size), without
    loading it: ``assemble`` may run on a node that has no weights and no GPU."""

    def fill(self, window: WindowInput) -> np.ndarray:
        raise RuntimeError("finishing frames never runs the engine")


def _identity(name: str) -> Engine:
    cls = engine_class(name)
    ident = type(
        f"{cls.__name__}Identity",
        (_EngineIdentity,),
        {
            "name": cls.name,
            "version": cls.version,
            "colour": cls.colour,
            "model_size": cls.model_size,
        },
    )
    return ident()


def engine_config(farm: FarmSpec, overrides: dict[str, Any] | None = None) -> EngineConfig:
    """The spec's engine settings, then the node's overrides; weights default to ``$VOID_WEIGHTS_DIR``."""
    values = {**farm.engine_config, **{k: v for k, v in (overrides or {}).items() if v}}
    config = EngineConfig(**values)
    if not config.weights_dir:
        config.weights_dir = os.environ.get("VOID_WEIGHTS_DIR", "")
    return config


def run_window_task(
    farm: FarmSpec,
    index: int,
    progress: Progress = _no_progress,
    config: EngineConfig | None = None,
) -> TaskOutcome:
    """Run window ``index`` unless it is already done. Safe to re-run at any point."""
    t0 = time.perf_counter()
    windows = farm.windows()
    if not 0 <= index < len(windows):
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"window index {index} is outside 0..{len(windows) - 1}",
            "index",
            farm.job_id,
        )
    job, cache = open_farm_job(farm, f"window-{index:03d}")
    w = windows[index]
    # The farm's own index first (what the farm UI shows), then a human count.
    label = f"window {index} [{index + 1}/{len(windows)}, frames {job.frame(w.start)}-{job.frame(w.stop - 1)}]"
    if index in job.windows_done:
        job.log("skipped", index=index)
        progress(100.0, f"{label} already done; skipped")
        return TaskOutcome("window", index, skipped=True, seconds=time.perf_counter() - t0)
    runner = JobRunner(job, _identity(farm.job.engine), cache)
    if farm.sequential and index > 0:
        _finish_context(job, runner, index, progress)
    progress(5.0, f"{label}: loading engine {farm.job.engine}")
    runner.engine = load_engine(farm.job.engine, config or engine_config(farm))

    def step(i: int, n: int, stage: str) -> None:
        progress(10.0 + 85.0 * (i / max(n, 1)), f"{label}: {stage} {i}/{n}")

    progress(10.0, f"{label}: running")
    outcome = runner.run_window(index, step, lambda: False)
    seconds = time.perf_counter() - t0
    progress(100.0, f"{label} done in {seconds:.1f} s{' (from cache)' if outcome.cached else ''}")
    return TaskOutcome("window", index, cached=outcome.cached, seconds=seconds)


def _finish_context(job: FarmJob, runner: JobRunner, index: int, progress: Progress) -> None:
    """``chain``: finish the frames window ``index`` starts from, from the earlier windows."""
    missing = [k for k in range(index) if k not in job.windows_done]
    if missing:
        raise VoidError(
            ErrorCode.MISSING_FRAMES,
            f"chain seams: window {index} continues from window tasks {missing}, which are not finished; "
            "the farm job runs the windows in order",
            "index",
            job.id,
        )
    # The runner's own rule for which frames a chain window takes as already-final context.
    context = [p for p in runner._context_positions(index) if p not in job.final]
    for i, pos in enumerate(context):
        job.store_output(pos, runner.finish_frame(pos))
        progress(
            5.0 * (i + 1) / len(context), f"context frame {job.frame(pos)} from window {index}"
        )


def run_assemble_task(farm: FarmSpec, progress: Progress = _no_progress) -> TaskOutcome:
    """Blend the seams and write every output frame not written yet. Needs every window done."""
    t0 = time.perf_counter()
    job, cache = open_farm_job(farm, "assemble")
    windows = farm.windows()
    missing = [w.index for w in windows if w.index not in job.windows_done]
    if missing:
        raise VoidError(
            ErrorCode.MISSING_FRAMES,
            f"window tasks {missing} (of 0..{len(windows) - 1}) are not finished; assemble runs after every window task",
            "windows",
            job.id,
        )
    runner = JobRunner(job, _identity(farm.job.engine), cache)
    out = SequencePattern.parse(farm.out_pattern)
    todo = [p for p in range(job.n) if p not in job.written]
    if len(todo) < job.n:
        progress(0.0, f"{job.n - len(todo)} of {job.n} frames already written; continuing")
    written = []
    for i, pos in enumerate(todo):
        frame = job.frame(pos)
        pixels = runner.finish_frame(pos)
        path = out.path(frame)
        # The plate's own spec: data/display windows, channel names, metadata, half stays half.
        write_image(path, pixels, job.plate_image(pos).spec)
        job.log("written", pos=pos, frame=frame, path=path)
        written.append(frame)
        progress(100.0 * (i + 1) / len(todo), f"frame {frame} ({i + 1}/{len(todo)})")
    job.log("state", state=JobState.DONE.value)
    seconds = time.perf_counter() - t0
    progress(100.0, f"assembled {len(written)} frames into {farm.out_pattern} in {seconds:.1f} s")
    return TaskOutcome("assemble", frames_written=written, seconds=seconds)
