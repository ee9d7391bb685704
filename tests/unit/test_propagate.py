"""The embedded CPU engine against ground truth and the per-frame cv2.inpaint baseline."""

from __future__ import annotations

import numpy as np
import pytest

from void_client.quadmask import KEEP, build_quadmask, hole
from void_daemon.demo_shot import make_shot
from void_daemon.engines.base import WindowInput
from void_daemon.engines.propagate import PropagateEngine, complete_flow
from void_daemon.metrics import cv2_inpaint_baseline, sequence_scores


def run(shot, dilation: int = 4):
    q = np.stack([build_quadmask(r, a, dilation) for r, a in zip(shot.remove, shot.affected)])
    out = PropagateEngine().fill(WindowInput(shot.plate[..., :3].copy(), q))
    return out, hole(q)


@pytest.mark.parametrize("static", [False, True])
def test_propagate_beats_per_frame_inpaint_by_a_wide_margin(static: bool) -> None:
    shot = make_shot(frames=24, width=192, height=112, seed=1, static=static)
    out, region = run(shot)
    ours = sequence_scores(out, shot.truth, region)
    base = sequence_scores(cv2_inpaint_baseline(shot.plate, region), shot.truth, region)
    assert ours["psnr"] >= base["psnr"] + 3.0, (ours, base)
    assert ours["psnr"] > 28.0 and ours["ssim"] > 0.9
    # Outside the hole the engine returns the frames untouched.
    assert np.array_equal(out[~region], shot.plate[..., :3][~region])


def test_never_visible_background_gets_a_finite_in_range_fill() -> None:
    base = np.random.default_rng(0).random((40, 60, 3)).astype(np.float32) * 4.0  # HDR
    frames = np.repeat(base[None], 5, axis=0)  # a locked-off camera
    q = np.full((5, 40, 60), KEEP, np.uint8)
    q[:, 10:30, 20:40] = 0  # static hole: nothing behind it is ever seen
    out = PropagateEngine().fill(WindowInput(frames, q))
    filled = out[:, 10:30, 20:40]
    assert np.isfinite(filled).all()
    assert filled.min() >= 0.0 and filled.max() <= 4.0
    # The fill is stable in time for a static camera (no per-frame flicker).
    assert np.abs(np.diff(filled, axis=0)).mean() < 0.01 * 4.0


def test_flow_inside_the_hole_follows_the_camera_not_the_object() -> None:
    h, w = 60, 80
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = 3.0  # camera: everything moves 3 px right
    hole = np.zeros((h, w), bool)
    hole[20:40, 30:50] = True
    flow[hole] = (-7.0, 2.0)  # the object moves its own way
    out = complete_flow(flow, hole, np.zeros_like(hole))
    assert np.allclose(out[hole], (3.0, 0.0), atol=0.05)


def test_context_frames_are_not_changed() -> None:
    shot = make_shot(frames=13, width=96, height=64, seed=2)
    q = np.stack([build_quadmask(r, a, 2) for r, a in zip(shot.remove, shot.affected)])
    ctx = np.zeros(13, bool)
    ctx[:4] = True
    frames = shot.plate[..., :3].copy()
    out = PropagateEngine().fill(WindowInput(frames, q, context=ctx))
    assert np.array_equal(out[:4], frames[:4])
