"""Running the real ``void-remove`` CLI from tests, one way for every test file."""

from __future__ import annotations

import os
import subprocess
import sys

#: The CLI of this install, run by this interpreter.
VOID_REMOVE = [sys.executable, "-m", "void_client.cli.main"]
#: Settings that keep a small shot's job quick: short windows, little dilation and feather.
FAST = ["--window", "5", "--overlap", "2", "--dilation", "2", "--feather", "2"]


def void_remove(
    *args: str, timeout: float = 240, umask: int | None = None
) -> subprocess.CompletedProcess:
    """``void-remove ARGS`` in a subprocess, output captured as text (optionally under ``umask``)."""
    return subprocess.run(
        [*VOID_REMOVE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )


def run_args(shot: dict[str, str], endpoint: str, out: str, *extra: str) -> list[str]:
    """``run`` on a shot written by ``write_shot`` against a test daemon, with :data:`FAST`."""
    return [
        "run",
        "--plate",
        shot["plate"],
        "--remove",
        shot["remove"],
        "--affected",
        shot["affected"],
        "--out",
        out,
        *FAST,
        "--endpoint",
        endpoint,
        "--no-autostart",
        *extra,
    ]
