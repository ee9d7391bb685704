"""Propose an *affected* matte: where the plate changes with the removed object (its shadow).

VOID's affected region (shadows, reflections, things the object moved) is what sets it apart
from other removers, and it is the matte artists find hardest to paint. This module proposes
one; it never decides for the artist: the result is a soft matte (float alpha in [0, 1]) they
edit before a run (``docs/user-guide.md``, "Proposing the affected matte").

How (``docs/architecture.md``: algorithms live in the daemon, with numpy and OpenCV):

1. *Clean estimate.* The ``propagate`` engine fills the object **and its surroundings** (the
   remove matte dilated by ``reach``, 1.5 object radii) from frames where that
   background is visible, so the estimate is the background without the object *or* its
   shadow, which moves with it.
2. *Change.* Per pixel of that ring, the log ratio of plate to clean luminance (a shadow scales
   light, so a ratio, not a difference), smoothed spatially with a normalised Gaussian: the
   fill's own errors change sign from pixel to pixel and cancel, a shadow does not. Only
   darkening counts unless ``brightening`` is set (light spill, reflections): on the measured
   scenes the fill's errors are as often brighter as darker, shadows only darker.
3. *Same detail underneath.* A shadow scales the background, so the plate's fine detail (high-
   passed log luminance) is the clean estimate's; where the fill copied other texture the two
   do not correlate. The change is weighted by that local correlation where there is detail to
   compare (on flat ground the weight stays 1).
4. *Moves with the object.* Each frame's evidence is compared with its neighbours' after
   shifting them by the object's own motion (its matte's centroid): the median over
   ``±temporal`` frames keeps what travels with the object and drops what stays with the
   scene (a fill error, a fence post copied into the ring).
5. *Soft matte.* ``smoothstep(low, high, evidence)``, kept only in connected regions that
   reach full strength somewhere (a faint smear alone is not proposed), and zero wherever the
   remove matte has any coverage: that region is the remove matte's, never the proposal's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from void_client.quadmask import AFFECTED, KEEP, REMOVE
from void_daemon.engines.base import WindowInput
from void_daemon.engines.propagate import PropagateEngine

log = logging.getLogger(__name__)

#: Luminance weights (Rec.709, scene-linear plates).
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclass
class AffectedSettings:
    """The proposal's knobs; the defaults are the ones measured in docs/benchmarks.md."""

    #: How far beyond the object's edge to look, in object radii (radius of a disc of the
    #: matte's area). A wider ring is filled less well, and its errors become false alarms.
    reach: float = 1.5
    #: The same in pixels; overrides ``reach`` when > 0 (long shadows at a low sun).
    reach_px: int = 0
    #: Never look less than this many pixels away.
    min_reach_px: int = 8
    #: Sigma (px) of the spatial smoothing of the change.
    smooth_px: float = 2.0
    #: Frames each side whose object-aligned change must agree.
    temporal: int = 3
    #: |log luminance ratio| where the matte starts (about 5% darker)...
    low: float = 0.05
    #: ... and where it is fully on (about 14% darker). Higher than the faintest shadow edge on
    #: purpose: a false alarm costs more than a missed fringe (docs/benchmarks.md).
    high: float = 0.15
    #: Propose brightening too (light spill, reflections), not only darkening (shadows).
    brightening: bool = False
    #: Correlation of fine detail (plate vs clean) at which a change counts fully.
    detail_ncc: float = 0.3
    #: Fine-detail level (RMS of high-passed log luminance) above which detail is compared.
    detail_level: float = 0.03
    #: Context (px) kept around the ring for the engine's motion estimate.
    margin: int = 32


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Scene-linear luminance of ``(..., 3)`` RGB, float32."""
    return np.asarray(rgb[..., :3], np.float32) @ _LUMA


def object_radius(remove: np.ndarray) -> float:
    """Largest per-frame radius of a disc with the remove matte's area (px)."""
    area = (np.asarray(remove) > 0.5).reshape(len(remove), -1).sum(1)
    return float(np.sqrt(area.max(initial=0) / np.pi))


def reach_pixels(remove: np.ndarray, settings: AffectedSettings) -> int:
    if settings.reach_px > 0:
        return int(settings.reach_px)
    return max(settings.min_reach_px, int(np.ceil(settings.reach * object_radius(remove))))


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _roi(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """Bounding box of ``mask`` over all frames, grown by ``margin``, clipped to the frame."""
    _, h, w = mask.shape
    ys = np.flatnonzero(mask.any(axis=(0, 2)))
    xs = np.flatnonzero(mask.any(axis=(0, 1)))
    if ys.size == 0:
        return slice(0, 0), slice(0, 0)
    return (
        slice(max(0, int(ys[0]) - margin), min(h, int(ys[-1]) + margin + 1)),
        slice(max(0, int(xs[0]) - margin), min(w, int(xs[-1]) + margin + 1)),
    )


def clean_estimate(
    rgb: np.ndarray,
    inner: np.ndarray,
    ring: np.ndarray,
    margin: int,
    cancelled: Callable[[], bool] = lambda: False,
) -> np.ndarray:
    """The plate with the object (``inner``) and its surroundings (``ring``) filled by
    ``propagate``, cropped to the region that matters for speed; outside it, the plate."""
    out = np.array(rgb[..., :3], np.float32, copy=True)
    ys, xs = _roi(inner | ring, margin)
    if ys.stop <= ys.start:
        return out
    q = np.full(inner.shape, KEEP, np.uint8)
    q[ring] = AFFECTED
    q[inner] = REMOVE
    window = WindowInput(
        frames=np.ascontiguousarray(out[:, ys, xs]),
        quadmask=np.ascontiguousarray(q[:, ys, xs]),
        cancelled=cancelled,
    )
    out[:, ys, xs] = PropagateEngine().fill(window)
    return out


def _smooth(field: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian average of ``field`` over ``valid`` pixels only (0 elsewhere)."""
    if sigma <= 0:
        return np.where(valid, field, 0.0).astype(np.float32)
    v = valid.astype(np.float32)
    num = cv2.GaussianBlur(np.where(valid, field, 0.0).astype(np.float32), (0, 0), sigma)
    den = cv2.GaussianBlur(v, (0, 0), sigma)
    return np.where(valid, num / np.maximum(den, 1e-6), 0.0).astype(np.float32)


def change(plate: np.ndarray, clean: np.ndarray, ring: np.ndarray, sigma: float) -> np.ndarray:
    """Signed, smoothed log ratio of plate to clean luminance on the ring (0 elsewhere):
    negative where the object darkens the plate (a shadow), positive where it brightens it."""
    eps = 1e-3  # linear light: keeps black from dividing by zero, negligible above it
    ratio = np.log(
        (np.maximum(luminance(plate), 0.0) + eps) / (np.maximum(luminance(clean), 0.0) + eps)
    )
    return np.stack([_smooth(r, m, sigma) for r, m in zip(ratio, ring)])


def _detail(rgb: np.ndarray) -> np.ndarray:
    """High-passed log luminance of one frame (the texture a shadow leaves intact)."""
    lum = np.log(np.maximum(luminance(rgb), 0.0) + 1e-3)
    return (lum - cv2.GaussianBlur(lum, (0, 0), 3.0)).astype(np.float32)


def same_detail(
    plate: np.ndarray, clean: np.ndarray, ncc_full: float, level: float, size: int = 9
) -> np.ndarray:
    """Per pixel in [0, 1]: how well the plate's fine detail matches the clean estimate's in a
    ``size`` box (normalised cross-correlation, full at ``ncc_full``); 1 where the clean
    estimate is flat (nothing to compare, so no reason to doubt)."""
    out = np.empty(plate.shape[:3], np.float32)
    k = (size, size)
    for t in range(len(plate)):
        p, c = _detail(plate[t]), _detail(clean[t])
        pc, pp, cc = cv2.blur(p * c, k), cv2.blur(p * p, k), cv2.blur(c * c, k)
        ncc = pc / np.sqrt(pp * cc + 1e-8)
        tex = np.clip(np.sqrt(cc) / max(level, 1e-6), 0.0, 1.0)
        out[t] = tex * np.clip(ncc / max(ncc_full, 1e-6), 0.0, 1.0) + (1.0 - tex)
    return out


def centroids(inner: np.ndarray) -> list[tuple[float, float] | None]:
    """(x, y) of the object's matte per frame, None where it is absent."""
    out: list[tuple[float, float] | None] = []
    for m in inner:
        ys, xs = np.nonzero(m)
        out.append((float(xs.mean()), float(ys.mean())) if xs.size else None)
    return out


def follow_object(field: np.ndarray, inner: np.ndarray, temporal: int) -> np.ndarray:
    """Per frame, the median of ``field`` over ``±temporal`` frames, each shifted by the
    object's motion to this frame: what moves with the object survives, the rest is damped."""
    if temporal <= 0:
        return field.copy()
    n, h, w = field.shape
    cs = centroids(inner)
    out = np.zeros_like(field)
    for t in range(n):
        ct = cs[t]
        if ct is None:
            continue
        stack = []
        for s in range(max(0, t - temporal), min(n, t + temporal + 1)):
            cs_s = cs[s]
            if cs_s is None:
                continue
            dx, dy = ct[0] - cs_s[0], ct[1] - cs_s[1]
            m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
            stack.append(
                cv2.warpAffine(
                    field[s], m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
                )
            )
        out[t] = np.median(np.stack(stack), axis=0)
    return out


def _smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    u = np.clip((x - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    return (u * u * (3.0 - 2.0 * u)).astype(np.float32)


def _strong_regions(alpha: np.ndarray) -> np.ndarray:
    """Keep connected regions of ``alpha > 0`` that reach full strength somewhere."""
    out = np.zeros_like(alpha)
    for t, a in enumerate(alpha):
        count, labels = cv2.connectedComponents((a > 0).astype(np.uint8), connectivity=8)
        if count <= 1:
            continue
        strong = np.zeros(count, bool)
        strong[np.unique(labels[a >= 0.999])] = True
        strong[0] = False
        out[t] = np.where(strong[labels], a, 0.0)
    return out


def suggest_affected(
    plate: np.ndarray,
    remove: np.ndarray,
    settings: AffectedSettings | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> np.ndarray:
    """The proposed affected matte, float32 ``(T, H, W)`` in [0, 1], for ``plate``
    (``(T, H, W, ≥3)`` scene-linear) and its ``remove`` matte (``(T, H, W)`` in [0, 1])."""
    s = settings or AffectedSettings()
    remove = np.asarray(remove, np.float32)
    inner = remove > 0.5
    if not inner.any():
        return np.zeros(remove.shape, np.float32)
    reach = reach_pixels(remove, s)
    kernel = _disc(reach)
    near = np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in inner])
    # Edge pixels of the object (partial coverage) are the remove matte's, not background.
    touched = remove > 0.0
    ring = near & ~touched
    clean = clean_estimate(plate, touched, ring, s.margin + reach, cancelled)
    # Everything after the fill happens in the box around the ring (the rest stays 0).
    ys, xs = _roi(near, int(np.ceil(3 * s.smooth_px)) + 8)
    p, c, r, i = plate[:, ys, xs, :3], clean[:, ys, xs], ring[:, ys, xs], inner[:, ys, xs]
    delta = change(p, c, r, s.smooth_px)
    evidence = np.abs(delta) if s.brightening else np.maximum(-delta, 0.0)
    evidence = follow_object(evidence, i, s.temporal) * follow_object(
        same_detail(p, c, s.detail_ncc, s.detail_level), i, s.temporal
    )
    alpha = np.zeros(remove.shape, np.float32)
    alpha[:, ys, xs] = _strong_regions(_smoothstep(s.low, s.high, evidence) * r)
    log.info(
        "affected proposal: reach %d px, %.2f%% of the frame on average",
        reach,
        100.0 * float(alpha.mean()),
    )
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def chunks(count: int, window: int, temporal: int) -> Iterator[tuple[int, int, int, int]]:
    """(load_start, load_stop, keep_start, keep_stop) frame indices that cover ``count``
    frames in windows of ``window``, each loaded with ``temporal`` extra frames each side so
    the object-following median sees the same neighbours as in one piece."""
    window = max(1, window)
    for start in range(0, count, window):
        stop = min(count, start + window)
        yield max(0, start - temporal), min(count, stop + temporal), start, stop
