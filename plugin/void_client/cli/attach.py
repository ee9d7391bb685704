"""``void-remove attach``: collect a job's frames after the client that started it went away."""

from __future__ import annotations

import argparse
import sys

from void_client import protocol as P
from void_client.cli.progress import job_progress
from void_client.sequence_job import RemoveRequest, remove_sequence


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
    p.add_argument("--endpoint", default=P.DEFAULT_ENDPOINT)


def main(args: argparse.Namespace) -> int:
    req = RemoveRequest(
        args.plate, args.remove, args.out, args.affected, endpoint=args.endpoint, autostart=False
    )
    with job_progress(None) as on_event:  # type: ignore[arg-type]
        report = remove_sequence(req, on_event, attach=args.job)
    print(
        f"job {report.job}: wrote {len(report.frames_written)} frames to {args.out}",
        file=sys.stderr,
    )
    return 0
