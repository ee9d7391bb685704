"""``void-remove jobs``: the daemon's jobs with their disk use; ``jobs clean`` frees disk.

What the daemon keeps and removes by itself is in ``docs/reliability.md`` ("Disk"); ``clean``
removes finished jobs sooner. Active jobs are never removed, and the window cache (what makes a
re-run with changed settings cheap) is kept.
"""

from __future__ import annotations

import argparse
import json
import time

from void_client import protocol as P
from void_client.cli.layer_summary import describe_layers
from void_client.client import connect
from void_client.errors import ErrorCode, VoidError
from void_client.units import format_bytes

DAY_S = 86_400.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        nargs="?",
        choices=("list", "clean"),
        default="list",
        help="list (default): jobs, state, frames and disk use; clean: remove finished jobs",
    )
    p.add_argument(
        "--older-than",
        default="7d",
        help="clean: finished jobs that ended longer ago than this (7d, 12h, 30m; default 7d)",
    )
    p.add_argument(
        "--all-finished",
        action="store_true",
        help="clean: every finished job (done, failed or cancelled), whatever its age",
    )
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--endpoint", default=P.DEFAULT_ENDPOINT, help="daemon address")


def parse_age(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``90s`` or plain seconds → seconds."""
    units = {"d": DAY_S, "h": 3600.0, "m": 60.0, "s": 1.0}
    t = text.strip().lower()
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"--older-than {text!r}: give an age like 7d, 12h or 30m",
            "older_than",
        )
    return value


def _age(created: float) -> str:
    if not created:
        return "?"
    s = max(0.0, time.time() - created)
    if s < 3600:
        return f"{s / 60:.0f}m"
    if s < DAY_S:
        return f"{s / 3600:.0f}h"
    return f"{s / DAY_S:.0f}d"


def main(args: argparse.Namespace) -> int:
    if args.action == "clean":
        older = parse_age(args.older_than)
        with connect(args.endpoint, autostart=False) as client:
            reply = client.request(P.Clean(older_than_s=older, all_finished=args.all_finished))
        assert isinstance(reply, P.Clean)
        if args.json:
            print(json.dumps({"removed": reply.removed, "freed_bytes": reply.freed_bytes}))
            return 0
        n = len(reply.removed)
        print(f"removed {n} job{'' if n == 1 else 's'}, freed {format_bytes(reply.freed_bytes)}")
        for r in reply.removed:
            print(f"  {r['job']}  {format_bytes(r['bytes']):>10}  {r['reason']}")
        return 0
    with connect(args.endpoint, autostart=False) as client:
        jobs = client.status()
    total = sum(int(j.get("disk_bytes", 0)) for j in jobs)
    if args.json:
        print(json.dumps({"jobs": jobs, "total_bytes": total}))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("job", "name", "state", "frames", "disk", "age", "fill, matte")
    for j in jobs:
        table.add_row(
            j["job"],
            j["name"],
            j["state"],
            f"{j['frames_done']}/{j['frames_total']}",
            format_bytes(int(j.get("disk_bytes", 0))),
            _age(float(j.get("created", 0) or 0)),
            describe_layers(j),
        )
    console = Console()
    console.print(table)
    console.print(
        f"{len(jobs)} jobs, total {format_bytes(total)} on the daemon's disk "
        "(void-remove jobs clean --all-finished frees the finished ones)"
    )
    return 0
