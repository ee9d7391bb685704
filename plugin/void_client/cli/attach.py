"""``void-remove attach``: collect a job's frames after the client that started it went away.

Exits 0 only when every frame of the job is in ``--out`` from this job (written now, or by this
job's earlier run as its output manifest records); 3 naming the frames that are not (another
client collected them); Ctrl-C cancels the job, a second Ctrl-C leaves it running (130).
"""

from __future__ import annotations

import argparse
import sys

from void_client import protocol as P
from void_client.cli.run import run_job
from void_client.sequence_job import RemoveRequest
from void_client.session import JobReport


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", help="job id (see void-remove status)")
    p.add_argument(
        "--plate",
        required=True,
        help="the job's plate sequence (to resend frames the daemon lacks)",
    )
    p.add_argument("--remove", required=True)
    p.add_argument("--affected", default="")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace frames another job left in the output sequence",
    )
    p.add_argument("--endpoint", default=P.DEFAULT_ENDPOINT, help="daemon address")


def main(args: argparse.Namespace) -> int:
    req = RemoveRequest(
        args.plate,
        args.remove,
        args.out,
        args.affected,
        endpoint=args.endpoint,
        autostart=False,
        overwrite=args.overwrite,
    )

    def done(report: JobReport) -> None:
        print(
            f"job {report.job}: wrote {len(report.frames_written)} frames to {args.out}",
            file=sys.stderr,
        )

    return run_job(req, None, attach=args.job, done=done)
