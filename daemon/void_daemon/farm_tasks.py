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
* reference frames (``--reference``): a window task reads each clean frame from shared storage
  exactly as the daemon reads a path-mode reference and stores it where the runner looks for it
  (``in/<pos>.ref.npy`` in the job's folder), so every window sees the same references as in a
  local run and the frames are the same bit for bit;
* ``assemble`` writes each output EXR atomically and journals it, so a re-run continues; then,
  unless the job says ``keep_work``, it prunes the job's cache entries and chain frames.

``task check`` (:func:`check_job`) runs the same checks at submission, with the worker command
and the job's environment: colour space, weights, writable folders. The GPU a task uses is the
one its farm assigned (:func:`assigned_device`). See docs/farm.md.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from void_client.atomic import temp_path_for
from void_client.errors import ErrorCode, VoidError
from void_client.farm.farm_spec import FarmSpec
from void_client.job_state import JobState
from void_client.quadmask import build_quadmask
from void_client.reference import read_reference
from void_client.sequence import (
    Image,
    SequencePattern,
    SequenceRef,
    read_image,
    read_matte,
    write_image,
)
from void_daemon.cache import WindowCache, save_npy_atomic
from void_daemon.engines import Engine, EngineConfig, WindowInput, engine_class, load_engine
from void_daemon.jobs import Job
from void_daemon.runner import JobRunner, reference_path

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

    def stage_references(self) -> list[int]:
        """Store every reference frame of the job where the runner reads it, from the artist's
        files on shared storage; returns the frames read now (those already stored by an
        earlier task of this job are kept: written atomically, so complete).

        Every one, not only those inside the task's windows: the runner hands the engine all of
        a job's references (``propagate`` also uses the nearest one outside its window), so a
        window is the same computation, and the same cache entry, as in a local run."""
        assert self.farm is not None
        read = []
        for frame, path in self.farm.reference_paths().items():
            dest = reference_path(self, self.position(frame))
            if dest.exists():
                continue
            save_npy_atomic(dest, load_reference(self.farm, frame, path))
            read.append(frame)
        return read

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


def load_reference(farm: FarmSpec, frame: int, path: str) -> np.ndarray:
    """The reference frame's colour as the daemon stores it (float32, NaN-free), or a
    VoidError naming the file when a worker cannot read it."""
    if not os.path.isfile(path):
        raise VoidError(
            ErrorCode.MISSING_FRAMES,
            f"reference frame {frame}: {path} is not there (or not readable) on this worker; "
            "keep the clean frames on storage every worker reads until the job is assembled",
            "references",
            farm.job_id,
        )
    return read_reference(path, frame, farm.job.width, farm.job.height)


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


#: OpenCue's RQD: the GPU indices a frame was booked on (``GPU_LIST``, comma-separated).
CUE_GPU_ENV = "CUE_GPU_CORES"
#: CUDA's own mask; OpenJD/Deadline Cloud workers, containers and Deadline Worker instances
#: configured per GPU set it, and a ``cuda:N`` is counted within it.
CUDA_VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"


def assigned_device(configured: str, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The device a farm task runs on, and why: ``(device, reason)``.

    An explicit ``cpu``/``mps``/``cuda:N`` in the job wins. Otherwise (``auto``/``cuda``) the
    farm's assignment decides, so two tasks booked on one multi-GPU host do not both take
    ``cuda:0``: OpenCue's ``CUE_GPU_CORES`` (physical indices, mapped through
    ``CUDA_VISIBLE_DEVICES`` when that is set too), else ``CUDA_VISIBLE_DEVICES`` (the first
    visible GPU is ``cuda:0``; an empty or ``-1`` mask means no GPU: ``cpu``).
    """
    env = os.environ if environ is None else environ
    name = (configured or "auto").strip().lower()
    if name in ("cpu", "mps") or name.startswith("cuda:"):
        return name, f"device {name} set in the job"
    visible_raw = env.get(CUDA_VISIBLE_ENV)
    visible = (
        [v.strip() for v in visible_raw.split(",") if v.strip()]
        if visible_raw is not None
        else None
    )
    if visible is not None and (not visible or visible[0] == "-1"):
        return "cpu", f"{CUDA_VISIBLE_ENV}={visible_raw!r} leaves no GPU visible"
    cue = [v.strip() for v in env.get(CUE_GPU_ENV, "").split(",") if v.strip()]
    if cue:
        first = cue[0]
        if visible is None:
            return f"cuda:{first}", f"OpenCue booked GPU {first} ({CUE_GPU_ENV}={','.join(cue)})"
        if first in visible:
            return (
                f"cuda:{visible.index(first)}",
                f"OpenCue booked GPU {first}, position {visible.index(first)} in "
                f"{CUDA_VISIBLE_ENV}={visible_raw}",
            )
        log.warning(
            "%s=%s is not among %s=%s; using the first visible GPU",
            CUE_GPU_ENV,
            ",".join(cue),
            CUDA_VISIBLE_ENV,
            visible_raw,
        )
        return "cuda:0", f"first GPU of {CUDA_VISIBLE_ENV}={visible_raw}"
    if visible is not None:
        return "cuda:0", f"first GPU of {CUDA_VISIBLE_ENV}={visible_raw} (the farm's mask)"
    return name, "no GPU assigned by the farm"


def engine_config(
    farm: FarmSpec,
    overrides: dict[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> EngineConfig:
    """The spec's engine settings, then the node's overrides; weights default to
    ``$VOID_WEIGHTS_DIR``; the device is the one the farm assigned (:func:`assigned_device`)."""
    env = os.environ if environ is None else environ
    values = {**farm.engine_config, **{k: v for k, v in (overrides or {}).items() if v}}
    config = EngineConfig(**values)
    if not config.weights_dir:
        config.weights_dir = env.get("VOID_WEIGHTS_DIR", "")
    config.device, why = assigned_device(config.device, env)
    log.info("device %s: %s", config.device, why)
    return config


#: Engines that need a GPU on a farm: on a worker without one they would crawl, not fail.
GPU_ENGINES = ("void",)


def require_gpu(farm: FarmSpec, config: EngineConfig, cuda_available: bool | None = None) -> None:
    """Refuse to run a GPU engine's window on CPU unless the job allows it (``allow_cpu``).

    A worker that has the weights but no usable GPU would otherwise run the 5B model on CPU
    for hours (Deadline 10 routes GPU work by pool/group only). ``cuda_available`` is for
    tests; by default the void engine's ``resolve_device`` answers (``auto`` picks CUDA, then
    MPS, then CPU).
    """
    if farm.job.engine not in GPU_ENGINES or farm.farm.allow_cpu:
        return
    device = (config.device or "auto").lower()
    if device == "mps":
        return
    if device != "cpu":
        if cuda_available is None:
            try:  # the engine's own device choice (torch stays inside the void engine)
                from void_daemon.engines.void.devices import resolve_device
            except ImportError:
                return  # no torch here: loading the engine says so
            try:
                cuda_available = resolve_device(device).type in ("cuda", "mps")
            except VoidError:
                cuda_available = False
        if cuda_available:
            return
    raise VoidError(
        ErrorCode.ENGINE_UNAVAILABLE,
        f"this worker has no usable GPU (device {device}; {CUDA_VISIBLE_ENV}="
        f"{os.environ.get(CUDA_VISIBLE_ENV, '<unset>')}): the {farm.job.engine} engine would "
        "run on CPU. Route the job to GPU workers (pool/group), or write it with --allow-cpu",
        "device",
        farm.job_id,
    )


def _probe_writable(folder: str, what: str, job_id: str) -> None:
    """Create ``folder`` if needed and write (then remove) a file in it, as a task would."""
    try:
        os.makedirs(folder, exist_ok=True)
        os.unlink(temp_path_for(os.path.join(folder, "void-remove-check")))
    except OSError as exc:
        raise VoidError(
            ErrorCode.IO_ERROR,
            f"the {what} {folder} cannot be written ({exc.strerror or exc}); choose a folder on "
            "shared storage the farm's workers can write",
            what.replace(" ", "_"),
            job_id,
        ) from exc


def check_job(farm: FarmSpec, config: EngineConfig | None = None) -> dict[str, Any]:
    """What ``task check`` verifies before submission; raises the first problem as a VoidError.

    Run with the job's environment applied (``$OCIO``, ``$VOID_WEIGHTS_DIR``...), as a task.
    """
    checked: list[str] = []
    cls = engine_class(farm.job.engine)  # unknown engine: unknown_engine
    checked.append(f"engine {cls.name}")
    if farm.job.colourspace or farm.job.ocio_config:
        from void_daemon.colour import ColourSettings, transform

        t = transform(ColourSettings.from_spec(farm.job))
        checked.append(f"colour: {t.description}")
    config = config or engine_config(farm)
    if farm.job.engine == "void":
        from void_daemon.engines.void.layout import WeightsLayout

        layout = WeightsLayout.resolve(config.weights_dir, config.options)
        layout.require(pass2=farm.job.pass2)
        checked.append(f"weights in {layout.root}")
    out_folder = os.path.dirname(farm.out_pattern)
    _probe_writable(out_folder, "output folder", farm.job_id)
    _probe_writable(farm.work_dir, "work dir", farm.job_id)
    checked.append(f"{out_folder} and {farm.work_dir} writable")
    for frame, path in farm.reference_paths().items():
        load_reference(farm, frame, path)
        checked.append(f"reference frame {frame} readable")
    return {"ok": True, "job": farm.job_id, "checked": checked}


def prune_work(farm: FarmSpec) -> int:
    """Remove this job's cache entries, stored reference frames and chain frames (journals and
    job files stay, so a requeued ``assemble`` still knows it is done). Returns the number of
    files removed."""
    job, cache = open_farm_job(farm, "prune")
    keys = {str(e["key"]) for e in job.windows_done.values() if e.get("key")}
    removed = 0
    for key in sorted(keys):
        path = cache.root / key[:2] / f"{key}.npy"
        if path.exists():
            path.unlink()
            removed += 1
            try:
                path.parent.rmdir()  # the fan-out folder, when this was its last entry
            except OSError:
                pass
    for pos in (job.position(f) for f in farm.job.references):
        ref = reference_path(job, pos)
        if ref.exists():
            ref.unlink()
            removed += 1
    chain = job.dir / "out"
    if chain.is_dir():
        removed += sum(1 for p in chain.rglob("*") if p.is_file())
        shutil.rmtree(chain, ignore_errors=True)
    return removed


def run_window_task(
    farm: FarmSpec,
    index: int,
    progress: Progress = _no_progress,
    config: EngineConfig | None = None,
) -> TaskOutcome:
    """Run window ``index`` unless it is already done. Safe to re-run at any point."""
    return run_windows_task(farm, index, index, progress, config)[0]


def parse_window_run(text: str) -> tuple[int, int]:
    """``--index``: ``K`` or ``A-B`` (inclusive) -> ``(first, last)``."""
    first, sep, last = text.strip().partition("-")
    try:
        a = int(first)
        b = int(last) if sep else a
    except ValueError:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"--index {text!r} must be a window index K or a run A-B, e.g. 3 or 3-5",
            "index",
        ) from None
    return a, b


def engine_journal(farm: FarmSpec, first: int, last: int) -> str:
    """The task's own journal (``task-000-002``): one ``engine`` event per model load, so the
    loads of a job are counted from its journals (docs/farm.md)."""
    return f"task-{first:03d}-{last:03d}"


def count_engine_loads(farm: FarmSpec) -> int:
    """How many times the job's window tasks loaded an engine (every run, retries included)."""
    n = 0
    for path in sorted((farm.job_dir / "journal").glob("task-*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                n += json.loads(line).get("event") == "engine"
            except json.JSONDecodeError:
                continue
    return n


def run_windows_task(
    farm: FarmSpec,
    first: int,
    last: int,
    progress: Progress = _no_progress,
    config: EngineConfig | None = None,
    warm: dict[str, Engine] | None = None,
) -> list[TaskOutcome]:
    """Run windows ``first..last`` (inclusive, in order) with **one** engine load.

    Each window is exactly what a one-window task would do (its own journal, cache entry and,
    for ``chain``, context frames), so a job's frames do not depend on the grouping; the engine
    is loaded before the first window that is not done yet and kept for the rest. Windows
    already done are skipped without loading anything. Safe to re-run at any point.
    ``warm`` keeps the engine across calls (``task serve``: one load per worker session).
    """
    windows = farm.windows()
    for i in (first, last):
        if not 0 <= i < len(windows):
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"window index {i} is outside 0..{len(windows) - 1}",
                "index",
                farm.job_id,
            )
    if last < first:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"window run {first}-{last} is backwards; give FIRST-LAST",
            "index",
            farm.job_id,
        )
    count = last - first + 1
    engine: Engine | None = (warm or {}).get(farm.job.engine)
    outcomes: list[TaskOutcome] = []
    for i, index in enumerate(range(first, last + 1)):
        # This window's share of the task's progress bar.
        def part(percent: float, message: str, i: int = i) -> None:
            progress((100.0 * i + percent) / count, message)

        outcome, engine = _run_one_window(farm, index, part, config, engine, (first, last))
        if warm is not None and engine is not None:
            warm[farm.job.engine] = engine
        outcomes.append(outcome)
    return outcomes


def _run_one_window(
    farm: FarmSpec,
    index: int,
    progress: Progress,
    config: EngineConfig | None,
    engine: Engine | None,
    run: tuple[int, int],
) -> tuple[TaskOutcome, Engine | None]:
    t0 = time.perf_counter()
    windows = farm.windows()
    job, cache = open_farm_job(farm, f"window-{index:03d}")
    w = windows[index]
    # The farm's own index first (what the farm UI shows), then a human count.
    label = f"window {index} [{index + 1}/{len(windows)}, frames {job.frame(w.start)}-{job.frame(w.stop - 1)}]"
    if index in job.windows_done:
        job.log("skipped", index=index)
        progress(100.0, f"{label} already done; skipped")
        return TaskOutcome("window", index, skipped=True, seconds=time.perf_counter() - t0), engine
    runner = JobRunner(job, _identity(farm.job.engine), cache)
    if farm.sequential and index > 0:
        _finish_context(job, runner, index, progress)
    if engine is None:
        progress(5.0, f"{label}: loading engine {farm.job.engine}")
        config = config or engine_config(farm)
        t_load = time.perf_counter()
        require_gpu(farm, config)
        engine = load_engine(farm.job.engine, config)
        # Counted per task, in the task's own journal (window journals stay one per window).
        job.task = engine_journal(farm, *run)
        job.log(
            "engine",
            engine=farm.job.engine,
            device=config.device,
            windows=list(run),
            seconds=round(time.perf_counter() - t_load, 3),
            pid=os.getpid(),
        )
        job.task = f"window-{index:03d}"
    else:
        progress(5.0, f"{label}: engine {farm.job.engine} already loaded by this task")
    runner.engine = engine
    staged = job.stage_references()
    if staged:
        progress(8.0, f"{label}: read reference frame(s) {', '.join(map(str, staged))}")

    def step(i: int, n: int, stage: str) -> None:
        progress(10.0 + 85.0 * (i / max(n, 1)), f"{label}: {stage} {i}/{n}")

    progress(10.0, f"{label}: running")
    outcome = runner.run_window(index, step, lambda: False)
    seconds = time.perf_counter() - t0
    progress(100.0, f"{label} done in {seconds:.1f} s{' (from cache)' if outcome.cached else ''}")
    return TaskOutcome("window", index, cached=outcome.cached, seconds=seconds), engine


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
    context = [p for p in runner.context_positions(index) if p not in job.final]
    for i, pos in enumerate(context):
        job.store_output(pos, runner.finish_frame(pos))
        progress(
            5.0 * (i + 1) / len(context), f"context frame {job.frame(pos)} from window {index}"
        )


def run_assemble_task(farm: FarmSpec, progress: Progress = _no_progress) -> TaskOutcome:
    """Blend the seams and write every output frame not written yet. Needs every window done."""
    t0 = time.perf_counter()
    job, cache = open_farm_job(farm, "assemble")
    if all(p in job.written for p in range(job.n)):
        # A requeued assemble after a finished one (whose work may already be pruned).
        progress(100.0, f"all {job.n} frames already written to {farm.out_pattern}")
        return TaskOutcome("assemble", seconds=time.perf_counter() - t0)
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
    if not farm.keep_work:
        removed = prune_work(farm)
        job.log("pruned", files=removed)
        progress(100.0, f"pruned {removed} work files (keep them with --keep-work)")
    seconds = time.perf_counter() - t0
    progress(100.0, f"assembled {len(written)} frames into {farm.out_pattern} in {seconds:.1f} s")
    return TaskOutcome("assemble", frames_written=written, seconds=seconds)
