"""ROI and composite: pixels outside the composite matte are the input's, bit for bit."""

from __future__ import annotations

import numpy as np

from void_daemon.roi import Box, composite, composite_alpha, compute_roi, rgb_channel_indices


def test_pixels_outside_matte_are_bit_identical_in_every_channel() -> None:
    rng = np.random.default_rng(5)
    h, w = 64, 96
    plate = (rng.standard_normal((h, w, 6)) * 4).astype(np.float16)  # RGBA + 2 AOVs, HDR, negatives
    hole = np.zeros((h, w), bool)
    hole[20:40, 30:50] = True
    alpha = composite_alpha(hole, feather=5)
    fill = rng.random((h, w, 3)).astype(np.float32)
    out = composite(plate, fill, alpha, (0, 1, 2))
    outside = alpha == 0
    assert outside.sum() > 0.8 * h * w
    assert out.dtype == plate.dtype
    assert out[outside].tobytes() == plate[outside].tobytes()
    assert out[..., 3:].tobytes() == plate[..., 3:].tobytes()  # alpha and AOVs untouched everywhere
    assert np.allclose(out[hole][:, :3], fill[hole].astype(np.float16))
    # The feather reaches exactly `feather` pixels out, no further.
    ring = ~hole & (alpha > 0)
    ys, xs = np.nonzero(ring)
    assert xs.min() >= 30 - 5 and xs.max() <= 49 + 5


def test_roi_contains_every_mask_with_margin_and_model_aspect() -> None:
    holes = np.zeros((5, 200, 300), bool)
    holes[0, 50:60, 100:110] = True
    holes[4, 70:80, 140:150] = True
    box = compute_roi(holes, margin=8)
    assert (box.x0, box.y0, box.x1, box.y1) == (92, 42, 158, 88)
    boxed = compute_roi(holes, margin=8, aspect=672 / 384)
    assert abs(boxed.width / boxed.height - 672 / 384) < 0.05
    assert boxed.x0 <= 92 and boxed.x1 >= 158 and boxed.y0 <= 42 and boxed.y1 >= 88


def test_roi_falls_back_to_full_frame_for_big_mattes_and_empty_ones() -> None:
    big = np.zeros((2, 50, 50), bool)
    big[:, 2:48, 2:48] = True
    assert compute_roi(big, margin=4) == Box(0, 0, 50, 50)
    assert compute_roi(np.zeros((2, 50, 50), bool), margin=4) == Box(0, 0, 50, 50)


def test_rgb_channels_found_by_name() -> None:
    assert rgb_channel_indices(["A", "B", "G", "R"]) == (3, 2, 1)
    assert rgb_channel_indices(["Y"]) == (0,)
