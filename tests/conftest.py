"""Shared fixtures: a generated shot on disk, a real daemon subprocess on loopback (tests/support)."""

from __future__ import annotations

import os

import pytest

from tests.support.daemons import DaemonProcess, free_port  # noqa: F401  (re-exported for fixtures)
from void_daemon.demo_shot import Shot, make_shot, write_shot

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
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
