"""Shared fixtures: a generated shot on disk, a real daemon subprocess on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from void_client.autostart import wait_for_daemon
from void_client.demo_shot import Shot, make_shot, write_shot
from void_client.errors import VoidError

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaemonProcess:
    def __init__(self, jobs_dir: Path, endpoint: str | None = None, extra: list[str] | None = None) -> None:
        self.endpoint = endpoint or f"tcp://127.0.0.1:{free_port()}"
        self.jobs_dir = jobs_dir
        self.extra = extra or []
        self.proc: subprocess.Popen | None = None
        self.log = jobs_dir.parent / f"daemon-{self.endpoint.rsplit(':', 1)[-1]}.log"

    def start(self, timeout: float = 60.0) -> DaemonProcess:
        cmd = [sys.executable, "-m", "void_daemon", "serve", "--endpoint", self.endpoint, "--jobs-dir", str(self.jobs_dir), *self.extra]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        try:
            wait_for_daemon(self.endpoint, self.proc, timeout)
        except VoidError as exc:
            raise RuntimeError(f"{exc.message}: {self.log.read_text()}") from exc
        return self

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


def say(request: pytest.FixtureRequest, text: str) -> None:
    """Print past pytest's capture: measured figures belong in the run's output, even with -q."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        print(text)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(text)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the user's ~/.cache; autostarted daemons live in a temp home."""
    monkeypatch.setenv("VOID_REMOVE_HOME", str(tmp_path_factory.getbasetemp() / "void-home"))


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory):
    d = DaemonProcess(tmp_path_factory.mktemp("daemon") / "jobs").start()
    yield d
    d.stop()


@pytest.fixture(scope="session")
def small_shot() -> Shot:
    """40 frames at 128x80: spans two windows with --window 21 --overlap 6."""
    return make_shot(frames=40, width=128, height=80, seed=3)


@pytest.fixture(scope="session")
def shot_files(small_shot: Shot, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_shot(small_shot, str(tmp_path_factory.mktemp("shot")))
