"""Numpy reference for the image kernels that also exist as GLSL, BlinkScript and DCTL.

One definition of the quadmask overlay colours, the matte feather curve and the seam
crossfade; the shaders in ``shaders/`` are written from the same constants and tested
against these functions.
"""

from __future__ import annotations

import numpy as np

#: Overlay colours (linear RGB, 0..1), Okabe-Ito palette so they stay distinct for
#: colour-blind artists: remove = vermillion, overlap = reddish purple, affected = sky blue.
#: Keep is not tinted.
OVERLAY_COLOURS: dict[int, tuple[float, float, float]] = {
    0: (0.835, 0.369, 0.0),
    63: (0.800, 0.475, 0.655),
    127: (0.337, 0.706, 0.914),
}
OVERLAY_OPACITY = 0.55


def quadmask_overlay(rgb: np.ndarray, quadmask: np.ndarray, opacity: float = OVERLAY_OPACITY) -> np.ndarray:
    """Tint ``rgb`` (float, ``(H, W, 3)``) where the quadmask is not keep."""
    out = np.array(rgb, dtype=np.float32, copy=True)
    for level, colour in OVERLAY_COLOURS.items():
        sel = quadmask == level
        out[sel] = (1.0 - opacity) * out[sel] + opacity * np.asarray(colour, np.float32)
    return out


def feather_curve(distance: np.ndarray, feather: float) -> np.ndarray:
    """Composite matte from the distance (pixels) outside the hole: 1 inside, smooth to 0.

    Exactly 0 at ``distance >= feather``, which is what keeps pixels beyond the feather
    bit-identical to the plate.
    """
    d = np.asarray(distance, np.float32)
    if feather <= 0:
        return (d <= 0).astype(np.float32)
    t = np.clip(1.0 - d / np.float32(feather), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def crossfade(a: np.ndarray, b: np.ndarray, weight_b: float | np.ndarray) -> np.ndarray:
    """Seam blend of two windows' results: ``a*(1-w) + b*w``."""
    w = np.asarray(weight_b, np.float32)
    return (np.asarray(a, np.float32) * (1.0 - w) + np.asarray(b, np.float32) * w).astype(np.float32)
