"""Running the real ``void-remove`` CLI from tests, one way for every test file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

#: The CLI of this install, run by this interpreter.
VOID_REMOVE = [sys.executable, "-m", "void_client.cli.main"]
#: Settings that keep a small shot's job quick: short windows, little dilation and feather.
FAST = ["--window", "5", "--overlap", "2", "--dilation", "2", "--feather", "2"]


def void_remove(
    *args: str,
    timeout: float = 240,
    umask: int | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """``void-remove ARGS`` in a subprocess, output captured as text (optionally under ``umask``,
    with ``env`` added to this process's environment)."""
    return subprocess.run(
        [*VOID_REMOVE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
        env={**os.environ, **env} if env else None,
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


def direct_runs(
    endpoint: str, mktemp: Callable[[str], Path], args: Sequence[str], name: str = "direct"
) -> Callable[[str], str]:
    """``run(seam)``: the output pattern of ``void-remove run ARGS --seam SEAM`` through the
    daemon at ``endpoint``, run once per seam mode (a fresh ``mktemp`` folder each) and reused:
    what the farm tests compare their tasks' frames with, bit for bit."""
    done: dict[str, str] = {}

    def run(seam: str) -> str:
        if seam not in done:
            out = str(mktemp(f"{name}-{seam}") / "clean.####.exr")
            r = void_remove(
                "run", *args, "--out", out, "--seam", seam, "--endpoint", endpoint, "--no-autostart"
            )
            assert r.returncode == 0, r.stderr
            assert "(3 windows" in r.stderr
            done[seam] = out
        return done[seam]

    return run


def input_args(plate: str, remove: str, affected: str = "") -> list[str]:
    """``--plate PLATE --remove REMOVE [--affected AFFECTED]``: a run's or an attach's inputs."""
    return ["--plate", plate, "--remove", remove, *(["--affected", affected] if affected else [])]


def openjd_args(inputs: Sequence[str], folder: Path, seam: str, *extra: str) -> list[str]:
    """``farm openjd INPUTS`` writing ``folder/farm/clean.####.exr`` with work in
    ``folder/work``, one window per task (the layout before windows_per_task), tasks running
    this install's CLI: the farm job the tests compare with a direct run."""
    out = str(folder / "farm" / "clean.####.exr")
    return [
        *("farm", "openjd", *inputs, "--out", out, "--seam", seam),
        *("--work-dir", str(folder / "work"), "--command", " ".join(VOID_REMOVE)),
        *("--windows-per-task", "1", *extra),
    ]


def daemon_args(endpoint: str) -> list[str]:
    """``--endpoint ENDPOINT --no-autostart``: talk to the test's daemon, never start one."""
    return ["--endpoint", endpoint, "--no-autostart"]
