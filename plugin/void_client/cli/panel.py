"""``void-remove panel``: the VOID Remove panel in its own window (the same widget Nuke docks)."""

from __future__ import annotations

import argparse

from void_client.cli.run import add_job_settings, request_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plate", default="", help="fill the Job tab with this plate sequence")
    p.add_argument("--remove", default="", help="remove matte sequence, or PATTERN:layer.channel")
    p.add_argument("--affected", default="", help="affected matte (shadow, reflection...)")
    p.add_argument("--out", default="", help="output pattern")
    p.add_argument("--range", dest="frame_range", default="", help="FIRST-LAST")
    add_job_settings(p)


def main(args: argparse.Namespace) -> int:
    from void_client.panel import show_panel  # Qt is imported only when the panel is wanted

    request = None
    if args.plate or args.remove or args.out:
        request = request_from_args(args)
    show_panel(args.endpoint, request, block=True)
    return 0
