"""A paired shot for reference frames (``--reference``): a large object drifting slowly in
front of a photograph, so much of the background it hides is never shown by the shot itself,
only by a clean frame. Shared by tests/integration/test_reference_frames.py and
bench/reference_frames.py.
"""

from __future__ import annotations

import numpy as np

from void_daemon.demo_shot import Shot, make_shot


def slow_object_shot(
    frames: int = 24,
    width: int = 96,
    height: int = 64,
    pan: int = 0,
    speed: float = 0.5,
    radius: float = 14.0,
    first: int = 1001,
) -> Shot:
    """``pan``: whole pixels per frame the camera moves (exact shifts of the photograph);
    ``speed``: pixels per frame the object drifts on screen. Deterministic."""
    # The demo's photograph, wide enough for the whole camera move (a one-frame static shot).
    wide = make_shot(frames=1, width=width + pan * frames + 4, height=height, static=True).truth[0]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    colour = np.array([0.6, 0.05, 0.02], np.float32)
    plate, remove, truth = [], [], []
    for t in range(frames):
        clean = wide[:, pan * t : pan * t + width]
        cx, cy = 30.0 + speed * t, height * 0.5
        alpha = np.clip(radius - np.hypot(xs - cx, ys - cy) + 0.5, 0.0, 1.0)
        ball = colour * (0.6 + 0.4 * ys / height)[..., None]
        frame = clean * (1.0 - alpha[..., None]) + ball * alpha[..., None]
        plate.append(np.concatenate([frame, np.ones((height, width, 1), np.float32)], -1))
        remove.append(alpha)
        truth.append(clean)
    stack = lambda xs: np.stack(xs).astype(np.float32)  # noqa: E731
    return Shot(stack(plate), stack(remove), np.zeros_like(stack(remove)), stack(truth), first)
