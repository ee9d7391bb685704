"""The viewer's picture maths, without Qt: proxies, display encoding, overlay, wipe, composition.

The panel's viewer (:mod:`void_client.panel.viewer`) draws what :func:`compose` returns on the
CPU, and its GL canvas must match it to the 8-bit code, so this is the one definition of what
each view mode shows. Keeping it free of Qt lets scripts, tests and other hosts make the same
pictures (see ``docs/architecture.md``: nothing outside ``void_client/panel`` imports Qt).

Everything here works on display-referred 8-bit proxies: the Okabe-Ito overlay colours in
:mod:`void_client.shader_reference` are that palette's sRGB codes, so the overlay tints
sRGB-encoded values, where the colours look as intended.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from void_client.job_spec import JobSpec
from void_client.quadmask import build_quadmask
from void_client.sequence import SequencePattern, SequenceRef, read_image, read_matte
from void_client.shader_reference import OVERLAY_OPACITY, quadmask_overlay
from void_client.srgb import linear_to_srgb

#: Longest side of the viewer's proxies: enough for a docked panel, small enough to cache.
MAX_PREVIEW_SIDE = 1280


class ViewMode(str, enum.Enum):
    SOURCE = "source"
    RESULT = "result"
    WIPE = "wipe"
    OVERLAY = "overlay"

    @property
    def label(self) -> str:
        return {
            "source": "Source",
            "result": "Result",
            "wipe": "Before / After",
            "overlay": "Quadmask",
        }[self.value]


@dataclass
class FramePreview:
    """One frame as the viewer shows it: display-referred 8-bit proxies of the same size."""

    frame: int
    plate: np.ndarray  # (h, w, 3) uint8, sRGB-encoded
    quadmask: np.ndarray | None = None  # (h, w) uint8 quadmask codes 0/63/127/255
    result: np.ndarray | None = None  # (h, w, 3) uint8, sRGB-encoded

    @property
    def size(self) -> tuple[int, int]:
        return self.plate.shape[1], self.plate.shape[0]


def to_uint8(x: np.ndarray) -> np.ndarray:
    """0..1 floats to 8-bit codes, rounding half up like a GL framebuffer write."""
    return np.clip(np.floor(np.asarray(x, np.float32) * 255.0 + 0.5), 0, 255).astype(np.uint8)


def display_rgb8(pixels: np.ndarray) -> np.ndarray:
    """Scene-linear plate pixels ``(h, w, c)`` to sRGB-encoded 8-bit RGB for the screen."""
    a = np.asarray(pixels, np.float32)
    if a.ndim == 2:
        a = a[..., None]
    rgb = a[..., :3] if a.shape[2] >= 3 else np.repeat(a[..., :1], 3, axis=2)
    return to_uint8(linear_to_srgb(np.nan_to_num(rgb, nan=0.0, posinf=1.0, neginf=0.0)))


def proxy_indices(height: int, width: int, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour sample rows and columns that fit ``max_side`` (no upscaling).

    Nearest, not filtered: the quadmask must keep its four codes, and the plate and result
    must stay pixel-aligned with it."""
    scale = min(1.0, max_side / max(height, width))
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    rows = np.minimum(((np.arange(h) + 0.5) * height / h).astype(np.int64), height - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * width / w).astype(np.int64), width - 1)
    return rows, cols


def shrink(a: np.ndarray, max_side: int) -> np.ndarray:
    """``a`` sampled down (nearest) so its longer side is at most ``max_side``."""
    rows, cols = proxy_indices(a.shape[0], a.shape[1], max_side)
    return np.ascontiguousarray(a[rows][:, cols])


def overlay8(
    rgb8: np.ndarray, quadmask: np.ndarray | None, opacity: float = OVERLAY_OPACITY
) -> np.ndarray:
    """The quadmask overlay on an 8-bit display image (the CPU twin of quadmask_overlay.frag)."""
    if quadmask is None:
        return rgb8
    return to_uint8(
        quadmask_overlay(rgb8.astype(np.float32) / np.float32(255.0), quadmask, opacity)
    )


def wipe_column(width: int, position: float) -> int:
    """Columns left of this show *before* (the source), from it on *after* (the result)."""
    return int(np.clip(round(float(position) * width), 0, width))


def wipe_position(x: float, left: float, width: float) -> float | None:
    """The wipe (0..1) for a pointer at ``x`` over a picture drawn from ``left``, ``width`` wide;
    None when the picture has no width (nothing shown yet)."""
    if width <= 0:
        return None
    return float(np.clip((x - left) / width, 0.0, 1.0))


def fit_box(
    image_w: int, image_h: int, x: float, y: float, w: float, h: float
) -> tuple[float, float, float, float]:
    """The largest ``(x, y, w, h)`` of the image's aspect centred in the area; all zero when
    either is empty."""
    if image_w <= 0 or image_h <= 0 or w <= 0 or h <= 0:
        return 0.0, 0.0, 0.0, 0.0
    scale = min(w / image_w, h / image_h)
    fw, fh = image_w * scale, image_h * scale
    return x + (w - fw) / 2, y + (h - fh) / 2, fw, fh


def compose(
    preview: FramePreview, mode: ViewMode, wipe: float = 0.5, opacity: float = OVERLAY_OPACITY
) -> np.ndarray:
    """What the viewer shows for ``mode``, as ``(h, w, 3)`` uint8. A missing result shows the plate."""
    before = preview.plate
    if mode is ViewMode.SOURCE:
        return before
    if mode is ViewMode.OVERLAY:
        return overlay8(before, preview.quadmask, opacity)
    after = preview.result if preview.result is not None else before
    if mode is ViewMode.RESULT:
        return after
    col = wipe_column(before.shape[1], wipe)
    out = after.copy()
    out[:, :col] = before[:, :col]
    return out


class PreviewSource(Protocol):
    """Anything that can make a :class:`FramePreview` for a frame number (called off the GUI thread)."""

    def load(self, frame: int) -> FramePreview: ...


class SequencePreviewSource:
    """Previews from the EXR sequences of a job: plate, mattes (quadmask built exactly as the
    daemon builds it, with the job's dilation) and the output where it is already on disk."""

    def __init__(
        self,
        plate: str,
        remove: str,
        out: str,
        affected: str = "",
        dilation: int | None = None,
        max_side: int = MAX_PREVIEW_SIDE,
    ) -> None:
        self.plate = SequenceRef.parse(plate)
        self.remove = SequenceRef.parse(remove) if remove else None
        self.affected = SequenceRef.parse(affected) if affected else None
        self.out = SequencePattern.parse(out) if out else None
        self.dilation = JobSpec.dilation if dilation is None else int(dilation)
        self.max_side = max_side

    def load(self, frame: int) -> FramePreview:
        plate = read_image(self.plate.path(frame), frame, self.plate.channel).pixels
        qm = None
        if self.remove is not None:
            remove = read_matte(self.remove.path(frame), frame, self.remove.channel)
            affected = (
                read_matte(self.affected.path(frame), frame, self.affected.channel)
                if self.affected
                else None
            )
            qm = shrink(build_quadmask(remove, affected, self.dilation, frame), self.max_side)
        result = None
        if self.out is not None and os.path.exists(self.out.path(frame)):
            result = shrink(
                display_rgb8(read_image(self.out.path(frame), frame).pixels), self.max_side
            )
        return FramePreview(frame, shrink(display_rgb8(plate), self.max_side), qm, result)


__all__ = [
    "MAX_PREVIEW_SIDE",
    "FramePreview",
    "PreviewSource",
    "SequencePreviewSource",
    "ViewMode",
    "compose",
    "display_rgb8",
    "fit_box",
    "overlay8",
    "proxy_indices",
    "shrink",
    "to_uint8",
    "wipe_column",
    "wipe_position",
]
