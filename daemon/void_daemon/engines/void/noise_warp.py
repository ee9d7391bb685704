"""Pass-2 starting noise: Gaussian noise carried along the pass-1 result's optical flow.

VOID's pass 2 was trained to start from "Go-with-the-Flow" warped noise (Burgert et al. 2025,
``RyannDaGreat/CommonSource/noise_warp.py``): a high-resolution noise field is advected frame to
frame along the optical flow and re-Gaussianised, so the noise moves with the scene while every
frame stays unit-variance white noise. The reference computes RAFT flow on the pass-1 video
squashed to 480×720 and 72 frames, then picks 22 noise frames and resizes them bilinearly to the
latent grid — which shrinks the variance and, past 85 frames, gives the wrong number of frames.

Here:

* flow (:func:`select_flow`) is, in the default ``pass2_noise="reference"`` mode, RAFT as the
  reference uses it (torchvision's ``raft_large``) when torchvision is installed and its weights
  are on local disk (never downloaded), else OpenCV DIS (no extra weights); ``"unit"`` always
  uses DIS. Either runs between consecutive pass-1 frames at ``flow_scale`` of the model size,
  native aspect;
* the noise is warped at ``warp_scale`` × the latent grid, with the algorithm of ``warp_xyωc``
  (``xy_mode='none'``): pixels that land somewhere are pushed there ("shrink", weighted sums kept
  unit-variance), holes pull the pixel the flow came from ("expand"); every group of copies of one
  source pixel is re-Gaussianised (the copies share value/√n plus zero-sum fresh noise). Groups
  are tracked by source index rather than by comparing values (``torch.unique``), which is the
  same partition with probability one and linear in the pixel count;
* each kept frame is area-pooled to the latent grid and multiplied by ``warp_scale`` (sum/√n:
  unit variance), and latent frame ``j`` takes the noise of video frame ``4j`` — as training did
  (``linspace(0, f−1, latents)`` over ``4k+1`` frames) — so any valid length gets exactly its
  number of latent frames.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from void_client.errors import ErrorCode, VoidError

log = logging.getLogger(__name__)

_EPS = 1e-5


def _grey(frame: np.ndarray) -> np.ndarray:
    rgb = np.clip(frame, 0.0, 1.0)
    lum = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return (lum * 255.0 + 0.5).astype(np.uint8)


class FlowEstimator:
    """Forward optical flow ``prev → next`` (pixels, ``(2, H, W)``: dx, dy) with OpenCV DIS."""

    def __init__(self, scale: float = 0.5, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> None:
        self.scale = scale
        self.dis = cv2.DISOpticalFlow.create(preset)

    def __call__(self, prev: np.ndarray, nxt: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        h, w = prev.shape[:2]
        fh, fw = max(8, round(h * self.scale)), max(8, round(w * self.scale))
        a = cv2.resize(_grey(prev), (fw, fh), interpolation=cv2.INTER_AREA)
        b = cv2.resize(_grey(nxt), (fw, fh), interpolation=cv2.INTER_AREA)
        # (fh, fw, 2); OpenCV allocates the output for flow=None, which its stubs do not list
        flow = self.dis.calc(a, b, None)  # type: ignore[call-overload]
        oh, ow = out_size
        flow = cv2.resize(flow, (ow, oh), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= ow / fw
        flow[..., 1] *= oh / fh
        return np.ascontiguousarray(flow.transpose(2, 0, 1))


class Flow(Protocol):
    """A flow estimator: ``(prev, next, (H, W)) -> (2, H, W)`` forward flow in output pixels."""

    def __call__(
        self, prev: np.ndarray, nxt: np.ndarray, out_size: tuple[int, int]
    ) -> np.ndarray: ...


#: RAFT's feature map is 1/8 of the input and its correlation pyramid has 4 levels: inputs are
#: multiples of 8 and at least this tall and wide.
RAFT_MIN_SIDE = 128
#: Where torchvision keeps downloaded weights (``torch.hub.get_dir()/checkpoints``); RAFT large
#: checkpoints there are used as they are, nothing is fetched.
RAFT_WEIGHTS_GLOB = "raft_large*.pth"


class RaftFlowEstimator:
    """Forward optical flow with torchvision's RAFT (large), the reference's flow network, from a
    checkpoint on local disk. Same contract as :class:`FlowEstimator`."""

    def __init__(
        self, weights: Path, scale: float = 0.5, device: torch.device | str = "cpu"
    ) -> None:
        # Imported by name: torchvision is optional (select_flow checks it is there) and not
        # installed where the type checker runs.
        raft_large = importlib.import_module("torchvision.models.optical_flow").raft_large
        self.scale = scale
        self.device = torch.device(device)
        model = raft_large(weights=None, progress=False)
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.model = model.eval().to(self.device)

    def _side(self, n: int) -> int:
        return max(RAFT_MIN_SIDE, int(round(n * self.scale / 8)) * 8)

    def __call__(self, prev: np.ndarray, nxt: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        h, w = prev.shape[:2]
        fh, fw = self._side(h), self._side(w)

        def prep(frame: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(np.clip(frame, 0.0, 1.0).astype(np.float32)).to(self.device)
            t = t.permute(2, 0, 1)[None] * 2.0 - 1.0  # RAFT's input range [-1, 1]
            return F.interpolate(t, size=(fh, fw), mode="bilinear", align_corners=False)

        with torch.inference_mode():
            flow = self.model(prep(prev), prep(nxt))[-1]  # (1, 2, fh, fw), the last refinement
        oh, ow = out_size
        flow = F.interpolate(flow, size=(oh, ow), mode="bilinear", align_corners=False)[0]
        flow[0] *= ow / fw
        flow[1] *= oh / fh
        return np.ascontiguousarray(flow.float().cpu().numpy())


def find_raft_weights(raft_weights: str = "") -> tuple[Path | None, str]:
    """A RAFT checkpoint on local disk and where it was looked for: ``raft_weights`` when given,
    else torchvision's download cache. Never downloads."""
    if raft_weights:
        path = Path(raft_weights).expanduser()
        return (path if path.is_file() else None), str(path)
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(cache.glob(RAFT_WEIGHTS_GLOB)) if cache.is_dir() else []
    return (found[0] if found else None), str(cache / RAFT_WEIGHTS_GLOB)


def select_flow(
    mode: str,
    flow_scale: float = 0.5,
    raft_weights: str = "",
    device: torch.device | str = "cpu",
) -> tuple[Flow, str]:
    """The flow estimator for pass-2 ``mode`` and why it was chosen (a line for the log).

    ``"reference"``: RAFT when torchvision is installed and its weights are on disk, else DIS;
    ``"unit"``: DIS, as before the modes existed."""
    if mode != "reference":
        return FlowEstimator(flow_scale), f"DIS flow (pass2_noise={mode})"
    if importlib.util.find_spec("torchvision") is None:
        return FlowEstimator(flow_scale), (
            "DIS flow instead of the reference's RAFT: torchvision is not installed "
            "(pip install torchvision, and put the RAFT large weights on disk)"
        )
    path, looked = find_raft_weights(raft_weights)
    if path is None:
        return FlowEstimator(flow_scale), (
            f"DIS flow instead of the reference's RAFT: no RAFT weights at {looked} "
            "(set the raft_weights option to a torchvision raft_large .pth; never downloaded)"
        )
    try:
        return RaftFlowEstimator(path, flow_scale, device), f"RAFT flow (torchvision) from {path}"
    except Exception as exc:  # noqa: BLE001 - a bad checkpoint falls back to DIS and says why
        return FlowEstimator(flow_scale), (
            f"DIS flow instead of the reference's RAFT: {path} did not load ({exc})"
        )


class NoiseWarper:
    """A warped-noise field: per pixel a weight ``ω`` and ``channels`` Gaussian values.

    ``step(flow)`` advances it by one frame of forward flow (``(2, H, W)`` in warp-grid pixels).
    """

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ) -> None:
        self.c, self.h, self.w = channels, height, width
        self.generator = generator
        self.device = torch.device(device)
        self.noise = self._randn(channels, height * width)
        self.weight = torch.ones(height * width, device=self.device)
        ys, xs = torch.meshgrid(
            torch.arange(height, device=self.device),
            torch.arange(width, device=self.device),
            indexing="ij",
        )
        self._x = xs.reshape(-1)
        self._y = ys.reshape(-1)

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.generator, device=self.generator.device).to(
            self.device
        )

    def step(self, flow: torch.Tensor) -> None:
        n = self.h * self.w
        zero_group = n  # the group of every pixel that starts from zero (fresh noise)
        fx = flow[0].reshape(-1).round().long()
        fy = flow[1].reshape(-1).round().long()

        # Shrink: every pixel q is pushed to q + flow(q); pixels pushed off-frame stay put as
        # zero-valued weight-1 pixels (they become fresh noise).
        dx, dy = self._x + fx, self._y + fy
        inside = (dx >= 0) & (dx < self.w) & (dy >= 0) & (dy < self.h)
        dst = torch.where(inside, dy * self.w + dx, torch.arange(n, device=self.device))
        shrink_noise = torch.where(inside, self.noise, torch.zeros_like(self.noise))
        shrink_weight = torch.where(inside, self.weight, torch.ones_like(self.weight))
        shrink_group = torch.where(
            inside, torch.arange(n, device=self.device), torch.full_like(dst, zero_group)
        )
        landed = torch.zeros(n, dtype=torch.bool, device=self.device)
        landed[dst] = True

        # Expand: a pixel nothing landed on pulls from p − flow(p).
        sx, sy = self._x - fx, self._y - fy
        src_inside = (sx >= 0) & (sx < self.w) & (sy >= 0) & (sy < self.h) & ~landed
        src = torch.where(src_inside, sy * self.w + sx, torch.zeros_like(sx))
        expand_noise = torch.where(src_inside, self.noise[:, src], torch.zeros_like(self.noise))
        expand_weight = torch.where(src_inside, self.weight[src], torch.ones_like(self.weight))
        expand_group = torch.where(src_inside, src, torch.full_like(src, zero_group))

        # Re-Gaussianise both halves together: a group of k copies of one value v becomes
        # v/√k plus fresh noise with zero sum over the group.
        groups = torch.cat([shrink_group, expand_group])
        values = torch.cat([shrink_noise, expand_noise], dim=1)
        weights = torch.cat([shrink_weight, expand_weight])
        counts = torch.bincount(groups, minlength=n + 1).to(values.dtype)
        foreign = self._randn(self.c, 2 * n)
        group_mean = torch.zeros(self.c, n + 1, device=self.device).index_add_(
            1, groups, foreign
        ) / counts.clamp(min=1)
        per_pixel_count = counts[groups]
        values = values / per_pixel_count.sqrt() + (foreign - group_mean[:, groups])
        weights = weights / per_pixel_count
        shrink_noise, expand_noise = values[:, :n], values[:, n:]
        shrink_weight, expand_weight = weights[:n], weights[n:]

        # Shrink: weighted sums at the landing pixels, normalised to keep unit variance.
        w_sum = torch.zeros(n, device=self.device).index_add_(0, dst, shrink_weight)
        w_sq = torch.zeros(n, device=self.device).index_add_(0, dst, shrink_weight**2)
        n_sum = torch.zeros(self.c, n, device=self.device).index_add_(
            1, dst, shrink_noise * shrink_weight
        )
        shrunk = n_sum / w_sq.clamp(min=1e-30).sqrt()

        self.noise = torch.where(landed, shrunk, expand_noise)
        weight = torch.where(landed, w_sum, expand_weight)
        weight = weight / weight.mean() + _EPS
        self.weight = weight**0.9999

    def pooled(self, factor: int) -> torch.Tensor:
        """The field area-pooled by ``factor`` and scaled back to unit variance: ``(c, h/f, w/f)``."""
        field = self.noise.reshape(1, self.c, self.h, self.w)
        return F.avg_pool2d(field, factor)[0] * factor


def warped_noise(
    frames: np.ndarray,
    latent_frames: int,
    latent_size: tuple[int, int],
    channels: int = 16,
    *,
    warp_scale: int = 8,
    flow_scale: float = 0.5,
    degradation: float = 0.0,
    temporal_compression: int = 4,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    cancelled: Callable[[], bool] | None = None,
    flow: Flow | None = None,
) -> torch.Tensor:
    """Flow-warped Gaussian noise for the latents of ``frames``: ``(1, latent_frames, c, h, w)``.

    ``frames``: float ``(T, H, W, 3)`` in [0, 1] (the pass-1 result), ``T = 4·(latent_frames−1)+1``.
    ``flow``: the estimator (:func:`select_flow`); DIS at ``flow_scale`` when not given.
    """
    t = frames.shape[0]
    if t != temporal_compression * (latent_frames - 1) + 1:
        raise ValueError(f"{t} frames do not make {latent_frames} latent frames")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    lh, lw = latent_size
    gh, gw = lh * warp_scale, lw * warp_scale
    if flow is None:
        flow = FlowEstimator(flow_scale)
    warper = NoiseWarper(channels, gh, gw, generator, device)
    kept = [warper.pooled(warp_scale)]
    for i in range(1, t):
        if cancelled is not None and cancelled():
            raise VoidError(ErrorCode.CANCELLED, "cancelled while warping pass-2 noise")
        f = torch.from_numpy(flow(frames[i - 1], frames[i], (gh, gw))).to(warper.device)
        warper.step(f)
        if i % temporal_compression == 0:
            kept.append(warper.pooled(warp_scale))
    noise = torch.stack(kept)[None]  # (1, latent_frames, c, lh, lw)
    if degradation > 0:
        fresh = torch.randn(noise.shape, generator=generator, device=generator.device).to(
            noise.device
        )
        noise = (noise * (1 - degradation) + fresh * degradation) / (
            (1 - degradation) ** 2 + degradation**2
        ) ** 0.5
    log.debug(
        "warped noise %s: mean %.3f std %.3f",
        tuple(noise.shape),
        float(noise.mean()),
        float(noise.std()),
    )
    return noise.float()
