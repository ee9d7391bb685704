"""``void-remove install HOST``: put the VOID Remove glue where a host application finds it.

Each host package declares its installer as a ``void_remove.installers`` entry point (a module
with ``add_arguments(parser)`` and ``install(args) -> int``; see :mod:`void_client.plugins`); this
command only dispatches, so the client never imports a host package.
"""

from __future__ import annotations

import argparse

from void_client import plugins


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="host", required=True)
    for host in plugins.names(plugins.INSTALLERS_GROUP):
        module = plugins.load(plugins.INSTALLERS_GROUP, host)
        hp = sub.add_parser(
            host,
            help=(module.__doc__ or "").strip().splitlines()[0],
            formatter_class=p.formatter_class,
        )
        module.add_arguments(hp)


def main(args: argparse.Namespace) -> int:
    return int(plugins.load(plugins.INSTALLERS_GROUP, args.host).install(args) or 0)
