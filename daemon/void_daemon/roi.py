"""Region of interest: crop around the masks, resize for the engine, composite back.

The composite is the only place output pixels are made, and it guarantees the product's
promise: outside the feathered hole every channel of every pixel is the input's, bit for bit.

Coordinates are the plate's data window (array indices). A crop :class:`Box` may reach past
the frame: when the model's aspect does not fit inside the frame, the crop is padded by
mirroring the plate (and marked *keep* in the quadmask) instead of squeezing the picture.

Distances (ROI margin, feather) are in *square* pixels, measured in plate rows: on an
anamorphic plate with pixel aspect 2.0 a 6-pixel feather reaches 6 rows up and down but only
3 columns left and right, so it looks round once the plate is de-squeezed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from void_client.shader_reference import feather_curve


@dataclass(frozen=True)
class Box:
    """Pixel box ``[x0, x1) x [y0, y1)`` in data-window coordinates (may reach past the frame)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def intersect(self, other: Box) -> Box:
        return Box(
            max(self.x0, other.x0),
            max(self.y0, other.y0),
            min(self.x1, other.x1),
            min(self.y1, other.y1),
        )

    def contains(self, other: Box) -> bool:
        return (
            self.x0 <= other.x0
            and self.y0 <= other.y0
            and self.x1 >= other.x1
            and self.y1 >= other.y1
        )

    def shifted(self, dx: int, dy: int) -> Box:
        return Box(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)


def mask_bbox(masks: np.ndarray) -> Box | None:
    """Bounding box of ``True`` over all frames of ``(T, H, W)`` (or one ``(H, W)``), or None."""
    m = np.asarray(masks)
    if m.ndim == 2:
        m = m[None]
    any_y = m.any(axis=(0, 2))
    if not any_y.any():
        return None
    any_x = m.any(axis=(0, 1))
    ys = np.flatnonzero(any_y)
    xs = np.flatnonzero(any_x)
    return Box(int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)


# ------------------------------------------------------------------------------------ the crop
def model_sizes(
    model_size: tuple[int, int] | None, supported: Sequence[tuple[int, int]] | None = None
) -> list[tuple[int, int]]:
    """Candidate engine sizes ``(h, w)``: the engine's list, else its size both ways round."""
    if supported:
        return [tuple(s) for s in supported]  # type: ignore[misc]
    if model_size is None:
        return []
    h, w = model_size
    return [(min(h, w), max(h, w)), (max(h, w), min(h, w))] if h != w else [(h, w)]


def choose_model_size(
    box: Box, sizes: Sequence[tuple[int, int]], pixel_aspect: float = 1.0, frame: Box | None = None
) -> tuple[int, int] | None:
    """The size whose aspect is nearest the box's displayed aspect.

    A tie (a square object) goes to the size nearest the frame's own shape, which needs the
    least padding, then to landscape.
    """
    if not sizes or box.area == 0:
        return tuple(sizes[0]) if sizes else None  # type: ignore[return-value]

    def distance(b: Box, s: tuple[int, int]) -> float:
        return round(abs(math.log(b.width * pixel_aspect / b.height * s[0] / s[1])), 6)

    return min(
        sizes, key=lambda s: (distance(box, s), distance(frame, s) if frame else 0.0, s[0] > s[1])
    )


def compute_roi(
    holes: np.ndarray,
    margin: int,
    aspect: float | None = None,
    full_frame_fraction: float = 0.6,
    min_size: tuple[int, int] | None = None,
    pixel_aspect: float = 1.0,
) -> Box:
    """The crop for one window: union of ``holes`` ``(T, H, W)`` + ``margin``, fitted to ``aspect``.

    ``aspect`` is the crop's width/height in *plate* pixels (the model's aspect divided by the
    pixel aspect). ``min_size`` ``(h, w)`` is the smallest crop in plate pixels — the model size,
    so a small object in a 4K frame is seen at the plate's own resolution rather than blown up
    (capped at what the frame holds). A crop covering more than ``full_frame_fraction`` of the
    frame becomes the whole frame: the model sees more context at nearly the same scale. With
    an ``aspect``, the crop is exactly that shape and may reach past the frame (see module doc).
    """
    _, h, w = holes.shape
    full = Box(0, 0, w, h)
    bbox = mask_bbox(holes)
    if bbox is None:
        return full
    mx = int(math.ceil(margin / pixel_aspect)) + (
        pixel_aspect != 1.0
    )  # the feather's reach rounds up too
    box = Box(bbox.x0 - mx, bbox.y0 - margin, bbox.x1 + mx, bbox.y1 + margin).intersect(full)
    if aspect:
        box = fit_aspect(box, aspect, w, h, min_size)
    if box.intersect(full).area > full_frame_fraction * w * h:
        box = fit_aspect(full, aspect, w, h) if aspect else full
    return box


def fit_aspect(
    box: Box, aspect: float, width: int, height: int, min_size: tuple[int, int] | None = None
) -> Box:
    """Grow ``box`` to ``aspect`` (w/h) and at least ``min_size``, kept inside the frame where it fits.

    Where the grown box is larger than the frame in a dimension it is centred on the frame in
    that dimension (the crop is then padded by mirroring).
    """
    bw, bh = box.width, box.height
    if min_size:
        mh, mw = min_size
        shrink = min(1.0, height / mh, width / mw)  # never ask for more than the frame holds
        bw, bh = max(bw, int(math.floor(mw * shrink))), max(bh, int(math.floor(mh * shrink)))
    if bw / bh < aspect:
        bw = int(math.ceil(bh * aspect))
    else:
        bh = int(math.ceil(bw / aspect))
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2

    def place(centre: float, size: int, limit: int) -> int:
        if size >= limit:
            return (limit - size) // 2
        return int(np.clip(round(centre - size / 2), 0, limit - size))

    x0, y0 = place(cx, bw, width), place(cy, bh, height)
    return Box(x0, y0, x0 + bw, y0 + bh)


def crop(image: np.ndarray, box: Box, fill: float | int | None = None) -> np.ndarray:
    """``image[box]`` for ``(H, W[, C])``; parts past the frame are mirrored, or ``fill`` if given."""
    h, w = image.shape[:2]
    inner = box.intersect(Box(0, 0, w, h))
    part = np.asarray(image[inner.slices])
    pads = [(inner.y0 - box.y0, box.y1 - inner.y1), (inner.x0 - box.x0, box.x1 - inner.x1)]
    if not any(a or b for a, b in pads):
        return part
    pads += [(0, 0)] * (part.ndim - 2)
    if fill is not None:
        return np.pad(part, pads, mode="constant", constant_values=fill)
    # numpy's reflect repeats the mirror for pads wider than the picture.
    return np.pad(part, pads, mode="reflect" if min(part.shape[:2]) > 1 else "edge")


# ------------------------------------------------------------------------------------ resizing
def _interp(src: int, dst: int) -> int:
    return cv2.INTER_AREA if dst < src else cv2.INTER_LANCZOS4


def _resize_one(f: np.ndarray, th: int, tw: int, nearest: bool) -> np.ndarray:
    h, w = f.shape[:2]
    if (h, w) == (th, tw):
        return f
    if nearest:
        return cv2.resize(f, (tw, th), interpolation=cv2.INTER_NEAREST)
    ih, iw = _interp(h, th), _interp(w, tw)
    if ih == iw:
        out = cv2.resize(f, (tw, th), interpolation=ih)
        return _deringed(f, out) if ih == cv2.INTER_LANCZOS4 else out
    # One axis shrinks, the other grows (anamorphic): area-average the one, Lanczos the other.
    if iw == cv2.INTER_AREA:
        mid = cv2.resize(f, (tw, h), interpolation=cv2.INTER_AREA)
        out = cv2.resize(mid, (tw, th), interpolation=cv2.INTER_LANCZOS4)
    else:
        mid = cv2.resize(f, (w, th), interpolation=cv2.INTER_AREA)
        out = cv2.resize(mid, (tw, th), interpolation=cv2.INTER_LANCZOS4)
    return _deringed(mid, out)


def _deringed(src: np.ndarray, out: np.ndarray, warp: np.ndarray | None = None) -> np.ndarray:
    """Clamp an upsampled image to its source's local 3×3 range: Lanczos' sharpness without halos.

    Without it a 16.0 highlight next to a dark pixel rings into negative values.
    """
    kernel = np.ones((3, 3), np.uint8)
    lo, hi = cv2.erode(src, kernel), cv2.dilate(src, kernel)
    th, tw = out.shape[:2]
    if warp is None:
        lo = cv2.resize(lo, (tw, th), interpolation=cv2.INTER_LINEAR)
        hi = cv2.resize(hi, (tw, th), interpolation=cv2.INTER_LINEAR)
    else:
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        lo = cv2.warpAffine(lo, warp, (tw, th), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        hi = cv2.warpAffine(hi, warp, (tw, th), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(out, lo.reshape(out.shape), hi.reshape(out.shape))


def resize(frames: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Resize ``(T, H, W[, C])`` to ``size = (h, w)``.

    Area averaging along an axis that shrinks, Lanczos (clamped to the source's local range)
    along one that grows, or nearest neighbour for labels.
    """
    th, tw = size
    if frames.shape[1:3] == (th, tw):
        return frames
    return np.stack([_resize_one(f, th, tw, nearest) for f in frames])


def resize_region(frame: np.ndarray, size: tuple[int, int], region: Box) -> np.ndarray:
    """``resize(frame[None], size)[0][region.slices]`` without resizing the rest of the frame.

    Growing (the usual way back from the model to a large crop) warps just the region with the
    same Lanczos filter and pixel-centre convention as :func:`resize`; shrinking resizes the
    whole frame (it is small then) and slices.
    """
    h, w = frame.shape[:2]
    th, tw = size
    if (h, w) == (th, tw):
        return frame[region.slices]
    if th < h or tw < w:
        return _resize_one(frame, th, tw, False)[region.slices]
    sx, sy = w / tw, h / th
    m = np.array(
        [[sx, 0.0, (region.x0 + 0.5) * sx - 0.5], [0.0, sy, (region.y0 + 0.5) * sy - 0.5]],
        dtype=np.float64,
    )
    out = cv2.warpAffine(
        np.ascontiguousarray(frame),
        m,
        (region.width, region.height),
        flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return _deringed(
        np.ascontiguousarray(frame), out.reshape((region.height, region.width, *frame.shape[2:])), m
    )


# ----------------------------------------------------------------------------------- composite
def alpha_region(
    hole: np.ndarray, feather: float, pixel_aspect: float = 1.0
) -> tuple[Box, np.ndarray] | None:
    """Where the composite matte is non-zero, and the matte there: ``(box, alpha[box])``.

    1 in the hole, smooth to exactly 0 at ``feather`` square pixels outside it. Working on the
    hole's neighbourhood only keeps a small object in a 4K frame cheap. None for an empty hole.
    """
    h, w = hole.shape
    bbox = mask_bbox(hole)
    if bbox is None:
        return None
    fy = int(math.ceil(max(feather, 0))) + 1
    fx = int(math.ceil(max(feather, 0) / pixel_aspect)) + 1
    box = Box(bbox.x0 - fx, bbox.y0 - fy, bbox.x1 + fx, bbox.y1 + fy).intersect(Box(0, 0, w, h))
    outside = ~np.asarray(hole[box.slices], bool)
    if pixel_aspect == 1.0:
        dist = cv2.distanceTransform(outside.astype(np.uint8), cv2.DIST_L2, 5)
    else:
        from scipy.ndimage import distance_transform_edt

        # Distances in rows: one column is pixel_aspect rows wide once de-squeezed.
        dist = distance_transform_edt(outside, sampling=(1.0, pixel_aspect)).astype(np.float32)
    return box, feather_curve(dist, float(feather))


def composite_alpha(hole: np.ndarray, feather: float, pixel_aspect: float = 1.0) -> np.ndarray:
    """Composite matte for one whole frame (see :func:`alpha_region`)."""
    out = np.zeros(hole.shape, np.float32)
    found = alpha_region(hole, feather, pixel_aspect)
    if found is not None:
        box, a = found
        out[box.slices] = a
    return out


def composite(
    plate: np.ndarray,
    fill_rgb: np.ndarray,
    alpha: np.ndarray,
    rgb_channels: tuple[int, ...],
    region: Box | None = None,
) -> np.ndarray:
    """Blend ``fill_rgb`` (float32 ``(..., 3)``) into the plate's colour channels by ``alpha``.

    ``fill_rgb`` and ``alpha`` cover the whole frame, or just ``region`` of it when given.
    Pixels where ``alpha == 0``, and every non-colour channel, are copied from the plate
    unchanged; the result has the plate's dtype (half stays half).
    """
    out = np.array(plate, copy=True)  # a plain array, also from a memory-mapped plate
    target = out if region is None else out[region.slices]
    sel = alpha > 0
    if not sel.any():
        return out
    a = np.asarray(alpha, np.float32)[..., None]
    fill = np.asarray(fill_rgb, np.float32)
    for j, c in enumerate(rgb_channels):
        src = target[..., c].astype(np.float32)[..., None]
        # Inside the hole the fill replaces the plate outright (0 × NaN would be NaN).
        mixed = np.where(
            a >= 1.0, fill[..., j : j + 1], a * fill[..., j : j + 1] + (1.0 - a) * src
        )[..., 0]
        # Dense over the region, but only alpha > 0 takes the new value: the rest keeps its bits.
        target[..., c] = np.where(sel, mixed.astype(plate.dtype), target[..., c])
    return out


def fill_and_matte(
    shape: tuple[int, int],
    fill_rgb: np.ndarray | None,
    alpha: np.ndarray | None,
    colours: int,
    region: Box | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The composite's own inputs for a compositor: premultiplied fill RGBA and the matte.

    Whole-frame float32 ``(h, w, colours + 1)`` and ``(h, w)`` from :func:`composite`'s
    ``fill_rgb`` and ``alpha`` (over ``region`` when given; None: nothing was filled). The fill is
    ``alpha * fill`` with the same float32 product :func:`composite` forms, so in float32
    ``plate * (1 - matte) + fill`` is :func:`composite`'s value term for term, and equal to its
    result once rounded to the plate's dtype (a finite plate; see docs/user-guide.md). Both are
    exactly 0 where ``alpha == 0``.
    """
    h, w = shape
    fill = np.zeros((h, w, colours + 1), np.float32)
    matte = np.zeros((h, w), np.float32)
    if fill_rgb is None or alpha is None:
        return fill, matte
    box = region or Box(0, 0, w, h)
    a = np.asarray(alpha, np.float32)
    premult = a[..., None] * np.asarray(fill_rgb, np.float32)[..., :colours]
    # Exactly 0 outside the matte, whatever the fill there (-0.0, NaN from a far window).
    fill[box.slices][..., :colours] = np.where(a[..., None] > 0, premult, np.float32(0))
    fill[box.slices][..., colours] = a
    matte[box.slices] = a
    return fill, matte


def rgb_channel_indices(channels: list[str]) -> tuple[int, ...]:
    """Indices of the colour channels the engine fills.

    R, G, B by name (bare, or of one layer such as ``rgba.R``); else a luminance ``Y``; else the
    first three channels, or just the first when there are fewer than three (a ``Y, A`` or
    ``R, A`` plate is one colour channel plus something the engine must not touch).
    """
    lower = [c.lower() for c in channels]
    for names in (("r", "g", "b"), ("red", "green", "blue")):
        if all(n in lower for n in names):
            return tuple(lower.index(n) for n in names)
    bare = [c.rsplit(".", 1)[-1] for c in lower]
    layers = {c.rsplit(".", 1)[0] for c in lower if "." in c}
    # The main layer first (Nuke's rgba.R), then any other layer with all three.
    for layer in sorted(layers, key=lambda n: (n not in ("rgba", "rgb"), n)):
        idx = [
            lower.index(f"{layer}.{n}") if f"{layer}.{n}" in lower else -1 for n in ("r", "g", "b")
        ]
        if min(idx) >= 0:
            return tuple(idx)
    for n in ("y", "l", "luminance"):
        if n in lower:
            return (lower.index(n),)
    if len(channels) >= 3 and not {"a", "alpha", "z"} & set(bare[:3]):
        return (0, 1, 2)
    return (0,)


def layer_channels(channels: list[str]) -> dict[str, list[str]]:
    """Channel names of the ``fill`` and ``matte`` layers for a plate with ``channels``: the
    plate's colour channels plus an alpha of the same layer (``rgba.R`` → ``rgba.A``)."""
    colours = [channels[i] for i in rgb_channel_indices(channels)]
    layer = colours[0].rsplit(".", 1)[0] + "." if "." in colours[0] else ""
    return {"fill": [*colours, f"{layer}A"], "matte": [f"{layer}A"]}
