"""Start a local daemon when none answers: the embedded default for a new user.

A file lock makes sure two clients starting at once start one daemon between them.
The command is ``$VOID_DAEMON_COMMAND`` if set (for a host whose own Python lacks the
daemon's packages), else ``python -m void_daemon`` with this interpreter, else
``void-daemon`` from ``PATH``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

from void_client.errors import ErrorCode, VoidError
from void_client.paths import default_jobs_dir, home

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a+") as f:
        if sys.platform == "win32":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    time.sleep(0.1)
        else:
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if sys.platform != "win32":
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def daemon_command(endpoint: str, jobs_dir: str) -> list[str]:
    env = os.environ.get("VOID_DAEMON_COMMAND")
    if env:
        base = shlex.split(env)
    elif (
        importlib.util.find_spec("void_daemon") is not None
        and importlib.util.find_spec("cv2") is not None
    ):
        base = [sys.executable, "-m", "void_daemon"]
    elif shutil.which("void-daemon"):
        base = [shutil.which("void-daemon")]  # type: ignore[list-item]
    else:
        raise VoidError(
            ErrorCode.DAEMON_UNREACHABLE,
            "no VOID daemon is running and none is installed here; pip install 'void-remove[daemon]' "
            "or set VOID_DAEMON_COMMAND to the daemon's command line",
            "endpoint",
        )
    return [*base, "serve", "--endpoint", endpoint, "--jobs-dir", jobs_dir]


def _answers(endpoint: str, timeout: float, curve: object = True) -> bool:
    from void_client.client import DaemonClient

    with DaemonClient(endpoint, curve=curve) as c:  # type: ignore[arg-type]
        try:
            c.hello(timeout=timeout)
            return True
        except VoidError:
            return False


def wait_for_daemon(
    endpoint: str,
    proc: subprocess.Popen,
    timeout: float,
    log_path: str | os.PathLike = "",
    curve: object = True,
) -> None:
    """Return once the daemon ``proc`` started answers on ``endpoint``; say why when it won't."""
    where = f"; see {log_path}" if log_path else ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise VoidError(
                ErrorCode.DAEMON_UNREACHABLE,
                f"the daemon exited at start (code {proc.returncode}){where}",
                "endpoint",
            )
        if _answers(endpoint, 0.5, curve):
            return
    raise VoidError(
        ErrorCode.DAEMON_UNREACHABLE,
        f"the daemon did not answer within {timeout:.0f} s{where}",
        "endpoint",
    )


def start_local_daemon(
    endpoint: str, jobs_dir: str | None = None, timeout: float = START_TIMEOUT_S
) -> None:
    """Start a daemon on ``endpoint`` unless one answers; return once it says hello."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in endpoint)
    with _file_lock(str(home() / f"daemon-{slug}.lock")):
        if _answers(endpoint, 0.5):
            return
        cmd = daemon_command(endpoint, jobs_dir or str(default_jobs_dir()))
        log_path = home() / "daemon.log"
        log.info("starting a local daemon: %s (log: %s)", " ".join(cmd), log_path)
        with open(log_path, "ab") as logf:
            proc = subprocess.Popen(
                cmd,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_for_daemon(endpoint, proc, timeout, log_path)
