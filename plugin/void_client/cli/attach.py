"""``void-remove attach``: collect a job's frames after the client that started it went away.

Exits 0 only when every frame of the job is in ``--out`` from this job (written now, or by this
job's earlier run as its output manifest records); 3 naming the frames that are not (another
client collected them); Ctrl-C cancels the job, a second Ctrl-C leaves it running (130).
A stereo run has a job per view: its id is ``left=JOB,right=JOB`` (as ``run`` prints it), and
attach follows every view's job, then writes each output frame with every view
(void_client.stereo_job); one view's job id alone is refused, saying that form.
"""

from __future__ import annotations

import argparse
import sys

from void_client import protocol as P
from void_client.cli.layer_summary import learn_from_daemon
from void_client.cli.progress_stream import add_progress_argument, run_command
from void_client.cli.run import run_job, written_to
from void_client.sequence_job import RemoveRequest
from void_client.session import JobReport


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "job",
        help="job id (see void-remove jobs); for a stereo run every view's job: "
        "left=JOB,right=JOB, as run printed it",
    )
    p.add_argument(
        "--plate",
        required=True,
        help="the job's plate sequence (to resend frames the daemon lacks)",
    )
    p.add_argument("--remove", required=True)
    p.add_argument("--affected", default="")
    p.add_argument("--out", required=True)
    # What the detached run was given (its printed attach command repeats them): attach writes them.
    p.add_argument("--fill-out", default="", metavar="PATTERN", help="the job's --fill-out")
    p.add_argument("--matte-out", default="", metavar="PATTERN", help="the job's --matte-out")
    p.add_argument("--grade-layers", action="store_true", help="the job's --grade-layers")
    p.add_argument("--matte-view", default="", help="the job's --matte-view (stereo)")
    p.add_argument("--out-layer", default="", metavar="NAME", help="the job's --out-layer")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace frames another job left in the output sequence",
    )
    p.add_argument("--endpoint", default=P.DEFAULT_ENDPOINT, help="daemon address")
    add_progress_argument(p)


def main(args: argparse.Namespace) -> int:
    # --progress bar|jsonl|none; SIGTERM acts as Ctrl-C (void_client.cli.progress_stream).
    return run_command(args, _main)


def _main(args: argparse.Namespace) -> int:
    # Fill and matte as the job was submitted: --grade-layers is learned from the job, and a
    # layer with nowhere to go is refused before a frame is collected (cli.layer_summary).
    layers = learn_from_daemon(
        args.job, args.endpoint, args.fill_out, args.matte_out, args.grade_layers
    )
    if layers.learned:
        print(
            f"void-remove: job {args.job} was submitted with {' '.join(layers.learned)}; "
            "attach writes it that way",
            file=sys.stderr,
        )
    req = RemoveRequest(
        args.plate,
        args.remove,
        args.out,
        args.affected,
        endpoint=args.endpoint,
        autostart=False,
        overwrite=args.overwrite,
        fill_out=layers.fill_out,
        matte_out=layers.matte_out,
        grade_layers=layers.grade_layers,
        matte_view=args.matte_view,
        out_layer=args.out_layer,
    )

    def done(report: JobReport) -> None:
        print(
            f"job {report.job}: wrote {len(report.frames_written)} frames to {written_to(req)}",
            file=sys.stderr,
        )

    return run_job(req, None, attach=args.job, done=done)
