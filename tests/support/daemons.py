"""Real daemon processes for tests and benchmarks: start/stop on a free loopback port, injected faults,
restarts, peak RSS, journals. The one place a test or a bench script starts a daemon."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from void_client.autostart import wait_for_daemon
from void_client.curvezmq import CurveKeys
from void_client.errors import VoidError

FAULT_DAEMON = Path(__file__).with_name("fault_daemon.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaemonProcess:
    """``python -m void_daemon serve`` on a free loopback port; ``env`` is added to this process's
    environment for the daemon (e.g. ``VOID_DAEMON_TIMINGS`` for the bridge profile)."""

    def __init__(
        self,
        jobs_dir: Path,
        endpoint: str | None = None,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.endpoint = endpoint or f"tcp://127.0.0.1:{free_port()}"
        self.jobs_dir = jobs_dir
        self.extra = extra or []
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.log = jobs_dir.parent / f"daemon-{self.endpoint.rsplit(':', 1)[-1]}.log"

    def start(self, timeout: float = 60.0) -> DaemonProcess:
        cmd = [
            sys.executable,
            "-m",
            "void_daemon",
            "serve",
            "--endpoint",
            self.endpoint,
            "--jobs-dir",
            str(self.jobs_dir),
            *self.extra,
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env} if self.env else None,
        )
        try:
            wait_for_daemon(self.endpoint, self.proc, timeout)
        except VoidError as exc:
            raise RuntimeError(f"{exc.message}: {self.log.read_text()}") from exc
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "start() the daemon first"
        return self.proc.pid

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


#: The real daemon with every window slowed by a sleep, so a job is still running when a test
#: interrupts, signals or lists it (the library has no test hooks: the engine method is patched
#: from outside). ``{sleep}`` is the seconds per window.
SLOW_DAEMON = """
import sys, time
from void_daemon.engines.propagate import PropagateEngine
_fill = PropagateEngine.fill
def slow_fill(self, window):
    time.sleep({sleep})
    return _fill(self, window)
PropagateEngine.fill = slow_fill
from void_daemon.cli import main
sys.exit(main(sys.argv[1:]))
"""


class SlowDaemon(DaemonProcess):
    """:class:`DaemonProcess` whose every window first sleeps ``window_sleep`` seconds."""

    def __init__(self, jobs_dir: Path, *args, window_sleep: float = 0.4, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(jobs_dir, *args, **kwargs)
        self.window_sleep = window_sleep

    def start(self, timeout: float = 60.0) -> SlowDaemon:
        script = SLOW_DAEMON.format(sleep=self.window_sleep)
        cmd = [sys.executable, "-c", script, "serve", "--endpoint", self.endpoint]
        cmd += ["--jobs-dir", str(self.jobs_dir), *self.extra]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        try:
            wait_for_daemon(self.endpoint, self.proc, timeout)
        except VoidError as exc:
            raise RuntimeError(f"{exc.message}: {self.log.read_text()}") from exc
        return self


class FaultyDaemon(DaemonProcess):
    """A :class:`DaemonProcess` whose next start can carry one injected fault (see fault_daemon.py)."""

    def __init__(
        self, jobs_dir: Path, endpoint: str | None = None, extra: list[str] | None = None
    ) -> None:
        super().__init__(jobs_dir, endpoint, extra)
        slug = "".join(ch if ch.isalnum() else "_" for ch in self.endpoint.rsplit("/", 1)[-1])
        self.log = jobs_dir.parent / f"daemon-{slug}.log"

    def start(
        self,
        timeout: float = 60.0,
        fault: str = "",
        env: dict | None = None,
        keys: CurveKeys | None = None,
    ) -> FaultyDaemon:  # type: ignore[override]
        """``keys``: the CurveZMQ client keys the readiness probe uses (a Curve daemon answers no one else).
        ``self.bind``, when set, is what the daemon binds; ``self.endpoint`` is what clients dial."""
        bind = getattr(self, "bind", None) or self.endpoint
        cmd = [
            sys.executable,
            str(FAULT_DAEMON),
            "serve",
            "--endpoint",
            bind,
            "--jobs-dir",
            str(self.jobs_dir),
            *self.extra,
        ]
        full_env = {**os.environ, **(env or {}), "VOID_TEST_FAULT": fault}
        self.proc = subprocess.Popen(
            cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, env=full_env
        )
        try:
            wait_for_daemon(self.endpoint, self.proc, timeout, curve=keys or False)
        except VoidError as exc:
            raise RuntimeError(f"{exc.message}: {self.log.read_text()}") from exc
        return self


class Restarter(threading.Thread):
    """Waits for the daemon to die (by its injected fault), snapshots its jobs dir, restarts it clean."""

    def __init__(self, daemon: FaultyDaemon, snapshot=None, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.d = daemon
        self.snapshot_fn = snapshot
        self.timeout = timeout
        self.snapshot = None
        self.exit_code: int | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            assert self.d.proc is not None
            self.exit_code = self.d.proc.wait(self.timeout)
            if self.snapshot_fn is not None:
                self.snapshot = self.snapshot_fn()
            self.d.start()
        except BaseException as exc:  # reported by the test
            self.error = exc


def journal_events(path: Path) -> list[dict]:
    """Every whole JSON line of a journal (raises on a line that does not parse)."""
    return [json.loads(line) for line in path.read_text().splitlines()]


class PeakRSS(threading.Thread):
    """Samples a process's resident memory every ``interval`` seconds; ``.peak`` in bytes."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = self.proc.memory_info().rss
        self.base = self.peak
        self._stop_evt = threading.Event()
        self.start()

    def run(self) -> None:
        while not self._stop_evt.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(self.interval)

    def stop(self) -> int:
        self._stop_evt.set()
        self.join(5)
        return self.peak


def try_mount(args: list[str]) -> bool:
    """Run ``mount``; False when this machine does not let us (not root, no CAP_SYS_ADMIN)."""
    if os.name != "posix" or os.geteuid() != 0:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)
