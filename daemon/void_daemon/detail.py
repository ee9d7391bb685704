"""Detail restoration: give the filled region the plate's grain so it is not softer than its surroundings.

A fill made at the model's 384×672 and scaled up to a 4K crop, or propagated with bilinear
sampling, lacks the plate's finest detail: film grain, sensor noise, the last octave of texture.
Compositors add grain back by hand ("regrain"); this does the same automatically, off by default
(``JobSpec.restore_detail``).

Method, per frame:

1. Measure the plate's high frequencies (the image minus a Gaussian blur of it) in a band
   around the hole, where the plate is genuine: their 3×3 channel covariance (robustly: edges
   in the band are outliers) and their lag-1 autocorrelation (the grain's size).
2. Measure the same in the fill, inside the hole.
3. Synthesize Gaussian noise of the matching grain size, high-pass it the same way, and colour
   it with the covariance that is *missing* (plate − fill, projected to positive semi-definite),
   so a fill that already carries grain gets none added.

The noise is seeded by the job's seed and the frame number: re-running a job gives the same
pixels, and the grain changes from frame to frame as real grain does.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from void_daemon.roi import Box

#: Gaussian blur whose residual counts as "high frequency" (pixels).
HIGH_PASS_SIGMA = 1.5
#: Width of the band around the composite matte where the plate's grain is measured (pixels).
BAND = 24
#: Pre-blur of white noise, from finest to coarsest grain; the one matching the plate is used.
GRAIN_SIZES = (0.0, 0.5, 0.7, 0.9, 1.2, 1.6, 2.2)


def high_pass(img: np.ndarray) -> np.ndarray:
    """``img − blur(img)`` per channel, float32 ``(H, W[, C])``."""
    img = np.asarray(img, np.float32)
    return img - cv2.GaussianBlur(img, (0, 0), HIGH_PASS_SIGMA, borderType=cv2.BORDER_REFLECT)


def _lag1(hp: np.ndarray, mask: np.ndarray) -> float:
    """Mean lag-1 autocorrelation (horizontal and vertical) of ``hp`` over ``mask``."""
    g = hp.mean(axis=-1) if hp.ndim == 3 else hp
    num = den = 0.0
    for a, b, m in (
        (g[:, :-1], g[:, 1:], mask[:, :-1] & mask[:, 1:]),
        (g[:-1], g[1:], mask[:-1] & mask[1:]),
    ):
        if m.any():
            num += float((a[m] * b[m]).sum())
            den += float(0.5 * (a[m] ** 2 + b[m] ** 2).sum())
    return num / den if den > 0 else 0.0


def _grain(shape: tuple[int, int], size: float, rng: np.random.Generator) -> np.ndarray:
    white: np.ndarray = rng.standard_normal(shape).astype(np.float32)
    if size > 0:
        white = cv2.GaussianBlur(white, (0, 0), size, borderType=cv2.BORDER_REFLECT)
    grain = high_pass(white)
    # Scaled so that what the measurement sees (its high-pass) has unit variance.
    return grain / max(float(high_pass(grain).std()), 1e-12)


@functools.lru_cache(maxsize=1)
def _grain_table() -> tuple[tuple[float, float], ...]:
    """(lag-1 autocorrelation, grain size) for each candidate, measured once on noise."""
    rng = np.random.default_rng(0)
    full = np.ones((128, 128), bool)
    return tuple((_lag1(high_pass(_grain((128, 128), s, rng)), full), s) for s in GRAIN_SIZES)


def _robust_cov(x: np.ndarray) -> np.ndarray:
    """Channel covariance of ``(N, C)`` samples, ignoring the outer 2% (edges, specks)."""
    if len(x) < 16:
        return np.zeros((x.shape[1], x.shape[1]))
    energy = (x**2).sum(axis=1)
    keep = energy <= np.quantile(energy, 0.98)
    x = x[keep]
    return (x.T @ x) / max(len(x), 1)


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    return vecs @ np.diag(np.sqrt(np.clip(vals, 0.0, None)))


def restore_detail(
    fill: np.ndarray,
    plate: np.ndarray,
    hole: np.ndarray,
    region: Box,
    rgb: tuple[int, ...],
    seed: int,
    frame: int,
) -> np.ndarray:
    """Add the missing grain to ``fill`` (float32 ``(h, w, ≥len(rgb))`` covering ``region``).

    ``plate`` and ``hole`` are the whole frame (native dtype, boolean); only the band around
    ``region`` is read. Returns a new array; channels beyond ``len(rgb)`` are left as they are.
    """
    n = len(rgb)
    h, w = hole.shape
    band_box = Box(
        region.x0 - BAND, region.y0 - BAND, region.x1 + BAND, region.y1 + BAND
    ).intersect(Box(0, 0, w, h))
    near = np.asarray(plate[band_box.slices])[..., list(rgb)].astype(np.float32)
    near = np.nan_to_num(near, nan=0.0, posinf=0.0, neginf=0.0)
    genuine = np.ones(hole[band_box.slices].shape, bool)
    # Not the hole, nor the composite's soft edge (the region), nor the blur's reach into them.
    inner = region.shifted(-band_box.x0, -band_box.y0)
    genuine[inner.slices] = False
    genuine = cv2.erode(
        genuine.astype(np.uint8), np.ones((5, 5), np.uint8), borderType=cv2.BORDER_REPLICATE
    ).astype(bool)
    if genuine.sum() < 64:
        return fill  # nothing to learn the grain from (the hole fills the frame)
    hp_plate = high_pass(near)
    hp_plate = hp_plate.reshape(*hp_plate.shape[:2], n)
    target = _robust_cov(hp_plate[genuine])
    inside = np.asarray(hole[region.slices], bool)
    f = np.asarray(fill[..., :n], np.float32)
    hp_fill = high_pass(f).reshape(*f.shape[:2], n)
    own = _robust_cov(hp_fill[inside]) if inside.sum() >= 16 else np.zeros_like(target)
    mix = _sqrt_psd(target - own)
    if not np.any(mix):
        return fill
    rho = _lag1(hp_plate, genuine)
    size = min(_grain_table(), key=lambda rs: abs(rs[0] - rho))[1]
    rng = np.random.default_rng([abs(int(seed)), abs(int(frame)), 0x5EED])
    noise = np.stack([_grain(f.shape[:2], size, rng) for _ in range(n)], axis=-1)
    out = np.array(fill, np.float32, copy=True)
    out[..., :n] += noise @ mix.T.astype(np.float32)
    return out
