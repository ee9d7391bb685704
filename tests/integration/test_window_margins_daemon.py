"""Margins on a real daemon: a window that reads frames beyond it never waits for frames the
client will not send, and the daemon holds a window and its margins, not the shot.

A window runs once its own frames *and its margins* are stored (``JobRunner.window_ready``).
That cannot deadlock on the input credit because the receiver returns a credit as soon as a
frame is stored, whatever the windows do (``stages.Receiver``), and the client sends every
frame within the credit without waiting for results (``JobSession``). The test runs with a
result credit of one, the tightest coupling a client can ask for, under a wall-clock limit.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from tests.support.daemons import DaemonProcess
from tests.support.disc_frames import disc_frame_input, disc_job_spec
from void_client.client import DaemonClient
from void_client.session import FrameInput, JobSession
from void_client.windows import plan_windows
from void_daemon import memory_model
from void_daemon.handlers import INPUT_CREDIT

W, H = 48, 32
N, WINDOW, OVERLAP = 60, 13, 4
LIMIT_S = 150


def frame_input(frame: int) -> FrameInput:
    return disc_frame_input(frame, W, H, 12 + frame % 20, 16, 6)


def test_margins_never_wait_beyond_the_credit_and_hold_a_window_not_the_shot(tmp_path) -> None:
    spec = disc_job_spec(N, W, H, WINDOW, OVERLAP)
    margin = memory_model.margin("propagate")
    # What one window's engine reads: its 13 frames and up to ``margin`` on each side (at
    # most half the window: ``window_margins``).
    engine_frames = memory_model.window_frames(N, WINDOW, OVERLAP, margin)
    assert engine_frames == WINDOW + 2 * min(margin, WINDOW // 2) > WINDOW
    bound = engine_frames + INPUT_CREDIT + 1  # and the credit, and the frame being finished
    assert bound < N  # holding the whole shot would fail
    got: dict[int, np.ndarray] = {}
    d = DaemonProcess(tmp_path / "jobs").start()
    try:
        t0 = time.monotonic()
        with DaemonClient(d.endpoint, timeout=60) as c:
            # On a thread with a deadline: a window waiting for frames that never come would
            # hang the session, not fail it.
            cancel = threading.Event()
            session = JobSession(
                c, spec, frame_input, got.__setitem__, cancel=cancel, result_credit=1
            )
            reports: list = []
            runner = threading.Thread(target=lambda: reports.append(session.run()), daemon=True)
            runner.start()
            runner.join(LIMIT_S)
            if runner.is_alive():
                cancel.set()
                runner.join(30)
            seconds = time.monotonic() - t0
            assert reports, f"the job did not finish in {LIMIT_S} s (a window waiting forever?)"
            report = reports[0]
            summary = dict(c.status(report.job)[0])
    finally:
        d.stop()
    assert summary["state"] == "done" and summary["frames_done"] == N, summary
    assert sorted(got) == spec.frames
    assert report.windows == len(plan_windows(N, WINDOW, OVERLAP))
    # A window's margins were loaded (more than the window alone), and nothing beyond the bound.
    assert WINDOW + INPUT_CREDIT < summary["frames_held_peak"] <= bound, summary
    assert seconds < LIMIT_S, seconds
