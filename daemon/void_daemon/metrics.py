"""Image quality numbers used by the demo, the tests and the benchmarks.

PSNR/SSIM (scikit-image), the ``cv2.inpaint`` baseline and optical-flow temporal metrics (OpenCV):
daemon-side, since the light client imports neither (``docs/architecture.md``, import rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from void_client.srgb import linear_to_srgb, srgb_to_linear


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of display-encoded images (sRGB, clipped to [0, 1]), inside ``mask`` if given."""
    da, db = linear_to_srgb(a), linear_to_srgb(b)
    diff = (da - db) ** 2
    if mask is not None:
        diff = (
            diff[np.broadcast_to(mask[..., None], diff.shape)]
            if diff.ndim == mask.ndim + 1
            else diff[mask]
        )
    mse = float(np.mean(diff)) if diff.size else 0.0
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM of one frame pair (display-encoded, RGB), averaged inside ``mask`` if given."""
    from skimage.metrics import structural_similarity

    _, full = structural_similarity(
        linear_to_srgb(a), linear_to_srgb(b), channel_axis=-1, data_range=1.0, full=True
    )
    full = full.mean(-1)
    return float(full[mask].mean() if mask is not None and mask.any() else full.mean())


def sequence_scores(out: np.ndarray, truth: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """PSNR over all hole pixels of the shot, SSIM averaged per frame, inside ``region``."""
    return {
        "psnr": psnr(out, truth, region),
        "ssim": float(np.mean([ssim(o, t, r) for o, t, r in zip(out, truth, region) if r.any()])),
        "psnr_full": psnr(out, truth),
    }


def cv2_inpaint_baseline(
    plate: np.ndarray, region: np.ndarray, method: str = "telea", radius: int = 5
) -> np.ndarray:
    """Per-frame ``cv2.inpaint`` (``telea`` or ``ns``) of the region: the baseline an artist would
    try first. Works on 8-bit display values, as artists' tools do; returns linear RGB frames."""
    import cv2

    flag = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}[method]
    out = []
    for f, m in zip(plate, region):
        disp = (linear_to_srgb(f[..., :3]) * 255).round().astype(np.uint8)
        filled = cv2.inpaint(disp, m.astype(np.uint8), radius, flag).astype(np.float32) / 255.0
        out.append(srgb_to_linear(filled))
    return np.stack(out)


# ---------------------------------------------------------------------------- benchmark metrics
# Everything below is used by bench/quality.py. Frames are scene-linear RGB; every comparison is
# made on display-encoded values (sRGB, clipped), like psnr/ssim above.

#: SSIM window half-width (scikit-image's default 7×7 window).
_SSIM_RADIUS = 3


@dataclass
class QualityTotals:
    """PSNR/SSIM inside the edited region and over the whole frame, accumulated frame by frame.

    PSNR pools the squared error over all pixels of the shot (as :func:`sequence_scores`); SSIM is
    the mean of each frame's SSIM map (inside the region, or over the frame), averaged over frames.
    Only the box around the region and around every pixel that differs from the truth is
    computed: outside it SSIM is exactly 1 and the error exactly 0, so the totals are exact and a
    4K frame costs what its edited part costs.
    """

    hole_sq: float = 0.0
    hole_n: int = 0
    full_sq: float = 0.0
    full_n: int = 0
    ssim_hole: list[float] = field(default_factory=list)
    ssim_full: list[float] = field(default_factory=list)

    def add(self, out: np.ndarray, truth: np.ndarray, region: np.ndarray) -> None:
        from skimage.metrics import structural_similarity

        out = np.asarray(out[..., :3], np.float32)
        truth = np.asarray(truth[..., :3], np.float32)
        h, w = region.shape
        self.full_n += h * w * 3
        touched = np.any(out != truth, axis=-1) | region
        if not touched.any():
            self.ssim_full.append(1.0)
            return
        # ``inner``: every pixel whose SSIM window sees a difference; ``outer`` adds the context
        # those windows read, so inner values equal the full-frame computation's.
        inner = _grow_box(_bbox(touched), _SSIM_RADIUS, h, w)
        outer = _grow_box(inner, _SSIM_RADIUS, h, w)
        oy, ox = slice(outer[0], outer[2]), slice(outer[1], outer[3])
        a, b = linear_to_srgb(out[oy, ox]), linear_to_srgb(truth[oy, ox])
        _, smap = structural_similarity(a, b, channel_axis=-1, data_range=1.0, full=True)
        iy = slice(inner[0] - outer[0], inner[2] - outer[0])
        ix = slice(inner[1] - outer[1], inner[3] - outer[1])
        smap = smap.mean(-1)[iy, ix]
        sq = ((a - b) ** 2)[iy, ix]
        reg = region[inner[0] : inner[2], inner[1] : inner[3]]
        self.full_sq += float(sq.sum())
        self.ssim_full.append(float((smap.sum() + (h * w - smap.size)) / (h * w)))
        if reg.any():
            self.hole_sq += float(sq[reg].sum())
            self.hole_n += int(reg.sum()) * 3
            self.ssim_hole.append(float(smap[reg].mean()))

    def scores(self) -> dict[str, float]:
        def db(sq: float, n: int) -> float:
            mse = sq / n if n else 0.0
            return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))

        return {
            "psnr_hole": db(self.hole_sq, self.hole_n),
            "ssim_hole": float(np.mean(self.ssim_hole)) if self.ssim_hole else float("nan"),
            "psnr_full": db(self.full_sq, self.full_n),
            "ssim_full": float(np.mean(self.ssim_full)) if self.ssim_full else float("nan"),
        }


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of the True pixels, exclusive end."""
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    return int(ys[0]), int(xs[0]), int(ys[-1]) + 1, int(xs[-1]) + 1


def _grow_box(box: tuple[int, int, int, int], by: int, h: int, w: int) -> tuple[int, int, int, int]:
    return max(0, box[0] - by), max(0, box[1] - by), min(h, box[2] + by), min(w, box[3] + by)


def region_box(region: np.ndarray, margin: int) -> tuple[slice, slice]:
    """Slices of the box around the region over the whole shot ``(T, H, W)``, grown by ``margin``."""
    _, h, w = region.shape
    y0, x0, y1, x1 = _grow_box(_bbox(np.asarray(region.any(axis=0))), margin, h, w)
    return slice(y0, y1), slice(x0, x1)


def _grey8(rgb: np.ndarray) -> np.ndarray:
    d = linear_to_srgb(np.asarray(rgb[..., :3], np.float32))
    lum = d[..., 0] * 0.2126 + d[..., 1] * 0.7152 + d[..., 2] * 0.0722
    return np.clip(lum * 255.0 + 0.5, 0, 255).astype(np.uint8)


@dataclass
class FlowPair:
    """Dense flow from frame t to t+1 (OpenCV DIS) and where it can be trusted."""

    map_x: np.ndarray  # where each pixel of t lands in t+1
    map_y: np.ndarray
    valid: np.ndarray  # in bounds and forward-backward consistent (not occluded)


def flow_pairs(reference: np.ndarray) -> list[FlowPair]:
    """Flow between consecutive frames of ``reference`` ``(T, H, W, 3)`` (the ground truth in the
    benchmark, so every method is warped by the same, true motion)."""
    import cv2

    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    t_count, h, w = reference.shape[:3]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    grey = [_grey8(f) for f in reference]
    pairs = []
    for t in range(t_count - 1):
        # OpenCV allocates the output for flow=None, which its stubs do not list
        fw = dis.calc(grey[t], grey[t + 1], None)  # type: ignore[call-overload]
        bw = dis.calc(grey[t + 1], grey[t], None)  # type: ignore[call-overload]
        mx, my = xs + fw[..., 0], ys + fw[..., 1]
        back = cv2.remap(bw, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # Sundaram et al.'s occlusion test: forward then backward should come home.
        err = ((fw + back) ** 2).sum(-1)
        ok = err <= 0.01 * ((fw**2).sum(-1) + (back**2).sum(-1)) + 0.5
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        pairs.append(FlowPair(mx, my, ok & inside))
    return pairs


def warp_errors(
    frames: np.ndarray, flows: list[FlowPair], region: np.ndarray | None = None
) -> np.ndarray:
    """Per transition t→t+1: mean |frame t − frame t+1 warped back by the flow| in 8-bit display
    code values, over ``region[t] | region[t+1]`` (or the frame) where the flow is valid.

    A static sequence scores 0; flicker, popping and seams raise it. NaN where nothing is valid.
    """
    import cv2

    disp = [linear_to_srgb(np.asarray(f[..., :3], np.float32)) for f in frames]
    out = np.full(len(flows), np.nan)
    for t, fp in enumerate(flows):
        warped = cv2.remap(
            disp[t + 1], fp.map_x, fp.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        sel = fp.valid if region is None else fp.valid & (region[t] | region[t + 1])
        if sel.any():
            out[t] = float(np.abs(disp[t] - warped)[sel].mean() * 255.0)
    return out


def temporal_consistency(
    frames: np.ndarray, region: np.ndarray | None = None, reference: np.ndarray | None = None
) -> float:
    """Mean flow-warped error between consecutive frames (flow from ``reference``, else from
    ``frames`` themselves). 0 for a static sequence."""
    errs = warp_errors(frames, flow_pairs(frames if reference is None else reference), region)
    return float(np.nanmean(errs)) if np.isfinite(errs).any() else float("nan")


def seam_transitions(n_frames: int, window: int, overlap: int, seam: str) -> np.ndarray:
    """Which transitions t→t+1 (``n_frames − 1`` of them) cross a window seam: where the weights
    that blend windows into a frame change (the planner's own rule, ``windows.seam_weights``).

    ``crossfade``: every transition through an overlap, from the last frame before it to the
    first after it. ``chain``: the one transition where ownership passes to the next window.
    """
    from void_client.windows import plan_windows, seam_weights

    windows = plan_windows(n_frames, window, overlap)
    weights = seam_weights(windows, seam)
    per_frame = np.zeros((n_frames, len(windows)))
    for win, ws in zip(windows, weights):
        per_frame[win.start : win.stop, win.index] = ws
    return np.any(np.abs(np.diff(per_frame, axis=0)) > 1e-9, axis=1)


def seam_ratios(errors: np.ndarray, at_seam: np.ndarray, reach: int | None = None) -> list[float]:
    """Per seam: mean temporal error at its transitions over the mean at the other transitions
    within ``reach`` of it (default: twice the seam's length, at least 8). Comparing with the
    neighbourhood keeps slow changes of the shot (the object entering, the camera speeding up)
    out of the ratio. 1.0 = the seam is invisible."""
    errors = np.asarray(errors, float)
    at_seam = np.asarray(at_seam, bool)
    ok = np.isfinite(errors)
    ratios = []
    t = 0
    n = len(at_seam)
    while t < n:
        if not at_seam[t]:
            t += 1
            continue
        a = t
        while t < n and at_seam[t]:
            t += 1
        b = t  # zone is [a, b)
        r = reach if reach is not None else max(8, 2 * (b - a))
        near = np.zeros(n, bool)
        near[max(0, a - r) : min(n, b + r)] = True
        seam = errors[a:b][ok[a:b]]
        rest = errors[near & ~at_seam & ok]
        if seam.size and rest.size:
            base = float(rest.mean())
            ratios.append(
                float(seam.mean() / base)
                if base > 0
                else (float("inf") if seam.mean() > 0 else 1.0)
            )
    return ratios


def seam_ratio(errors: np.ndarray, at_seam: np.ndarray, reach: int | None = None) -> float:
    """Mean of :func:`seam_ratios` over the shot's seams; NaN when it has none (one window)."""
    ratios = seam_ratios(errors, at_seam, reach)
    return float(np.mean(ratios)) if ratios else float("nan")
