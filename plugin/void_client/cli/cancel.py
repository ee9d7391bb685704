"""``void-remove cancel JOB``: stop a job on the daemon (its frames already written are kept)."""

from __future__ import annotations

import argparse
import sys

from void_client import protocol as P
from void_client.client import connect
from void_client.job_state import is_final


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", help="job id (see void-remove status)")
    p.add_argument(
        "--endpoint",
        default=P.DEFAULT_ENDPOINT,
        help="daemon address",
    )


def main(args: argparse.Namespace) -> int:
    client = connect(args.endpoint, autostart=False)
    try:
        before = client.status(args.job)[0]  # unknown_job when there is no such job
        if is_final(before["state"]):
            print(
                f"void-remove: job {args.job} already ended ({before['state']}); nothing to cancel",
                file=sys.stderr,
            )
            return 0
        client.cancel(args.job)
        after = client.status(args.job)[0]
    finally:
        client.close()
    print(
        f"void-remove: job {args.job} cancelled ({after.get('frames_done', 0)}/"
        f"{after.get('frames_total', '?')} frames were done)",
        file=sys.stderr,
    )
    return 0
