"""Image quality numbers used by the demo, the tests and the benchmarks."""

from __future__ import annotations

import numpy as np

from .demo_shot import linear_to_srgb


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of display-encoded images (sRGB, clipped to [0, 1]), inside ``mask`` if given."""
    da, db = linear_to_srgb(a), linear_to_srgb(b)
    diff = (da - db) ** 2
    if mask is not None:
        diff = diff[np.broadcast_to(mask[..., None], diff.shape)] if diff.ndim == mask.ndim + 1 else diff[mask]
    mse = float(np.mean(diff)) if diff.size else 0.0
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM of one frame pair (display-encoded, RGB), averaged inside ``mask`` if given."""
    from skimage.metrics import structural_similarity

    _, full = structural_similarity(linear_to_srgb(a), linear_to_srgb(b), channel_axis=-1, data_range=1.0, full=True)
    full = full.mean(-1)
    return float(full[mask].mean() if mask is not None and mask.any() else full.mean())


def sequence_scores(out: np.ndarray, truth: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """PSNR over all hole pixels of the shot, SSIM averaged per frame, inside ``region``."""
    return {
        "psnr": psnr(out, truth, region),
        "ssim": float(np.mean([ssim(o, t, r) for o, t, r in zip(out, truth, region) if r.any()])),
        "psnr_full": psnr(out, truth),
    }


def cv2_inpaint_baseline(plate: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Per-frame ``cv2.inpaint`` (Telea) of the region: the baseline an artist would try first."""
    import cv2

    out = []
    for f, m in zip(plate, region):
        disp = (linear_to_srgb(f[..., :3]) * 255).round().astype(np.uint8)
        filled = cv2.inpaint(disp, m.astype(np.uint8), 5, cv2.INPAINT_TELEA).astype(np.float32) / 255.0
        from .demo_shot import srgb_to_linear

        out.append(srgb_to_linear(filled))
    return np.stack(out)
