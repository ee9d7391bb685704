"""OpenCue farm jobs for tests: a farm spec for a written demo shot, and a stand-in for the
``opencue`` Python API that records what a submit launches (no Cuebot needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from void_client.farm import FarmSpec
from void_client.sequence_job import RemoveRequest

#: The CLI of this install, run by this interpreter: what the farm tasks run.
COMMAND = [sys.executable, "-m", "void_client.cli.main"]
#: Who submits in these tests (a non-root user: Cuebot refuses root).
USER, UID = "maria", 1234
#: The job name the fake Cuebot answers a launch with.
LAUNCHED = "myshow-sh010-maria_void_remove_x"


def cue_spec(
    paths: dict, tmp_path: Path, last: int, seam: str = "crossfade", engine: str = "void"
) -> FarmSpec:
    """Frames 1001..``last`` of ``paths`` (a ``write_shot`` shot) in 13-frame windows overlapping
    by 4, for show ``myshow``, shot ``sh010``; work under ``tmp_path``."""
    req = RemoveRequest(
        paths["plate"],
        paths["remove"],
        str(tmp_path / "out" / "clean.####.exr"),
        paths["affected"],
        frame_range=(1001, last),
        settings={"window": 13, "overlap": 4, "seam": seam, "engine": engine},
    )
    spec = FarmSpec.from_request(req, tmp_path / "work", command=COMMAND)
    spec.farm.show, spec.farm.shot = "myshow", "sh010"
    return spec


def fake_cuebot(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Install a fake ``opencue`` module (and CUEBOT_HOSTS) whose ``api.launchSpec`` records
    each spec text it is sent, submitting as :data:`USER`/:data:`UID`. Returns that record."""
    sent: list[str] = []

    class Api:
        @staticmethod
        def launchSpec(text: str) -> list[str]:  # noqa: N802 - OpenCue's name
            sent.append(text)
            return [LAUNCHED]

    monkeypatch.setenv("CUEBOT_HOSTS", "cuebot.test")
    monkeypatch.setitem(sys.modules, "opencue", type(sys)("opencue"))
    sys.modules["opencue"].api = Api  # type: ignore[attr-defined]
    monkeypatch.setattr("getpass.getuser", lambda: USER)
    monkeypatch.setattr("os.getuid", lambda: UID)
    return sent
