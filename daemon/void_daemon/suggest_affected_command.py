"""propose an affected matte (shadow) for the artist to edit: a soft matte, never a decision

``void-remove suggest-affected --plate … --remove … --out affected.####.exr`` reconstructs the
background around the removed object with the ``propagate`` engine, in this process (no daemon
needed), and writes where the plate changes with the object (a shadow that moves with it) as a
soft matte (half float, channel ``A``, values in [0, 1]). The artist reviews and edits it, then
passes it to ``void-remove run --affected``. The algorithm is :mod:`void_daemon.affected`; this
module only reads, guards and writes. Outputs are guarded like every output (an input is never
overwritten; a manifest and a lock sit beside the sequence: ``docs/reliability.md``, "Sources
and outputs"). It reaches the CLI as the ``suggest-affected`` entry point of
``void_remove.commands`` (``docs/architecture.md``, plugin entry points); the first line of this
docstring is the command's ``--help`` description.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

import numpy as np

from void_client.cli.run import add_output_policy
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.output_guard import check_job_paths
from void_client.output_manifest import claim_output, next_version
from void_client.quadmask import check_matte
from void_client.sequence import (
    SequencePattern,
    SequenceRef,
    parse_range,
    plate_part,
    read_image,
    read_matte,
    require_frames,
    sweep_stale_temps,
    write_image,
)
from void_daemon.affected import AffectedSettings, chunks, context_frames, suggest_affected

log = logging.getLogger(__name__)

#: Frames held in memory at once (plate, clean estimate and evidence: about 40 bytes a pixel).
DEFAULT_WINDOW = 64


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = AffectedSettings()
    p.add_argument("--plate", required=True, help="plate sequence, e.g. plate.####.exr[:part/]")
    p.add_argument(
        "--remove", required=True, help="remove matte sequence, e.g. remove.####.exr[:channel]"
    )
    p.add_argument(
        "--out", required=True, help="where the proposed matte goes, e.g. affected.####.exr"
    )
    p.add_argument("--range", default="", help="FIRST-LAST (default: every plate frame on disk)")
    p.add_argument(
        "--reach",
        type=float,
        default=d.reach,
        help="how far beyond the object to look, in object radii",
    )
    p.add_argument(
        "--reach-px",
        type=int,
        default=0,
        help="the same in pixels, overriding --reach (long shadows at a low sun)",
    )
    p.add_argument(
        "--brightening",
        action="store_true",
        help="propose brightening too (light spill, reflections), not only shadows",
    )
    p.add_argument(
        "--sensitivity",
        type=float,
        default=1.0,
        help="above 1 proposes fainter changes (more false alarms), below 1 only strong ones",
    )
    p.add_argument(
        "--window",
        type=int,
        default=DEFAULT_WINDOW,
        help="frames processed at once (memory); results do not depend on it much",
    )
    add_output_policy(p)


def settings_from_args(args: argparse.Namespace) -> AffectedSettings:
    if args.sensitivity <= 0:
        raise VoidError(
            ErrorCode.BAD_SPEC, "--sensitivity must be above 0 (1 is the default)", "sensitivity"
        )
    d = AffectedSettings()
    return dataclasses.replace(
        d,
        reach=args.reach,
        reach_px=args.reach_px,
        brightening=args.brightening,
        low=d.low / args.sensitivity,
        high=d.high / args.sensitivity,
    )


def _frames(plate: SequenceRef, text: str) -> list[int]:
    if text:
        first, last = parse_range(text)
        return list(range(first, last + 1))
    found = plate.pattern.scan()
    if not found:
        raise VoidError(
            ErrorCode.MISSING_FRAMES,
            f"no frames of {plate.pattern} on disk; check --plate or pass --range",
            "plate",
        )
    return found


def _read(
    plate: SequenceRef, part: int, remove: SequenceRef, frames: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Plate RGB (float32) and remove matte of ``frames``, checked for shape and range."""
    rgbs, mattes = [], []
    for f in frames:
        img = read_image(plate.path(f), f, part=part)
        if img.pixels.shape[2] < 3:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"frame {f} of the plate has {img.pixels.shape[2]} channel(s); RGB is needed",
                "plate",
            )
        m = check_matte(read_matte(remove.path(f), f, remove.channel), "remove", f)
        if m.shape != img.pixels.shape[:2]:
            raise VoidError(
                ErrorCode.RESOLUTION_MISMATCH,
                f"the remove matte is {m.shape[1]}x{m.shape[0]} at frame {f} but the plate is "
                f"{img.pixels.shape[1]}x{img.pixels.shape[0]}; give mattes at plate resolution",
                "remove",
            )
        rgbs.append(img.pixels[..., :3].astype(np.float32))
        mattes.append(m)
    return np.stack(rgbs), np.stack(mattes)


def main(args: argparse.Namespace) -> int:
    plate, remove = SequenceRef.parse(args.plate), SequenceRef.parse(args.remove)
    out_text = next_version(args.out) if args.version_up else args.out
    out = SequencePattern.parse(out_text)
    frames = _frames(plate, args.range)
    require_frames(plate, frames, "plate")
    require_frames(remove, frames, "remove")
    # Sources are sacred: refused before anything is read or written.
    check_job_paths(
        [("plate", plate.pattern), ("remove matte", remove.pattern)], out, frames, "out", "--out"
    )
    settings = settings_from_args(args)
    part = plate_part(plate.path(frames[0]), plate.channel, frames[0])
    first = read_image(plate.path(frames[0]), frames[0], part=part).pixels
    spec = JobSpec(
        frames=frames,
        width=int(first.shape[1]),
        height=int(first.shape[0]),
        name="suggest-affected",
        engine="suggest-affected",
        engine_options=dataclasses.asdict(settings),
    )
    os.makedirs(os.path.dirname(os.path.abspath(out.path(frames[0]))), exist_ok=True)
    sweep_stale_temps(out)
    coverage = []
    with claim_output(out, frames, spec, [args.plate, args.remove], args.overwrite) as claim:
        for lo, hi, keep_lo, keep_hi in chunks(len(frames), args.window, context_frames(settings)):
            rgb, matte = _read(plate, part, remove, frames[lo:hi])
            alpha = suggest_affected(rgb, matte, settings)
            for i in range(keep_lo, keep_hi):
                a = alpha[i - lo]
                write_image(out.path(frames[i]), a.astype(np.float16), channels=["A"])
                claim.frame_written(frames[i])
                coverage.append(float((a > 0.5).mean()))
            print(
                f"suggest-affected: frames {frames[keep_lo]}-{frames[keep_hi - 1]} written",
                file=sys.stderr,
            )
    marked = sum(c > 0 for c in coverage)
    print(
        f"proposed affected matte: {out} ({len(frames)} frames, something proposed on {marked}, "
        f"{100.0 * float(np.mean(coverage)):.2f}% of the frame on average). It is a proposal: "
        "review and edit it, then pass it with --affected"
    )
    return 0
