"""``void-remove``: the user CLI. Each sub-command lives in its own module under ``cli/``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import VoidError

#: name -> module; each module has ``add_arguments(parser)`` and ``main(args) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("void_client.cli.run", "remove an object from an EXR sequence through the daemon"),
    "demo": ("void_client.cli.demo", "generate a shot, run it, and score it against the ground truth"),
    "status": ("void_client.cli.status", "show the daemon's jobs"),
    "attach": ("void_client.cli.attach", "re-attach to a job and collect its frames"),
    "panel": ("void_client.cli.panel", "open the VOID Remove panel: daemon status, jobs, progress, viewer"),
    "farm": ("void_client.cli.farm", "write (and optionally submit) a render farm job: OpenJD, OpenCue or Deadline"),
    "task": ("void_client.cli.task", "run one farm task (a window, or the assembly) in-process, without a daemon"),
    "install": ("void_client.cli.install", "install VOID Remove into a host application: nuke or resolve"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="void-remove", description="VOID Remove: video object and interaction removal.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(importlib.import_module(args._module).main(args) or 0)
    except VoidError as exc:
        print(f"void-remove: error [{exc.code.value}]: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("void-remove: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
