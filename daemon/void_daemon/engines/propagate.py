"""``propagate``: the embedded CPU engine. Flow-guided propagation of the visible background.

For every hole pixel we follow optical flow frame to frame, forward and backward in time,
until we reach a frame where that point of the scene is visible, and take its colour from
there in one bilinear sample (no blur from repeated resampling). Flow inside the hole is
unreliable (it tracks the object we remove), so it is completed from the surrounding
background: a RANSAC homography for the camera plus a smoothly in-filled residual for
parallax. Where the background is never visible, a key frame is filled spatially and
propagated from, so a static camera does not flicker.

Chained flow follows anything that moves (right for an object moving behind the hole), but it
copies an occluder in front of the hole into it (a fence) and drifts over long chains (dense
flow underestimates a zoom by a few percent per frame pair). So every hole pixel also gets
direct candidates (:class:`_Candidates`): its nearest frames that see it, aligned by the
camera's motion (pair homographies composed, then refined by the flow between the two frames
around the hole), fused by their median. Where the candidates agree, they win; where they
disagree (the background does not follow the camera there), the chained fill stays. Near a
window's ends, where one side of the candidates is cut off, they come from every nearer frame,
so the two windows of a seam find the same background; on a locked-off camera they are the
same pixel in the nearest frames that see it (exact copies, no alignment).

The hole is every non-keep quadmask level: remove, overlap and affected (a shadow is
restored like the object itself).

``chain`` seams give a window its first frames already filled (context). Those are the end of
the previous window, filled without seeing the future, so they are usually a little worse than
what this window finds; switching to this window's own fill at once would pop. Instead, for
hole pixels that still trace back to the context, the fill eases from the context's over as
many frames as there are context frames (a raised-cosine ramp, like a crossfade). The context
frames are candidates too, but all of them repeat one earlier fill: where their count alone
holds a pixel's median, later frames that see it and agree decide (:func:`_outvote_prior`).

Reference frames (``--reference``, :func:`_with_references`): the artist's clean frame is
visible background inside its frame's hole, so propagation carries it along the motion; the
nearest reference outside the window joins as an extra frame at its true distance in time.
Without references every computation is the one it was before (same weights, same order).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import numpy as np

from void_client.errors import ErrorCode, VoidError
from void_client.quadmask import hole as quadmask_hole
from void_daemon.engines.base import Engine, WindowInput
from void_daemon.memory_model import MARGINS

log = logging.getLogger(__name__)

#: Flow is estimated at most this many pixels on the long side, then scaled up.
FLOW_MAX_SIDE = 640
#: Pixels of background excluded around the hole when fitting flow (object edges bleed).
FLOW_GUARD = 3
#: Distance (px) from the hole beyond which flow is trusted for the parallax residual.
RESIDUAL_GUARD = 16
#: Median residual flow (px) above which the background is treated as having parallax.
PARALLAX_THRESHOLD = 0.35


def grey8(frame: np.ndarray) -> np.ndarray:
    """8-bit display-like grey (Rec. 709 luminance, gamma 2.2) of a scene-linear RGB frame:
    what optical flow and feature tracking see (also :mod:`void_daemon.affected`'s)."""
    lum = frame[..., 0] * 0.2126 + frame[..., 1] * 0.7152 + frame[..., 2] * 0.0722
    return np.clip(np.power(np.maximum(lum, 0.0), 1 / 2.2) * 255.0, 0, 255).astype(np.uint8)


class _Masks:
    """A ``(T, H, W)`` bool stack held as bits, an eighth of its size (the hole masks were the
    largest array the engine kept besides the frames); frame ``t`` is unpacked when asked for.
    ``view(np.uint8)`` gives the same frames as ``uint8`` 0/1, like a bool array's view."""

    def __init__(self, masks: np.ndarray, dtype: type = bool) -> None:
        self.shape: tuple[int, int, int] = masks.shape
        self._bits = np.packbits(masks.reshape(len(masks), -1), axis=1)
        self._dtype = dtype
        self._last: tuple[int, np.ndarray] | None = None  # the last frame asked for, unpacked

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, t: int | np.integer) -> np.ndarray:
        last = self._last
        if last is not None and last[0] == t:
            return last[1]
        _, h, w = self.shape
        frame = np.unpackbits(self._bits[t], count=h * w).reshape(h, w)
        if self._dtype is bool:
            frame = frame.view(bool)
        frame.flags.writeable = False
        self._last = (int(t), frame)
        return frame

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[t] for t in range(self.shape[0]))

    def __setitem__(self, t: int, value: bool) -> None:
        """Clear frame ``t`` (the only change asked of a hole stack: ``mask[t] = False``)."""
        if value:
            raise ValueError("only clearing a frame is supported")
        self._bits[t] = 0
        self._last = None

    @classmethod
    def points(
        cls, shape: tuple[int, int, int], points: Iterable[tuple[int, np.ndarray, np.ndarray]]
    ) -> _Masks:
        """The stack of ``shape`` set at ``(t, ys, xs)`` of each of ``points``, built a frame
        at a time (a whole bool stack is as large as the window's quadmask)."""
        t_count, h, w = shape
        out = cls.__new__(cls)
        out.shape, out._dtype, out._last = shape, bool, None
        out._bits = np.zeros((t_count, -(-h * w // 8)), np.uint8)
        for t, ys, xs in points:
            frame = np.zeros(h * w, bool)
            frame[ys * w + xs] = True
            out._bits[t] = np.packbits(frame)
        return out

    def any(self) -> bool:
        return bool(self._bits.any())

    def counts(self) -> np.ndarray:
        """How many pixels are set in each frame."""
        return np.bitwise_count(self._bits).sum(1, dtype=np.int64)

    def view(self, dtype: type) -> _Masks:
        out = _Masks.__new__(_Masks)
        out.shape, out._bits, out._dtype, out._last = self.shape, self._bits, dtype, None
        return out


#: Hole masks as the engine's parts take them: a bool array or the same packed in bits.
MaskStack = np.ndarray | _Masks


class _Flow:
    """Dense flow between frames of one window, hole-completed and memoised.

    Flow is estimated and completed at most ``FLOW_MAX_SIDE`` pixels wide (it is smooth where
    it matters, and this is where the time goes), then scaled up on use.
    """

    def __init__(
        self,
        grey: Iterable[np.ndarray],
        holes: np.ndarray,
        preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    ) -> None:
        self.dis = cv2.DISOpticalFlow.create(preset)
        #: Held around every use of ``dis`` (not safe from two threads at once): the
        #: candidates' planner (``PLAN_AHEAD``) refines in its own thread. One object, not one
        #: per thread: each holds a few MB of buffers between calls (1080p: +30 MB peak RSS).
        self.dis_lock = threading.Lock()
        self._lock = threading.Lock()  # the memo's
        _, h, w = holes.shape
        self.size = (w, h)
        self.scale = min(1.0, FLOW_MAX_SIDE / max(h, w))
        if self.scale < 1.0:
            small = (max(8, round(w * self.scale)), max(8, round(h * self.scale)))
            self.grey = np.stack([cv2.resize(g, small, interpolation=cv2.INTER_AREA) for g in grey])
            # A low-res pixel is in the hole if any of its full-res pixels is.
            self.holes = np.stack(
                [
                    cv2.resize(m.astype(np.uint8) * 255, small, interpolation=cv2.INTER_AREA) > 0
                    for m in holes
                ]
            )
        else:
            self.grey = np.stack(list(grey))
            self.holes = holes
        sh, sw = self.grey.shape[1:]
        # Full-resolution pixel centres -> flow-resolution pixel centres (cv2.resize convention).
        sx, sy = sw / w, sh / h
        self._to_small = np.array(
            [[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], np.float64
        )
        self._memo: dict[tuple[int, int], np.ndarray] = {}
        self._homography: dict[tuple[int, int], np.ndarray | None] = {}

    def _small(self, a: int, b: int) -> np.ndarray:
        with self._lock:  # the fill and the candidates' planner may ask for the same pair
            small = self._memo.get((a, b))
            if small is None:
                # None lets calc allocate the output; OpenCV's stubs declare it required.
                with self.dis_lock:
                    flow = self.dis.calc(self.grey[a], self.grey[b], None)  # type: ignore[call-overload]
                small, hmat = _complete(flow, self.holes[a], self.holes[b])
                self._memo[(a, b)] = small
                if hmat is not None:
                    hmat = np.linalg.inv(self._to_small) @ hmat @ self._to_small
                self._homography[(a, b)] = hmat
            return small

    def forget(self, a: int, *to: int) -> None:
        """Drop the memoised flows from frame ``a`` to frames ``to`` (held for the whole window
        they were a sizeable share of its peak); asked again, they are recomputed, the same."""
        with self._lock:
            for b in to:
                self._memo.pop((a, b), None)

    def keep_only(self, frames: set[int]) -> None:
        """Drop every memoised flow but those from ``frames``."""
        with self._lock:
            for key in [k for k in self._memo if k[0] not in frames]:
                del self._memo[key]

    def __call__(self, a: int, b: int) -> np.ndarray:
        """Flow from frame ``a`` to frame ``b`` at full resolution."""
        small = self._small(a, b)
        if self.scale == 1.0:
            return small
        full = cv2.resize(small, self.size, interpolation=cv2.INTER_LINEAR)
        return np.divide(full, self.scale, out=full)

    def homography(self, a: int, b: int) -> np.ndarray | None:
        """The background's (camera's) motion from frame ``a`` to ``b`` as a full-resolution
        homography, fitted to the flow outside both holes; None where it could not be fitted."""
        if (a, b) not in self._homography:
            self._small(a, b)
        return self._homography[(a, b)]


def complete_flow(flow: np.ndarray, hole_a: np.ndarray, hole_b: np.ndarray) -> np.ndarray:
    """Replace flow where it is unreliable with camera motion + in-filled parallax residual."""
    return _complete(flow, hole_a, hole_b)[0]


def _complete(
    flow: np.ndarray, hole_a: np.ndarray, hole_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`complete_flow`, and the camera homography fitted to the reliable flow (or None)."""
    h, w = hole_a.shape
    guard = cv2.dilate(hole_a.astype(np.uint8), np.ones((2 * FLOW_GUARD + 1,) * 2, np.uint8)) > 0
    # A background pixel whose match lands inside the other frame's hole is unreliable too.
    bad = guard.copy()
    if hole_b.any():
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        land = cv2.remap(
            hole_b.astype(np.uint8),
            xs + flow[..., 0],
            ys + flow[..., 1],
            cv2.INTER_NEAREST,
            borderValue=0,
        )
        bad |= land > 0
    valid = ~bad
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.zeros_like(flow)
    vy, vx = np.nonzero(valid)
    H = None
    if vy.size >= 16:
        step = max(1, vy.size // 3000)
        pa = np.stack([xs[vy[::step], vx[::step]], ys[vy[::step], vx[::step]]], 1)
        pb = pa + flow[vy[::step], vx[::step]]
        H, _ = cv2.findHomography(pa, pb, cv2.RANSAC, 1.0)
        if not bad.any():
            return flow, H
        if H is not None:
            pts = cv2.perspectiveTransform(np.stack([xs, ys], -1).reshape(-1, 1, 2), H).reshape(
                h, w, 2
            )
            base = pts - np.stack([xs, ys], -1)
    out = flow.copy()
    out[bad] = base[bad]
    # Parallax: where the background does not move as one plane, carry the residual in from
    # well outside the hole (DIS smears the object's own motion a few patches outwards).
    far = ~(cv2.dilate(bad.astype(np.uint8), np.ones((2 * RESIDUAL_GUARD + 1,) * 2, np.uint8)) > 0)
    residual = np.where(far[..., None], flow - base, 0.0).astype(np.float32)
    if far.any() and float(np.median(np.abs(residual[far]))) > PARALLAX_THRESHOLD:
        log.debug("parallax residual %.3f", float(np.median(np.abs(residual[far]))))
        out[bad] += _fill_smooth(residual, far)[bad]
    return out, H


def _fill_smooth(field: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill invalid pixels of a smooth 2-channel field at quarter resolution (Telea)."""
    h, w = valid.shape
    f = 4 if min(h, w) >= 32 else 1
    small = (max(1, w // f), max(1, h // f))
    inv = cv2.resize((~valid).astype(np.uint8), small, interpolation=cv2.INTER_NEAREST)
    if inv.all():
        return np.zeros_like(field)
    out = np.empty_like(field)
    for c in range(field.shape[2]):
        ch = cv2.resize(field[..., c], small, interpolation=cv2.INTER_AREA)
        ch = cv2.inpaint(ch, inv, 3, cv2.INPAINT_TELEA)
        out[..., c] = cv2.resize(ch, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.where(valid[..., None], field, out)


def _at(
    img: np.ndarray, qx: np.ndarray, qy: np.ndarray, interp: int, border: float = 0.0
) -> np.ndarray:
    """Sample ``img`` at points (outside the image: ``border``)."""
    return _remap_points(img, qx, qy, interp, cv2.BORDER_CONSTANT, border).reshape(-1)[: qx.size]


def _remap_points(
    img: np.ndarray, qx: np.ndarray, qy: np.ndarray, interp: int, mode: int, border: float = 0.0
) -> np.ndarray:
    """``cv2.remap`` at ``N`` points, laid out as a 2-D block (its maps are limited to 32767
    per side); the result is that block, first ``N`` samples in row order."""
    n = qx.size
    cols = 1024
    rows = -(-n // cols)
    mx = np.zeros(rows * cols, np.float32)
    my = np.zeros(rows * cols, np.float32)
    mx[:n], my[:n] = qx, qy
    return cv2.remap(
        img,
        mx.reshape(rows, cols),
        my.reshape(rows, cols),
        interp,
        borderMode=mode,
        borderValue=border,
    )


def _propagate(
    holes: MaskStack, order: range, flow: _Flow, window: WindowInput, step0: int, steps: int
) -> Iterator[tuple[int, np.ndarray | None, np.ndarray | None, np.ndarray, np.ndarray]]:
    """One pass in time order ``order``: for each frame ``t`` in turn, its hole pixels' source
    (frame, or -1) and (x, y) (None without a hole), and those pixels, ``np.nonzero(holes[t])``.
    A generator, so a caller going the same way uses each frame's maps as they come.

    Outside its hole a frame's source map is the identity (the pixel itself), so only the hole
    pixels' sources are kept; the previous frame's maps are rebuilt just over the box that this
    frame's points fall in (with the two-pixel footprint of the linear lookup), which gives the
    same samples as full-frame maps at a fraction of the work and memory.
    """
    none = np.zeros(0, np.intp)
    # The previous frame in this pass: (index, hole ys, hole xs, their source index, x, y).
    prev: tuple | None = None
    for i, t in enumerate(order):
        if window.cancelled():
            raise VoidError(ErrorCode.CANCELLED, "job cancelled")
        # 32-bit coordinates (the same values; held across the frame, and by the caller).
        hy, hx = (c.astype(np.int32) for c in np.nonzero(holes[t]))
        if hy.size:
            # One function per step: its temporaries are gone before this generator yields
            # (a generator's locals live on while the caller works on the frame).
            idx, xy = _chain(holes.shape, flow, t, hy, hx, prev)
            prev = (t, hy, hx, idx, xy[:, 0], xy[:, 1])
            window.progress(step0 + i + 1, steps, "propagate")
            yield t, idx.astype(np.int32), xy, hy, hx
            del idx, xy
        else:
            prev = (t, none, none, none, none, none)
            window.progress(step0 + i + 1, steps, "propagate")
            yield t, None, None, hy, hx
        del hy, hx


def _chain(
    shape: tuple[int, int, int],
    flow: _Flow,
    t: int,
    hy: np.ndarray,
    hx: np.ndarray,
    prev: tuple | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``t``'s hole pixels ``(hy, hx)`` followed into the previous frame of the pass
    (``prev``, see :func:`_propagate`; None: the first): their source frame (float32, -1 for
    none) and ``(N, 2)`` source (x, y)."""
    _, h, w = shape
    vx, vy = hx.astype(np.float32), hy.astype(np.float32)
    idx = np.full(hy.size, -1.0, np.float32)
    if prev is not None:
        p_t, p_hy, p_hx, p_idx, p_x, p_y = prev
        fl = flow(t, p_t)
        qx = vx + fl[hy, hx, 0]
        qy = vy + fl[hy, hx, 1]
        del fl
        inside = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
        # Over every point, those off the frame too: their lookups then read the same
        # pixels and borders as on the full frame (their coordinates are carried on).
        x0, x1, y0, y1 = _footprint(qx, qy, w, h)
        b_idx = np.full((y1 - y0, x1 - x0), float(p_t), np.float32)
        b_x = np.repeat(np.arange(x0, x1, dtype=np.float32)[None], y1 - y0, 0)
        b_y = np.repeat(np.arange(y0, y1, dtype=np.float32)[:, None], x1 - x0, 1)
        m = (p_hy >= y0) & (p_hy < y1) & (p_hx >= x0) & (p_hx < x1)
        by, bx = p_hy[m] - y0, p_hx[m] - x0
        b_idx[by, bx], b_x[by, bx], b_y[by, bx] = p_idx[m], p_x[m], p_y[m]
        del m, by, bx
        # Shifting by whole pixels is exact in float32 at these magnitudes, so the
        # lookups' fixed-point weights are the full-frame ones.
        bqx, bqy = qx - x0, qy - y0
        del qx, qy
        n_idx = _at(b_idx, bqx, bqy, cv2.INTER_NEAREST, -1.0)
        l_idx = _at(b_idx, bqx, bqy, cv2.INTER_LINEAR, -1.0)
        # Coordinates may only be interpolated between pixels from the same source.
        smooth = np.abs(l_idx - n_idx) < 1e-3
        del l_idx, b_idx
        idx = np.where(inside, n_idx, -1.0).astype(np.float32)
        del n_idx, inside
        nx, ny = (
            _at(b_x, bqx, bqy, cv2.INTER_NEAREST),
            _at(b_y, bqx, bqy, cv2.INTER_NEAREST),
        )
        lx, ly = _at(b_x, bqx, bqy, cv2.INTER_LINEAR), _at(b_y, bqx, bqy, cv2.INTER_LINEAR)
        del b_x, b_y, bqx, bqy
        vx = np.where(smooth, lx, nx)
        vy = np.where(smooth, ly, ny)
    return idx, np.stack([vx, vy], 1)


def _footprint(qx: np.ndarray, qy: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
    """The box ``x0, x1, y0, y1`` (clipped to the frame) holding every pixel a nearest or linear
    lookup at points ``(qx, qy)`` reads (``cv2.remap`` rounds to 1/32 px, hence the margin)."""
    x0 = min(w - 1, max(0, int(np.floor(qx.min())) - 1))
    y0 = min(h - 1, max(0, int(np.floor(qy.min())) - 1))
    # Even origins: the lookups round halves to even, so only an even shift reads the same pixel.
    x0, y0 = x0 - x0 % 2, y0 - y0 % 2
    x1 = max(x0 + 1, min(w, int(np.floor(qx.max())) + 3))
    y1 = max(y0 + 1, min(h, int(np.floor(qy.max())) + 3))
    return x0, x1, y0, y1


def _sample(frames: np.ndarray, src_t: np.ndarray, src_xy: np.ndarray) -> np.ndarray:
    """Colour at (frame, x, y) for each row; rows with frame -1 give zeros.

    Bicubic, clamped to the four nearest pixels' range: sharper than bilinear (a fill is a
    resample, and ``chain`` resamples a fill once more), and never outside the values around
    it, so HDR highlights do not ring. One ``cv2.remap`` per source frame (the per-pixel
    gathers this replaced took half of the engine's time at 1080p).
    """
    t_count, h, w, c = frames.shape
    out = np.zeros((len(src_t), c), np.float32)
    x = np.clip(src_xy[:, 0], 0, w - 1).astype(np.float32)
    y = np.clip(src_xy[:, 1], 0, h - 1).astype(np.float32)
    # Within SNAP of a pixel centre is that pixel (flow over a still background is not
    # exactly zero; resampling by the difference would only blur).
    rx, ry = np.round(x), np.round(y)
    x = np.where(np.abs(x - rx) < SNAP, rx, x)
    y = np.where(np.abs(y - ry) < SNAP, ry, y)
    order = np.argsort(src_t, kind="stable")
    sorted_t = src_t[order]
    starts = np.flatnonzero(np.r_[True, sorted_t[1:] != sorted_t[:-1]])
    for k, start in enumerate(starts):
        s = int(sorted_t[start])
        if s < 0:
            continue
        end = starts[k + 1] if k + 1 < len(starts) else len(order)
        sel = order[start:end]
        img, qx, qy = frames[s], x[sel], y[sel]
        v = _at_rgb(img, qx, qy, cv2.INTER_CUBIC)
        x0, y0 = np.floor(qx), np.floor(qy)
        lo = hi = _at_rgb(img, x0, y0, cv2.INTER_NEAREST)
        for dx, dy in ((1, 0), (0, 1), (1, 1)):
            n = _at_rgb(img, x0 + dx, y0 + dy, cv2.INTER_NEAREST)
            lo, hi = np.minimum(lo, n), np.maximum(hi, n)
        out[sel] = np.clip(v, lo, hi)
    return out


def _spatial_fill(frame: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Push-pull fill: average known pixels down a pyramid, pull them back up into the hole.

    Every output is a convex combination of known pixels, so HDR values and signs are safe
    (``cv2.inpaint`` on float images can overshoot below zero).
    """
    known = (~unknown).astype(np.float32)
    if not known.any():
        return frame.copy()
    if min(known.shape) <= 1:
        return _spatial_fill_levels(frame, unknown, known)
    # The finest level is made only to average it down, and its blend is only read in the
    # hole (the rest is the frame): full-frame arrays there were round two's peak.
    fine = frame * known[..., None]
    h2, w2 = max(1, fine.shape[0] // 2), max(1, fine.shape[1] // 2)
    second = (
        cv2.resize(fine, (w2, h2), interpolation=cv2.INTER_AREA),
        cv2.resize(known, (w2, h2), interpolation=cv2.INTER_AREA),
    )
    del fine
    half = _spatial_fill_levels(None, None, second[1], second[0])
    del second
    uy, ux = np.nonzero(unknown)
    c, w = frame[uy, ux], known[uy, ux]  # the finest level in the hole: the same arithmetic
    own = (c * w[:, None]) / np.maximum(w, 1e-12)[:, None]
    a = np.clip(w * 4.0, 0.0, 1.0)[:, None]
    filled = cv2.resize(half, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
    hole = own * a + filled[uy, ux] * (1.0 - a)
    np.copyto(filled, frame, where=~unknown[..., None])
    filled[uy, ux] = hole
    return filled.astype(np.float32, copy=False)


def _spatial_fill_levels(
    frame: np.ndarray | None,
    unknown: np.ndarray | None,
    known: np.ndarray,
    colour: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`_spatial_fill`'s pyramid from a level's ``colour`` (premultiplied; None: made
    from ``frame``) and ``known`` weight: every level's blend, then the frame where known
    (without ``frame``, the level's blend as it is)."""
    if colour is None:
        assert frame is not None
        colour = frame * known[..., None]
    levels: list[tuple[np.ndarray, np.ndarray]] = [(colour, known)]
    while min(levels[-1][1].shape) > 1:
        c, w = levels[-1]
        h2, w2 = max(1, c.shape[0] // 2), max(1, c.shape[1] // 2)
        levels.append(
            (
                cv2.resize(c, (w2, h2), interpolation=cv2.INTER_AREA),
                cv2.resize(w, (w2, h2), interpolation=cv2.INTER_AREA),
            )
        )
    del colour, known
    colour, weight = levels.pop()
    filled = colour / np.maximum(weight, 1e-12)[..., None]
    while levels:
        # Finest last; each level is dropped once used, and the blend runs in place (a
        # full-resolution level is a frame's worth of float32 per temporary).
        c, w = levels.pop()
        up = cv2.resize(filled, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_LINEAR)
        own = np.divide(c, np.maximum(w, 1e-12)[..., None], out=c)
        a = np.clip(w * 4.0, 0.0, 1.0)[..., None]  # trust a level where it saw enough known pixels
        del c, w
        np.multiply(own, a, out=own)
        np.multiply(up, 1.0 - a, out=up)
        filled = np.add(own, up, out=own)
        del up, a
    if frame is not None and unknown is not None:
        np.copyto(filled, frame, where=~unknown[..., None])
    return filled


def _context_lead(context: np.ndarray | None) -> int:
    """Index of the last frame of the context run a window starts with (``chain``), or -1."""
    if context is None:
        return -1
    ctx = np.asarray(context, bool)
    lead = -1
    while lead + 1 < len(ctx) and ctx[lead + 1]:
        lead += 1
    return lead


def _continuation(t: int, lead: int) -> float:
    """How much frame ``t`` keeps following the context fill: 1 at the context, easing to 0
    over ``lead + 1`` frames after it (as many as there are context frames)."""
    if lead < 0 or t <= lead:
        return 0.0
    j, n = t - lead, lead + 1
    return 0.5 + 0.5 * math.cos(math.pi * j / (n + 1)) if j <= n else 0.0


class PropagateEngine(Engine):
    name = "propagate"
    version = "6"
    colour = "linear"
    model_size = None
    # Its one definition is admission's table (the I/O thread must not import this module).
    margin = MARGINS["propagate"]

    def fill(self, window: WindowInput) -> np.ndarray:
        frames = np.ascontiguousarray(window.frames, np.float32)
        holes = quadmask_hole(window.quadmask)  # a new array already (a comparison)
        if window.context is not None:
            holes[np.asarray(window.context, bool)] = False
        t_count = frames.shape[0]
        lead = _context_lead(window.context)
        times: np.ndarray | None = None
        first = 0  # index of the window's first real frame (1 after a prepended reference)
        if window.references and holes.any():
            frames, holes, times, first = _with_references(frames, holes, window.references)
            lead = lead + first if lead >= 0 else -1
        if not holes.any():
            kept = frames[first : first + t_count]
            return kept if window.in_place else kept.copy()
        n = frames.shape[0]
        # One grey frame at a time: the flow keeps only its downscaled stack.
        flow = _Flow((grey8(f) for f in frames), holes)
        masks = _Masks(holes)  # a bit per pixel from here on
        del holes
        # The caller allows the fill into its input (``WindowInput.in_place``): round one then
        # writes once every frame's sources are read, so the result is the one into a copy.
        out = frames if window.in_place else frames.copy()
        steps = 2 * n
        fill = _Filler(window, lead, first, times)
        fill.defer = out is frames
        # Margin frames (``WindowInput.margins``) are sources only: their fill is not read, so
        # none is made (it was a third of the CPU of a bench window with margins).
        before, after = window.margins
        fill.skip = frozenset(range(first, first + before)) | frozenset(
            range(first + t_count - after, first + t_count)
        )
        unknown = fill(frames, masks, flow, out, steps)
        del masks
        counts = unknown.counts()
        counts[list(fill.skip)] = 0
        if counts.any():
            # Nothing ever shows this background: fill one key frame spatially, then let
            # propagation carry that fill to the others, so the fill is stable in time.
            key = int(np.argmax(counts))
            out[key] = _spatial_fill(out[key], unknown[key])
            holes2 = unknown  # unknown[key] is not read again: no copy
            holes2[key] = False
            # In place is safe: sources are never inside holes2 of their own frame. The flows
            # are round one's (already completed inside the original holes).
            fill.direct = False
            fill.defer = False
            unknown = fill(out, holes2, flow, out, steps)
            for t in np.flatnonzero(unknown.counts()):
                if t not in fill.skip:
                    out[t] = _spatial_fill(out[t], unknown[t])
        return out[first : first + t_count] if n != t_count else out


#: A reference frame outside the window is used only this many frames from the window's
#: nearest end at most: its motion to that frame is estimated in one step, which fails for
#: long gaps (docs/user-guide.md, "Reference frames").
REFERENCE_REACH = 24


def _with_references(
    frames: np.ndarray, holes: np.ndarray, references: list[tuple[int, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The window with the artist's clean frames as background samples.

    A reference inside the window replaces its frame's hole: those pixels become fully visible
    background, so propagation carries them along the motion like any visible pixel. The
    nearest reference outside the window (within ``REFERENCE_REACH``) joins as an extra frame
    at that end, with its true distance in time, so nearer real sources still weigh more.
    Returns frames, holes, each frame's time (window index) and the first real frame's index.
    """
    t_count = frames.shape[0]
    frames = frames.copy()
    times = np.arange(t_count, dtype=np.float64)
    outside: list[tuple[int, int, np.ndarray]] = []
    for offset, rgb in references:
        rgb = np.asarray(rgb, np.float32)
        if 0 <= offset < t_count:
            frames[offset] = np.where(holes[offset][..., None], rgb, frames[offset])
            holes[offset] = False
        else:
            gap = -offset if offset < 0 else offset - (t_count - 1)
            if gap <= REFERENCE_REACH:
                outside.append((gap, offset, rgb))
    if not outside:
        return frames, holes, times, 0
    _, offset, rgb = min(outside, key=lambda r: r[0])
    none = np.zeros((1, *holes.shape[1:]), bool)
    if offset < 0:
        return (
            np.concatenate([rgb[None], frames]),
            np.concatenate([none, holes]),
            np.concatenate([[float(offset)], times]),
            1,
        )
    return (
        np.concatenate([frames, rgb[None]]),
        np.concatenate([holes, none]),
        np.concatenate([times, [float(offset)]]),
        0,
    )


#: Which frames a frame's hole pixels take candidates from, in slot order
#: (``_Candidates._plan``): per source frame, the alignment as float32, its whole-pixel shift
#: or None, the pixels that take one (packed bits), whether one pixel alone was mapped.
_Plan = list[tuple[int, np.ndarray, tuple[float, float] | None, np.ndarray, bool]]

#: Distances in frames (each side) of the frames a hole pixel takes direct candidates from.
CANDIDATE_STEPS = (1, 2, 3, 5, 8, 12, 17, 23, 30, 40, 52, 67, 85, 110, 140, 180)
#: Most direct candidates kept per pixel (the nearest visible ones).
CANDIDATES = 9
#: Within ``DENSE_NEAR_START`` frames of a window's start and ``DENSE_NEAR_END`` of its end,
#: candidates are also taken at every distance up to ``DENSE_REACH`` (``_Candidates._distances``):
#: crossfade seam on ``zoom`` 1.43 -> 0.83, chain seam on ``parallax`` 1.27 -> 0.92 and
#: ``occlusion`` 1.25 -> 1.00; every distance everywhere cost ``occlusion`` 0.24 dB, and 12 frames
#: at the end too put the chain seam on ``pan`` at 1.051 (bench/chain_priors.py --seam crossfade,
#: docs/benchmarks.md).
DENSE_NEAR_START = 12
DENSE_NEAR_END = 8
DENSE_REACH = 24
#: A camera whose background flow stays within ``STILL_PAIR`` px of none in every frame pair,
#: and whose motion summed over the window within ``STILL`` px, is locked off
#: (``_Candidates.still``): candidates are then the same pixel in the nearest frames that see
#: it, exact copies. (DIS flow on the locked-off scenes: under 0.005 px; the slowest moving
#: bench scene, ``hidden``: 0.8 px a frame.)
STILL_PAIR = 0.1
STILL = 0.5
#: Spread (median absolute deviation, on sqrt-luminance) at which candidates stop agreeing.
AGREEMENT = 0.06
#: Forward and backward fills closer than this (sqrt-luminance) are consistent, and keep the
#: chained fill without asking the candidates. Off (0): on the bench scenes it saved a fifth
#: of the time at 1080p but cost 0.8 dB on ``zoom`` and 4 dB on ``static`` (docs/benchmarks.md).
CONSISTENT = 0.0
#: Refine each camera-aligned candidate's alignment around the hole (see ``_refine``):
#: +4 dB on ``zoom``, where composed pair homographies drift 1-2 px over 20 frames.
REFINE = True
#: Least margin (flow-resolution px) around the hole for that refinement.
REFINE_MARGIN = 24
#: Nearer than this many frames the composed homography has not drifted enough to refine.
REFINE_FROM = 4
#: RANSAC for the refinement: inlier distance (px) and iterations (the correction is near the
#: identity, so few iterations find it; the default 2000 made the fit the engine's hot spot).
#: The residual flow uses the engine's own DIS preset: the FAST preset lost 4 dB on ``zoom``.
REFINE_THR = 1.0
REFINE_ITERS = 300
#: Frames whose candidates' plan (``_Candidates._plan``: the refinement flows, a third of the
#: engine's time at 1080p, and the visibility tests) is made ahead, in worker threads, while
#: the fill works on the current frame; 0: none. A plan reads only the holes and the flow, so
#: it is the one made in turn (DIS and OpenCV release the GIL: the second core's work). At
#: 1080p on 2 cores one ahead took the calling thread's CPU from 15.0 to 9.9 s (of 22-25)
#: and the fps up 1.20-1.22x, the peak 1.42x -> 1.44-1.46x the input; two were no faster and
#: peaked at 1.51x (a second thread's allocator keeps its own free memory).
PLAN_AHEAD = 1


def _lum(rgb: np.ndarray) -> np.ndarray:
    """A perceptual-ish luminance (square root: HDR-safe, close to display encoding)."""
    y = rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722
    return np.sqrt(np.maximum(y, 0.0))


class _Candidates:
    """Direct candidates for one frame's hole pixels, from several frames aligned by the
    camera's motion (composed pair homographies), fused by their agreement.

    Chained flow (:func:`_propagate`) follows anything that moves, which is right for things
    moving on their own behind the object, but it copies an occluder in front of the hole (a
    fence) and drifts over long chains (a zoom). Candidates aligned by the camera's motion from
    several frames disagree where the background does not follow the camera (then the chained
    fill is kept) and agree on the background, where an occluder that passes over the point
    in a few of them is outvoted by the median.
    """

    def __init__(
        self,
        frames: np.ndarray,
        holes: MaskStack,
        flow: _Flow,
        lead: int = -1,
        skip: frozenset[int] = frozenset(),
        first: int = 0,
    ) -> None:
        self.frames, self.holes, self.flow = frames, holes, flow
        #: Frames the fill does not ask candidates for (``_Filler.skip``): none planned ahead.
        self.skip = skip
        #: Plans made ahead (``PLAN_AHEAD``), by frame: its hole pixels and plan, or None.
        self._ahead: dict[int, Future] = {}
        self._pool: ThreadPoolExecutor | None = None
        #: Last context frame (``chain``), or -1: the frames after it are not cut short on
        #: that side (the context is visible background to them).
        self.lead = lead
        self.n = frames.shape[0]
        self.holes8 = holes.view(np.uint8)
        self._still: bool | None = None
        #: Per frame pair ``(k, k + 1)``, :meth:`_pair_motion` as noted by :meth:`note_pair`.
        self._pairs: dict[int, np.ndarray | None] = {}
        #: Frames whose hole interior the fill has already written (``_Filler._write_early``).
        self.written: set[int] = set()
        #: Whether every whole-pixel shift so far read within ``RIM`` of visible background.
        self.rim_safe = True
        #: The first context frame (after a prepended reference frame, 1): frames ``first`` to
        #: ``lead`` are the context.
        self.first = first

    def _box(self, hy: np.ndarray, hx: np.ndarray) -> tuple[int, int, int, int]:
        """The hole's bounding box grown by its own size (at least ``REFINE_MARGIN`` px), in
        flow-resolution pixels: the neighbourhood whose motion the hole shares."""
        fl = self.flow
        sh, sw = fl.grey.shape[1:]
        k = fl._to_small
        y0, y1 = hy.min() * k[1, 1] + k[1, 2], hy.max() * k[1, 1] + k[1, 2]
        x0, x1 = hx.min() * k[0, 0] + k[0, 2], hx.max() * k[0, 0] + k[0, 2]
        my = max(REFINE_MARGIN, 0.5 * (y1 - y0))
        mx = max(REFINE_MARGIN, 0.5 * (x1 - x0))
        return (
            max(0, int(y0 - my)),
            min(sh, int(y1 + my) + 1),
            max(0, int(x0 - mx)),
            min(sw, int(x1 + mx) + 1),
        )

    def _refine(self, t: int, s: int, g: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """``g`` (frame ``t`` -> ``s``, composed from frame pairs, so it drifts: dense flow
        underestimates a zoom by a few percent per pair) corrected by the flow between frame
        ``t`` and frame ``s`` warped by ``g`` around the hole, where little motion is left."""
        fl = self.flow
        y0, y1, x0, x1 = box
        if y1 - y0 < 16 or x1 - x0 < 16:
            return g
        k = fl._to_small
        gs = k @ g @ np.linalg.inv(k)  # in flow-resolution pixels
        shift = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
        m = gs @ shift  # crop pixel -> frame s (small)
        size = (x1 - x0, y1 - y0)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        warped = cv2.warpPerspective(
            fl.grey[s], m, size, flags=flags, borderMode=cv2.BORDER_REPLICATE
        )
        hole_s = cv2.warpPerspective(
            fl.holes[s].astype(np.uint8),
            m,
            size,
            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=1,
        )
        crop = np.ascontiguousarray(fl.grey[t, y0:y1, x0:x1])
        with fl.dis_lock:
            r = fl.dis.calc(crop, warped, None)  # type: ignore[call-overload]
        bad = (fl.holes[t, y0:y1, x0:x1] | (hole_s > 0)).astype(np.uint8)
        bad = cv2.dilate(bad, np.ones((2 * FLOW_GUARD + 1,) * 2, np.uint8)) > 0
        bad[:2], bad[-2:], bad[:, :2], bad[:, -2:] = True, True, True, True
        vy, vx = np.nonzero(~bad)
        if vy.size < 64:
            return g
        step = max(1, vy.size // 2000)
        vy, vx = vy[::step], vx[::step]
        pa = np.stack([vx, vy], 1).astype(np.float32)
        pb = pa + r[vy, vx]
        c, inl = cv2.findHomography(pa, pb, cv2.RANSAC, REFINE_THR, maxIters=REFINE_ITERS)
        if c is None or inl is None or int(inl.sum()) < 32:
            return g
        # crop p -> crop p + r(p) -> frame s: g_small(shift(C(p))); back to full resolution.
        corrected = gs @ shift @ c @ np.linalg.inv(shift)
        return np.linalg.inv(k) @ corrected @ k

    def warp_from(
        self, t: int, s: int, hy: np.ndarray, hx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``s``'s colours at frame ``t``'s points ``(hy, hx)`` by the camera's motion
        (composed, then refined around the points), and where they land inside frame ``s``."""
        n_pts = hy.size
        h, w = self.holes.shape[1:]
        if n_pts == 0:
            return np.zeros((0, 3), np.float32), np.zeros(0, bool)
        sign = 1 if s > t else -1
        g: np.ndarray | None = np.eye(3)
        for k in range(t + sign, s + sign, sign):
            step = self._step(k - sign, k)
            if step is None or g is None:
                return np.zeros((n_pts, 3), np.float32), np.zeros(n_pts, bool)
            g = step @ g
        assert g is not None
        if abs(s - t) >= REFINE_FROM:
            g = self._refine(t, s, g, self._box(hy, hx))
        q = g @ np.stack([hx, hy, np.ones(n_pts)], 0)
        qx, qy = q[0] / q[2], q[1] / q[2]
        ok = (q[2] > 0) & (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
        out = np.zeros((n_pts, 3), np.float32)
        if ok.any():
            out[ok] = _at_rgb(self.frames[s], qx[ok], qy[ok])
        return out, ok

    def _seen(
        self, g: np.ndarray, p: np.ndarray, s: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points ``p`` (homogeneous, ``(3, N)``) mapped by ``g`` into frame ``s``, and whether
        each lands inside it on visible background. Point by point: the same for any subset
        of points (the 3x3 product and the lookups are per column), which the candidates'
        blocks rely on."""
        h, w = self.holes.shape[1:]
        q = g.astype(np.float32) @ p
        qx, qy = q[0] / q[2], q[1] / q[2]
        ok = (q[2] > 0) & (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
        ok &= _at(self.holes8[s], qx, qy, cv2.INTER_NEAREST, 1) == 0
        return qx, qy, ok

    def _any_seen(self, g: np.ndarray, pts: np.ndarray, need: np.ndarray | None, s: int) -> bool:
        """Whether any of points ``pts[:, need]`` (all of them: None) mapped by ``g`` is
        visible in frame ``s`` (by chunks, stopping at the first that has one)."""
        n = pts.shape[1] if need is None else need.size
        chunk = 8192
        for i in range(0, n, chunk):
            p = pts[:, i : i + chunk] if need is None else pts[:, need[i : i + chunk]]
            if self._seen(g, p, s)[2].any():
                return True
        return False

    def _distances(self, t: int) -> set[int]:
        """The distances frame ``t`` takes candidates at: ``CANDIDATE_STEPS``, and every frame
        up to ``DENSE_REACH`` away near the window's ends (``DENSE_NEAR_START``/``_END``). There
        one side is cut short, so the sparse steps reach twice as far as in the middle, where
        the alignment is weaker (a zoom) and the two windows of a seam then see different
        frames (docs/benchmarks.md, "crossfade: why the windows disagree"). A ``chain`` window's
        start is not cut short: its context frames are visible background on that side."""
        start = t < DENSE_NEAR_START and (self.lead < 0 or not CONTEXT_SIDE)
        if start or self.n - 1 - t < DENSE_NEAR_END:
            return set(CANDIDATE_STEPS) | set(range(1, DENSE_REACH + 1))
        return set(CANDIDATE_STEPS)

    def still(self) -> bool:
        """Whether the camera is locked off over the window: in every frame pair, the flow of
        the background well away from the holes (``RESIDUAL_GUARD``) is within ``STILL_PAIR`` px
        of none at nine pixels in ten, and the median motion summed over the window stays within
        ``STILL`` px (a slow creep adds up). Memoised; the pair flows are the chained passes'.
        The flow, not the fitted homographies: on a small frame with a large hole those are off
        by 0.2 px at the corners where nothing moves, and their composition drifts."""
        if self._still is None:
            drift = np.zeros(2)
            self._still = True
            for k in range(self.n - 1):
                motion = self._pairs[k] if k in self._pairs else self._pair_motion(k)
                if motion is None:
                    self._still = False
                    break
                drift += motion
                if np.abs(drift).max() >= STILL:
                    self._still = False
                    break
        return self._still

    def note_pair(self, k: int) -> None:
        """Take what :meth:`still` needs of the pair flow from frame ``k`` to ``k + 1`` while
        it is at hand (the backward pass's; the flow need not be held until then)."""
        if self._still is None and k not in self._pairs and 0 <= k < self.n - 1:
            motion = self._pairs[k] = self._pair_motion(k)
            if motion is None:
                self._still = False  # one pair that moves is enough

    def _pair_motion(self, k: int) -> np.ndarray | None:
        """The median background motion from frame ``k`` to ``k + 1`` (:meth:`still`), or
        None where that pair is not still (or too little background is left to tell)."""
        fl = self.flow
        size = (2 * RESIDUAL_GUARD + 1,) * 2
        near = (fl.holes[k] | fl.holes[k + 1]).astype(np.uint8)
        far = ~(cv2.dilate(near, np.ones(size, np.uint8)) > 0)
        if far.sum() < 64:
            return None
        v = fl._small(k, k + 1)[far] / fl.scale
        motion = np.median(v, 0)
        p90 = float(np.percentile(np.hypot(v[:, 0], v[:, 1]), 90))
        return None if p90 >= STILL_PAIR else motion

    def _still_candidates(
        self,
        t: int,
        hy: np.ndarray,
        hx: np.ndarray,
        cand: np.ndarray,
        lum: np.ndarray,
        count: np.ndarray,
    ) -> None:
        """A locked-off camera's candidates: the same pixel in the nearest frames that see it,
        at every distance (no alignment to refine, and no resampling: exact copies). Pixel by
        pixel, so it runs on one block of the hole's pixels at a time."""
        for dist in range(1, self.n):
            for s in (t + dist, t - dist):
                if not 0 <= s < self.n:
                    continue
                need = np.flatnonzero(count < CANDIDATES)
                if need.size == 0:
                    return
                sel = need[self.holes8[s][hy[need], hx[need]] == 0]
                if sel.size == 0:
                    continue
                col = self.frames[s, hy[sel], hx[sel]]
                flat = sel * CANDIDATES + count[sel]
                cand.reshape(-1, 3)[flat] = col
                lum.reshape(-1)[flat] = _lum(col)
                count[sel] += 1

    def _step(self, a: int, b: int) -> np.ndarray | None:
        hmat = self.flow.homography(a, b)
        if hmat is None:
            back = self.flow.homography(b, a)
            if back is None:
                return None
            hmat = np.linalg.inv(back)
        return hmat

    def __call__(self, t: int, hy: np.ndarray, hx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(fused colour ``(N, 3)``, agreement in [0, 1] ``(N,)``); agreement 0 where fewer
        than three frames see the pixel.

        In two steps, so that the candidates' colours are only ever held for one block of
        pixels (nine candidates' colours for every hole pixel of a 1080p frame were the
        largest array of the window, docs/benchmarks.md "Speed and memory at 1080p"): which
        frames each pixel takes its candidates from is decided over all of them (the
        refinement and its test, the alignment and the stopping rule depend on the whole
        set), then each block samples and fuses its own in that same order.
        """
        n_pts = hy.size
        fused = np.zeros((n_pts, 3), np.float32)
        agree = np.zeros(n_pts, np.float32)
        if self.still():
            for a, b, cand, lum, count in _blocks(n_pts):
                self._still_candidates(t, hy[a:b], hx[a:b], cand, lum, count)
                if count.any():
                    fused[a:b], agree[a:b], _ = _fuse(cand, lum, count)
            return fused, agree
        pts = np.empty((3, n_pts), np.float32)  # the values of stacking (hx, hy, 1) as float32
        pts[0], pts[1], pts[2] = hx, hy, 1.0
        plan = self._planned(t, hy, hx, pts)
        if not plan:
            return fused, agree
        chain = CONTEXT_OUTVOTE and self.lead >= self.first
        for a, b, cand, lum, count in _blocks(n_pts):
            # ``chain``: which candidates are the earlier window's fill (``_outvote_prior``).
            prior = np.zeros(cand.shape[:2], bool) if chain else None
            for s, g32, shift, bits, lone in plan:
                # This block's pixels that take a candidate from this frame (bits: all pixels').
                sel = np.flatnonzero(np.unpackbits(bits[a // 8 : -(-b // 8)], count=b - a))
                if sel.size == 0:
                    continue
                if shift is None:
                    # Column by column, the product is the one over all pixels (SEEN_CHUNK).
                    cols = a + sel
                    if cols.size == 1 and not lone:
                        q = (g32 @ pts[:, np.r_[cols, cols]])[:, :1]
                    else:
                        q = g32 @ pts[:, cols]
                    qx, qy = q[0] / q[2], q[1] / q[2]
                    del q, cols
                else:
                    qx, qy = pts[0, a + sel] + shift[0], pts[1, a + sel] + shift[1]
                col = _at_rgb(self.frames[s], qx, qy)
                # One flat index (pixel, slot) instead of two index arrays: a faster scatter.
                flat = sel * CANDIDATES + count[sel]
                cand.reshape(-1, 3)[flat] = col
                lum.reshape(-1)[flat] = _lum(col)
                if prior is not None and self.first <= s <= self.lead:
                    prior.reshape(-1)[flat] = True
                count[sel] += 1
            if count.any():
                fused[a:b], agree[a:b], pick = _fuse(cand, lum, count)
                if prior is not None:
                    _outvote_prior(cand, lum, count, prior, pick, fused[a:b], agree[a:b])
        return fused, agree

    def _planned(self, t: int, hy: np.ndarray, hx: np.ndarray, pts: np.ndarray) -> _Plan:
        """:meth:`_plan` for frame ``t``, made ahead if it was for these pixels; then the
        next frames' plans are started (``PLAN_AHEAD``)."""
        ahead = self._ahead.pop(t, None)
        for old in [k for k in self._ahead if k < t]:  # never asked for (not expected)
            self._ahead.pop(old)
        made = None if ahead is None else ahead.result()
        if made is not None and np.array_equal(made[0], hy) and np.array_equal(made[1], hx):
            plan = made[2]
        else:
            plan = self._plan(t, hy, hx, pts)
        del ahead, made
        nxt = [s for s in range(t + 1, self.n) if s not in self.skip][:PLAN_AHEAD]
        if nxt and self._pool is None:
            self._pool = ThreadPoolExecutor(PLAN_AHEAD, thread_name_prefix="propagate-plan")
        for s in nxt:
            if s not in self._ahead:
                assert self._pool is not None
                # The one pair flow that plan needs and no pass made yet, here: the chained
                # pass asks for it next anyway (memoised), and the worker then allocates only
                # its plan's small arrays (each thread's allocator keeps its own free memory:
                # made there, it put the 1080p peak at 1.50x the input).
                self._step(s, s - 1)
                self._ahead[s] = self._pool.submit(self._plan_frame, s)
        if not nxt and not self._ahead and self._pool is not None:
            self._pool.shutdown(wait=False)  # the last frame: the threads end
            self._pool = None
        return plan

    def _plan_frame(self, t: int) -> tuple[np.ndarray, np.ndarray, _Plan] | None:
        """Frame ``t``'s hole pixels as the fill's pass finds them (``_propagate``) and their
        :meth:`_plan` (in a worker thread), or None without a hole. Made ahead, a plan may
        find a read off the rim (``rim_safe``) before the fill writes more frames early: the
        early writes only stop sooner (the result is the same, ``_Filler._write_early``)."""
        hy, hx = (c.astype(np.int32) for c in np.nonzero(self.holes[t]))
        if hy.size == 0:
            return None
        pts = np.empty((3, hy.size), np.float32)
        pts[0], pts[1], pts[2] = hx, hy, 1.0
        return hy, hx, self._plan(t, hy, hx, pts)

    def _plan(self, t: int, hy: np.ndarray, hx: np.ndarray, pts: np.ndarray) -> _Plan:
        """Which frames the pixels ``pts`` (``(x, y, 1)`` columns) of frame ``t`` take their
        candidates from, in slot order: per source frame, ``(s, the alignment as float32,
        its whole-pixel shift or None, the pixels that take one, as packed bits, whether one
        pixel alone was mapped)``."""
        n_pts = hy.size
        wanted = self._distances(t)
        box = self._box(hy, hx)
        corners = np.array(
            [[hx.min(), hx.max(), hx.min(), hx.max()], [hy.min(), hy.min(), hy.max(), hy.max()]],
            np.float64,
        )
        count = np.zeros(n_pts, np.uint8)
        plan: _Plan = []
        # Nearest first, alternating sides, so each pixel keeps its nearest visible frames.
        gs: list[np.ndarray | None] = [np.eye(3), np.eye(3)]
        dist = 0
        while True:
            dist += 1
            any_side = False
            for side, sign in enumerate((1, -1)):
                s = t + sign * dist
                if not 0 <= s < self.n:
                    continue
                any_side = True
                g = gs[side]
                if g is not None:
                    step = self._step(s - sign, s)
                    g = gs[side] = None if step is None else step @ g
                if g is None or dist not in wanted:
                    continue
                left = np.flatnonzero(count < CANDIDATES)
                if left.size == 0:
                    break
                # All pixels still need candidates until the last distances: no gather then.
                need = None if left.size == n_pts else left
                del left
                refine = REFINE and dist >= REFINE_FROM
                if refine:
                    # Only whether any pixel is seen decides the refinement: stop at the first
                    # chunk that has one (the full mapping is redone with the refined motion).
                    if not self._any_seen(g, pts, need, s):
                        continue
                    g = gs[side] = self._refine(t, s, g, box)
                shift = _whole_shift(g, corners)
                ok, off = self._seen_all(g, pts, need, s, shift)
                if not ok.any():
                    continue
                if off >= RIM - 0.5:
                    # The shift reads further into frame s's hole than the rim a fill written
                    # early keeps aside (``_Filler._write_early``): write no more early.
                    self.rim_safe = False
                    if s in self.written:
                        log.warning(
                            "propagate: frame %d read %.1f px off its whole-pixel shift from "
                            "frame %d, already written: the in-place fill may differ from a "
                            "copy's there",
                            t,
                            off,
                            s,
                        )
                sel = np.flatnonzero(ok) if need is None else need[ok]
                del ok
                taken = np.zeros(n_pts, bool)
                taken[sel] = True
                lone = need is not None and need.size == 1
                plan.append((s, g.astype(np.float32), shift, np.packbits(taken), lone))
                count[sel] += 1
                del sel, taken
            if not any_side or dist > CANDIDATE_STEPS[-1] or not (count < CANDIDATES).any():
                break
        return plan

    def _seen_all(
        self,
        g: np.ndarray,
        pts: np.ndarray,
        need: np.ndarray | None,
        s: int,
        shift: tuple[float, float] | None,
    ) -> tuple[np.ndarray, float]:
        """``_seen``'s visibility of points ``pts[:, need]`` (all of them: None), by chunks
        (the mapped coordinates are only ever a chunk's), and how far (px, the larger axis)
        the visible ones land from ``shift`` (0 without one)."""
        n = pts.shape[1] if need is None else need.size
        ok = np.empty(n, bool)
        off = 0.0
        bounds = [*range(0, n, SEEN_CHUNK), n]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
            del bounds[-2]  # no lone last column (SEEN_CHUNK)
        for i, j in zip(bounds[:-1], bounds[1:]):
            p = pts[:, i:j] if need is None else pts[:, need[i:j]]
            qx, qy, ok[i:j] = self._seen(g, p, s)
            if shift is not None and ok[i:j].any():
                seen = ok[i:j]
                dx = np.abs(qx[seen] - (p[0, seen] + shift[0])).max()
                dy = np.abs(qy[seen] - (p[1, seen] + shift[1])).max()
                off = max(off, float(dx), float(dy))
        return ok, off


def _blocks(n_pts: int) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """Blocks of ``FUSE_BLOCK`` pixels (whole bytes of a packed mask) with their empty
    candidate arrays: colours ``(n, CANDIDATES, 3)``, luminance (inf where unused), count.
    Pixel-major (each pixel's candidates contiguous): the per-pixel sorts run in place."""
    for a in range(0, n_pts, FUSE_BLOCK):
        b = min(n_pts, a + FUSE_BLOCK)
        cand = np.zeros((b - a, CANDIDATES, 3), np.float32)
        lum = np.full((b - a, CANDIDATES), np.inf, np.float32)
        yield a, b, cand, lum, np.zeros(b - a, np.int64)


#: Hole pixels within this many pixels (Chebyshev) of visible background are the rim that a
#: fill written early keeps aside (``_Filler._write_early``): candidates read one pixel into
#: the hole at most, or, along a whole-pixel shift, as far as the shift is from the motion.
RIM = 3

#: Pixels whose candidates are sampled and fused at once (:func:`_fuse`); a multiple of 8.
FUSE_BLOCK = 32768
#: Points mapped at once to test where they land (``_Candidates._seen_all``). Blocks and
#: chunks of points map as all of them do: numpy (BLAS) multiplies a ``(3, 3)`` by a ``(3, N)``
#: matrix column by column the same for every ``N`` >= 2; ``N`` = 1 is a matrix-vector product,
#: rounded differently in the last bit, so a lone point is mapped as one of two.
SEEN_CHUNK = 65536


def _fuse(
    cand: np.ndarray, lum: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate of median luminance of each pixel, the candidates' agreement
    (``exp(-(MAD / AGREEMENT)^2)``, 0 with fewer than three) and the slot picked (0 without a
    candidate); ``cand`` ``(N, CANDIDATES, 3)``,
    ``lum`` ``(N, CANDIDATES)`` (inf in unused slots: :func:`_blocks`), ``count`` ``(N,)``.

    Ranked by a sorting network over the slots (:func:`_ranked`), not a per-row argsort and
    partition (2.9 of the engine's 28 s at 1080p): the same pixels, bit for bit
    (``tests/unit/test_propagate_fuse.py`` against the sorts). A median value is one slot's
    but where several slots hold it (ties, unused slots' inf) or a NaN is in the row: there
    argsort picks, as before (which of equal values it ranks first is its own order)."""
    n_pts, k = lum.shape
    mid = np.maximum(count - 1, 0) // 2
    cols = np.arange(n_pts)
    # (slot, pixel): whole rows per comparator. Always a copy: the deviations below overwrite
    # it, and ascontiguousarray returns a one-pixel block's ``lum.T`` itself (a (K, 1) view is
    # contiguous), which wrote the caller's ``lum``.
    slots = lum.T.copy()
    at_mid = mid * n_pts + cols  # rank ``mid`` of each pixel in a (rank, pixel) stack
    median = np.stack(_ranked(slots)).reshape(-1)[at_mid]
    same = slots == median
    ties = same.sum(0, dtype=np.int8)
    pick = (same * np.arange(k, dtype=np.int8)[:, None]).sum(0, dtype=np.intp)  # if one
    del same
    odd = ties != 1
    # No candidate: all slots are zero colour at inf, any is the sorts' pick.
    pick[odd] = 0
    odd &= count > 0
    nan = np.isnan(slots).any(0) if np.isnan(slots).any() else None
    if nan is not None:
        odd |= nan
    rows = np.flatnonzero(odd)
    if rows.size:
        pick[rows] = np.argsort(lum[rows], axis=1)[np.arange(rows.size), mid[rows]]
    fused = cand[cols, pick]
    at_pick = lum[cols, pick]
    # The MAD's deviations: with unused slots at inf, |lum - median| is the sorts' masked
    # deviation wherever the median is finite; only pixels with three candidates or more
    # need it (the agreement is 0 below), and those whose median is not finite or whose
    # row has a NaN (a network does not rank NaN last) take the partition, as before.
    with np.errstate(invalid="ignore"):
        dev = np.abs(np.subtract(slots, at_pick, out=slots), out=slots)
    spread = np.stack(_ranked(dev)).reshape(-1)[at_mid]
    odd = ~np.isfinite(at_pick)
    if nan is not None:
        odd |= nan
    rows = np.flatnonzero(odd & (count >= 3))
    if rows.size:
        valid = np.arange(k)[None, :] < count[rows, None]
        with np.errstate(invalid="ignore"):
            d = np.abs(np.where(valid, lum[rows], 0.0) - at_pick[rows, None])
        d = np.where(valid, d, np.inf)
        part = np.partition(d, list(range(int(mid[rows].max()) + 1)), axis=1)
        spread[rows] = part[np.arange(rows.size), mid[rows]]
    with np.errstate(invalid="ignore"):
        agree = np.where(count >= 3, np.exp(-((spread / AGREEMENT) ** 2)), 0.0)
    return fused, agree.astype(np.float32), pick


def _network(n: int) -> tuple[tuple[int, int], ...]:
    """A sorting network for ``n`` values: for nine (``CANDIDATES``), the 25-comparator one
    (checked on every 0/1 input in the tests), else odd-even transposition."""
    if n == 9:
        return (
            (0, 3), (1, 7), (2, 5), (4, 8), (0, 7), (2, 4), (3, 8), (5, 6), (0, 2),
            (1, 3), (4, 5), (7, 8), (1, 4), (3, 6), (5, 7), (0, 1), (2, 4), (3, 5),
            (6, 8), (2, 3), (4, 5), (6, 7), (1, 2), (3, 4), (5, 6),
        )  # fmt: skip
    return tuple((i, i + 1) for r in range(n) for i in range(r % 2, n - 1, 2))


def _ranked(slots: np.ndarray) -> list[np.ndarray]:
    """The values of each column of ``slots`` ``(K, N)`` in ascending order: ``K`` arrays of
    ``N`` (rank 0 first), by a sorting network of whole-row minima and maxima. Exact for any
    values but NaN (a minimum or maximum with NaN is NaN, wherever it was)."""
    rows = [r.copy() for r in slots]
    tmp = np.empty_like(rows[0])
    for i, j in _network(len(rows)):
        np.minimum(rows[i], rows[j], out=tmp)
        np.maximum(rows[i], rows[j], out=rows[j])
        rows[i], tmp = tmp, rows[i]
    return rows


def _outvote_prior(
    cand: np.ndarray,
    lum: np.ndarray,
    count: np.ndarray,
    prior: np.ndarray,
    pick: np.ndarray,
    fused: np.ndarray,
    agree: np.ndarray,
) -> None:
    """``chain``: the frames that see a point decide it where the earlier window's fill holds
    the candidates' median by its count alone. ``prior`` marks the candidates from context
    frames; ``pick``, ``fused`` and ``agree`` are :func:`_fuse`'s over all of them, the last
    two changed in place.

    Every context frame repeats the one earlier fill, so their number says nothing of its
    truth: on ``hidden`` (the earlier window never saw the background and filled spatially)
    three context frames outvoted two later frames that see it, and at the sparse candidate
    distances the count flipped from frame to frame, so the fill flickered between the two
    (docs/benchmarks.md, "`chain`: how the later window uses the earlier fill"). Where the
    median is a context candidate, the context has at least as many candidates as the frames
    that see the point, and ``PRIOR_SEEN`` or more of those agree (``PRIOR_AGREE``), their own
    median wins. Elsewhere the prior keeps its votes: where the frames that see the point are
    more, it only tips their median (``parallax``'s fence, ``zoom``'s far candidates)."""
    n_prior = prior.sum(1)
    seen = count - n_prior
    cols = np.arange(count.size)
    rows = np.flatnonzero(prior[cols, pick] & (seen >= PRIOR_SEEN) & (seen <= n_prior))
    if rows.size == 0:
        return
    # The seen candidates first, in their slot order; the context's slots count as unused.
    order = np.argsort(prior[rows], axis=1, kind="stable")
    c = np.take_along_axis(cand[rows], order[..., None], 1)
    lm = np.take_along_axis(lum[rows], order, 1)
    k = seen[rows]
    lm[np.arange(CANDIDATES)[None, :] >= k[:, None]] = np.inf
    f, g, _ = _fuse(c, lm, k)
    pair = np.flatnonzero(k == 2)
    if pair.size:
        # Two frames (_fuse gives no agreement under three): their spread about their middle.
        half = 0.5 * np.abs(lm[pair, 0] - lm[pair, 1])
        g[pair] = np.exp(-((half / AGREEMENT) ** 2))
    win = g >= PRIOR_AGREE
    fused[rows[win]] = f[win]
    agree[rows[win]] = g[win]


#: ``chain``: a window's start with context frames is not a cut-off end for the candidates.
CONTEXT_SIDE = True

#: ``chain``: frames that see a point outvote the earlier window's fill where it holds their
#: median by its count (``_outvote_prior``): at least ``PRIOR_SEEN`` of them, agreeing at least
#: ``PRIOR_AGREE``. ``hidden``: flicker after the seam 3.7-5.2 -> 1.7-2.7 code values (one window
#: 0.5-0.8), +0.09 dB; asking three of them leaves it (4.4-4.6); ``4k`` chain -0.31 dB
#: (bench/chain_priors.py ``count-votes`` is the rule off).
CONTEXT_OUTVOTE = True
PRIOR_SEEN = 2
PRIOR_AGREE = 0.5

#: ``chain``: ease every hole pixel from the context's fill carried by the camera's motion, not
#: only those whose chained flow reaches the context (bench/chain_priors.py).
CONTEXT_WARP = True

#: A mapping within this many pixels of a whole-pixel shift is that shift (a locked-off
#: camera's fitted motion is not exactly zero; resampling by the difference would only blur).
SNAP = 0.05


def _whole_shift(g: np.ndarray, corners: np.ndarray) -> tuple[float, float] | None:
    """The whole-pixel shift ``g`` is within ``SNAP`` px of over the hole's box, or None."""
    q = g @ np.vstack([corners, np.ones((1, corners.shape[1]))])
    d = q[:2] / q[2] - corners
    r = np.round(d[:, :1])
    return (float(r[0, 0]), float(r[1, 0])) if np.abs(d - r).max() < SNAP else None


def _at_rgb(
    img: np.ndarray, qx: np.ndarray, qy: np.ndarray, interp: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """Samples of an ``(H, W, 3)`` image at points, ``(N, 3)`` (edges replicated)."""
    out = _remap_points(img, qx, qy, interp, cv2.BORDER_REPLICATE)
    return out.reshape(-1, img.shape[2])[: qx.size]


class _Filler:
    """Forward/backward propagation and their blend for one window (see :meth:`__call__`)."""

    def __init__(
        self, window: WindowInput, lead: int, first: int, times: np.ndarray | None
    ) -> None:
        self.window = window
        self.lead = lead
        self.first = first
        self.times = times
        #: Fuse direct camera-aligned candidates (round one; round two spreads a spatial fill).
        self.direct = True
        #: ``out`` is ``frames`` (round one in place): each frame's fill is kept aside and
        #: written after the loop, since later frames still read the original pixels.
        self.defer = False
        #: Frames left unfilled (margins): their holes stay unknown, so never a source.
        self.skip: frozenset[int] = frozenset()

    def _weight(self, t: int, src: np.ndarray, known: np.ndarray) -> np.ndarray:
        if self.times is None:  # the frames are consecutive: their index is their time
            dist = np.abs(t - src)
        else:
            dist = np.abs(self.times[t] - self.times[np.where(known, src, 0)])
        return np.where(known, 1.0 / np.maximum(dist, 1), 0.0)[:, None]

    def _frame(
        self,
        frames: np.ndarray,
        direct: _Candidates | None,
        t: int,
        src: np.ndarray,
        xy: np.ndarray,
        b_src: np.ndarray,
        b_xy: np.ndarray,
        hy: np.ndarray,
        hx: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``t``'s fill of its hole pixels ``(hy, hx)`` from the forward and backward
        sources and the candidates, as float32 (the cast of the write), and which are known.

        The blend is per pixel, so it runs on blocks of pixels (its float64 temporaries, a few
        of them per frame, were the largest arrays of round one after the candidates), with
        the candidates asked before the chained colours are sampled: neither is held while
        the other is made."""
        lead = self.lead
        n_pts = src.size
        kf = src >= 0
        b_src = b_src.astype(np.int32)
        kb = b_src >= 0
        cf = cb = fused = agree = todo = None
        if direct is not None:
            # Forward/backward consistency: where both passes found the point and agree, the
            # chained fill stands; the camera-aligned candidates vote elsewhere. Off
            # (CONSISTENT 0): every pixel asks them, whatever the chained colours are.
            if CONSISTENT > 0.0:
                cf, cb = _sample(frames, src, xy), _sample(frames, b_src, b_xy)
                todo = np.flatnonzero(~(kf & kb & (np.abs(_lum(cf) - _lum(cb)) < CONSISTENT)))
                if todo.size:
                    fused, agree = direct(t, hy[todo], hx[todo])
            else:
                todo = np.arange(n_pts)
                fused, agree = direct(t, hy, hx)
        if cf is None or cb is None:
            cf, cb = _sample(frames, src, xy), _sample(frames, b_src, b_xy)
        ease = _continuation(t, lead)
        from_context = prior = warped = None
        if ease > 0.0:
            from_context = kf & (src <= lead) & (src >= self.first)
            if direct is not None and CONTEXT_WARP:
                # The rest eases from the last context frame's fill, carried by the
                # camera's motion: the earlier window's fill as a prior that fades.
                rest = ~from_context
                prior, seen = direct.warp_from(t, lead, hy[rest], hx[rest])
                warped = np.flatnonzero(rest)[seen]
                prior = prior[seen]
                del rest, seen
        known = np.empty(n_pts, bool)
        fill = np.empty((n_pts, 3), np.float32)
        for a in range(0, n_pts, FUSE_BLOCK):
            b = min(n_pts, a + FUSE_BLOCK)
            # Nearer sources in time are more trustworthy: weight by inverse distance.
            wf = self._weight(t, src[a:b], kf[a:b])
            wb = self._weight(t, b_src[a:b], kb[a:b])
            total = wf + wb
            kn = known[a:b]
            kn[:] = total[:, 0] > 0
            cf_b = cf[a:b]
            col = (cf_b * wf + cb[a:b] * wb) / np.maximum(total, 1e-9)
            del wf, wb, total
            if todo is not None and fused is not None and agree is not None:
                i, j = np.searchsorted(todo, (a, b))
                rows = todo[i:j] - a
                ag = agree[i:j]
                w = np.where(kn[rows], ag, (ag > 0) * 1.0)[:, None]
                col[rows] = w * fused[i:j] + (1.0 - w) * col[rows]
                kn[rows] |= ag > 0
            if from_context is not None:
                fc = from_context[a:b]
                col[fc] = ease * cf_b[fc] + (1.0 - ease) * col[fc]
                if warped is not None and prior is not None:
                    i, j = np.searchsorted(warped, (a, b))
                    rows = warped[i:j] - a
                    col[rows] = ease * prior[i:j] + (1.0 - ease) * col[rows]
            fill[a:b] = col
        return fill, known

    def __call__(
        self,
        frames: np.ndarray,
        holes: MaskStack,
        flow: _Flow,
        out: np.ndarray,
        steps: int,
    ) -> _Masks:
        """Fill ``out`` in place where forward/backward propagation reaches; return what is left
        (packed: a bool stack is as large as the quadmask)."""
        window, lead = self.window, self.lead
        t_count = frames.shape[0]
        # The backward pass is kept whole; the forward pass goes the fill's way, one frame's
        # maps at a time (half the per-frame source maps held at once).
        bwd_t: list[np.ndarray | None] = [None] * t_count
        bwd_xy: list[np.ndarray | None] = [None] * t_count
        # The source frame in 8 or 16 bits (the same values): the backward maps are held whole.
        small_idx = np.int8 if t_count < 2**7 else np.int16 if t_count < 2**15 else np.int32
        direct = (
            _Candidates(frames, holes, flow, lead, self.skip, self.first) if self.direct else None
        )
        bwd = _propagate(holes, range(t_count - 1, -1, -1), flow, window, 0, steps)
        for t, src, xy, _, _ in bwd:
            if src is not None and xy is not None:
                # Only the found pixels' coordinates: the others are never sampled.
                found = src >= 0
                bwd_t[t], bwd_xy[t] = src.astype(small_idx), xy if found.all() else xy[found]
            if direct is not None:
                # The pair flow this step used is not asked for again in round one (the
                # homography fitted to it is kept): held through the pass, the window's pair
                # flows were a sizeable share of its peak. Round two recomputes what it needs.
                direct.note_pair(t)
            flow.forget(t, t + 1)
        del src, xy, _
        if direct is not None:
            direct.still()  # the pairs the backward pass did not use are computed here
        flow.keep_only(set())  # any that still() made
        # Left unfilled, per frame (the full mask is built at the end, off the peak).
        left: list[tuple[int, np.ndarray, np.ndarray]] = []
        # Fills kept aside (``self.defer``): frame, which hole pixels (None: all), colours;
        # and the rim of those written early (``_write_early``): frame, ys, xs, colours.
        kept: list[tuple[int, np.ndarray | None, np.ndarray]] = []
        rims: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        for t, src, xy, hy, hx in _propagate(holes, range(t_count), flow, window, t_count, steps):
            if self.defer and direct is not None:
                # The forward chains of later frames read only frame t and the frames this
                # one's read (_chain): the earlier frames' hole interiors are read no more.
                read = None if src is None else src[src >= 0]
                oldest = t if read is None or not read.size else min(t, int(read.min()))
                self._write_early(out, holes, direct, kept, rims, oldest)
                del read
            if src is None or xy is None:
                continue
            if t in self.skip:
                bwd_t[t] = bwd_xy[t] = None
                left.append((t, hy, hx))
                continue
            b_src, b_xy = bwd_t[t], bwd_xy[t]
            assert b_src is not None and b_xy is not None  # the same holes, so the same frames
            # Release this frame's source maps as it goes: held for the whole window they were
            # a sizeable share of the peak (docs/benchmarks.md, "Speed and memory at 1080p").
            bwd_t[t] = bwd_xy[t] = None
            if len(b_xy) != len(b_src):  # the found pixels' only: none for the others
                b_all = np.zeros((len(b_src), 2), np.float32)
                b_all[b_src >= 0] = b_xy
                b_xy = b_all
                del b_all
            col, known = self._frame(frames, direct, t, src, xy, b_src, b_xy, hy, hx)
            del src, xy, b_src, b_xy
            every = bool(known.all())
            if self.defer:
                kept.append((t, None, col) if every else (t, known, col[known]))
            elif every:
                out[t, hy, hx] = col
            else:
                out[t, hy[known], hx[known]] = col[known]
            del col
            if not every:
                left.append((t, hy[~known], hx[~known]))
            else:
                flow.forget(t, t - 1, t + 1)
            del known, hy, hx
        del direct, bwd_t, bwd_xy
        flow.keep_only({t for t, _, _ in left})  # round two's frames
        while kept:
            t, sel, col = kept.pop()
            hy, hx = np.nonzero(holes[t])
            if sel is not None:
                hy, hx = hy[sel], hx[sel]
            out[t, hy, hx] = col
            del col, hy, hx
        for t, ry, rx, col in rims:
            out[t, ry, rx] = col
        return _Masks.points(holes.shape, left)

    def _write_early(
        self,
        out: np.ndarray,
        holes: MaskStack,
        direct: _Candidates,
        kept: list[tuple[int, np.ndarray | None, np.ndarray]],
        rims: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
        oldest: int,
    ) -> None:
        """Write the kept fills of the frames before ``oldest`` into ``out`` (the frames, in
        place) but for their hole's rim, which stays aside: the fills kept for the whole
        window were the largest part of its peak (docs/benchmarks.md, "Speed and memory at
        1080p"). The result is the one of writing them all at the end: after this, only the
        candidates read those frames, which sample visible background bilinearly, a footprint
        within one pixel of a visible pixel, so within the rim (``RIM``), or, when the
        camera's motion is a whole-pixel shift, at that shift, checked in
        ``_Candidates._plan`` (``direct.written`` tells it which frames are written)."""
        while kept and kept[0][0] < oldest and direct.rim_safe:
            t, sel, col = kept.pop(0)
            hole = holes[t]
            hy, hx = np.nonzero(hole)
            if sel is not None:
                hy, hx = hy[sel], hx[sel]
            size = (2 * RIM + 1,) * 2
            near = cv2.dilate((~hole).view(np.uint8), np.ones(size, np.uint8))[hy, hx] > 0
            rims.append((t, hy[near], hx[near], col[near]))
            inner = ~near
            out[t, hy[inner], hx[inner]] = col[inner]
            direct.written.add(t)
            del hole, hy, hx, near, inner, col
