"""A cheap shot for daemon tests that count frames, not pixels: a random half-float RGBA plate
per frame (seeded by the frame number) and a disc to remove that drifts along x, removed by
``propagate`` in short windows. Shared by tests/integration/test_long_shot_memory.py and
test_window_margins_daemon.py.
"""

from __future__ import annotations

import numpy as np

from void_client.job_spec import JobSpec
from void_client.session import FrameInput


def disc_frame_input(
    frame: int, width: int, height: int, x: int, y: int, radius: float
) -> FrameInput:
    """Frame ``frame``'s inputs with the disc centred at ``(x, y)``. Deterministic."""
    rng = np.random.default_rng(frame)
    plate = rng.random((height, width, 4), dtype=np.float32).astype(np.float16)
    yy, xx = np.mgrid[0:height, 0:width]
    remove = (((xx - x) ** 2 + (yy - y) ** 2) < radius**2).astype(np.float32)
    return FrameInput(frame=frame, plate=plate, remove=remove, channels=["R", "G", "B", "A"])


def disc_job_spec(frames: int, width: int, height: int, window: int, overlap: int) -> JobSpec:
    """The job over frames 1..``frames`` of that shot: ``propagate``, a tight matte."""
    return JobSpec(
        frames=list(range(1, frames + 1)),
        width=width,
        height=height,
        window=window,
        overlap=overlap,
        engine="propagate",
        dilation=1,
        feather=2,
    )
