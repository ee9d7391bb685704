"""Admission: what a request may commit the daemon to, decided before anything is allocated or
stored (``docs/reliability.md``), and which files path mode may touch (``docs/security.md``).

Everything here runs on the I/O thread (submit, frames) or a receiver (probes) and blocks on
nothing but a ``stat`` or a file header; see ``docs/architecture.md``.
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
from void_client.windows import plan_windows
from void_daemon.engines import EngineConfig, engine_class


@dataclass
class Limits:
    """What one request may commit the daemon to; checked before anything is allocated or stored."""

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
    #: Messages ZeroMQ queues per client before a send would block (ZMQ_SNDHWM); past it the
    #: daemon holds must-deliver messages in its backlog and drops progress.
    send_hwm: int = 1000


def check_limits(spec: JobSpec, limits: Limits, active_jobs: int, jobs_root: Path) -> None:
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
    if active_jobs >= lim.max_active_jobs:
        raise VoidError(
            ErrorCode.QUEUE_FULL,
            f"the daemon already holds {active_jobs} active jobs (its limit); retry when one finishes",
            "job",
        )
    # Half-float plates are the least a job stores: refuse now what cannot fit at all.
    least = n * spec.width * spec.height * (2 * 2 * c + 1)
    free = shutil.disk_usage(jobs_root).free
    if least > free:
        raise VoidError(
            ErrorCode.IO_ERROR,
            f"the job needs at least {least / 2**20:.0f} MiB in {jobs_root} but only {free / 2**20:.0f} MiB are free",
            "jobs_dir",
        )


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
        """Path mode: the output folder is allowed and writable; refused now, not after GPU time."""
        out = SequencePattern.parse(spec.out_pattern)
        folder = self.check(os.path.dirname(out.path(spec.frames[0])) or ".", "out_pattern")
        check_writable_folder(folder)


def probe(path: str, frame: int, spec: JobSpec, channels: int | None) -> None:
    """Refuse a file whose header disagrees with the job before its pixels are read."""
    inp = open_image(path, frame, "paths")
    try:
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
