"""Propose an *affected* matte: where the plate changes with the removed object (its shadow).

VOID's affected region (shadows, reflections, things the object moved) is what sets it apart
from other removers, and it is the matte artists find hardest to paint. This module proposes
one; it never decides for the artist: the result is a soft matte (float alpha in [0, 1]) they
edit before a run (``docs/user-guide.md``, "Proposing the affected matte").

How (``docs/architecture.md``: algorithms live in the daemon, with numpy and OpenCV):

1. *Clean estimate.* The ``propagate`` engine fills the object **and its surroundings** (the
   remove matte dilated by ``reach``, 1.5 object radii) from frames where that
   background is visible, so the estimate is the background without the object *or* its
   shadow, which moves with it. A second estimate goes straight to the nearest frames that
   see each pixel, aligned by the camera's motion alone (tracked corners, pair homographies
   composed), where those frames agree: ``propagate`` follows the background frame to frame
   and, where it finds nothing (an object resting for most of the shot), guesses from space.
   Where the features move as two planes (parallax: a near fence before a far backdrop),
   each plane's motion gives its own such estimate (:func:`layer_motions`): under the near
   layer one motion samples the wrong plane. Per pixel, the estimate whose fine detail and
   colour agree best with the plate's wins: a shadow leaves the background's texture and hue
   in place, a guess or the other plane's sample does not reproduce them.
2. *Change.* Per pixel of that ring, the log ratio of plate to clean luminance (a shadow scales
   light, so a ratio, not a difference), smoothed spatially with a normalised Gaussian: the
   fill's own errors change sign from pixel to pixel and cancel, a shadow does not. Only
   darkening counts unless ``brightening`` is set (light spill, reflections): on the measured
   scenes the fill's errors are as often brighter as darker, shadows only darker.
   Where no other frame shows the ground, the clean estimate is ``propagate``'s spatial guess;
   there a darkening far deeper than any shadow's (``guess_depth_low``/``high``, -log ratio
   2-3 against at most 1 for the measured shadows) is the guess's error and does not count.
3. *Same colour, dimmed.* A shadow dims the light, it does not change the material: the change
   is weighted down where the colour turns (the angle between plate and clean RGB) by more
   than a fraction of the change in luminance (a fence post where the fill put sky).
4. *Same detail underneath.* A shadow scales the background, so the plate's fine detail (high-
   passed log luminance, the object's own pixels left out: its edge is not the background's)
   is the clean estimate's; where the fill copied other texture the two do not correlate. The
   change is weighted by that local correlation where there is detail to compare (on flat
   ground the weight stays 1).
5. *Moves with the object.* Each frame's evidence is compared with its neighbours' after
   shifting them by the object's own motion (its matte's centroid): the median over
   ``±temporal`` frames keeps what travels with the object and drops what stays with the
   scene (a fill error, a fence post copied into the ring). With parallax, a nearer layer
   (fence posts) crosses the shadow at its own speed: a frame votes only where that layer
   covers the pixel as it does in this frame (:func:`occluders`), over ``±occluded_temporal``
   frames, so the median is taken where the shadow's surface is seen.
6. *Soft matte.* ``smoothstep(low, high, evidence)``, kept only in connected regions that
   reach full strength somewhere (a faint smear alone is not proposed), gaps that the
   proposal and the object enclose filled (a shadow has no holes; a gap is where a test
   doubted), and zero wherever the remove matte has any coverage: that region is the remove
   matte's, never the proposal's.

Measured against the true shadow on the paired scenes in ``docs/benchmarks.md``
("suggest-affected: proposed vs true affected matte").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from void_client.errors import ErrorCode, VoidError
from void_client.quadmask import AFFECTED, KEEP, REMOVE
from void_daemon.engines.base import WindowInput
from void_daemon.engines.propagate import PropagateEngine, grey8

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
    #: Frames each side whose object-aligned change must agree. Fifteen frames reject more
    #: of the fill's errors (they stay with the scene) than seven did, which is what lets
    #: ``low`` and ``high`` catch the shadow's soft edge (docs/benchmarks.md).
    temporal: int = 7
    #: |log luminance ratio| where the matte starts (about 3% darker)...
    low: float = 0.03
    #: ... and where it is fully on (about 10% darker).
    high: float = 0.10
    #: Propose brightening too (light spill, reflections), not only darkening (shadows).
    brightening: bool = False
    #: Correlation of fine detail (plate vs clean) at which a change counts fully.
    detail_ncc: float = 0.3
    #: Fine-detail level (RMS of high-passed log luminance) above which detail is compared.
    detail_level: float = 0.03
    #: Context (px) kept around the ring for the engine's motion estimate.
    margin: int = 32
    #: Candidates (nearest frames that see the point) per pixel of the second clean estimate,
    #: aligned by the camera's motion alone (:func:`clean_from_other_frames`); 0 turns it off.
    other_frames: int = 5
    #: ... kept where their log luminances agree within this (median absolute deviation).
    other_agree: float = 0.05
    #: Turn of the colour (angle between plate and clean RGB, radians) per unit of change in
    #: log luminance up to which a change counts fully as a shadow (which dims every channel
    #: alike; a grey surface in the shadow of the sun, lit by blue sky alone, turns about
    #: 0.2 per unit) ...
    chroma_low: float = 0.2
    #: ... and from which it does not count (the fill put other material there: sky for a
    #: fence post, a white rim for a red saucer). 0 turns the test off.
    chroma_high: float = 0.5
    #: Planes moving differently (parallax) whose motion the second estimate follows, each
    #: giving its own candidates (:func:`layer_motions`); 1 is the camera's motion alone.
    layers: int = 2
    #: With layers, the object-aligned median (step 5) counts a frame's vote at a pixel only
    #: where the nearest layer covers it as it does this frame (:func:`occluders`): a pixel
    #: is that layer's where its motion explains the plate within this mean absolute log
    #: luminance error ...
    occluder_explained: float = 0.1
    #: ... and every other layer's motion errs this many times more ...
    occluder_ratio: float = 1.5
    #: ... and by this much more.
    occluder_margin: float = 0.02
    #: ``temporal`` where a near layer occludes: the frames a post covers differently do not
    #: vote, so more are asked for as many votes (bench parallax, seed 0: ±7 IoU 0.694, ±13 0.716).
    occluded_temporal: int = 13
    #: Darkening (-log luminance ratio) from which a change on a pixel that no other frame
    #: shows starts to read as a wrong guess, not a shadow ...
    guess_depth_low: float = 2.0
    #: ... and from which it does not count at all (with its neighbours within the smoothing's
    #: reach): there ``propagate``'s estimate is a spatial guess, which can smear a white rim
    #: over black ground (bench rolling, seed 1: -6 against at most -1 for the shadows). 0 off.
    guess_depth_high: float = 3.0


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


def _pair_tracks(
    grey: list[np.ndarray], exclude: np.ndarray, t: int
) -> tuple[np.ndarray, np.ndarray]:
    """Corner features of frame ``t`` outside ``exclude`` and where they are in ``t + 1``."""
    h, w = exclude.shape[1:]
    empty = np.zeros((0, 2), np.float32)
    mask = np.where(exclude[t], 0, 255).astype(np.uint8)
    pts = cv2.goodFeaturesToTrack(grey[t], 500, 0.01, 6, mask=mask)
    if pts is None or len(pts) < 8:
        return empty, empty
    nxt, status, _ = cv2.calcOpticalFlowPyrLK(
        grey[t], grey[t + 1], pts, pts.copy(), winSize=(21, 21), maxLevel=3
    )
    src, dst = pts[status[:, 0] == 1, 0], nxt[status[:, 0] == 1, 0]
    inside = (dst[:, 0] >= 0) & (dst[:, 0] < w) & (dst[:, 1] >= 0) & (dst[:, 1] < h)
    src, dst = src[inside], dst[inside]
    keep = ~exclude[t + 1][dst[:, 1].astype(int), dst[:, 0].astype(int)]
    return src[keep], dst[keep]


def _homography(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """RANSAC homography of ``src`` → ``dst`` and its inliers (None with too few points)."""
    if len(src) < 8:
        return None, np.zeros(len(src), bool)
    hmat, inl = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
    if hmat is None:
        return None, np.zeros(len(src), bool)
    return hmat, inl[:, 0].astype(bool)


def camera_motion(plate: np.ndarray, exclude: np.ndarray) -> list[np.ndarray]:
    """Per frame, the homography from frame 0's pixels to that frame's (3x3, float64): corner
    features outside ``exclude`` (the object and its surroundings) tracked frame to frame,
    RANSAC pair homographies composed. A pair with too few features counts as no motion."""
    return layer_motions(plate, exclude, 1)[0]


def _shift(hmat: np.ndarray, at: tuple[float, float]) -> np.ndarray:
    q = hmat @ np.array([at[0], at[1], 1.0])
    return np.array([q[0] / q[2] - at[0], q[1] / q[2] - at[1]])


def _split_layers(
    src: np.ndarray, dst: np.ndarray, layers: int, share: float, centre: tuple[float, float]
) -> list[np.ndarray]:
    """Features of one pair split by motion: the dominant similarity transform's inliers, then
    another's among the rest while at least ``share`` of them (and 12) agree on a motion more
    than a pixel away from the others'. A similarity (4 degrees of freedom) cannot blend two
    planes into one fit as a homography's 8 can. Their 3x3 matrices, largest layer first."""
    out: list[np.ndarray] = []
    shifts: list[np.ndarray] = []
    rest = np.arange(len(src))
    need = max(12, share * len(src))
    while len(out) < layers and len(rest) >= need:
        mat, inl = cv2.estimateAffinePartial2D(
            src[rest], dst[rest], method=cv2.RANSAC, ransacReprojThreshold=1.0
        )
        if mat is None or inl is None or inl.sum() < need:
            break
        shift = mat[:, :2] @ np.array(centre) + mat[:, 2] - np.array(centre)
        if any(np.hypot(*(shift - s)) < 1.0 for s in shifts):
            break
        keep = inl[:, 0].astype(bool)
        out.append(np.vstack([mat, [0.0, 0.0, 1.0]]))
        shifts.append(shift)
        rest = rest[~keep]
    return out


def layer_motions(
    plate: np.ndarray, exclude: np.ndarray, layers: int = 2, share: float = 0.2
) -> list[list[np.ndarray]]:
    """Like :func:`camera_motion`, for up to ``layers`` planes that move differently (a near
    fence before a far backdrop: parallax). Per pair of frames the features are split by
    motion (:func:`_split_layers`); with one layer the pair's motion is the homography of all
    of them, exactly as :func:`camera_motion`, with more each layer's similarity. Each pair's
    motions are matched to the layers' previous ones by their shift at the frame centre, and
    a layer not seen in a pair keeps its last motion (constant velocity). A second layer found
    in fewer than a quarter of the pairs is dropped (noise, not a plane): then the result is
    :func:`camera_motion`'s."""
    grey = [grey8(f) for f in plate]
    h, w = exclude.shape[1:]
    centre = (w / 2.0, h / 2.0)
    pairs: list[list[np.ndarray]] = []
    whole: list[list[np.ndarray]] = []  # each pair's one homography of all the features
    for t in range(len(plate) - 1):
        src, dst = _pair_tracks(grey, exclude, t)
        hmat, _ = _homography(src, dst)
        found = [] if hmat is None else [hmat]
        whole.append(list(found))
        if layers > 1 and hmat is not None:
            split = _split_layers(src, dst, layers, share, centre)
            if len(split) > 1:
                # Each layer's own similarity: a homography fitted to all the features blends
                # the planes (a perspective that half fits both), and one fitted to a layer's
                # few features (a far, mostly flat sky) wanders.
                found = split
        pairs.append(found)
    count = max((len(f) for f in pairs), default=1)
    seen = [sum(len(f) > k for f in pairs) for k in range(count)]
    count = max(1, sum(1 for k in range(count) if k == 0 or seen[k] >= len(pairs) / 4))
    if count == 1:
        pairs = whole  # no parallax after all: the camera's motion, split pairs included
    last = [np.eye(3) for _ in range(count)]
    have = [False] * count
    chains = [[np.eye(3)] for _ in range(count)]
    for found in pairs:
        # A pair with too few features: no motion for the camera alone (as before layers);
        # with layers, each keeps its last motion.
        pair = list(last) if count > 1 else [np.eye(3)]
        free = list(range(count))
        # Match each found motion to the layer whose last motion shifted the centre alike.
        for hmat in found:
            if not free:
                break
            s = _shift(hmat, centre)
            k = min(
                free,
                key=lambda j: np.hypot(*(s - _shift(last[j], centre))) if have[j] else 1e3 - j,
            )
            pair[k], last[k], have[k] = hmat, hmat, True
            free.remove(k)
        for k in range(count):
            chains[k].append(pair[k] @ chains[k][-1])
    return chains


def _motion_exclude(near: np.ndarray) -> np.ndarray:
    return np.stack([cv2.dilate(m.astype(np.uint8), _disc(4)) > 0 for m in near])


def clean_from_other_frames(
    plate: np.ndarray,
    near: np.ndarray,
    ring: np.ndarray,
    box: tuple[slice, slice],
    count: int,
    agree: float = 0.05,
    cancelled: Callable[[], bool] = lambda: False,
    motion: list[np.ndarray] | None = None,
) -> np.ndarray:
    """A second clean estimate of the ``ring`` pixels inside ``box``: per pixel, the median of
    its ``count`` nearest frames (in time) in which the object's surroundings (``near``) do
    not cover it, each aligned to this frame by the camera's motion alone
    (:func:`camera_motion`); NaN where no frame sees the pixel. ``propagate`` follows the
    background frame to frame and, where it finds nothing, fills from space; this goes
    straight to the frames that show the background, however far away (an object that
    rests for most of the shot and leaves at the end). NaN too where the candidates'
    log luminances spread (median absolute deviation) more than ``agree``."""
    n, h, w = ring.shape
    ys, xs = box
    if motion is None:
        motion = camera_motion(plate, _motion_exclude(near))
    inverse = [np.linalg.inv(m) for m in motion]
    gy, gx = np.mgrid[ys, xs].astype(np.float64)
    pts = np.stack([gx.ravel(), gy.ravel(), np.ones(gx.size)], 0)
    blocked = np.stack([cv2.dilate(m.astype(np.uint8), _disc(2)) for m in near])
    out = np.full((n, gy.shape[0], gy.shape[1], 3), np.nan, np.float32)
    for t in range(n):
        if cancelled():
            raise VoidError(ErrorCode.CANCELLED, "job cancelled")
        need = ring[t, ys, xs]
        if not need.any():
            continue
        cand = np.full((count, *need.shape, 3), np.nan, np.float32)
        have = np.zeros(need.shape, np.int32)
        for src in sorted(range(n), key=lambda k: (abs(k - t), k)):
            want = need & (have < count)
            if src == t:
                continue
            if not want.any():
                break
            q = (motion[src] @ inverse[t]) @ pts
            mx = (q[0] / q[2]).reshape(need.shape).astype(np.float32)
            my = (q[1] / q[2]).reshape(need.shape).astype(np.float32)
            seen = want & (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
            seen &= cv2.remap(blocked[src], mx, my, cv2.INTER_NEAREST, borderValue=1) == 0
            if not seen.any():
                continue
            colour = cv2.remap(
                np.ascontiguousarray(plate[src, ..., :3], np.float32),
                mx,
                my,
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT,
            )
            iy, ix = np.nonzero(seen)
            cand[have[iy, ix], iy, ix] = colour[iy, ix]
            have[iy, ix] += 1
        found = have > 0
        if found.any():
            picked = cand[:, found]
            med = np.nanmedian(picked, axis=0)
            # Candidates that disagree saw something that does not follow the camera (an
            # object moving on its own): no estimate there rather than a wrong one.
            logs = np.log(np.maximum(luminance(picked), 0.0) + 1e-3)
            spread = np.nanmedian(np.abs(logs - np.nanmedian(logs, axis=0)), axis=0)
            med[spread > agree] = np.nan
            out[t][found] = med
    return out


def better_clean(
    plate: np.ndarray,
    clean: np.ndarray,
    other: np.ndarray | list[np.ndarray],
    ring: np.ndarray,
    valid: np.ndarray,
    settings: AffectedSettings,
) -> np.ndarray:
    """Per pixel, whichever clean estimate's fine detail agrees best with the plate's
    (:func:`same_detail`, smoothed): a shadow leaves the background's texture in place, so the
    estimate that explains the plate's texture is the one that saw the background; the others
    guessed, or followed another layer's motion. ``clean`` wins ties and wherever an ``other``
    is NaN; of the others, the earlier wins ties."""
    s = settings

    def score(c: np.ndarray) -> np.ndarray:
        raw = same_detail(plate, c, s.detail_ncc, s.detail_level, valid)
        if s.chroma_high > 0:
            # On flat ground every estimate's detail scores 1: there the colour tells (the
            # sky the far layer's motion found, not the near layer's post or band).
            delta = change(plate, c, ring, s.smooth_px)
            raw = raw * same_colour(plate, c, ring, delta, s.smooth_px, s.chroma_low, s.chroma_high)
        return np.stack([cv2.GaussianBlur(g, (0, 0), 4.0) for g in raw])

    best, best_score = clean.astype(np.float32), score(clean)
    for o in [other] if isinstance(other, np.ndarray) else other:
        o = np.where(np.isnan(o), clean, o).astype(np.float32)
        o_score = score(o)
        wins = o_score > best_score
        best = np.where(wins[..., None], o, best).astype(np.float32)
        best_score = np.where(wins, o_score, best_score)
    return best


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


def same_colour(
    plate: np.ndarray,
    clean: np.ndarray,
    ring: np.ndarray,
    delta: np.ndarray,
    sigma: float,
    low: float,
    high: float,
) -> np.ndarray:
    """Per pixel in [0, 1]: 1 where the plate's colour is the clean estimate's, dimmed (a
    shadow scales the light, it does not change the material), falling to 0 where the colour
    turns by more than ``low`` → ``high`` times the change in log luminance (``delta``, from
    :func:`change`): another material, not the same one dimmed. Colour is compared as the
    angle between RGB vectors, both smoothed over the ring like :func:`change`, so it does
    not depend on how dark the pixel is."""
    out = np.ones(plate.shape[:3], np.float32)
    for t in range(len(plate)):
        sp = np.stack([_smooth(plate[t, ..., k], ring[t], sigma) for k in range(3)], -1)
        sc = np.stack([_smooth(clean[t, ..., k], ring[t], sigma) for k in range(3)], -1)
        dot = (sp * sc).sum(-1)
        norm = np.sqrt((sp * sp).sum(-1) * (sc * sc).sum(-1))
        angle = np.arccos(np.clip(dot / np.maximum(norm, 1e-12), -1.0, 1.0))
        rel = angle / np.maximum(np.abs(delta[t]), 0.05)
        out[t] = 1.0 - _smoothstep(low, high, rel)
    return out


def _masked_blur(field: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian average of ``field`` over ``valid`` pixels (float32, every pixel)."""
    v = valid.astype(np.float32)
    num = cv2.GaussianBlur(field * v, (0, 0), sigma)
    return (num / np.maximum(cv2.GaussianBlur(v, (0, 0), sigma), 1e-6)).astype(np.float32)


def _detail(log_lum: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """High-passed log luminance of one frame (the texture a shadow leaves intact), its local
    mean taken over ``valid`` pixels only: the object's own edge is not the background's
    detail, and would otherwise bleed into the ring beside it. 0 outside ``valid``."""
    return np.where(valid, log_lum - _masked_blur(log_lum, valid, 3.0), 0.0).astype(np.float32)


def _log_lum(rgb: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(luminance(rgb), 0.0) + 1e-3).astype(np.float32)


def same_detail(
    plate: np.ndarray,
    clean: np.ndarray,
    ncc_full: float,
    level: float,
    valid: np.ndarray | None = None,
    size: int = 9,
) -> np.ndarray:
    """Per pixel in [0, 1]: how well the plate's fine detail matches the clean estimate's in a
    ``size`` box (normalised cross-correlation over ``valid`` pixels, full at ``ncc_full``);
    1 where the clean estimate is flat (nothing to compare, so no reason to doubt). Leave the
    object's own pixels out of ``valid``: its edge is not the background's detail."""
    out = np.empty(plate.shape[:3], np.float32)
    k = (size, size)
    for t in range(len(plate)):
        ok = np.ones(plate.shape[1:3], bool) if valid is None else valid[t]
        p, c = _detail(_log_lum(plate[t]), ok), _detail(_log_lum(clean[t]), ok)
        pc, pp, cc = cv2.blur(p * c, k), cv2.blur(p * p, k), cv2.blur(c * c, k)
        ncc = pc / np.sqrt(np.maximum(pp * cc, 0.0) + 1e-8)
        tex = np.clip(np.sqrt(np.maximum(cc, 0.0)) / max(level, 1e-6), 0.0, 1.0)
        out[t] = tex * np.clip(ncc / max(ncc_full, 1e-6), 0.0, 1.0) + (1.0 - tex)
    return out


def centroids(inner: np.ndarray) -> list[tuple[float, float] | None]:
    """(x, y) of the object's matte per frame, None where it is absent."""
    out: list[tuple[float, float] | None] = []
    for m in inner:
        ys, xs = np.nonzero(m)
        out.append((float(xs.mean()), float(ys.mean())) if xs.size else None)
    return out


def follow_object(
    field: np.ndarray,
    inner: np.ndarray,
    temporal: int,
    occluded: np.ndarray | None = None,
) -> np.ndarray:
    """Per frame, the median of ``field`` over ``±temporal`` frames, each shifted by the
    object's motion to this frame: what moves with the object survives, the rest is damped.
    With ``occluded`` (per frame, pixels a nearer layer covers: :func:`occluders`), a frame
    votes at a pixel only where it is occluded as this frame is: a fence post crossing the
    shadow at its own speed would otherwise put its gap where the shadow is (a miss) and,
    shifted with the object, the shadow where the post is (a false alarm)."""
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
            moved = cv2.warpAffine(
                field[s], m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
            )
            if occluded is not None and s != t:
                # 1 open, 2 covered, 0 shifted in from outside the field (unknown: votes).
                cover = cv2.warpAffine(
                    occluded[s].astype(np.uint8) + 1, m, (w, h), flags=cv2.INTER_NEAREST
                )
                agree = (cover == 0) | ((cover == 2) == occluded[t])
                moved = np.where(agree, moved, np.nan).astype(np.float32)
            stack.append(moved)
        if occluded is None:
            out[t] = np.median(np.stack(stack), axis=0)
        else:
            # This frame always votes, so no pixel is left without a value.
            out[t] = np.nanmedian(np.stack(stack), axis=0)
    return out


def occluders(
    plate: np.ndarray,
    motions: list[list[np.ndarray]],
    box: tuple[slice, slice],
    settings: AffectedSettings,
) -> np.ndarray | None:
    """Per frame, the pixels of ``box`` that the nearest layer covers (bool), or None with one
    layer. Nearest is the layer that moves furthest over the shot (parallax: the nearer a
    plane, the faster it crosses the frame). A pixel is that layer's where the plate there is
    explained by the previous or next frame warped by that layer's motion (mean absolute log
    luminance error in a 5 px box under ``occluder_explained``) and not by any other layer's
    (whose error is ``occluder_ratio`` times larger, and ``occluder_margin`` more): on flat
    ground every motion explains the plate, and the pixel stays unknown (not covered). Small
    specks are opened away (a shadow's moving edge, which no layer explains, can happen to
    fit one)."""
    if len(motions) < 2:
        return None
    s = settings
    n, h, w = plate.shape[:3]
    ys, xs = box
    centre = (w / 2.0, h / 2.0)
    nearest = int(np.argmax([np.hypot(*_shift(chain[-1], centre)) for chain in motions]))
    # Three frames' log luminance at a time (whole frames: a layer's motion reaches outside
    # the box), not the shot's: at 4K that would be gigabytes.
    logs: dict[int, np.ndarray] = {}
    gy, gx = np.mgrid[ys, xs].astype(np.float64)
    pts = np.stack([gx.ravel(), gy.ravel(), np.ones(gx.size)], 0)
    out = np.zeros((n, *gy.shape), bool)
    for t in range(n):
        for k in [k for k in logs if k < t - 1]:
            del logs[k]
        for k in range(max(0, t - 1), min(n, t + 2)):
            if k not in logs:
                logs[k] = _log_lum(plate[k])
        errors = []
        for chain in motions:
            best = np.full(gy.shape, np.inf, np.float32)
            for src in (t - 1, t + 1):
                if not 0 <= src < n:
                    continue
                q = (chain[src] @ np.linalg.inv(chain[t])) @ pts
                mx = (q[0] / q[2]).reshape(gy.shape).astype(np.float32)
                my = (q[1] / q[2]).reshape(gy.shape).astype(np.float32)
                moved = cv2.remap(
                    logs[src], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
                )
                err = cv2.blur(np.abs(logs[t][ys, xs] - moved), (5, 5))
                inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
                best = np.minimum(best, np.where(inside, err, np.inf))
            errors.append(best)
        own = errors[nearest]
        others = np.min(np.stack([e for k, e in enumerate(errors) if k != nearest]), axis=0)
        with np.errstate(invalid="ignore"):
            cover = (
                (own < s.occluder_explained)
                & (others > s.occluder_ratio * own)
                & (others - own > s.occluder_margin)
            )
        out[t] = cv2.morphologyEx(cover.astype(np.uint8), cv2.MORPH_OPEN, _disc(3)) > 0
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
    near = surroundings(inner, reach)
    # Edge pixels of the object (partial coverage) are the remove matte's, not background.
    touched = remove > 0.0
    ring = near & ~touched
    clean = clean_estimate(plate, touched, ring, s.margin + reach, cancelled)
    other = []
    motions = layer_motions(plate, _motion_exclude(near), max(1, s.layers))
    if s.other_frames > 0:
        for motion in motions:
            other.append(
                clean_from_other_frames(
                    plate,
                    near,
                    ring,
                    _roi(near, _box_margin(s)),
                    s.other_frames,
                    s.other_agree,
                    cancelled,
                    motion,
                )
            )
    alpha = propose(plate, remove, clean, s, other or None, motions)
    log.info(
        "affected proposal: reach %d px, %.2f%% of the frame on average",
        reach,
        100.0 * float(alpha.mean()),
    )
    return alpha


def surroundings(inner: np.ndarray, reach: int) -> np.ndarray:
    """The object's matte dilated by ``reach`` px, per frame."""
    kernel = _disc(reach)
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in inner])


def _box_margin(s: AffectedSettings) -> int:
    return int(np.ceil(3 * s.smooth_px)) + 8


def propose(
    plate: np.ndarray,
    remove: np.ndarray,
    clean: np.ndarray,
    settings: AffectedSettings,
    other: np.ndarray | list[np.ndarray] | None = None,
    motions: list[list[np.ndarray]] | None = None,
) -> np.ndarray:
    """The proposal from the plate, the remove matte and the clean estimate of
    :func:`clean_estimate` (steps 2-6 of the module docstring). ``other`` is the second one,
    of :func:`clean_from_other_frames`, over the work box (the surroundings' box grown by
    :func:`_box_margin`; the rest of the frame is never looked at), NaN where it has none.
    ``motions`` are the layers' (:func:`layer_motions`): with two or more, the near layer's
    pixels vote apart in the object-aligned median (:func:`occluders`)."""
    s = settings
    remove = np.asarray(remove, np.float32)
    inner = remove > 0.5
    touched = remove > 0.0
    near = surroundings(inner, reach_pixels(remove, s))
    ring = near & ~touched
    # Everything after the fill happens in the box around the ring (the rest stays 0).
    ys, xs = _roi(near, _box_margin(s))
    p, c, r, i = plate[:, ys, xs, :3], clean[:, ys, xs], ring[:, ys, xs], inner[:, ys, xs]
    valid = ~np.stack([cv2.dilate(m.astype(np.uint8), _disc(2)) > 0 for m in touched[:, ys, xs]])
    if other is not None:
        c = better_clean(p, c, other, r, valid, s)
    delta = change(p, c, r, s.smooth_px)
    evidence = np.abs(delta) if s.brightening else np.maximum(-delta, 0.0)
    if other is not None and s.guess_depth_high > 0:
        evidence = evidence * _plausible_guess(delta, r, other, s)
    if s.chroma_high > 0:
        evidence = evidence * same_colour(p, c, r, delta, s.smooth_px, s.chroma_low, s.chroma_high)
    detail = same_detail(p, c, s.detail_ncc, s.detail_level, valid)
    cover = None if motions is None else occluders(plate, motions, (ys, xs), s)
    span = s.temporal if cover is None else context_frames(s)
    evidence = follow_object(evidence, i, span, cover) * follow_object(detail, i, span, cover)
    alpha = np.zeros(remove.shape, np.float32)
    soft = _strong_regions(_smoothstep(s.low, s.high, evidence) * r)
    alpha[:, ys, xs] = _close_holes(soft, touched[:, ys, xs]) * r
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def _plausible_guess(
    delta: np.ndarray,
    ring: np.ndarray,
    other: np.ndarray | list[np.ndarray],
    settings: AffectedSettings,
) -> np.ndarray:
    """Per pixel in [0, 1]: 0 where no other frame shows the background (every ``other``
    estimate is NaN: the clean estimate there is ``propagate``'s spatial guess) and the plate
    is darker than a shadow makes it (``guess_depth_low`` → ``high``), spread over the
    smoothing's reach (the smoothed change carries the guess's error that far); 1 elsewhere.
    A shadow dims the ground by a factor; a guess that smears a bright rim over black ground
    is off by orders of magnitude, and that streak reaches the frame's edge with the guess."""
    s = settings
    unseen = ring.copy()
    for o in [other] if isinstance(other, np.ndarray) else other:
        unseen &= np.isnan(o[..., 0])
    wrong = _smoothstep(s.guess_depth_low, s.guess_depth_high, -delta) * unseen
    if not wrong.any():
        return np.ones(delta.shape, np.float32)
    kernel = _disc(int(np.ceil(3 * s.smooth_px)))
    spread = np.stack([cv2.dilate(w, kernel) for w in wrong])
    return (1.0 - spread * unseen).astype(np.float32)


def _close_holes(alpha: np.ndarray, touched: np.ndarray) -> np.ndarray:
    """Fully on inside gaps the proposal encloses (with the object): a shadow has no holes,
    a gap inside one is where a test doubted, not where the light came back."""
    out = alpha.copy()
    h, w = alpha.shape[1:]
    for t in range(len(alpha)):
        solid = ((alpha[t] > 0.5) | touched[t]).astype(np.uint8)
        if not solid.any():
            continue
        flood = np.pad(1 - solid, 1, constant_values=1)
        mask = np.zeros((h + 4, w + 4), np.uint8)
        cv2.floodFill(flood, mask, (0, 0), 2)
        enclosed = flood[1:-1, 1:-1] == 1
        out[t][enclosed] = 1.0
    return out


def context_frames(settings: AffectedSettings) -> int:
    """Frames each side the object-following median may look at (``temporal``, or
    ``occluded_temporal`` where a near layer occludes)."""
    return max(settings.temporal, settings.occluded_temporal)


def chunks(count: int, window: int, temporal: int) -> Iterator[tuple[int, int, int, int]]:
    """(load_start, load_stop, keep_start, keep_stop) frame indices that cover ``count``
    frames in windows of ``window``, each loaded with ``temporal`` extra frames each side so
    the object-following median sees the same neighbours as in one piece (pass
    :func:`context_frames`)."""
    window = max(1, window)
    for start in range(0, count, window):
        stop = min(count, start + window)
        yield max(0, start - temporal), min(count, stop + temporal), start, stop
