"""The daemon's stages around the engine: receivers (check inputs, build quadmasks, store them,
grant credit) and the finisher (blend seams, composite, store, stream results within credit).

Threads (``docs/architecture.md``): receivers are a pool of two and may block on disk and on
reading path-mode files; the finisher is one thread and may block on disk. Neither ever waits
for a client: results go through the outbox. An exception in a stage fails its job through
:meth:`Failures.guard` and never reaches the thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import OpenImageIO as oiio

from void_client import protocol as P
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.job_state import FINAL_STATES, JobState
from void_client.layer_outputs import write_graded, write_layer_file
from void_client.output_guard import check_outputs_disjoint
from void_client.quadmask import build_quadmask
from void_client.reference import read_reference
from void_client.sequence import (
    SequencePattern,
    check_flat,
    plate_part,
    read_image,
    read_matte,
    read_specs,
    split_channel,
    write_image,
    write_layout,
)
from void_daemon import timings
from void_daemon.admission import PathPolicy, probe
from void_daemon.bounds import disk_error
from void_daemon.cache import save_npy_atomic
from void_daemon.jobs import Job, JobStore
from void_daemon.native_stderr import native_stderr, with_native_lines
from void_daemon.progress import ProgressReporter
from void_daemon.roi import layer_channels
from void_daemon.runner import (
    JobRunner,
    check_job_has_hole,
    reference_path,
    result_frame_bytes,
    result_images,
)

log = logging.getLogger(__name__)

Send = Callable[[bytes, P.Message], None]


# --------------------------------------------------------------------------- failures
class Attempt:
    """What :meth:`Failures.guard` saw: ``ok`` is False once the guarded block raised."""

    ok = True


class Failures:
    """Turns an exception in a stage into the job's failure, told to its owner."""

    def __init__(self, send: Send, cond: threading.Condition) -> None:
        self.send = send
        self.cond = cond

    def fail(self, job: Job, exc: VoidError) -> None:
        if job.state in FINAL_STATES:
            return
        try:
            job.set_state(JobState.FAILED, exc.to_dict())
        except OSError:  # disk full: the journal cannot say it, but the client must still hear it
            log.exception("job %s: cannot journal its failure", job.id)
        self.send(job.owner, P.Error.from_exception(exc, job=job.id))
        with self.cond:
            self.cond.notify_all()

    @contextmanager
    def guard(
        self,
        job: Job,
        what: str,
        other: Callable[[Exception], VoidError],
        io: Callable[[OSError], VoidError] | None = None,
        cancelled: Callable[[], None] | None = None,
    ) -> Iterator[Attempt]:
        """Run a block of work for ``job``; whatever it raises fails the job, never the thread.

        A :class:`VoidError` fails the job as it is (a ``CANCELLED`` one calls ``cancelled``
        instead, when given); an ``OSError`` becomes ``io(exc)`` when given (disk full, folder
        gone); any other exception is a bug, logged with its traceback, and becomes
        ``other(exc)``. The yielded :class:`Attempt` says whether the block completed.
        """
        attempt = Attempt()
        try:
            yield attempt
        except VoidError as exc:
            attempt.ok = False
            if exc.code == ErrorCode.CANCELLED and cancelled is not None:
                cancelled()
                return
            exc.job = job.id
            self.fail(job, exc)
        except OSError as exc:
            attempt.ok = False
            log.exception("%s of job %s failed", what, job.id)
            self.fail(job, io(exc) if io is not None else other(exc))
        except Exception as exc:
            attempt.ok = False
            log.exception("%s of job %s failed", what, job.id)
            self.fail(job, other(exc))


# --------------------------------------------------------------------------- receivers
def group_images(job: Job, images: list) -> list[dict[str, Any]]:
    """Pixel mode: the images of one ``frames`` message grouped by frame, each checked."""
    spec = job.spec
    by_frame: dict[int, dict[str, Any]] = {}
    for desc, arr in images:
        pos = job.position(desc.frame)
        h, w, c = desc.shape
        if (w, h) != (spec.width, spec.height):
            raise VoidError(
                ErrorCode.RESOLUTION_MISMATCH,
                f"frame {desc.frame} {desc.role} is {w}x{h} but the job is {spec.width}x{spec.height}",
                "images.shape",
            )
        if desc.role == "plate" and c != len(spec.channels):
            raise VoidError(
                ErrorCode.SHAPE_MISMATCH,
                f"frame {desc.frame} plate has {c} channels, the job declared {len(spec.channels)}",
                "images.channels",
            )
        if desc.role == "reference" and c not in (1, 3):
            raise VoidError(
                ErrorCode.SHAPE_MISMATCH,
                f"frame {desc.frame} reference must be RGB or grey (3 or 1 channels), got {c}",
                "images.shape",
            )
        if desc.role in ("remove", "affected") and c != 1:
            raise VoidError(
                ErrorCode.SHAPE_MISMATCH,
                f"frame {desc.frame} {desc.role} matte must have one channel, got {c}",
                "images.shape",
            )
        if desc.role in P.RESULT_ROLES:
            raise VoidError(
                ErrorCode.BAD_MESSAGE,
                "clients send plate/remove/affected images, not results or their layers",
                "images.role",
            )
        entry = by_frame.setdefault(desc.frame, {"pos": pos, "frame": desc.frame})
        if desc.role in entry:
            raise VoidError(
                ErrorCode.BAD_MESSAGE,
                f"frame {desc.frame} has two {desc.role} images",
                "images.role",
            )
        entry[desc.role] = arr
    for frame, entry in by_frame.items():
        if "plate" not in entry or "remove" not in entry:
            raise VoidError(
                ErrorCode.BAD_MESSAGE,
                f"frame {frame} needs a plate and a remove matte",
                "images",
            )
        _check_reference_declared(job, frame, "reference" in entry)
    return list(by_frame.values())


def _check_reference_declared(job: Job, frame: int, has: bool) -> None:
    """A frame carries a reference exactly when the spec declared one for it."""
    if has != (frame in job.spec.references):
        what = (
            "carries a reference the job did not declare"
            if has
            else "came without the reference the job declared"
        )
        raise VoidError(ErrorCode.BAD_MESSAGE, f"frame {frame} {what}", "images.role")


def group_paths(job: Job, paths: list[P.PathEntry], policy: PathPolicy) -> list[dict[str, Any]]:
    """Path mode: each entry checked and its files resolved under the allowed roots."""
    if len(paths) > P.MAX_IMAGES_PER_MESSAGE:
        raise VoidError(
            ErrorCode.TOO_LARGE,
            f"at most {P.MAX_IMAGES_PER_MESSAGE} path entries per message",
            "paths",
        )
    entries = []
    for item in paths:
        if (
            not isinstance(item, dict)
            or type(item.get("frame")) is not int
            or not isinstance(item.get("plate"), str)
            or not item["plate"]
            or not isinstance(item.get("remove"), str)
            or not item["remove"]
            or not isinstance(item.get("affected") or "", str)
            or not isinstance(item.get("reference") or "", str)
        ):
            raise VoidError(
                ErrorCode.BAD_MESSAGE,
                "each path entry needs frame (int), plate and remove (str), optionally affected (str)",
                "paths",
            )
        resolved: dict[str, Any] = {"frame": item["frame"]}
        _check_reference_declared(job, item["frame"], bool(item.get("reference")))
        for key in ("plate", "remove", "affected", "reference"):
            text = item.get(key)
            if text:
                path, channel = split_channel(str(text))
                # The plate may name its part (``shot.1001.exr:rgba/``), like --plate in client
                # mode; it is used with all of that part's channels.
                if channel and (
                    key == "reference" or (key == "plate" and not _is_part_selector(channel))
                ):
                    raise VoidError(
                        ErrorCode.BAD_MESSAGE,
                        f"the {key} is a whole image file; channel selectors are for mattes"
                        + (
                            ""
                            if key == "reference"
                            else " (a multi-part plate may name its part: PATH:part/)"
                        ),
                        f"paths.{key}",
                    )
                # From here on the daemon uses the resolved path, never the name it was given.
                real = policy.check(path, f"paths.{key}")
                resolved[key] = f"{real}:{channel}" if channel else real
        entries.append(
            {"pos": job.position(item["frame"]), "frame": item["frame"], "paths": resolved}
        )
    return entries


def _is_part_selector(channel: str) -> bool:
    """``rgba/``: a part's name and nothing after it."""
    return channel.endswith("/") and channel.count("/") == 1 and len(channel) > 1


def plate_source(text: str, frame: int) -> tuple[str, int]:
    """A path-mode plate (``PATH`` or ``PATH:part/``) → the file and its part's index."""
    path, selector = split_channel(text)
    return path, plate_part(path, selector, frame)


def _matte(text: str, frame: int) -> tuple[str, int, str]:
    path, channel = split_channel(text)
    return path, frame, channel


def _read_paths(
    job: Job, frame: int, paths: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Path mode: one frame's plate and mattes, each probed before it is read. What the image
    libraries print on stderr meanwhile goes into the error, not the log (native_stderr)."""
    lines: list[str] = []
    try:
        with native_stderr() as lines:
            # A deep file is refused by its headers first: its sizes would mislead the probe.
            for key in ("plate", "remove", "affected"):
                if paths.get(key):
                    check_flat(split_channel(paths[key])[0], frame, "paths")
            plate_path, part = plate_source(paths["plate"], frame)
            # Check the files' declared size before reading: a header must not make us allocate.
            probe(plate_path, frame, job.spec, len(job.spec.channels), part)
            for key in ("remove", "affected"):
                if paths.get(key):
                    probe(split_channel(paths[key])[0], frame, job.spec, None)
            plate = read_image(plate_path, frame, part=part).pixels
            remove = read_matte(*_matte(paths["remove"], frame))
            affected = (
                read_matte(*_matte(paths["affected"], frame)) if paths.get("affected") else None
            )
    except VoidError as exc:
        raise VoidError(exc.code, with_native_lines(exc.message, lines), exc.field) from exc
    if lines:
        log.info("frame %s of job %s: the image library said: %s", frame, job.id, lines)
    return plate, remove, affected


class Receiver:
    """The receiver pool: one grouped frame at a time, stored atomically, then one input credit."""

    def __init__(
        self,
        send: Send,
        progress: ProgressReporter,
        failures: Failures,
        cond: threading.Condition,
        position: Callable[[str], int],
    ) -> None:
        self.send = send
        self.progress = progress
        self.failures = failures
        self.cond = cond
        self.position = position
        self.pool = ThreadPoolExecutor(2, thread_name_prefix="void-recv")

    def submit(self, job: Job, entry: dict[str, Any]) -> None:
        if "paths" not in entry:  # pixel mode: its arrays are in memory until they are stored
            job.hold(1)
        self.pool.submit(self._receive, job, entry)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _receive(self, job: Job, entry: dict[str, Any]) -> None:
        pos, frame, t0 = entry["pos"], entry["frame"], time.monotonic()
        # A bug must fail this job, not leave it waiting for credit forever.
        with self.failures.guard(
            job,
            f"receiving frame {frame}",
            other=lambda exc: VoidError(
                ErrorCode.INTERNAL,
                f"receiving frame {frame} failed: {exc.__class__.__name__}: {exc}",
                "frames",
                job.id,
            ),
            io=lambda exc: disk_error(exc, job.dir, f"frame {frame}", job.id),
        ) as attempt:
            try:
                with job.holding(1 if "paths" in entry else 0):  # path mode reads it here
                    self._store(job, pos, frame, entry)
            finally:
                if "paths" not in entry:
                    job.release(1)  # held since submit; on disk now (or refused)
        if not attempt.ok:
            return
        timings.record(job.id, "decode", pos, t0)
        with job.lock:
            if job.state == JobState.QUEUED:
                job.state = JobState.RECEIVING
            job.input_credit += 1
            complete = len(job.received) == job.n
        if job.spec.transfer == "pixels":
            self.send(job.owner, P.Ack(job=job.id, credit=1, queue_position=self.position(job.id)))
        self.progress.report(job, JobState.RECEIVING, force=complete)
        if complete:
            try:
                check_job_has_hole(job)
            except VoidError as exc:
                exc.job = job.id
                self.failures.fail(job, exc)
                return
        with self.cond:
            self.cond.notify_all()

    @staticmethod
    def _store(job: Job, pos: int, frame: int, entry: dict[str, Any]) -> None:
        if "paths" in entry:
            paths = entry["paths"]
            # Sources are sacred: the frame's output must not be one of its inputs, however
            # spelled (docs/reliability.md), checked before anything is read or written.
            check_outputs_disjoint(
                [
                    split_channel(paths[k])[0]
                    for k in ("plate", "remove", "affected", "reference")
                    if paths.get(k)
                ],
                [p.path(frame) for p in path_outputs(job.spec)],
            )
            plate, remove, affected = _read_paths(job, frame, paths)
        else:
            plate = entry["plate"]
            remove = entry["remove"][:, :, 0]
            affected = entry["affected"][:, :, 0] if "affected" in entry else None
        reference = _read_reference(job, frame, entry)
        if reference is not None:  # stored before the frame counts as received (window_ready)
            save_npy_atomic(reference_path(job, pos), reference)
            with job.lock:
                job.disk_bytes += reference.nbytes
        qm = build_quadmask(remove, affected, job.spec.dilation, frame=frame)
        job.store_input(pos, np.ascontiguousarray(plate), qm)
        if "paths" in entry:
            job.sources[pos] = entry["paths"]["plate"]
            job.log("source", pos=pos, plate=entry["paths"]["plate"])


def _read_reference(job: Job, frame: int, entry: dict[str, Any]) -> np.ndarray | None:
    """The frame's clean reference as float32 RGB (or grey), NaN-free, or None."""
    if "paths" in entry:
        path = entry["paths"].get("reference")
        if not path:
            return None
        probe(path, frame, job.spec, None)
        return read_reference(path, frame, job.spec.width, job.spec.height)
    ref = entry.get("reference")
    if ref is None:
        return None
    ref = np.asarray(ref, np.float32)
    if not np.isfinite(ref).all():
        raise VoidError(
            ErrorCode.NAN_IN_INPUT,
            f"frame {frame} reference holds NaN or infinite pixels; repaint or clamp it",
            "images",
        )
    return np.ascontiguousarray(ref)


def path_outputs(spec: JobSpec) -> list[SequencePattern]:
    """Every sequence a path-mode job writes: the output, then each layer's own."""
    return [SequencePattern.parse(p) for p in (spec.out_pattern, *spec.layer_patterns.values())]


# --------------------------------------------------------------------------- finisher
def forget_inflight(store: JobStore, job_id: str, frames: tuple[int, ...]) -> None:
    """Results that never left are no longer in flight: a later pump or attach resends them."""
    job = store.jobs.get(job_id)
    if job is None:
        return
    with job.lock:
        job.inflight.difference_update(job.position(f) for f in frames)


class Finisher:
    """The one finisher thread: finished windows become stored frames, then results."""

    def __init__(
        self,
        send: Send,
        progress: ProgressReporter,
        failures: Failures,
        cond: threading.Condition,
        paths: PathPolicy,
        max_inflight_result_bytes: int,
        forget_runner: Callable[[str], None],
    ) -> None:
        self.send = send
        self.progress = progress
        self.failures = failures
        self.cond = cond
        self.paths = paths
        self.max_inflight_result_bytes = max_inflight_result_bytes
        self.forget_runner = forget_runner
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="void-finish")

    def finish_later(self, job: Job, runner: JobRunner) -> None:
        self.pool.submit(self._finish, job, runner)

    def pump_later(self, job: Job) -> None:
        self.pool.submit(self.pump, job)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _finish(self, job: Job, runner: JobRunner) -> None:
        with self.failures.guard(
            job,
            "finishing frames",
            other=lambda exc: VoidError(
                ErrorCode.INTERNAL, f"finishing frames failed: {exc}", None, job.id
            ),
            io=lambda exc: disk_error(exc, job.dir, "a finished frame", job.id),
        ):
            for pos in runner.ready_positions():
                if pos in job.final or job.cancel_requested:
                    continue
                t0 = time.monotonic()
                # One frame at a time: its result is on disk (and, in path mode, written)
                # before the next is made, so nothing here grows with the shot.
                with job.holding(1):
                    pixels, layers = runner.finish_with_layers(pos)
                    job.store_output(pos, pixels, layers)
                    if job.spec.transfer == "paths":
                        self._write_path_result(job, pos, pixels, layers)
                    del pixels, layers
                timings.record(job.id, "encode", pos, t0)
                self.progress.report(job, JobState.RUNNING)
                self.pump(job)
        with self.cond:
            self.cond.notify_all()  # chain seams: the next window may be ready now

    def _checked(self, path: str, field: str) -> str:
        """``path`` in its real folder, checked again at write time: the folder may have been
        swapped for a link since the submit."""
        folder = self.paths.check(os.path.dirname(path) or ".", field)
        return os.path.join(folder, os.path.basename(path))

    def _write_path_result(
        self, job: Job, pos: int, pixels: np.ndarray, layers: dict[str, np.ndarray]
    ) -> None:
        """The frame's files, as client mode writes them (void_client.sequence_job): each
        layer's own sequence first, then the output (with the layers inside for
        ``layers_in_out``), so a written output always has its layers."""
        frame, spec = job.frame(pos), job.spec
        src = job.sources.get(pos)
        plate, part = plate_source(src, frame) if src else ("", 0)
        out = self._checked(SequencePattern.parse(spec.out_pattern).path(frame), "out_pattern")
        layer_files = [
            self._checked(SequencePattern.parse(p).path(frame), "layer_patterns")
            for p in spec.layer_patterns.values()
        ]
        names = layer_channels(spec.channels)
        named = {k: (names[k], v) for k, v in layers.items()}
        try:
            if layer_files:
                like = (
                    read_specs(plate, frame)[part]
                    if plate
                    else oiio.ImageSpec(spec.width, spec.height, 1, "float")
                )
                for layer, path in zip(spec.layer_patterns, layer_files):
                    write_layer_file(path, *named[layer], like)

            def write(path: str) -> None:
                if plate:  # the plate's layout: its other parts are copied through bit-exactly
                    write_layout(path, pixels, plate, part)
                else:
                    write_image(path, pixels)

            if spec.layers_in_out:
                write_graded(out, named, part, write)
            else:
                write(out)
        except OSError as exc:
            raise VoidError(
                ErrorCode.IO_ERROR, f"cannot write {out}: {exc}", "out_pattern", job.id
            ) from exc
        with job.lock:
            job.acked.add(pos)
        job.log("acked", pos=[pos])
        entry: P.ResultPath = {"frame": frame, "path": out}
        if layer_files or spec.layers_in_out:  # additive: a job without layers reads as before
            entry["layers"] = dict(zip(spec.layer_patterns, layer_files))
            entry["layers_in_out"] = spec.layers_in_out
        self.send(job.owner, P.Result(job=job.id, paths=[entry]))
        self.maybe_done(job)

    def pump(self, job: Job) -> None:
        """Send finished, unacknowledged frames while the client has result credit."""
        if job.spec.transfer == "paths":
            self.maybe_done(job)
            return
        # Result credit is counted in frames by the client and capped in bytes by the daemon, so
        # that results in flight to a slow reader stay bounded whatever the frame size.
        frame_bytes = result_frame_bytes(job.spec)
        cap = max(1, self.max_inflight_result_bytes // frame_bytes)
        with job.lock:
            waiting = sorted(job.final - job.acked - job.inflight)
            room = min(job.result_credit, cap) - len(job.inflight)
            batch = waiting[: max(0, room)]
            job.inflight.update(batch)
            owner = job.owner
        for pos in batch:
            t0 = time.monotonic()
            with job.holding(1):
                self.send(owner, P.Result(job=job.id, images=result_images(job, pos)))
            timings.record(job.id, "send", pos, t0)
        self.maybe_done(job)

    def maybe_done(self, job: Job) -> None:
        with job.lock:
            finished = len(job.acked) == job.n and job.state not in FINAL_STATES
        if finished:
            job.set_state(JobState.DONE)
            self.progress.report(job, JobState.DONE, force=True)
            self.forget_runner(job.id)
            with self.cond:
                self.cond.notify_all()
