"""generate a shot, run it, and score it against the ground truth

``void-remove demo``: a generated shot through the daemon, scored against its ground truth. The
shot (scikit-image, OpenCV) and the scores (PSNR/SSIM, the ``cv2.inpaint`` baseline) need the
daemon's libraries, so the command lives here and reaches the CLI as the ``demo`` entry point of
``void_remove.commands`` (``docs/architecture.md``, plugin entry points); the first line of this
docstring is the command's ``--help`` description.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from void_client.cli.progress import job_progress
from void_client.cli.run import add_job_settings, settings_from_args
from void_client.quadmask import build_quadmask, hole, preview
from void_client.sequence import SequencePattern, read_image, write_image
from void_client.sequence_job import RemoveRequest, remove_sequence
from void_client.srgb import linear_to_srgb
from void_daemon.demo_shot import make_shot, write_shot
from void_daemon.metrics import cv2_inpaint_baseline, sequence_scores


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        default="void_demo",
        help="folder for the inputs, outputs and preview (default ./void_demo)",
    )
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--width", type=int, default=480)
    p.add_argument("--height", type=int, default=270)
    p.add_argument("--shot-seed", type=int, default=0, help="seed of the generated shot")
    add_job_settings(p)
    p.set_defaults(window=29, overlap=8)


def main(args: argparse.Namespace) -> int:
    folder = os.path.abspath(args.out)
    shot = make_shot(frames=args.frames, width=args.width, height=args.height, seed=args.shot_seed)
    paths = write_shot(shot, os.path.join(folder, "input"))
    out_pattern = os.path.join(folder, "output", "clean.####.exr")
    print(
        f"demo shot: {args.frames} frames {args.width}x{args.height} in {folder}/input",
        file=sys.stderr,
    )
    req = RemoveRequest(
        plate=paths["plate"],
        remove=paths["remove"],
        affected=paths["affected"],
        out=out_pattern,
        settings=settings_from_args(args),
        endpoint=args.endpoint,
        autostart=not args.no_autostart,
        overwrite=True,  # the demo folder is its own: a re-run replaces the last demo's output
    )
    with job_progress(len(shot.frames)) as on_event:
        report = remove_sequence(req, on_event)
    out = SequencePattern.parse(out_pattern)
    result = np.stack(
        [read_image(out.path(f)).pixels[..., :3].astype(np.float32) for f in shot.frames]
    )
    qms = np.stack(
        [build_quadmask(r, a, args.dilation) for r, a in zip(shot.remove, shot.affected)]
    )
    region = hole(qms)
    ours = sequence_scores(result, shot.truth, region)
    base = sequence_scores(cv2_inpaint_baseline(shot.plate, region), shot.truth, region)
    mid = len(shot.frames) // 2
    panel = np.concatenate(
        [
            preview(linear_to_srgb(shot.plate[mid, ..., :3]), qms[mid]),
            linear_to_srgb(result[mid]),
            linear_to_srgb(shot.truth[mid]),
        ],
        axis=1,
    )
    preview_path = os.path.join(folder, "preview.png")
    write_image(preview_path, (np.clip(panel, 0, 1) * 255).round().astype(np.uint8))
    print(
        f"job {report.job}: {len(report.frames_written)} frames in {report.seconds:.1f} s, {report.windows} windows",
        file=sys.stderr,
    )
    print(f"{'inside the edited region':<28}{'PSNR dB':>10}{'SSIM':>8}")
    print(f"{'VOID Remove (' + args.engine + ')':<28}{ours['psnr']:>10.2f}{ours['ssim']:>8.3f}")
    print(f"{'per-frame cv2.inpaint':<28}{base['psnr']:>10.2f}{base['ssim']:>8.3f}")
    print(
        f"output: {out_pattern}\npreview (quadmask | result | ground truth, frame {shot.frames[mid]}): {preview_path}"
    )
    return 0
