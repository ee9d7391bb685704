"""Long shots: the daemon holds one window's frames (plus the input credit), not the shot's.

Issue 19: for shots longer than one window, memory must be bounded by the window. Inputs live
on disk between the daemon's stages; what each stage loads is counted in ``Job.frames_held``
and its high-water mark is in ``status`` (``frames_held_peak``). A shot five times longer must
not raise it: the figure is asserted, not a wall-clock or an RSS sample (``bench/long_shot_memory.py``
measures RSS at 1080p, ``docs/benchmarks.md``).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.daemons import DaemonProcess
from tests.support.disc_frames import disc_frame_input, disc_job_spec
from void_client.client import DaemonClient
from void_client.session import FrameInput, JobSession
from void_daemon import memory_model
from void_daemon.handlers import INPUT_CREDIT

W, H = 64, 48
WINDOW, OVERLAP = 13, 4
#: Longer than one window with its margins (``Engine.margin``) and the input credit.
SHORT = 40


def frame_input(frame: int) -> FrameInput:
    return disc_frame_input(frame, W, H, 20 + frame % 24, 24, 8)


def run_shot(d: DaemonProcess, n: int) -> tuple[dict, dict[int, np.ndarray]]:
    spec = disc_job_spec(n, W, H, WINDOW, OVERLAP)
    got: dict[int, np.ndarray] = {}
    with DaemonClient(d.endpoint, timeout=60) as c:
        report = JobSession(c, spec, frame_input, got.__setitem__).run()
        summary = dict(c.status(report.job)[0])
    return summary, got


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[dict, dict]]:
    d = DaemonProcess(tmp_path_factory.mktemp("longshot") / "jobs").start()
    try:
        return {n: run_shot(d, n) for n in (SHORT, 150)}
    finally:
        d.stop()


def test_frames_held_at_once_is_bounded_by_the_window_not_the_shot(held) -> None:
    # One window in the engine with the frames it reads beyond it (its margins), the frames
    # the client may have sent ahead (input credit) and the one frame the finisher is
    # compositing or sending: nothing that depends on the shot.
    longest = memory_model.window_frames(150, WINDOW, OVERLAP, memory_model.margin("propagate"))
    bound = longest + INPUT_CREDIT + 1
    assert bound < SHORT  # a daemon that held the whole shot would fail even the short one
    short, long_ = held[SHORT][0], held[150][0]
    for n, summary in ((SHORT, short), (150, long_)):
        assert summary["state"] == "done" and summary["frames_done"] == n
        assert len(held[n][1]) == n  # every result came back
        # The counter sees the window (it is not a dead field) and nothing beyond the bound.
        assert longest <= summary["frames_held_peak"] <= bound, (n, summary["frames_held_peak"])
    assert long_["frames_held_peak"] <= short["frames_held_peak"] + INPUT_CREDIT


def test_long_shot_results_are_untouched_outside_the_hole(held) -> None:
    _, got = held[150]
    for f in (1, 75, 150):
        inp = frame_input(f)
        outside = inp.remove < 0.5
        # Far from the hole (dilation 1 + feather 2 + a margin): the plate, bit for bit.
        yy, xx = np.mgrid[0:H, 0:W]
        cx = 20 + (f % 24)
        far = ((xx - cx) ** 2 + (yy - 24) ** 2) > (8 + 5) ** 2
        assert outside[far].all()
        np.testing.assert_array_equal(
            np.asarray(got[f], np.float16)[far], inp.plate[far], err_msg=f"frame {f}"
        )
