"""Numpy reference for the image kernels that also exist as GLSL, BlinkScript and DCTL.

One definition of the quadmask overlay colours, the level snap, the matte feather curve and
the seam crossfade. The constants below are this module's own; ``shaders/void_shaders/spec.json`` repeats
them for the shader sources, and ``tests/test_shaders.py`` checks that the two agree and that
every shader renders what these functions compute.
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

#: VOID's loader snap, as ``(highest 8-bit code, level)``: ``<=31 -> 0``, ``<=95 -> 63``,
#: ``<=191 -> 127``; anything above is keep.
SNAP_BOUNDS: tuple[tuple[int, int], ...] = ((31, 0), (95, 63), (191, 127))
KEEP_LEVEL = 255


def snap_level(values_0_255: np.ndarray) -> np.ndarray:
    """Classify quadmask values (0..255 scale) back to the four levels, as ``uint8``.

    Values are first rounded to the nearest 8-bit code (half up, ``floor(v + 0.5)``), which is
    what a shader does after reading a normalised texture back as ``v * 255``; for integer
    codes this is exactly the reference loader's ``<=31 / <=95 / <=191`` snap.
    """
    code = np.floor(np.asarray(values_0_255, np.float64) + 0.5)
    out = np.full(code.shape, KEEP_LEVEL, np.uint8)
    for bound, level in reversed(SNAP_BOUNDS):
        out[code <= bound] = level
    return out


def quadmask_overlay(
    rgb: np.ndarray, quadmask: np.ndarray, opacity: float = OVERLAY_OPACITY
) -> np.ndarray:
    """Tint ``rgb`` (float, ``(H, W, 3)``) where the quadmask (0..255 scale) is not keep.

    Keep pixels come back unchanged, bit for bit.
    """
    out = np.array(rgb, dtype=np.float32, copy=True)
    levels = snap_level(quadmask)
    op = np.float32(opacity)
    for level, colour in OVERLAY_COLOURS.items():
        sel = levels == level
        out[sel] = (np.float32(1.0) - op) * out[sel] + op * np.asarray(colour, np.float32)
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
    return (np.asarray(a, np.float32) * (1.0 - w) + np.asarray(b, np.float32) * w).astype(
        np.float32
    )


def seam_ramp(progress: float | np.ndarray) -> np.ndarray:
    """Raised-cosine weight of the incoming window at ``progress`` in [0, 1] through an overlap.

    The continuous form of the seam weights in ``windows.py``: frame ``j`` of an ``m``-frame
    overlap sits at ``progress = (j + 1) / (m + 1)``. The Resolve transition uses this.
    """
    p = np.clip(np.asarray(progress, np.float64), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * p)
