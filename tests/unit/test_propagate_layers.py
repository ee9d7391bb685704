"""``propagate`` on a fence in front of the removed object (issue 19, item 1).

A near layer (fence posts of one saturated colour) slides faster than the far background, in
front of the object we remove. Chained flow copied the posts into the hole (the posts pass over
the background the hole needs); camera-aligned candidates from several frames outvote them.
The test measures it in the hole: how many filled pixels take the fence's colour where the true
clean plate shows the far background.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.reporting import say
from void_client.quadmask import build_quadmask, hole
from void_daemon.engines.base import WindowInput
from void_daemon.engines.propagate import PropagateEngine
from void_daemon.metrics import cv2_inpaint_baseline, sequence_scores

#: The fence's colour (linear RGB): nothing in the far layer comes near it.
FENCE = np.array([0.02, 0.9, 0.05], np.float32)


def _far_texture(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth-ish random background: detail the flow can lock on, no green at all."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.random((h // 4, w // 4, 3)).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    big[..., 1] *= 0.25  # the far layer is never fence-green
    return np.clip(big, 0.02, 1.0)


def parallax_shot(frames: int = 24, width: int = 160, height: int = 96):
    """Far layer pans 1 px/frame, fence posts 4 px/frame in front of a ball moving across."""
    far_world = _far_texture(height, width + frames + 8, seed=3)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    plates, truths, mattes = [], [], []
    for t in range(frames):
        far = far_world[:, 2 + t : 2 + t + width]
        wx = xs + 4.0 * t  # the near layer's own coordinates
        post = (np.abs(((wx + 25.0) % 50.0) - 25.0) < 4.0).astype(np.float32)
        clean = far * (1 - post[..., None]) + FENCE * post[..., None]
        cx, cy, r = width * (0.2 + 0.6 * t / (frames - 1)), height * 0.5, height * 0.18
        ball = (np.hypot(xs - cx, ys - cy) < r).astype(np.float32)
        visible = ball * (1 - post)  # the fence hides part of the ball
        rgb = np.array([0.7, 0.1, 0.5], np.float32)
        plate = far * (1 - ball[..., None]) + rgb * ball[..., None]
        plate = plate * (1 - post[..., None]) + FENCE * post[..., None]
        plates.append(plate)
        truths.append(clean)
        mattes.append(visible)
    return np.stack(plates), np.stack(truths), np.stack(mattes)


def _is_fence(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 1] > 0.45) & (rgb[..., 0] < 0.3)


def test_the_fence_in_front_is_not_copied_into_the_hole(request: pytest.FixtureRequest) -> None:
    plates, truths, mattes = parallax_shot()
    q = np.stack([build_quadmask(m, None, 2) for m in mattes])
    region = hole(q)
    out = PropagateEngine().fill(WindowInput(plates.copy(), q))
    # Hole pixels whose truth is far background (the dilated rim may truly be fence).
    far_in_hole = region & ~_is_fence(truths)
    copied = _is_fence(out) & far_in_hole
    share = copied.sum() / far_in_hole.sum()
    ours = sequence_scores(out, truths, region)
    telea = sequence_scores(cv2_inpaint_baseline(plates, region), truths, region)
    say(
        request,
        f"fence colour in {share:.2%} of the hole's background; PSNR {ours['psnr']:.2f} dB,"
        f" Telea {telea['psnr']:.2f} dB",
    )
    assert share < 0.01, f"{share:.1%} of the hole's background took the fence's colour"
    assert ours["psnr"] >= telea["psnr"] + 3.0, (ours, telea)
