"""``void-remove install HOST``: put the VOID Remove glue where a host application finds it.

Each host has one installer module, ``void_client.installers.<host>``, exposing
``add_arguments(parser)`` and ``install(args) -> int``; this command only dispatches.
"""

from __future__ import annotations

import argparse
import importlib

HOSTS = ("nuke", "resolve")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="host", required=True)
    for host in HOSTS:
        module = importlib.import_module(f"void_client.installers.{host}")
        hp = sub.add_parser(host, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(hp)


def main(args: argparse.Namespace) -> int:
    return int(importlib.import_module(f"void_client.installers.{args.host}").install(args) or 0)
