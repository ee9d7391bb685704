"""Admission: what a request may commit the daemon to, decided before anything is allocated or
stored (``docs/reliability.md``), and which files path mode may touch (``docs/security.md``).

The size checks (:func:`check_limits`, :func:`check_memory`) run on the I/O thread and touch
no file. What touches the disk (:func:`check_free_space`, :func:`check_client_files`, the output
folder probe, engine availability) runs on the admission worker (``handlers.Handlers._admit``),
and probes on a receiver; see ``docs/architecture.md`` and ``docs/reliability.md``
("Admission, memory and connections").
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from void_client import protocol as P
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.sequence import SequencePattern, open_image
from void_client.sequence_job import check_writable_folder
from void_client.units import format_bytes
from void_client.windows import plan_windows
from void_daemon import memory_model, safe_files
from void_daemon.connections import DEFAULT_MAX_CLIENTS
from void_daemon.engines import EngineConfig, engine_class


@dataclass
class Limits:
    """What one request may commit the daemon to; checked before anything is allocated or stored.

    The lengths of the strings a request carries (names, ids, paths, padding widths, nesting)
    are protocol constants in :mod:`void_daemon.bounds` and ``protocol.MAX_NESTING``; the
    figures are listed in ``docs/reliability.md`` ("Admission, memory and connections").
    """

    #: Frames in one job (a one-hour shot at 24 fps is 86,400).
    max_job_frames: int = 100_000
    #: The job's inputs and outputs on disk, estimated from its declared size at 4 bytes a channel.
    max_job_bytes: int = 256 << 30
    #: Jobs queued or running at once, all clients together.
    max_active_jobs: int = 64
    #: frames x windows: the finisher's per-window bookkeeping grows with this product, so a
    #: tiny window over a huge range is refused instead of stalling the daemon.
    max_plan_cost: int = 20_000_000
    #: Results sent but not yet acknowledged, per job, in bytes (at least one frame is allowed).
    max_inflight_result_bytes: int = 256 << 20
    #: Must-deliver messages held for one client that is not reading; beyond it the client is
    #: treated as gone (its results are resent when it re-attaches).
    max_backlog_messages: int = 10_000
    #: Bytes of replies, errors and credit held for one client that is not reading; beyond it
    #: the client is treated as gone. Results are not counted: result credit bounds them
    #: (``max_inflight_result_bytes``). With ``send_hwm`` and the bounded replies below, this
    #: caps what a client that sends requests and reads nothing costs the daemon.
    max_backlog_bytes: int = 64 << 20
    #: Messages ZeroMQ queues per client before a send would block (ZMQ_SNDHWM); past it the
    #: daemon holds must-deliver messages in its backlog and drops progress. Counted in
    #: messages by ZeroMQ, so kept small: replies are at most ``max_status_bytes`` each.
    send_hwm: int = 100
    #: Jobs listed by one ``status`` reply, and its size in bytes (long names are shortened);
    #: the reply says how many jobs were left out.
    max_status_jobs: int = 500
    max_status_bytes: int = 256 << 10
    #: Daemon memory the longest window of one job may take, as estimated by
    #: :mod:`void_daemon.memory_model` (``--memory-budget-gib``); 0 takes the memory the machine
    #: has available when the daemon starts.
    memory_budget_bytes: int = 0
    #: Clients served at once (``--max-clients``); a new one beyond it is told ``busy``.
    max_clients: int = DEFAULT_MAX_CLIENTS


def check_limits(spec: JobSpec, limits: Limits, active_jobs: int) -> None:
    """Refuse what this daemon cannot hold, from the declared sizes alone."""
    lim = limits
    n, c = len(spec.frames), len(spec.channels)
    if n > lim.max_job_frames:
        raise VoidError(
            ErrorCode.TOO_LARGE,
            f"{n} frames in one job; this daemon takes at most {lim.max_job_frames} (split the range)",
            "frames",
        )
    if c > P.MAX_CHANNELS or any(not isinstance(ch, str) or len(ch) > 256 for ch in spec.channels):
        raise VoidError(
            ErrorCode.TOO_LARGE,
            f"a plate has at most {P.MAX_CHANNELS} channels named by short strings",
            "channels",
        )
    windows = len(plan_windows(n, spec.window, spec.overlap))
    if n * windows > lim.max_plan_cost:
        raise VoidError(
            ErrorCode.TOO_LARGE,
            f"{n} frames in {windows} windows is too fine a plan; use a longer window or a shorter range",
            "window",
        )
    # Worst case on disk: float plate in, float frame out, one quadmask byte.
    need = n * spec.width * spec.height * (2 * 4 * c + 1)
    if need > lim.max_job_bytes:
        raise VoidError(
            ErrorCode.TOO_LARGE,
            f"the job would store about {need / 2**30:.1f} GiB; this daemon takes at most {lim.max_job_bytes / 2**30:.1f} GiB per job (split the range)",
            "frames",
        )
    check_memory(spec, lim.memory_budget_bytes)
    if active_jobs >= lim.max_active_jobs:
        raise VoidError(
            ErrorCode.QUEUE_FULL,
            f"the daemon already holds {active_jobs} active jobs (its limit); retry when one finishes",
            "job",
        )


def check_free_space(spec: JobSpec, jobs_root: Path) -> None:
    """Refuse a job whose smallest possible inputs cannot fit on the jobs disk (a ``statvfs``:
    run off the I/O thread, which a hung mount must not stop)."""
    # Half-float plates are the least a job stores: refuse now what cannot fit at all.
    least = len(spec.frames) * spec.width * spec.height * (2 * 2 * len(spec.channels) + 1)
    free = shutil.disk_usage(jobs_root).free
    if least > free:
        raise VoidError(
            ErrorCode.IO_ERROR,
            f"the job needs at least {format_bytes(least)} in {jobs_root} but only "
            f"{format_bytes(free)} are free; free some space or split the range",
            "jobs_dir",
        )


def memory_budget(limits: Limits) -> int:
    """The budget in force: the configured one, else what the machine has available now."""
    if limits.memory_budget_bytes > 0:
        return limits.memory_budget_bytes
    return memory_model.available_memory() or 0


def check_memory(spec: JobSpec, budget: int) -> None:
    """Refuse a job whose longest window would take more daemon memory than ``budget`` bytes
    (0: no budget), naming the largest frame size of the same aspect that fits."""
    if budget <= 0:
        return
    frames = memory_model.window_frames(
        len(spec.frames),
        spec.window,
        spec.overlap,
        memory_model.margin(spec.engine),
        spec.seam,
    )
    need = memory_model.estimate(spec.engine, spec.width, spec.height, frames)
    if need <= budget:
        return
    fit = memory_model.largest_fit(spec.engine, spec.width, spec.height, frames, budget)
    ways = [f"{fit[0]}x{fit[1]} fits" if fit else "no frame size fits these windows"]
    window = memory_model.longest_window_that_fits(
        spec.engine, spec.width, spec.height, len(spec.frames), spec.overlap, budget, spec.seam
    )
    if window is not None and frames > window:
        ways.append(f"so does --window {window} at this size")
    raise VoidError(
        ErrorCode.TOO_LARGE,
        f"a {spec.width}x{spec.height} job with {frames}-frame windows needs about "
        f"{format_bytes(need)} of daemon memory with engine {spec.engine}, over this daemon's "
        f"budget of {format_bytes(budget)} (--memory-budget-gib): {', '.join(ways)}",
        "width",
    )


def check_client_files(spec: JobSpec) -> None:
    """Files the job names on the daemon host must be regular files (a FIFO would block the
    daemon; ``docs/reliability.md``). ``stat`` only: never blocks on the file itself."""
    ref = spec.ocio_config
    if ref and not ref.startswith("ocio://"):
        safe_files.check_regular_file(os.path.expanduser(ref), "ocio_config")


def check_engine(spec: JobSpec, config: EngineConfig) -> None:
    """Refuse a job whose engine cannot run here, before it queues behind others."""
    ok, reason = engine_class(spec.engine).availability(config)
    if not ok:
        code = (
            ErrorCode.WEIGHTS_MISSING
            if "weights" in reason.lower()
            else ErrorCode.ENGINE_UNAVAILABLE
        )
        raise VoidError(
            code, f"engine {spec.engine!r} cannot run on this daemon: {reason}", "engine"
        )


class PathPolicy:
    """Path mode's confinement: the daemon reads and writes only under ``--allow-root`` folders."""

    def __init__(self, allowed_roots: list[str] | None) -> None:
        self.allowed_roots = [
            os.path.realpath(os.path.expanduser(r)) for r in (allowed_roots or [])
        ]

    def check(self, path: str, field_name: str = "paths") -> str:
        """The real path (symlinks and ``..`` resolved) if it lies under an allowed root."""
        if not self.allowed_roots:
            raise VoidError(
                ErrorCode.PATH_NOT_ALLOWED,
                "path mode is off on this daemon; start it with --allow-root DIR for the folders it may read and write",
                field_name,
            )
        if not path or "\0" in path:
            raise VoidError(
                ErrorCode.PATH_NOT_ALLOWED, f"{path!r} is not a usable path", field_name
            )
        real = os.path.realpath(os.path.expanduser(path))
        if not any(
            real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self.allowed_roots
        ):
            raise VoidError(
                ErrorCode.PATH_NOT_ALLOWED,
                f"{path} is outside the daemon's allowed roots {self.allowed_roots}",
                field_name,
            )
        return real

    def check_output(self, spec: JobSpec) -> None:
        """Path mode: the output folders (the output's, each fill/matte layer's) are allowed and
        writable; refused now, not after GPU time."""
        named = [("out_pattern", spec.out_pattern)]
        named += [("layer_patterns", p) for p in spec.layer_patterns.values()]
        for field_name, pattern in named:
            out = SequencePattern.parse(pattern)
            folder = self.check(os.path.dirname(out.path(spec.frames[0])) or ".", field_name)
            check_writable_folder(folder)


def probe(path: str, frame: int, spec: JobSpec, channels: int | None, part: int = 0) -> None:
    """Refuse a file whose header (of part ``part``) disagrees with the job before its pixels
    are read, and anything but a regular file before it is opened (a FIFO would block the
    receiver)."""
    if os.path.lexists(path):
        safe_files.check_regular_file(path, "paths")
    inp = open_image(path, frame, "paths")
    try:
        if part:
            inp.seek_subimage(part, 0)
        s = inp.spec()
        w, h, c = s.width, s.height, s.nchannels
    finally:
        inp.close()
    if (w, h) != (spec.width, spec.height):
        raise VoidError(
            ErrorCode.RESOLUTION_MISMATCH,
            f"frame {frame} ({path}) is {w}x{h} but the job is {spec.width}x{spec.height}",
            "paths",
        )
    if channels is not None and c != channels:
        raise VoidError(
            ErrorCode.SHAPE_MISMATCH,
            f"frame {frame} ({path}) has {c} channels, the job declared {channels}",
            "paths",
        )
