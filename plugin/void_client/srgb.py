"""The sRGB transfer function, both ways, on numpy arrays.

Scene-linear Rec.709 to display-encoded sRGB and back: the viewer's proxies
(:mod:`void_client.preview`), the demo's shot and preview, and the quality metrics (which compare
display-encoded values) use this one definition. Pure numpy, so the light client can use it
(``docs/architecture.md``, import rules).
"""

from __future__ import annotations

import numpy as np


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """Display-encoded sRGB in [0, 1] to scene-linear, float32."""
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Scene-linear to display-encoded sRGB, clipped to [0, 1] first, float32."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(
        np.float32
    )
