"""How this install runs its own ``void-remove`` (docs/architecture.md, "Plugins").

One definition for the panel (Suggest affected) and the farm (the worker command): both run
the CLI as a program, preferring this very interpreter when it can import the daemon.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys


def interpreter_command() -> list[str] | None:
    """This interpreter running the CLI module, absolute, when it is a Python that has the
    daemon package (whose commands these are); else None.

    ``sys.executable`` is kept as spelled (not resolved): a venv's ``bin/python`` is a link to
    the base interpreter, and only the link's path puts the venv's packages on ``sys.path``.
    A host (Nuke) runs its own binary as ``sys.executable``, so only a Python is taken.
    """
    exe = os.path.abspath(sys.executable) if sys.executable else ""
    if (
        exe
        and os.path.basename(exe).lower().startswith("python")
        and importlib.util.find_spec("void_daemon") is not None
    ):
        return [exe, "-m", "void_client.cli.main"]
    return None


def configured_command(env: str) -> list[str] | None:
    """The command line in ``$env`` (a site setting), else :func:`interpreter_command`."""
    site = os.environ.get(env, "").strip()
    if site:
        return shlex.split(site)
    return interpreter_command()
