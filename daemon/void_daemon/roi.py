"""Region of interest: crop around the masks, resize for the engine, composite back.

The composite is the only place output pixels are made, and it guarantees the product's
promise: outside the feathered hole every channel of every pixel is the input's, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from void_client.kernels import feather_curve


@dataclass(frozen=True)
class Box:
    """Pixel box ``[x0, x1) x [y0, y1)`` in data-window coordinates."""

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
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def mask_bbox(masks: np.ndarray) -> Box | None:
    """Bounding box of ``True`` over all frames of ``(T, H, W)``, or None when empty."""
    any_y = masks.any(axis=(0, 2))
    any_x = masks.any(axis=(0, 1))
    if not any_y.any():
        return None
    ys = np.flatnonzero(any_y)
    xs = np.flatnonzero(any_x)
    return Box(int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)


def compute_roi(
    holes: np.ndarray,
    margin: int,
    aspect: float | None = None,
    full_frame_fraction: float = 0.6,
) -> Box:
    """The crop for one window: union of holes + margin, grown to ``aspect`` (w/h) if given.

    A crop larger than ``full_frame_fraction`` of the frame area becomes the full frame:
    the model sees more context at nearly the same scale.
    """
    _, h, w = holes.shape
    full = Box(0, 0, w, h)
    box = mask_bbox(holes)
    if box is None:
        return full
    x0, y0 = max(0, box.x0 - margin), max(0, box.y0 - margin)
    x1, y1 = min(w, box.x1 + margin), min(h, box.y1 + margin)
    if aspect:
        bw, bh = x1 - x0, y1 - y0
        if bw / bh < aspect:
            bw = min(w, int(np.ceil(bh * aspect)))
        else:
            bh = min(h, int(np.ceil(bw / aspect)))
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        x0 = int(np.clip(round(cx - bw / 2), 0, w - bw))
        y0 = int(np.clip(round(cy - bh / 2), 0, h - bh))
        x1, y1 = x0 + bw, y0 + bh
    box = Box(x0, y0, x1, y1)
    if box.width * box.height > full_frame_fraction * w * h:
        return full
    return box


def resize(frames: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Resize ``(T, H, W[, C])`` to ``size = (h, w)``: area when shrinking, cubic when growing."""
    th, tw = size
    if frames.shape[1:3] == (th, tw):
        return frames
    shrinking = th * tw < frames.shape[1] * frames.shape[2]
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    return np.stack([cv2.resize(f, (tw, th), interpolation=interp) for f in frames])


def composite_alpha(hole: np.ndarray, feather: int) -> np.ndarray:
    """Composite matte for one frame: 1 in the hole, smooth to exactly 0 ``feather`` px outside."""
    if not hole.any():
        return np.zeros(hole.shape, np.float32)
    outside = (~hole).astype(np.uint8)
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, 5)
    return feather_curve(dist, float(feather))


def composite(
    plate: np.ndarray,
    fill_rgb: np.ndarray,
    alpha: np.ndarray,
    rgb_channels: tuple[int, ...],
) -> np.ndarray:
    """Blend ``fill_rgb`` (float32 ``(H, W, 3)``) into the plate's colour channels by ``alpha``.

    Pixels where ``alpha == 0`` and all non-colour channels are copied from the plate unchanged.
    """
    out = plate.copy()
    sel = alpha > 0
    if not sel.any():
        return out
    a = alpha[sel][:, None]
    src = plate[sel][:, list(rgb_channels)].astype(np.float32)
    mixed = a * fill_rgb[sel][:, : len(rgb_channels)] + (1.0 - a) * src
    block = out[sel]
    block[:, list(rgb_channels)] = mixed.astype(plate.dtype)
    out[sel] = block
    return out


def rgb_channel_indices(channels: list[str]) -> tuple[int, ...]:
    """Indices of R, G, B (any layer-less naming), else the first up-to-three channels."""
    lower = [c.lower() for c in channels]
    for names in (("r", "g", "b"), ("red", "green", "blue")):
        if all(n in lower for n in names):
            return tuple(lower.index(n) for n in names)
    return tuple(range(min(3, len(channels))))
