"""``void-remove run``: remove an object from an EXR sequence.

Ctrl-C cancels the job on the daemon and exits 130; a second Ctrl-C (or ``--detach``) leaves it
running and prints the ``void-remove attach`` command that collects it. Exit status: 0 when every
requested frame was written by this command, 2 for an error, 3 when frames are missing, 130 when
cancelled or interrupted (docs/user-guide.md, "Exit codes").
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from void_client import protocol as P
from void_client.cli.progress import job_progress
from void_client.errors import ErrorCode, VoidError
from void_client.output_manifest import next_version
from void_client.sequence import format_ranges, parse_range
from void_client.sequence_job import RemoveRequest, remove_sequence
from void_client.session import JobReport
from void_client.windows import valid_length_at_most

log = logging.getLogger(__name__)

#: Exit status when the command ran but did not write every requested frame itself.
EXIT_MISSING = 3
#: Exit status after Ctrl-C (the shell's 128 + SIGINT).
EXIT_INTERRUPTED = 130
#: Overlap used when ``--overlap`` is not given: this, or a third of the window when shorter.
DEFAULT_OVERLAP = 16


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plate", required=True, help="plate sequence, e.g. shot.####.exr")
    p.add_argument(
        "--remove", required=True, help="remove matte sequence, or PATTERN:layer.channel"
    )
    p.add_argument(
        "--affected",
        default="",
        help="affected matte (shadow, reflection...), same forms as --remove",
    )
    p.add_argument("--out", required=True, help="output pattern; frame numbers match the input")
    p.add_argument(
        "--range",
        dest="frame_range",
        default="",
        help="FIRST-LAST (default: every plate frame on disk)",
    )
    add_output_policy(p)
    p.add_argument(
        "--detach",
        action="store_true",
        help="return once the daemon has every input frame; prints the attach command",
    )
    add_job_settings(p)


def add_output_policy(p: argparse.ArgumentParser) -> None:
    """What to do when the output sequence already holds frames of another job."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace frames another job (or other settings) left in the output sequence",
    )
    g.add_argument(
        "--version-up",
        action="store_true",
        help="write to the next free _v### version of --out (clean_v001 -> clean_v002)",
    )


def add_job_settings(p: argparse.ArgumentParser) -> None:
    """Flags shared by every command that creates a job."""
    p.add_argument(
        "--engine", default="propagate", help="propagate (CPU, default) or void (the VOID model)"
    )
    p.add_argument(
        "--window", type=int, default=197, help="longest window in frames (rounded down to 8m+5)"
    )
    p.add_argument(
        "--overlap",
        type=int,
        default=None,
        help=f"frames shared by neighbouring windows (default {DEFAULT_OVERLAP}, or a third of "
        "a shorter window)",
    )
    p.add_argument("--seam", choices=("crossfade", "chain"), default="crossfade")
    p.add_argument("--dilation", type=int, default=4, help="grow the mattes by this many pixels")
    p.add_argument("--roi-margin", type=int, default=48, help="context around the masks, pixels")
    p.add_argument("--feather", type=int, default=6, help="soft edge of the composite, pixels")
    p.add_argument("--prompt", default="", help="background description (void engine)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--pass2", action="store_true", help="run VOID's warped-noise refinement pass (void engine)"
    )
    p.add_argument(
        "--ocio-config",
        default="",
        help="OCIO config for the plate (default $OCIO, else OCIO's built-in config)",
    )
    p.add_argument(
        "--colourspace",
        default="",
        help="the plate's colour space in that config (default scene-linear Rec.709)",
    )
    p.add_argument(
        "--restore-detail",
        action="store_true",
        help="re-inject the plate's grain into the filled region",
    )
    p.add_argument(
        "--endpoint",
        default=P.DEFAULT_ENDPOINT,
        help=f"daemon address (default {P.DEFAULT_ENDPOINT})",
    )
    p.add_argument(
        "--no-autostart", action="store_true", help="fail instead of starting a local daemon"
    )


def default_overlap(window: int) -> int:
    """The overlap a window gets when the user set none: 16, or a third of a shorter window."""
    length = valid_length_at_most(max(window, 1)) if window >= 5 else max(window, 1)
    return max(0, min(DEFAULT_OVERLAP, length // 3))


def settings_from_args(args: argparse.Namespace) -> dict:
    overlap = args.overlap
    if overlap is None:
        overlap = default_overlap(args.window)
        log.info("--overlap not given: using --overlap %d for --window %d", overlap, args.window)
    return {
        "engine": args.engine,
        "window": args.window,
        "overlap": overlap,
        "seam": args.seam,
        "dilation": args.dilation,
        "roi_margin": args.roi_margin,
        "feather": args.feather,
        "prompt": args.prompt,
        "seed": args.seed,
        "pass2": args.pass2,
        "restore_detail": args.restore_detail,
        # Left out when empty, so what the plate file says about itself (e.g. sRGB PNG) stands.
        **({"ocio_config": args.ocio_config} if args.ocio_config else {}),
        **({"colourspace": args.colourspace} if args.colourspace else {}),
    }


def request_from_args(args: argparse.Namespace) -> RemoveRequest:
    """The ``RemoveRequest`` a command's ``--plate/--remove/--affected/--out/--range`` flags describe."""
    return RemoveRequest(
        plate=args.plate,
        remove=args.remove,
        affected=args.affected,
        out=args.out,
        frame_range=parse_range(args.frame_range) if args.frame_range else None,
        settings=settings_from_args(args),
        endpoint=getattr(args, "endpoint", P.DEFAULT_ENDPOINT),
        autostart=not getattr(args, "no_autostart", False),
        overwrite=getattr(args, "overwrite", False),
    )


def attach_command(job: str, req: RemoveRequest) -> str:
    """The exact command that collects ``job``'s frames later."""
    parts = ["void-remove", "attach", job, "--plate", req.plate, "--remove", req.remove]
    if req.affected:
        parts += ["--affected", req.affected]
    parts += ["--out", req.out, "--endpoint", req.endpoint]
    return shlex.join(parts)


@contextmanager
def ctrl_c_cancels() -> Iterator[threading.Event]:
    """First Ctrl-C: set the event (the session cancels the job on the daemon). Second: raise
    KeyboardInterrupt (leave the job running). Only the main thread may install handlers."""
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def on_sigint(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("void-remove: cancelling the job (Ctrl-C again to leave it running)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


def report_missing(report: JobReport, out: str) -> int:
    """Exit status for a finished job: 0, or 3 naming the frames this command did not write."""
    if not report.frames_missing:
        return 0
    print(
        f"void-remove: job {report.job} ended but {len(report.frames_missing)} requested frames "
        f"were not written to {out} by this command (missing frames "
        f"{format_ranges(report.frames_missing)}); another client may have collected them. "
        "Re-run to compute them again.",
        file=sys.stderr,
    )
    return EXIT_MISSING


def run_job(
    req: RemoveRequest,
    total: int | None,
    attach: str = "",
    detach: bool = False,
    done: Callable[[JobReport], None] | None = None,
) -> int:
    """Run (or attach to) a job with Ctrl-C handling and the exit statuses documented above."""
    job = {"id": attach}

    def submitted(job_id: str) -> None:
        job["id"] = job_id

    with ctrl_c_cancels() as cancel:
        try:
            with job_progress(total) as on_event:  # type: ignore[arg-type]
                report = remove_sequence(
                    req, on_event, cancel, attach=attach, on_submit=submitted, detach=detach
                )
        except KeyboardInterrupt:
            if not job["id"]:
                print("void-remove: interrupted before the job was submitted", file=sys.stderr)
                return EXIT_INTERRUPTED
            print(
                f"void-remove: left job {job['id']} running on the daemon; collect its frames "
                f"with:\n  {attach_command(job['id'], req)}",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        except VoidError as exc:
            if exc.code != ErrorCode.CANCELLED or not cancel.is_set():
                raise
            print(
                f"void-remove: {exc.message}; frames already written to {req.out} are kept "
                "(see its manifest)",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
    if report.detached:
        print(
            f"void-remove: job {report.job} has all its input frames and runs on the daemon; "
            f"collect its frames with:\n  {attach_command(report.job, req)}",
            file=sys.stderr,
        )
        return 0
    if done is not None:
        done(report)
    return report_missing(report, req.out)


def main(args: argparse.Namespace) -> int:
    req = request_from_args(args)
    if args.engine == "void" and not args.prompt.strip():
        print(
            "void-remove: warning: no --prompt; the VOID model card asks for a description of the "
            "clean background (the shot without the object), e.g. --prompt 'a wooden table in a "
            "kitchen'",
            file=sys.stderr,
        )
    if args.version_up:
        req.out = next_version(req.out)
        print(f"void-remove: --version-up: writing {req.out}", file=sys.stderr)
    total = (req.frame_range[1] - req.frame_range[0] + 1) if req.frame_range else 0

    def done(report: JobReport) -> None:
        print(
            f"job {report.job}: wrote {len(report.frames_written)} frames to {req.out} in "
            f"{report.seconds:.1f} s ({report.windows} windows, {report.cached_windows} from cache)",
            file=sys.stderr,
        )

    return run_job(req, total or None, detach=args.detach, done=done)
