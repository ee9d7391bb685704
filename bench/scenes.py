"""Paired counterfactual shots for the benchmarks: each shot comes with its clean plate.

VOID's own idea, built offline: render a real photograph under a moving camera, add the thing
to remove (and its shadow), and render the same frames again without it. The photographs are
the ones scikit-image ships inside its package (``coffee``, ``astronaut``, ``chelsea``,
``rocket``), so nothing is downloaded. Rendering is in scene-linear light, like a plate.

Every scene is deterministic from its seed. The catalogue (``SCENES``) covers:

========== ================================================================================
pan        camera pan + tilt wobble; a textured ball moving against it casts a soft shadow
           (the *affected* matte)
zoom       camera zooms in 1.0 → 1.4 while drifting; ball with shadow crosses diagonally
parallax   two layers: far photograph panning slowly, a near fence (ground band + posts)
           panning 3.5× faster in front of the ball, which it partly hides
occlusion  the removed ball passes in front of a second object (a card moving on its own
           path); the card must come back
static     locked-off camera; the ball and its shadow cross the frame
rolling    camera rotating (±6°) while panning, with a rolling-shutter skew (each row is
           exposed later than the one above it); ball with shadow crosses
hidden     the ball rests in one place under a slowly panning, zooming camera for three
           quarters of the shot, then rolls away: the background behind it is seen only in
           the last frames
long       (``--full``) 448 frames, camera swinging back and forth: three 197-frame windows
4k         (``--full``) 3840×2160, 21 frames, fast pan: ROI crop at plate resolution
========== ================================================================================

``build_scene(name, seed)`` returns a :class:`Scene`: the :class:`~void_daemon.demo_shot.Shot`
(plate RGBA, remove and affected mattes, truth) plus the job settings it is benchmarked with.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Bench scripts run as `python bench/<name>.py` from the dev venv (pip install -e '.[dev]'); the
# repository root goes on sys.path for the helpers they share with the tests (tests.support).
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from void_client.srgb import srgb_to_linear  # noqa: E402
from void_daemon.demo_shot import Shot  # noqa: E402

#: Photographs bundled with scikit-image (checked to load offline).
PHOTOS = ("coffee", "astronaut", "chelsea", "rocket")


@dataclass
class Scene:
    """A shot with its ground truth and the job settings the benchmark runs it with."""

    name: str
    description: str
    shot: Shot
    moving_camera: bool
    #: Two windows for the 64-frame scenes, one seam in the middle, overlap 10.
    window: int = 37
    overlap: int = 10
    dilation: int = 4
    feather: int = 6
    #: Facts kept when the pixels are dropped (a 4K shot is big).
    frames: int = field(init=False)
    size: str = field(init=False)

    def __post_init__(self) -> None:
        self.frames = len(self.shot.plate)
        self.size = f"{self.shot.plate.shape[2]}x{self.shot.plate.shape[1]}"


# ---------------------------------------------------------------------------- rendering parts
def photo(name: str, min_w: int = 0, min_h: int = 0) -> np.ndarray:
    """A bundled photograph in linear light, upscaled (never down) to at least ``min_w × min_h``."""
    import cv2
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    lin = srgb_to_linear(img[..., :3].astype(np.float32) / 255.0)
    scale = max(min_w / lin.shape[1], min_h / lin.shape[0], 1.0)
    if scale > 1.0:
        size = (int(np.ceil(lin.shape[1] * scale)), int(np.ceil(lin.shape[0] * scale)))
        lin = np.maximum(cv2.resize(lin, size, interpolation=cv2.INTER_CUBIC), 0.0)
    return lin


def view(img: np.ndarray, width: int, height: int, scale: float, x: float, y: float) -> np.ndarray:
    """The camera: output pixel (u, v) sees ``img`` at (x + scale·u, y + scale·v)."""
    import cv2

    m = np.float32([[scale, 0, x], [0, scale, y]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(img, m, (width, height), flags=flags, borderMode=cv2.BORDER_REFLECT)
    return out if out.ndim == img.ndim else out[..., None]


def ellipse_alpha(
    xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, rx: float, ry: float
) -> np.ndarray:
    """Antialiased ellipse coverage (one pixel of soft edge)."""
    r = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
    return np.clip((1.0 - r) * min(rx, ry) + 0.5, 0.0, 1.0).astype(np.float32)


def soft_shadow(
    xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, rx: float, ry: float
) -> np.ndarray:
    """A contact shadow's density in [0, 1]: dense in the middle, soft edges."""
    d = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2
    return (np.clip(1.5 - d, 0.0, 1.0) ** 1.5).astype(np.float32)


@dataclass
class Ball:
    """The thing to remove: a photo-textured shaded ball that may cast a shadow below-right."""

    texture: np.ndarray  # linear RGB, the ball's surface pattern
    radius: float
    tint: np.ndarray
    shadow: bool = True
    shadow_strength: float = 0.6

    def render(
        self, xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, spin: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rgb, alpha, shadow density) for a ball centred at (cx, cy)."""
        r = self.radius
        alpha = ellipse_alpha(xs, ys, cx, cy, r, r)
        # Texture slides with the ball (and rolls by ``spin`` px), shading makes it round.
        h, w = xs.shape
        tex = view(self.texture, w, h, 0.5, spin - 0.5 * (cx - r), 40.0 - 0.5 * (cy - r))
        light = np.clip(
            1.15 - 0.9 * ((xs - cx + 0.4 * r) ** 2 + (ys - cy + 0.4 * r) ** 2) / (2 * r * r),
            0.12,
            1.2,
        )
        rgb = (0.35 + 0.65 * tex) * self.tint[None, None, :] * light[..., None]
        shadow = (
            soft_shadow(xs, ys, cx + 0.6 * r, cy + 1.25 * r, 1.3 * r, 0.45 * r)
            if self.shadow
            else np.zeros_like(alpha)
        )
        return rgb.astype(np.float32), alpha, shadow


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs, ys


def _assemble(
    frames: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    first: int,
    dtype=np.float32,
) -> Shot:
    """Stack per-frame (plate rgb, remove, affected, truth rgb) into a Shot with an RGBA plate."""
    t = len(frames)
    h, w = frames[0][1].shape
    plate = np.empty((t, h, w, 4), dtype)
    truth = np.empty((t, h, w, 3), dtype)
    remove = np.empty((t, h, w), np.float32)
    affected = np.empty((t, h, w), np.float32)
    for i, (p, r, a, c) in enumerate(frames):
        plate[i, ..., :3] = p
        plate[i, ..., 3] = 1.0
        truth[i] = c
        remove[i] = r
        affected[i] = a
    return Shot(plate, remove, affected, truth, first)


def _ball_over(
    clean: np.ndarray, ball: Ball, xs, ys, cx, cy, spin, cover: np.ndarray | None = None
):
    """Plate, remove and affected mattes for ``ball`` over ``clean``; ``cover`` hides it (near layer)."""
    rgb, alpha, shadow = ball.render(xs, ys, cx, cy, spin)
    visible = alpha if cover is None else alpha * (1.0 - cover)
    shade = shadow if cover is None else shadow * (1.0 - cover)
    shaded = clean * (1.0 - ball.shadow_strength * shade[..., None])
    frame = shaded * (1.0 - visible[..., None]) + rgb * visible[..., None]
    return frame, visible, (shade > 0.0).astype(np.float32)


def _ball(rng: np.random.Generator, radius: float, shadow: bool = True) -> Ball:
    texture = photo(str(rng.choice(["chelsea", "rocket", "astronaut"])))
    tint = np.array([0.9, 0.25, 0.08], np.float32) * rng.uniform(0.8, 1.0, 3).astype(np.float32)
    return Ball(texture, radius, tint, shadow)


# ---------------------------------------------------------------------------- scenes
def pan(
    seed: int = 0, frames: int = 64, width: int = 320, height: int = 192, first: int = 1001
) -> Scene:
    rng = np.random.default_rng(seed)
    speed = 5.0
    bg = photo("coffee", int(width + speed * frames + 16), height + 16)
    y0 = rng.uniform(0, bg.shape[0] - height - 8)
    ball = _ball(rng, height * 0.14)
    xs, ys = _grid(width, height)
    out = []
    for t in range(frames):
        u = t / max(frames - 1, 1)
        clean = view(bg, width, height, 1.0, 4.0 + speed * t, y0 + 3.0 * np.sin(t / 6.0))
        cx, cy = width * (0.15 + 0.7 * u), height * (0.42 + 0.08 * np.sin(u * 7.0))
        frame, rem, aff = _ball_over(clean, ball, xs, ys, cx, cy, 3.0 * t)
        out.append((frame, rem, aff, clean))
    return Scene(
        "pan",
        "camera pan + tilt wobble, ball with shadow moving against it",
        _assemble(out, first),
        True,
    )


def zoom(
    seed: int = 0, frames: int = 64, width: int = 320, height: int = 192, first: int = 1001
) -> Scene:
    rng = np.random.default_rng(seed + 1)
    bg = photo("astronaut", width + 64, height + 64)
    ball = _ball(rng, height * 0.12)
    xs, ys = _grid(width, height)
    x0, y0 = rng.uniform(8, bg.shape[1] - width - 40), rng.uniform(8, bg.shape[0] - height - 40)
    out = []
    for t in range(frames):
        u = t / max(frames - 1, 1)
        s = 1.0 / (1.0 + 0.4 * u)  # zoom in: fewer photo pixels per output pixel
        # Zoom about the frame centre while drifting right/down.
        cxp, cyp = x0 + width / 2 + 30 * u, y0 + height / 2 + 15 * u
        clean = view(bg, width, height, s, cxp - s * width / 2, cyp - s * height / 2)
        cx, cy = width * (0.15 + 0.7 * u), height * (0.25 + 0.45 * u)
        frame, rem, aff = _ball_over(clean, ball, xs, ys, cx, cy, 2.0 * t)
        out.append((frame, rem, aff, clean))
    return Scene(
        "zoom",
        "camera zooms in 1.0→1.4 while drifting, ball with shadow crosses diagonally",
        _assemble(out, first),
        True,
    )


def parallax(
    seed: int = 0, frames: int = 64, width: int = 320, height: int = 192, first: int = 1001
) -> Scene:
    rng = np.random.default_rng(seed + 2)
    far_speed, near_speed = 2.0, 7.0
    far = photo("rocket", int(width + far_speed * frames + 16), height + 16)
    near = photo("coffee", int(width + near_speed * frames + 16), height + 16) * 0.8
    ball = _ball(rng, height * 0.15)
    xs, ys = _grid(width, height)
    yf = rng.uniform(0, far.shape[0] - height - 8)
    phase = rng.uniform(0, 100)
    out = []
    for t in range(frames):
        u = t / max(frames - 1, 1)
        clean_far = view(far, width, height, 1.0, 4.0 + far_speed * t, yf)
        near_x = 4.0 + near_speed * t
        wx = xs + near_x + phase  # world x of the near layer
        # Near layer: a ground band with a ragged top and fence posts every 150 px.
        top = height * 0.74 + 7.0 * np.sin(wx / 23.0) + 4.0 * np.sin(wx / 9.0)
        band = np.clip(ys - top + 0.5, 0.0, 1.0)
        post = np.clip(9.0 - np.abs(((wx + 75.0) % 150.0) - 75.0) + 0.5, 0.0, 1.0) * (
            ys > height * 0.08
        )
        cover = np.maximum(band, post).astype(np.float32)
        near_rgb = view(near, width, height, 1.0, near_x, 8.0)
        clean = clean_far * (1.0 - cover[..., None]) + near_rgb * cover[..., None]
        cx, cy = width * (0.1 + 0.8 * u), height * (0.5 + 0.06 * np.sin(u * 5.0))
        # The ball lives between the layers: it shades the far layer and the near one hides it.
        rgb, alpha, shadow = ball.render(xs, ys, cx, cy, 2.0 * t)
        vis = alpha * (1.0 - cover)
        shade = shadow * (1.0 - cover)
        far_shaded = clean_far * (1.0 - ball.shadow_strength * shadow[..., None])
        mid = far_shaded * (1.0 - alpha[..., None]) + rgb * alpha[..., None]
        frame = mid * (1.0 - cover[..., None]) + near_rgb * cover[..., None]
        out.append((frame, vis, (shade > 0.0).astype(np.float32), clean))
    return Scene(
        "parallax",
        "far layer pans 2 px/f, near fence 7 px/f in front of the ball (partly hides it)",
        _assemble(out, first),
        True,
    )


def occlusion(
    seed: int = 0, frames: int = 64, width: int = 320, height: int = 192, first: int = 1001
) -> Scene:
    rng = np.random.default_rng(seed + 3)
    speed = 2.0
    bg = photo("chelsea", int(width + speed * frames + 16), height + 16)
    card_tex = photo("astronaut")
    ball = _ball(rng, height * 0.16, shadow=False)
    xs, ys = _grid(width, height)
    y0 = rng.uniform(0, bg.shape[0] - height - 8)
    cw, ch = width * 0.3, height * 0.38
    out = []
    for t in range(frames):
        u = t / max(frames - 1, 1)
        clean = view(bg, width, height, 1.0, 4.0 + speed * t, y0)
        # The occluded object: a card sliding left on its own, slower than the camera, bobbing.
        kx, ky = width * 0.58 - 1.0 * t, height * 0.45 + 4.0 * np.sin(t / 5.0)
        card = (
            np.clip(cw / 2 - np.abs(xs - kx) + 0.5, 0, 1)
            * np.clip(ch / 2 - np.abs(ys - ky) + 0.5, 0, 1)
        ).astype(np.float32)
        tex = view(card_tex, width, height, 1.0, 170.0 - (kx - cw / 2), 40.0 - (ky - ch / 2))
        clean = clean * (1.0 - card[..., None]) + tex * card[..., None]
        cx, cy = width * (0.08 + 0.84 * u), height * (0.52 + 0.05 * np.sin(u * 9.0))
        frame, rem, aff = _ball_over(clean, ball, xs, ys, cx, cy, 3.0 * t)
        out.append((frame, rem, aff, clean))
    return Scene(
        "occlusion",
        "ball passes in front of a card that moves on its own path; the card must come back",
        _assemble(out, first),
        True,
    )


def static(
    seed: int = 0, frames: int = 64, width: int = 320, height: int = 192, first: int = 1001
) -> Scene:
    rng = np.random.default_rng(seed + 4)
    bg = photo("chelsea", width + 16, height + 16)
    ball = _ball(rng, height * 0.13)
    xs, ys = _grid(width, height)
    clean = view(
        bg,
        width,
        height,
        1.0,
        rng.uniform(0, bg.shape[1] - width - 4),
        rng.uniform(0, bg.shape[0] - height - 4),
    )
    out = []
    for t in range(frames):
        u = t / max(frames - 1, 1)
        cx, cy = width * (0.1 + 0.8 * u), height * (0.4 + 0.1 * np.sin(u * 4.0))
        frame, rem, aff = _ball_over(clean, ball, xs, ys, cx, cy, 3.0 * t)
        out.append((frame, rem, aff, clean))
    return Scene(
        "static",
        "locked-off camera, ball with shadow crosses the frame",
        _assemble(out, first),
        False,
    )


def rolling(
    seed: int = 0, frames: int = 64, width: int = 320, height: int = 192, first: int = 1001
) -> Scene:
    import cv2

    rng = np.random.default_rng(seed + 7)
    speed = 4.0
    bg = photo("astronaut", int(width + speed * frames + 96), height + 96)
    ball = _ball(rng, height * 0.13)
    xs, ys = _grid(width, height)
    ox, oy = 40.0, rng.uniform(30, bg.shape[0] - height - 40)
    #: Read-out time of the whole frame, in frames (each row is exposed later than the last).
    readout = 0.6
    out = []
    for t in range(frames):
        u = t / max(frames - 1, 1)
        tau = t + readout * ys / height  # each row's own moment
        ang = np.deg2rad(6.0) * np.sin(2 * np.pi * tau / frames)
        px, py = ox + speed * tau, oy + 5.0 * np.sin(tau / 7.0)
        c, s_ = np.cos(ang), np.sin(ang)
        du, dv = xs - width / 2, ys - height / 2
        mx = (px + width / 2 + c * du - s_ * dv).astype(np.float32)
        my = (py + height / 2 + s_ * du + c * dv).astype(np.float32)
        clean = cv2.remap(bg, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        cx, cy = width * (0.12 + 0.76 * u), height * (0.45 + 0.1 * np.sin(u * 6.0))
        frame, rem, aff = _ball_over(clean, ball, xs, ys, cx, cy, 3.0 * t)
        out.append((frame, rem, aff, clean))
    return Scene(
        "rolling",
        "camera rotating ±6° while panning, rolling-shutter skew, ball with shadow crosses",
        _assemble(out, first),
        True,
    )


def hidden(
    seed: int = 0, frames: int = 64, width: int = 320, height: int = 192, first: int = 1001
) -> Scene:
    rng = np.random.default_rng(seed + 8)
    bg = photo("coffee", width + 96, height + 96)
    ball = _ball(rng, height * 0.15)
    xs, ys = _grid(width, height)
    x0, y0 = rng.uniform(8, 40), rng.uniform(8, 40)
    rest = int(frames * 0.75)  # the ball sits still (in the world) until here, then rolls off
    out = []
    for t in range(frames):
        u = t / max(frames - 1, 1)
        s = 1.0 / (1.0 + 0.15 * u)  # slow zoom in
        cam_x, cam_y = x0 + 0.8 * t, y0 + 0.3 * t
        clean = view(bg, width, height, s, cam_x, cam_y)
        # The ball's place in the photo, then where the camera shows it.
        wx, wy = x0 + 0.55 * width, y0 + 0.5 * height
        if t > rest:
            wx += 4.5 * (t - rest) ** 1.3
        cx, cy = (wx - cam_x) / s, (wy - cam_y) / s
        frame, rem, aff = _ball_over(clean, ball, xs, ys, cx, cy, 2.0 * max(0, t - rest))
        out.append((frame, rem, aff, clean))
    return Scene(
        "hidden",
        "ball rests under a slowly panning, zooming camera for 3/4 of the shot, then rolls away",
        _assemble(out, first),
        True,
    )


def long(
    seed: int = 0, frames: int = 448, width: int = 256, height: int = 144, first: int = 1001
) -> Scene:
    rng = np.random.default_rng(seed + 5)
    swing = 90.0
    bg = photo("rocket", int(width + 2 * swing + 24), height + 24)
    ball = _ball(rng, height * 0.14)
    xs, ys = _grid(width, height)
    y0 = rng.uniform(0, bg.shape[0] - height - 12)
    out = []
    for t in range(frames):
        # The camera swings back and forth; the ball circles against it.
        cam = 8.0 + swing * (1.0 - np.cos(2 * np.pi * t / 150.0))
        clean = view(bg, width, height, 1.0, cam, y0 + 4.0 * np.sin(t / 9.0))
        cx = width * (0.5 - 0.33 * np.sin(2 * np.pi * t / 97.0))
        cy = height * (0.45 + 0.12 * np.sin(2 * np.pi * t / 61.0))
        frame, rem, aff = _ball_over(clean, ball, xs, ys, cx, cy, 2.0 * t)
        out.append((frame, rem, aff, clean))
    return Scene(
        "long",
        f"{frames} frames, camera swinging back and forth, ball circling: several windows",
        _assemble(out, first),
        True,
        window=197,
        overlap=16,
    )


def uhd(
    seed: int = 0, frames: int = 21, width: int = 3840, height: int = 2160, first: int = 1001
) -> Scene:
    rng = np.random.default_rng(seed + 6)
    speed = 14.0
    bg = photo("coffee", int(width + speed * frames + 32), height + 32)
    ball = _ball(rng, height * 0.12)
    xs, ys = _grid(width, height)
    y0 = rng.uniform(0, bg.shape[0] - height - 16)
    out = []
    for t in range(frames):
        u = t / max(frames - 1, 1)
        clean = view(bg, width, height, 1.0, 8.0 + speed * t, y0 + 6.0 * np.sin(t / 4.0))
        cx, cy = width * (0.3 + 0.4 * u), height * (0.45 + 0.05 * np.sin(u * 5.0))
        frame, rem, aff = _ball_over(clean, ball, xs, ys, cx, cy, 6.0 * t)
        out.append((frame.astype(np.float16), rem, aff, clean.astype(np.float16)))
    return Scene(
        "4k",
        f"{width}x{height}, fast pan, ball with shadow (half-float frames)",
        _assemble(out, first, np.float16),
        True,
        window=13,
        overlap=4,
        dilation=8,
        feather=12,
    )


#: name -> (builder, full run only)
SCENES: dict[str, tuple[Callable[..., Scene], bool]] = {
    "pan": (pan, False),
    "zoom": (zoom, False),
    "parallax": (parallax, False),
    "occlusion": (occlusion, False),
    "static": (static, False),
    "rolling": (rolling, False),
    "hidden": (hidden, False),
    "long": (long, True),
    "4k": (uhd, True),
}


def scene_names(full: bool = False) -> list[str]:
    return [n for n, (_, full_only) in SCENES.items() if full or not full_only]


def build_scene(name: str, seed: int = 0, **overrides) -> Scene:
    """Render scene ``name`` (deterministic from ``seed``); ``overrides`` change frames/size."""
    try:
        builder = SCENES[name][0]
    except KeyError:
        raise ValueError(f"unknown scene {name!r}; choose from {sorted(SCENES)}") from None
    return builder(seed=seed, **overrides)
