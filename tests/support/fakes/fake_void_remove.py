"""A stand-in ``void-remove`` executable that records every command line it is started with.

Hosts run the worker as a program (``void_hostlink``: ``$VOID_REMOVE_EXE``, the installer's
record, then PATH); tests that check WHAT a host asks the worker to do point it at
:func:`make_fake_void_remove`'s script and read :func:`recorded`. What it models of the real
command (docs/protocol.md, "Progress stream (jsonl)"): ``run ... --progress jsonl`` writes a
``start`` event, then one final event on stdout, one JSON object a line, and exits with the
final event's status (``failed`` → 2); ``panel`` opens a window and returns when it closes (here
at once, status 0). It never contacts a daemon or writes a frame: a run always ends ``failed``
with the message :data:`FAILED_MESSAGE`, so the host's undo path runs too.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

LOG_ENV = "VOID_FAKE_VOID_REMOVE_LOG"
FAILED_MESSAGE = "the fake void-remove recorded this command line and ran nothing"

SCRIPT = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ[{log_env!r}], "a", encoding="utf-8") as f:
    f.write(json.dumps(args) + "\\n")
if args[:1] == ["run"] and "jsonl" in args:
    for event in (
        {{"event": "start", "stream": 1, "version": "0.0.0-fake", "out": "", "total": None}},
        {{"event": "failed", "error": {{"code": "bad_spec", "message": {message!r}, "field": ""}}}},
    ):
        sys.stdout.write(json.dumps(event) + "\\n")
        sys.stdout.flush()
    sys.exit(2)
sys.exit(0)
"""


def make_fake_void_remove(folder: Path) -> Path:
    """Write the fake as an executable file in ``folder``; set :data:`LOG_ENV` to a file path
    before starting it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "void-remove"
    path.write_text(
        SCRIPT.format(python=sys.executable, log_env=LOG_ENV, message=FAILED_MESSAGE),
        encoding="utf-8",
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def recorded(log: Path) -> list[list[str]]:
    """Every command line (less the program) the fake was started with, in order."""
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]


def fake_environment(log: Path) -> dict[str, str]:
    """This process's environment plus the log path (for a host that takes a whole env)."""
    return {**os.environ, LOG_ENV: str(log)}
