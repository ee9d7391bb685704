"""A generated shot with its ground truth: a real photograph under a panning camera, a moving
ball that casts a shadow, and the clean plate without them (VOID's own counterfactual idea).

Deterministic from ``seed``. Needs scikit-image (its bundled sample photographs) and OpenCV, so
it lives in the daemon package, not in the light client (``docs/architecture.md``, import rules).
Used by ``void-remove demo`` (:mod:`void_daemon.demo_command`), the tests and the benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from void_client.sequence import write_image
from void_client.srgb import srgb_to_linear


@dataclass
class Shot:
    plate: np.ndarray  # (T, H, W, 4) float32 linear RGBA
    remove: np.ndarray  # (T, H, W) float32 matte
    affected: np.ndarray  # (T, H, W) float32 matte
    truth: np.ndarray  # (T, H, W, 3) float32 linear clean plate
    first: int = 1001

    @property
    def frames(self) -> list[int]:
        return list(range(self.first, self.first + len(self.plate)))


def _background(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    return srgb_to_linear(img[..., :3].astype(np.float32) / 255.0)


def make_shot(
    frames: int = 24,
    width: int = 320,
    height: int = 192,
    seed: int = 0,
    first: int = 1001,
    pan: float = 6.0,
    background: str = "coffee",
    static: bool = False,
    radius_frac: float = 0.14,
) -> Shot:
    """Build the shot in memory. ``pan`` is the camera move in pixels per frame."""
    import cv2

    rng = np.random.default_rng(seed)
    bg = _background(background)
    # Enough photograph for the whole camera move at a scale that keeps detail.
    need_w = width + abs(pan) * frames + 8
    scale = max(need_w / bg.shape[1], (height + 8) / bg.shape[0], 1.0)
    bg = cv2.resize(
        bg,
        (int(np.ceil(bg.shape[1] * scale)), int(np.ceil(bg.shape[0] * scale))),
        interpolation=cv2.INTER_CUBIC,
    )
    y_off = rng.uniform(0, max(0.0, bg.shape[0] - height - 4))
    radius = max(6.0, height * radius_frac)
    ball_colour = np.array([0.6, 0.05, 0.02], np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    plate, remove, affected, truth = [], [], [], []
    for t in range(frames):
        cam_x = 2.0 + (0.0 if static else pan * t)
        cam_y = y_off + (0.0 if static else 1.5 * np.sin(t / 7.0))
        m = np.array([[1, 0, -cam_x], [0, 1, -cam_y]], dtype=np.float32)
        clean = cv2.warpAffine(
            bg, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        u = t / max(frames - 1, 1)
        # Against the camera move, so the background it hides shows up again a few frames later.
        cx = width * (0.15 + 0.7 * u)
        cy = height * (0.45 + 0.08 * np.sin(u * 6.0))
        # Shadow: a soft ellipse on the ground below-right of the ball.
        sx, sy = cx + radius * 0.6, cy + radius * 1.25
        d = ((xs - sx) / (radius * 1.3)) ** 2 + ((ys - sy) / (radius * 0.45)) ** 2
        shadow = np.clip(1.5 - d, 0.0, 1.0) ** 1.5
        shaded = clean * (1.0 - 0.6 * shadow[..., None])
        # Ball: antialiased disc with simple shading and a texture of noise.
        r = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
        alpha = np.clip(radius - r + 0.5, 0.0, 1.0)
        light = np.clip(
            1.1
            - 0.9
            * ((xs - cx + radius * 0.4) ** 2 + (ys - cy + radius * 0.4) ** 2)
            / (2 * radius**2),
            0.15,
            1.2,
        )
        ball = ball_colour[None, None, :] * light[..., None]
        frame = shaded * (1 - alpha[..., None]) + ball * alpha[..., None]
        rgba = np.concatenate([frame, np.ones((height, width, 1), np.float32)], -1)
        plate.append(rgba)
        remove.append(alpha)
        affected.append((shadow > 0.02).astype(np.float32))
        truth.append(clean)
    f32 = lambda xs: np.stack(xs).astype(np.float32)  # noqa: E731
    return Shot(f32(plate), f32(remove), f32(affected), f32(truth), first)


def write_shot(shot: Shot, folder: str) -> dict[str, str]:
    """Write plate (half RGBA), mattes (half, channel A) and truth as EXR sequences."""
    paths = {
        "plate": f"{folder}/plate.####.exr",
        "remove": f"{folder}/remove.####.exr",
        "affected": f"{folder}/affected.####.exr",
        "truth": f"{folder}/truth.####.exr",
    }
    from void_client.sequence import SequencePattern

    pats = {k: SequencePattern.parse(v) for k, v in paths.items()}
    for i, f in enumerate(shot.frames):
        write_image(
            pats["plate"].path(f), shot.plate[i].astype(np.float16), channels=["R", "G", "B", "A"]
        )
        write_image(pats["remove"].path(f), shot.remove[i].astype(np.float16), channels=["A"])
        write_image(pats["affected"].path(f), shot.affected[i].astype(np.float16), channels=["A"])
        write_image(
            pats["truth"].path(f), shot.truth[i].astype(np.float16), channels=["R", "G", "B"]
        )
    return paths
