"""``void-remove``: the user CLI. Each sub-command lives in its own module under ``cli/``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NoReturn

from void_client import plugins
from void_client.errors import VoidError

#: name -> module; each module has ``add_arguments(parser)`` and ``main(args) -> int``. Commands
#: other packages provide (``task`` and ``demo``, from the daemon) come from :mod:`void_client.plugins`.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("void_client.cli.run", "remove an object from an EXR sequence through the daemon"),
    "status": ("void_client.cli.status", "show the daemon's jobs"),
    "jobs": ("void_client.cli.jobs", "list jobs with their disk use; 'jobs clean' frees disk"),
    "attach": ("void_client.cli.attach", "re-attach to a job and collect its frames"),
    "cancel": ("void_client.cli.cancel", "cancel a job on the daemon"),
    "panel": (
        "void_client.cli.panel",
        "open the VOID Remove panel: daemon status, jobs, progress, viewer",
    ),
    "farm": (
        "void_client.cli.farm",
        "write (and optionally submit) a render farm job: OpenJD, OpenCue or Deadline",
    ),
    "install": (
        "void_client.cli.install",
        "install VOID Remove into a host application: nuke or resolve",
    ),
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with ``(default: X)``, the same way in every command, unless
    the default says nothing (None, False, "", []) or the help already says what it is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        silent = (
            default is None
            or default is False
            or default is argparse.SUPPRESS
            or (isinstance(default, (str, list, tuple)) and not default)
        )
        if not action.option_strings or silent or "default" in text.lower():
            return text
        return f"{text} (default: %(default)s)"


class JsonlUsageParser(argparse.ArgumentParser):
    """argparse's parser for a command line that asked for ``--progress jsonl``: a usage error
    (unknown option, bad value, missing argument) also ends the stream with ``start`` and a
    ``failed`` event (code ``bad_spec``), so a host reading stdout learns why rather than
    seeing an empty stream (docs/protocol.md, "Progress stream (jsonl)"). argparse's usage and
    message still go to stderr, and the exit status stays 2. Sub-parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        from void_client.cli.progress_stream import JsonlStream
        from void_client.errors import ErrorCode

        JsonlStream(sys.stdout).failed(
            ErrorCode.BAD_SPEC.value,
            f"{self.prog}: {message} (see '{self.prog} --help')",
            usage_error_field(message),
        )
        super().error(message)


def wants_jsonl(argv: list[str]) -> bool:
    """Whether ``argv`` asks for ``--progress jsonl`` (or ``--progress=jsonl``), before ``--``."""
    for i, arg in enumerate(argv):
        if arg == "--":
            return False
        if arg == "--progress=jsonl" or (arg == "--progress" and argv[i + 1 : i + 2] == ["jsonl"]):
            return True
    return False


def usage_error_field(message: str) -> str:
    """The option an argparse message names, without dashes ("" when it names none):
    ``argument --seed: ...`` → ``seed``; ``unrecognized arguments: --bogus 3`` → ``bogus``;
    ``the following arguments are required: --remove, --out`` → ``remove``."""
    if message.startswith("argument ") and ":" in message:
        names = message[len("argument ") : message.index(":")].split("/")
        return max(names, key=len).lstrip("-")
    for lead in ("unrecognized arguments:", "the following arguments are required:"):
        if message.startswith(lead):
            words = message[len(lead) :].replace(",", " ").split()
            return words[0].lstrip("-") if words else ""
    return ""


def build_parser(jsonl_errors: bool = False) -> argparse.ArgumentParser:
    parser_class = JsonlUsageParser if jsonl_errors else argparse.ArgumentParser
    parser = parser_class(
        prog="void-remove",
        description="VOID Remove: video object and interaction removal.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=HelpFormatter
        )
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    for name, module in sorted(plugins.providers(plugins.COMMANDS_GROUP).items()):
        if name in COMMANDS:
            continue
        # Loaded only when asked for: the light client never imports the daemon to build --help.
        p = sub.add_parser(
            name,
            help=f"provided by {module.split('.')[0]}: see 'void-remove {name} -h'",
            add_help=False,
            prefix_chars="\0",
        )
        p.add_argument("plugin_args", nargs=argparse.REMAINDER)
        p.set_defaults(_plugin=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(jsonl_errors=wants_jsonl(argv)).parse_args(argv)
    if getattr(args, "_plugin", ""):
        # The plugin parses everything after its name itself (its --help included).
        at = argv.index(args._plugin)
        args = _plugin_args(args._plugin, argv[at + 1 :], args.verbose)
    else:
        args._explicit = explicit_options(build_parser(), argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(importlib.import_module(args._module).main(args) or 0)
    except VoidError as exc:
        print(f"void-remove: error [{exc.code.value}]: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("void-remove: interrupted", file=sys.stderr)
        return 130


def _plugin_args(name: str, rest: list[str], verbose: bool) -> argparse.Namespace:
    """Parse a plugin command's own arguments with the parser it builds (after it is imported)."""
    try:
        module = plugins.load(plugins.COMMANDS_GROUP, name)
    except VoidError as exc:
        print(f"void-remove: error [{exc.code.value}]: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None
    p = argparse.ArgumentParser(
        prog=f"void-remove {name}",
        description=(module.__doc__ or "").strip().splitlines()[0],
        formatter_class=HelpFormatter,
    )
    module.add_arguments(p)
    args = p.parse_args(rest)
    p2 = argparse.ArgumentParser(prog=p.prog)
    module.add_arguments(p2)
    args._explicit = explicit_options(p2, rest)
    args.verbose = verbose
    args._module = module.__name__
    return args


def explicit_options(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The ``dest`` of every option given on the command line (not left at its default), so
    ``--preset`` can yield to explicit flags. ``parser`` is a fresh one: it is modified."""

    options: set[str] = set()

    def suppress(p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    suppress(child)
            elif action.option_strings:
                # Positionals keep their defaults: a SUPPRESS default fails a positional's choices.
                action.default = argparse.SUPPRESS
                options.add(action.dest)
        p._defaults.clear()

    suppress(parser)
    given, _ = parser.parse_known_args(argv)
    return {k for k in vars(given) if k in options}


if __name__ == "__main__":
    sys.exit(main())
