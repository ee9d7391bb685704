"""``void-remove run``: remove an object from an EXR sequence."""

from __future__ import annotations

import argparse
import sys

from void_client import protocol as P
from void_client.cli.progress import job_progress
from void_client.sequence import parse_range
from void_client.sequence_job import RemoveRequest, remove_sequence


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
    add_job_settings(p)


def add_job_settings(p: argparse.ArgumentParser) -> None:
    """Flags shared by every command that creates a job."""
    p.add_argument(
        "--engine", default="propagate", help="propagate (CPU, default) or void (the VOID model)"
    )
    p.add_argument(
        "--window", type=int, default=197, help="longest window in frames (rounded down to 8m+5)"
    )
    p.add_argument("--overlap", type=int, default=16, help="frames shared by neighbouring windows")
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


def settings_from_args(args: argparse.Namespace) -> dict:
    return {
        "engine": args.engine,
        "window": args.window,
        "overlap": args.overlap,
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
    )


def main(args: argparse.Namespace) -> int:
    req = request_from_args(args)
    total = (req.frame_range[1] - req.frame_range[0] + 1) if req.frame_range else 0
    with job_progress(total or None) as on_event:  # type: ignore[arg-type]
        report = remove_sequence(req, on_event)
    print(
        f"job {report.job}: wrote {len(report.frames_written)} frames to {args.out} in {report.seconds:.1f} s "
        f"({report.windows} windows, {report.cached_windows} from cache)",
        file=sys.stderr,
    )
    return 0
