"""The viewer's picture maths, without Qt: proxies, display encoding, overlay, wipe, QC views,
matte coverage and its warnings, composition.

The panel's viewer (:mod:`void_client.panel.viewer`) draws what :func:`compose` returns on the
CPU, and its GL canvas must match it to the 8-bit code, so this is the one definition of what
each view mode shows. Keeping it free of Qt lets scripts, tests and other hosts make the same
pictures (see ``docs/architecture.md``: nothing outside ``void_client/panel`` imports Qt).

Everything here works on display-referred 8-bit proxies: the Okabe-Ito overlay colours in
:mod:`void_client.shader_reference` are that palette's sRGB codes, so the overlay tints
sRGB-encoded values, where the colours look as intended. The QC views (exposure and gamma,
the difference view) need the scene-linear values, so a proxy also keeps the plate and result
as linear float16: exposure and gamma apply there, before the display encoding.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from void_client.job_spec import JobSpec
from void_client.quadmask import KEEP, MATTE_THRESHOLD, build_quadmask
from void_client.sequence import (
    SequencePattern,
    SequenceRef,
    format_ranges,
    read_image,
    read_matte,
)
from void_client.shader_reference import OVERLAY_OPACITY, quadmask_overlay
from void_client.srgb import linear_to_srgb

#: Longest side of the viewer's proxies: enough for a docked panel, small enough to cache.
MAX_PREVIEW_SIDE = 1280
#: A remove matte covering at least this much of the frame is almost always the plate's alpha
#: (or an inverted matte) wired into the remove input.
FULL_FRAME_COVERAGE = 0.99
#: Coverage jumping by at least this fraction of the larger of two neighbouring frames...
FLICKER_RATIO = 0.5
#: ...and by at least this much of the frame (tiny mattes jitter by a few pixels harmlessly).
FLICKER_MIN_JUMP = 0.002
#: The A/B wipe's matte outline (Okabe-Ito yellow: distinct from the overlay colours).
OUTLINE_RGB8 = (240, 228, 66)


class ViewMode(str, enum.Enum):
    SOURCE = "source"
    RESULT = "result"
    WIPE = "wipe"
    OVERLAY = "overlay"
    DIFFERENCE = "difference"

    @property
    def label(self) -> str:
        return {
            "source": "Source",
            "result": "Result",
            "wipe": "Before / After",
            "overlay": "Quadmask",
            "difference": "Difference",
        }[self.value]


@dataclass(frozen=True)
class ViewSettings:
    """The QC controls: exposure in stops and gamma (applied to scene-linear values before the
    display encoding), the difference view's gain, and the wipe's matte outline."""

    exposure: float = 0.0
    gamma: float = 1.0
    diff_gain: float = 1.0
    outline: bool = True

    @property
    def neutral(self) -> bool:
        """No exposure or gamma change: the stored 8-bit proxies are already the picture."""
        return self.exposure == 0.0 and self.gamma == 1.0


@dataclass
class FramePreview:
    """One frame as the viewer shows it: display-referred 8-bit proxies of the same size."""

    frame: int
    plate: np.ndarray  # (h, w, 3) uint8, sRGB-encoded
    quadmask: np.ndarray | None = None  # (h, w) uint8 quadmask codes 0/63/127/255
    result: np.ndarray | None = None  # (h, w, 3) uint8, sRGB-encoded
    #: Scene-linear RGB of the same proxies (float16), for exposure, gamma and difference.
    plate_linear: np.ndarray | None = None
    result_linear: np.ndarray | None = None
    #: The plate's own size (width, height): 1:1 zoom shows one plate pixel per screen pixel.
    full_size: tuple[int, int] | None = None
    #: Set by :func:`prepare`: plate and result already show the view's grade (and outline).
    prepared: bool = False

    @property
    def size(self) -> tuple[int, int]:
        return self.plate.shape[1], self.plate.shape[0]

    @property
    def nbytes(self) -> int:
        """Memory held, for the viewer's cache budget."""
        arrays = (self.plate, self.quadmask, self.result, self.plate_linear, self.result_linear)
        return sum(a.nbytes for a in arrays if a is not None)


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


def linear_rgb(pixels: np.ndarray) -> np.ndarray:
    """RGB of plate pixels ``(h, w, c)`` as float32, NaN and infinities made finite."""
    a = np.asarray(pixels, np.float32)
    if a.ndim == 2:
        a = a[..., None]
    rgb = a[..., :3] if a.shape[2] >= 3 else np.repeat(a[..., :1], 3, axis=2)
    return np.nan_to_num(rgb, nan=0.0, posinf=65504.0, neginf=0.0)


def grade_linear(linear: np.ndarray, exposure: float = 0.0, gamma: float = 1.0) -> np.ndarray:
    """Scene-linear values with ``exposure`` stops (``x * 2**exposure``) then ``gamma``
    (``x ** (1/gamma)``), as a compositing viewer applies them: before the display curve.
    Negative values are clipped first (they have no power and no display code)."""
    a = np.maximum(np.asarray(linear, np.float32), 0.0) * np.float32(2.0**exposure)
    if gamma != 1.0:
        a = np.power(a, np.float32(1.0 / max(gamma, 1e-3)))
    return a


def graded_rgb8(linear: np.ndarray, view: ViewSettings) -> np.ndarray:
    """Linear RGB through exposure and gamma, then the sRGB display encoding, as 8-bit codes."""
    return display_rgb8(grade_linear(linear, view.exposure, view.gamma))


def difference8(plate_linear: np.ndarray, result_linear: np.ndarray, gain: float) -> np.ndarray:
    """``|result - plate| * gain`` per channel as 8-bit codes, shown as is (no display curve):
    a code of 255 is a difference of ``1/gain`` or more; untouched pixels are exactly black."""
    d = np.abs(
        np.asarray(result_linear, np.float32) - np.asarray(plate_linear, np.float32)
    ) * np.float32(gain)
    return to_uint8(d)


def matte_outline(quadmask: np.ndarray) -> np.ndarray:
    """Boolean ``(h, w)``: pixels of the edited region (any quadmask code but keep) with a
    4-neighbour outside it (the picture's border counts as outside)."""
    region = np.asarray(quadmask) < KEEP
    inner = np.zeros_like(region)
    inner[1:-1, 1:-1] = (
        region[1:-1, 1:-1]
        & region[:-2, 1:-1]
        & region[2:, 1:-1]
        & region[1:-1, :-2]
        & region[1:-1, 2:]
    )
    return region & ~inner


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


def view_box(
    image_w: int,
    image_h: int,
    area: tuple[float, float, float, float],
    zoom: float | None = None,
    pan: tuple[float, float] = (0.0, 0.0),
) -> tuple[float, float, float, float]:
    """Where the picture is drawn in ``area`` ``(x, y, w, h)``: fitted (``zoom`` None), or
    ``zoom`` screen pixels per proxy pixel, centred and moved by ``pan``. Zoomed boxes are
    snapped to whole pixels so that at 1:1 each proxy pixel lands on exactly one screen pixel."""
    x, y, w, h = area
    if zoom is None:
        return fit_box(image_w, image_h, x, y, w, h)
    if image_w <= 0 or image_h <= 0:
        return 0.0, 0.0, 0.0, 0.0
    bw, bh = image_w * zoom, image_h * zoom
    return (
        float(np.floor(x + (w - bw) / 2 + pan[0])),
        float(np.floor(y + (h - bh) / 2 + pan[1])),
        bw,
        bh,
    )


def one_to_one_zoom(preview: FramePreview, device_pixel_ratio: float = 1.0) -> float:
    """The zoom (screen pixels per proxy pixel) that shows one plate pixel per device pixel;
    above :data:`MAX_PREVIEW_SIDE` the proxy is smaller than the plate, so it is magnified."""
    full_w = preview.full_size[0] if preview.full_size else preview.size[0]
    return full_w / max(1, preview.size[0]) / max(device_pixel_ratio, 1e-6)


def prepare(
    preview: FramePreview, mode: ViewMode, view: ViewSettings | None = None
) -> FramePreview:
    """``preview`` with the view applied to its 8-bit pictures: exposure and gamma (from the
    linear proxies), the difference as the result (DIFFERENCE), the matte outline burnt into
    both sides (WIPE). Both canvases draw what this returns, so they agree."""
    if preview.prepared:
        return preview
    view = view or ViewSettings()
    plate, result = preview.plate, preview.result
    if not view.neutral and preview.plate_linear is not None:
        plate = graded_rgb8(preview.plate_linear, view)
        if preview.result_linear is not None:
            result = graded_rgb8(preview.result_linear, view)
    if mode is ViewMode.DIFFERENCE:
        if preview.result_linear is not None and preview.plate_linear is not None:
            result = difference8(preview.plate_linear, preview.result_linear, view.diff_gain)
        elif preview.result is not None:  # no linear proxies: the display codes' difference
            result = difference8(
                preview.plate.astype(np.float32) / 255.0,
                preview.result.astype(np.float32) / 255.0,
                view.diff_gain,
            )
        else:
            result = np.zeros_like(preview.plate)  # nothing changed yet
    if mode is ViewMode.WIPE and view.outline and preview.quadmask is not None:
        edge = matte_outline(preview.quadmask)
        plate = plate.copy()
        plate[edge] = OUTLINE_RGB8
        if result is not None:
            result = result.copy()
            result[edge] = OUTLINE_RGB8
    return replace(preview, plate=plate, result=result, prepared=True)


def compose(
    preview: FramePreview,
    mode: ViewMode,
    wipe: float = 0.5,
    opacity: float = OVERLAY_OPACITY,
    view: ViewSettings | None = None,
) -> np.ndarray:
    """What the viewer shows for ``mode``, as ``(h, w, 3)`` uint8. A missing result shows the plate."""
    p = prepare(preview, mode, view)
    before = p.plate
    if mode is ViewMode.SOURCE:
        return before
    if mode is ViewMode.OVERLAY:
        return overlay8(before, p.quadmask, opacity)
    after = p.result if p.result is not None else before
    if mode in (ViewMode.RESULT, ViewMode.DIFFERENCE):
        return after
    col = wipe_column(before.shape[1], wipe)
    out = after.copy()
    out[:, :col] = before[:, :col]
    return out


# --------------------------------------------------------------------------- matte coverage


@dataclass(frozen=True)
class MatteCoverage:
    """How much of one frame each matte covers (fraction of pixels above the matte threshold,
    the same threshold the quadmask uses; before dilation)."""

    frame: int
    remove: float
    affected: float | None = None


@dataclass(frozen=True)
class MatteWarning:
    """Something about the mattes worth a look before spending GPU time."""

    #: ``"empty"``, ``"full_frame"`` or ``"flicker"``.
    kind: str
    frames: tuple[int, ...]
    message: str


def matte_coverage(
    frame: int, remove: np.ndarray, affected: np.ndarray | None = None
) -> MatteCoverage:
    """The coverage of one frame's mattes (float ``(h, w)`` in [0, 1])."""
    r = float(np.count_nonzero(np.asarray(remove) > MATTE_THRESHOLD)) / max(1, remove.size)
    a = (
        float(np.count_nonzero(np.asarray(affected) > MATTE_THRESHOLD)) / max(1, affected.size)
        if affected is not None
        else None
    )
    return MatteCoverage(frame, r, a)


def matte_warnings(coverage: Mapping[int, float]) -> list[MatteWarning]:
    """Warnings from the remove matte's coverage per frame: empty frames, frames covering at
    least :data:`FULL_FRAME_COVERAGE` (the plate's alpha given as the remove matte), and
    flicker (coverage jumping between neighbouring non-empty frames by :data:`FLICKER_RATIO`
    of the larger and :data:`FLICKER_MIN_JUMP` of the frame)."""
    frames = sorted(coverage)
    out: list[MatteWarning] = []
    if not frames:
        return out
    empty = [f for f in frames if coverage[f] <= 0.0]
    if empty:
        where = "every frame" if len(empty) == len(frames) else f"frames {format_ranges(empty)}"
        out.append(
            MatteWarning(
                "empty",
                tuple(empty),
                f"the remove matte is empty on {where}: nothing is removed there; "
                "check the matte's channel and frame range",
            )
        )
    full = [f for f in frames if coverage[f] >= FULL_FRAME_COVERAGE]
    if full:
        top = max(coverage[f] for f in full)
        out.append(
            MatteWarning(
                "full_frame",
                tuple(full),
                f"the remove matte covers {top:.0%} of frames {format_ranges(full)}: is it the "
                "plate's alpha (or an inverted matte)? It should cover only the object",
            )
        )
    jumps: list[int] = []
    for a, b in zip(frames, frames[1:], strict=False):
        ca, cb = coverage[a], coverage[b]
        if ca <= 0.0 or cb <= 0.0:
            continue  # a matte dropping out is the "empty" warning, not flicker too
        d = abs(cb - ca)
        if d >= FLICKER_MIN_JUMP and d >= FLICKER_RATIO * max(ca, cb):
            jumps.append(b)
    if jumps:
        out.append(
            MatteWarning(
                "flicker",
                tuple(jumps),
                f"the remove matte's coverage jumps at frames {format_ranges(jumps)}: a "
                "flickering matte makes a flickering fill; check those frames",
            )
        )
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

    def coverage(self, frame: int) -> MatteCoverage:
        """The mattes' coverage of ``frame`` at full resolution (no plate read)."""
        if self.remove is None:
            raise ValueError("no remove matte to measure")
        remove = read_matte(self.remove.path(frame), frame, self.remove.channel)
        affected = (
            read_matte(self.affected.path(frame), frame, self.affected.channel)
            if self.affected
            else None
        )
        return matte_coverage(frame, remove, affected)

    def load(self, frame: int) -> FramePreview:
        plate = read_image(self.plate.path(frame), frame, self.plate.channel).pixels
        full_size = (plate.shape[1], plate.shape[0])
        plate_lin = shrink(linear_rgb(plate), self.max_side)
        qm = None
        if self.remove is not None:
            remove = read_matte(self.remove.path(frame), frame, self.remove.channel)
            affected = (
                read_matte(self.affected.path(frame), frame, self.affected.channel)
                if self.affected
                else None
            )
            qm = shrink(build_quadmask(remove, affected, self.dilation, frame), self.max_side)
        result = result_lin = None
        if self.out is not None and os.path.exists(self.out.path(frame)):
            result_lin = shrink(
                linear_rgb(read_image(self.out.path(frame), frame).pixels), self.max_side
            )
            result = display_rgb8(result_lin)
        return FramePreview(
            frame,
            display_rgb8(plate_lin),
            qm,
            result,
            plate_lin.astype(np.float16),
            result_lin.astype(np.float16) if result_lin is not None else None,
            full_size,
        )


__all__ = [
    "FULL_FRAME_COVERAGE",
    "MAX_PREVIEW_SIDE",
    "FramePreview",
    "MatteCoverage",
    "MatteWarning",
    "PreviewSource",
    "SequencePreviewSource",
    "ViewMode",
    "ViewSettings",
    "compose",
    "difference8",
    "display_rgb8",
    "grade_linear",
    "graded_rgb8",
    "linear_rgb",
    "matte_coverage",
    "matte_outline",
    "matte_warnings",
    "one_to_one_zoom",
    "prepare",
    "view_box",
    "fit_box",
    "overlay8",
    "proxy_indices",
    "shrink",
    "to_uint8",
    "wipe_column",
    "wipe_position",
]
