"""``propagate``: the embedded CPU engine. Flow-guided propagation of the visible background.

For every hole pixel we follow optical flow frame to frame, forward and backward in time,
until we reach a frame where that point of the scene is visible, and take its colour from
there in one bilinear sample (no blur from repeated resampling). Flow inside the hole is
unreliable (it tracks the object we remove), so it is completed from the surrounding
background: a RANSAC homography for the camera plus a smoothly in-filled residual for
parallax. Where the background is never visible, a key frame is filled spatially and
propagated from, so a static camera does not flicker.

The hole is every non-keep quadmask level: remove, overlap and affected (a shadow is
restored like the object itself).

``chain`` seams give a window its first frames already filled (context). Those are the end of
the previous window, filled without seeing the future, so they are usually a little worse than
what this window finds; switching to this window's own fill at once would pop. Instead, for
hole pixels that still trace back to the context, the fill eases from the context's over as
many frames as there are context frames (a raised-cosine ramp, like a crossfade).

Reference frames (``--reference``, :func:`_with_references`): the artist's clean frame is
visible background inside its frame's hole, so propagation carries it along the motion; the
nearest reference outside the window joins as an extra frame at its true distance in time.
Without references every computation is the one it was before (same weights, same order).
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from void_client.errors import ErrorCode, VoidError
from void_client.quadmask import hole as quadmask_hole
from void_daemon.engines.base import Engine, WindowInput

log = logging.getLogger(__name__)

#: Flow is estimated at most this many pixels on the long side, then scaled up.
FLOW_MAX_SIDE = 640
#: Pixels of background excluded around the hole when fitting flow (object edges bleed).
FLOW_GUARD = 3
#: Distance (px) from the hole beyond which flow is trusted for the parallax residual.
RESIDUAL_GUARD = 16
#: Median residual flow (px) above which the background is treated as having parallax.
PARALLAX_THRESHOLD = 0.35


def _grey(frame: np.ndarray) -> np.ndarray:
    lum = frame[..., 0] * 0.2126 + frame[..., 1] * 0.7152 + frame[..., 2] * 0.0722
    return np.clip(np.power(np.maximum(lum, 0.0), 1 / 2.2) * 255.0, 0, 255).astype(np.uint8)


class _Flow:
    """Dense flow between frames of one window, hole-completed and memoised.

    Flow is estimated and completed at most ``FLOW_MAX_SIDE`` pixels wide (it is smooth where
    it matters, and this is where the time goes), then scaled up on use.
    """

    def __init__(
        self, grey: np.ndarray, holes: np.ndarray, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
    ) -> None:
        self.dis = cv2.DISOpticalFlow.create(preset)
        _, h, w = grey.shape
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
            self.grey, self.holes = grey, holes
        self._memo: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, a: int, b: int) -> np.ndarray:
        """Flow from frame ``a`` to frame ``b`` at full resolution."""
        small = self._memo.get((a, b))
        if small is None:
            # None lets calc allocate the output; OpenCV's stubs declare that argument required.
            flow = self.dis.calc(self.grey[a], self.grey[b], None)  # type: ignore[call-overload]
            small = self._memo[(a, b)] = complete_flow(flow, self.holes[a], self.holes[b])
        if self.scale == 1.0:
            return small
        return cv2.resize(small, self.size, interpolation=cv2.INTER_LINEAR) / self.scale


def complete_flow(flow: np.ndarray, hole_a: np.ndarray, hole_b: np.ndarray) -> np.ndarray:
    """Replace flow where it is unreliable with camera motion + in-filled parallax residual."""
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
    if not bad.any():
        return flow
    valid = ~bad
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.zeros_like(flow)
    vy, vx = np.nonzero(valid)
    if vy.size >= 16:
        step = max(1, vy.size // 3000)
        pa = np.stack([xs[vy[::step], vx[::step]], ys[vy[::step], vx[::step]]], 1)
        pb = pa + flow[vy[::step], vx[::step]]
        H, _ = cv2.findHomography(pa, pb, cv2.RANSAC, 1.0)
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
    return out


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
    """Sample ``img`` at points (``cv2.remap`` on a 2-D block: its maps are limited to 32767)."""
    n = qx.size
    cols = 1024
    rows = -(-n // cols)
    mx = np.zeros(rows * cols, np.float32)
    my = np.zeros(rows * cols, np.float32)
    mx[:n], my[:n] = qx, qy
    out = cv2.remap(
        img,
        mx.reshape(rows, cols),
        my.reshape(rows, cols),
        interp,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    )
    return out.reshape(-1)[:n]


def _propagate(
    holes: np.ndarray, order: range, flow: _Flow, window: WindowInput, step0: int, steps: int
) -> tuple[list, list]:
    """One pass in time order ``order``: for each frame's hole pixels, the (frame, x, y) they
    come from, or -1. Returns per-frame arrays aligned with ``np.nonzero(holes[t])``."""
    t_count, h, w = holes.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    src_t: list[np.ndarray | None] = [None] * t_count
    src_xy: list[np.ndarray | None] = [None] * t_count
    prev = None  # full maps of the previous frame in this pass: (index, x, y)
    for i, t in enumerate(order):
        if window.cancelled():
            raise VoidError(ErrorCode.CANCELLED, "job cancelled")
        idx = np.full((h, w), float(t), np.float32)
        mx, my = xs.copy(), ys.copy()
        hy, hx = np.nonzero(holes[t])
        if hy.size:
            idx[hy, hx] = -1.0
            if prev is not None:
                p_t, p_idx, p_x, p_y = prev
                fl = flow(t, p_t)
                qx = xs[hy, hx] + fl[hy, hx, 0]
                qy = ys[hy, hx] + fl[hy, hx, 1]
                inside = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
                n_idx = _at(p_idx, qx, qy, cv2.INTER_NEAREST, -1.0)
                l_idx = _at(p_idx, qx, qy, cv2.INTER_LINEAR, -1.0)
                # Coordinates may only be interpolated between pixels from the same source.
                smooth = np.abs(l_idx - n_idx) < 1e-3
                nx, ny = _at(p_x, qx, qy, cv2.INTER_NEAREST), _at(p_y, qx, qy, cv2.INTER_NEAREST)
                lx, ly = _at(p_x, qx, qy, cv2.INTER_LINEAR), _at(p_y, qx, qy, cv2.INTER_LINEAR)
                n_idx = np.where(inside, n_idx, -1.0)
                idx[hy, hx] = n_idx
                mx[hy, hx] = np.where(smooth, lx, nx)
                my[hy, hx] = np.where(smooth, ly, ny)
            src_t[t] = idx[hy, hx].astype(np.int32)
            src_xy[t] = np.stack([mx[hy, hx], my[hy, hx]], 1)
        prev = (t, idx, mx, my)
        window.progress(step0 + i + 1, steps, "propagate")
    return src_t, src_xy


def _sample(frames: np.ndarray, src_t: np.ndarray, src_xy: np.ndarray) -> np.ndarray:
    """Colour at (frame, x, y) for each row; rows with frame -1 give zeros.

    Catmull-Rom bicubic, clamped to the four nearest pixels' range: sharper than bilinear
    (a fill is a resample, and ``chain`` resamples a fill once more), and never outside the
    values around it, so HDR highlights do not ring.
    """
    t_count, h, w, c = frames.shape
    ok = src_t >= 0
    t = np.where(ok, src_t, 0).astype(np.int64)
    x = np.clip(src_xy[:, 0], 0, w - 1)
    y = np.clip(src_xy[:, 1], 0, h - 1)
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx = (x - x0).astype(np.float32)
    fy = (y - y0).astype(np.float32)
    flat = frames.reshape(-1, c)
    base = t * (h * w)
    wx = _catmull_rom(fx)
    wy = _catmull_rom(fy)
    out = np.zeros((len(t), c), np.float32)
    lo = np.full((len(t), c), np.inf, np.float32)
    hi = np.full((len(t), c), -np.inf, np.float32)
    for j in range(4):
        yy = np.clip(y0 + j - 1, 0, h - 1)
        row = np.zeros((len(t), c), np.float32)
        for i in range(4):
            xx = np.clip(x0 + i - 1, 0, w - 1)
            v = flat[base + yy * w + xx]
            row += v * wx[i][:, None]
            if i in (1, 2) and j in (1, 2):
                lo = np.minimum(lo, v)
                hi = np.maximum(hi, v)
        out += row * wy[j][:, None]
    out = np.clip(out, lo, hi)
    return np.where(ok[:, None], out, 0.0).astype(np.float32)


def _catmull_rom(f: np.ndarray) -> list[np.ndarray]:
    """The four Catmull-Rom weights for fractional offsets ``f`` (taps at -1, 0, 1, 2)."""
    f2, f3 = f * f, f * f * f
    return [
        -0.5 * f3 + f2 - 0.5 * f,
        1.5 * f3 - 2.5 * f2 + 1.0,
        -1.5 * f3 + 2.0 * f2 + 0.5 * f,
        0.5 * f3 - 0.5 * f2,
    ]


def _spatial_fill(frame: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Push-pull fill: average known pixels down a pyramid, pull them back up into the hole.

    Every output is a convex combination of known pixels, so HDR values and signs are safe
    (``cv2.inpaint`` on float images can overshoot below zero).
    """
    known = (~unknown).astype(np.float32)
    if not known.any():
        return frame.copy()
    levels: list[tuple[np.ndarray, np.ndarray]] = [(frame * known[..., None], known)]
    while min(levels[-1][1].shape) > 1:
        c, w = levels[-1]
        h2, w2 = max(1, c.shape[0] // 2), max(1, c.shape[1] // 2)
        levels.append(
            (
                cv2.resize(c, (w2, h2), interpolation=cv2.INTER_AREA),
                cv2.resize(w, (w2, h2), interpolation=cv2.INTER_AREA),
            )
        )
    colour, weight = levels[-1]
    filled = colour / np.maximum(weight, 1e-12)[..., None]
    for c, w in reversed(levels[:-1]):
        up = cv2.resize(filled, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_LINEAR)
        own = c / np.maximum(w, 1e-12)[..., None]
        a = np.clip(w * 4.0, 0.0, 1.0)[..., None]  # trust a level where it saw enough known pixels
        filled = a * own + (1.0 - a) * up
    return np.where(unknown[..., None], filled, frame).astype(np.float32)


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
    version = "2"
    colour = "linear"
    model_size = None

    def fill(self, window: WindowInput) -> np.ndarray:
        frames = np.ascontiguousarray(window.frames, np.float32)
        holes = quadmask_hole(window.quadmask).copy()
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
            return frames[first : first + t_count].copy()
        n = frames.shape[0]
        flow = _Flow(np.stack([_grey(f) for f in frames]), holes)
        out = frames.copy()
        steps = 2 * n
        fill = _Filler(window, lead, first, times)
        unknown = fill(frames, holes, flow, out, steps)
        if unknown.any():
            # Nothing ever shows this background: fill one key frame spatially, then let
            # propagation carry that fill to the others, so the fill is stable in time.
            key = int(np.argmax(unknown.reshape(n, -1).sum(1)))
            out[key] = _spatial_fill(out[key], unknown[key])
            holes2 = unknown.copy()
            holes2[key] = False
            # In place is safe: sources are never inside holes2 of their own frame. The flows
            # are round one's (already completed inside the original holes).
            unknown = fill(out, holes2, flow, out, steps)
            for t in np.flatnonzero(unknown.reshape(n, -1).any(1)):
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


class _Filler:
    """Forward/backward propagation and their blend for one window (see :meth:`__call__`)."""

    def __init__(
        self, window: WindowInput, lead: int, first: int, times: np.ndarray | None
    ) -> None:
        self.window = window
        self.lead = lead
        self.first = first
        self.times = times

    def _weight(self, t: int, src: np.ndarray, known: np.ndarray) -> np.ndarray:
        if self.times is None:  # the frames are consecutive: their index is their time
            dist = np.abs(t - src)
        else:
            dist = np.abs(self.times[t] - self.times[np.where(known, src, 0)])
        return np.where(known, 1.0 / np.maximum(dist, 1), 0.0)[:, None]

    def __call__(
        self,
        frames: np.ndarray,
        holes: np.ndarray,
        flow: _Flow,
        out: np.ndarray,
        steps: int,
    ) -> np.ndarray:
        """Fill ``out`` in place where forward/backward propagation reaches; return what is left."""
        window, lead = self.window, self.lead
        t_count = frames.shape[0]
        fwd_t, fwd_xy = _propagate(holes, range(t_count), flow, window, 0, steps)
        bwd_t, bwd_xy = _propagate(holes, range(t_count - 1, -1, -1), flow, window, t_count, steps)
        unknown = np.zeros_like(holes)
        for t in range(t_count):
            if fwd_t[t] is None:
                continue
            hy, hx = np.nonzero(holes[t])
            cf = _sample(frames, fwd_t[t], fwd_xy[t])
            cb = _sample(frames, bwd_t[t], bwd_xy[t])
            kf, kb = fwd_t[t] >= 0, bwd_t[t] >= 0
            # Nearer sources in time are more trustworthy: weight by inverse distance.
            wf = self._weight(t, fwd_t[t], kf)
            wb = self._weight(t, bwd_t[t], kb)
            total = wf + wb
            known = total[:, 0] > 0
            col = (cf * wf + cb * wb) / np.maximum(total, 1e-9)
            ease = _continuation(t, lead)
            if ease > 0.0:
                from_context = kf & (fwd_t[t] <= lead) & (fwd_t[t] >= self.first)
                col[from_context] = ease * cf[from_context] + (1.0 - ease) * col[from_context]
            out[t, hy[known], hx[known]] = col[known]
            unknown[t, hy[~known], hx[~known]] = True
        return unknown
