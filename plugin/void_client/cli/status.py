"""``void-remove status``: the daemon's jobs, and where each one's fill and matte go."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from void_client import protocol as P
from void_client.cli.layer_summary import describe_layers
from void_client.client import connect


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", nargs="?", default="", help="one job id (default: all)")
    p.add_argument("--endpoint", default=P.DEFAULT_ENDPOINT, help="daemon address")


def main(args: argparse.Namespace) -> int:
    with connect(args.endpoint, autostart=False) as client:
        hello = client.capabilities
        jobs = client.status(args.job)
    console = Console()
    engines = (
        ", ".join(f"{e['name']}{'' if e['available'] else ' (unavailable)'}" for e in hello.engines)
        if hello
        else ""
    )
    console.print(
        f"daemon {hello.daemon_version if hello else '?'} at {args.endpoint}; engines: {engines}; GPU: {(hello.gpu if hello else '') or 'none'}"
    )
    # "fill, matte": where each goes (a pattern, inside the output, or to the client).
    table = Table("job", "name", "state", "frames", "windows", "queue", "fill, matte")
    for j in jobs:
        table.add_row(
            j["job"],
            j["name"],
            j["state"],
            f"{j['frames_done']}/{j['frames_total']}",
            str(j["windows_done"]),
            str(j["queue_position"]),
            describe_layers(j),
        )
    console.print(table)
    return 0
