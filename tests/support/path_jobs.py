"""Path-mode jobs on a real daemon (the daemon reads and writes the files itself).

Shared by the grade-outputs tests: a module-wide show root, one daemon confined to it, a fresh
folder per test under it, and a helper that runs one path-mode job to ``done``. Test modules
bind the fixtures by name (``root, path_daemon, work = path_jobs.root, ...``).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.support.daemons import DaemonProcess
from void_client import protocol as P
from void_client.client import DaemonClient
from void_client.job_spec import JobSpec


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("show")


@pytest.fixture(scope="module")
def path_daemon(root: Path, tmp_path_factory: pytest.TempPathFactory):
    """One daemon for both modes: pixel jobs as usual, path-mode jobs confined to ``root``."""
    d = DaemonProcess(
        tmp_path_factory.mktemp("pd") / "jobs", extra=["--allow-root", str(root)]
    ).start()
    yield d
    d.stop()


@pytest.fixture
def work(root: Path) -> Path:
    folder = root / uuid.uuid4().hex[:8]
    folder.mkdir()
    return folder


def run_path_job(
    daemon: DaemonProcess, spec_: JobSpec, entries: list[dict]
) -> tuple[str, list[dict]]:
    """Submit a path-mode job, hand it its files, wait for ``done``; any error fails. Returns
    its id and every ``result`` paths entry, in the order they came."""
    results: list[dict] = []
    with DaemonClient(daemon.endpoint) as c:
        ack = c.submit(spec_)
        c.send_frames(ack.job, paths=entries)  # type: ignore[arg-type]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            msg = c.recv(10)
            assert msg is not None and not isinstance(msg, P.Error), msg
            if isinstance(msg, P.Result):
                results += [dict(e) for e in msg.paths]
            if isinstance(msg, P.Progress) and msg.stage == "done":
                return ack.job, results
    raise AssertionError("the path-mode job did not finish in 120 s")
