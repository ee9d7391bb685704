"""Scene-linear plate ↔ display-referred model space.

The model was trained on display-referred video; plates are scene-linear. The transform is
the sRGB encoding with an invertible highlight shoulder above ``KNEE`` so values above 1.0
come back after the model instead of clipping. Engines that work on linear values
(``propagate``) skip it.
"""

from __future__ import annotations

import numpy as np

KNEE = 0.8
_HEAD = 1.0 - KNEE


def _srgb_encode(x: np.ndarray) -> np.ndarray:
    x = np.maximum(x, 0.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)


def _srgb_decode(y: np.ndarray) -> np.ndarray:
    return np.where(y <= 0.04045, y / 12.92, np.power((np.maximum(y, 0.0) + 0.055) / 1.055, 2.4))


def to_model(linear: np.ndarray) -> np.ndarray:
    """Scene-linear → display [0, 1): sRGB, then an exponential shoulder above the knee."""
    s = _srgb_encode(np.asarray(linear, np.float64))
    over = s > KNEE
    s = np.where(over, KNEE + _HEAD * (1.0 - np.exp(-(s - KNEE) / _HEAD)), s)
    return s.astype(np.float32)


def from_model(display: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_model` (values at or above 1.0 are clamped just below it first)."""
    y = np.clip(np.asarray(display, np.float64), 0.0, 1.0 - 1e-6)
    over = y > KNEE
    s = np.where(over, KNEE - _HEAD * np.log(np.maximum(1.0 - (y - KNEE) / _HEAD, 1e-12)), y)
    return _srgb_decode(s).astype(np.float32)
