"""Reference frames (``void-remove run --reference FRAME=PATH``): a clean frame the artist
painted, which the ``propagate`` engine uses as the source for the hole and spreads through
the shot along the motion (docs/user-guide.md, "Reference frames").

A reference is an input like the plate: it goes through the same checks before anything is
sent (a real regular file, the plate's size, no NaN/Inf, never one of the job's outputs), and
only its colour channels travel (R, G, B by name, else the first three, else the first).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from void_client.errors import ErrorCode, VoidError
from void_client.sequence import check_flat, read_image, read_specs


def parse_references(texts: Iterable[str]) -> dict[int, str]:
    """``["1001=/p/clean.1001.exr", ...]`` → ``{1001: "/p/clean.1001.exr"}``."""
    out: dict[int, str] = {}
    for text in texts:
        frame_text, sep, path = text.partition("=")
        try:
            frame = int(frame_text.strip())
        except ValueError:
            frame = None
        if not sep or frame is None or not path.strip():
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"--reference {text!r}: give FRAME=PATH, e.g. --reference 1001=clean.1001.exr",
                "reference",
            )
        if frame in out:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"--reference names frame {frame} twice; give one clean frame per frame",
                "reference",
            )
        out[frame] = path.strip()
    return out


def check_references(
    references: dict[int, str], frames: Sequence[int], width: int, height: int
) -> None:
    """Refuse, before anything runs, a reference outside the shot, missing, of another size or
    holding NaN/Inf (references are few: each is read once here)."""
    shot = set(frames)
    for frame, path in sorted(references.items()):
        if frame not in shot:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"--reference {frame}={path}: frame {frame} is outside the shot's frames "
                f"{frames[0]}-{frames[-1]}; give a frame of the shot",
                "reference",
            )
        if not os.path.isfile(path):
            raise VoidError(
                ErrorCode.MISSING_FRAMES,
                f"--reference {frame}={path}: no such file; give the clean frame's EXR",
                "reference",
            )
        check_flat(path, frame, "reference")
        spec = read_specs(path, frame, "reference")[0]
        if (spec.width, spec.height) != (width, height):
            raise VoidError(
                ErrorCode.RESOLUTION_MISMATCH,
                f"--reference {frame}={path} is {spec.width}x{spec.height} but the plate is "
                f"{width}x{height}; paint the reference at the plate's size",
                "reference",
            )
        read_reference(path, frame, width, height)  # NaN/Inf refused now, not mid-upload


def colour_indices(channels: Sequence[str]) -> list[int]:
    """The reference's colour channels: R, G, B by name (bare or of one layer), else the first
    three that are not alpha, else the first."""
    lower = [c.lower() for c in channels]
    bare = [c.rsplit(".", 1)[-1] for c in lower]
    for names in (("r", "g", "b"), ("red", "green", "blue")):
        if all(n in bare for n in names):
            return [bare.index(n) for n in names]
    colour = [i for i, b in enumerate(bare) if b not in ("a", "alpha", "z")]
    return colour[:3] if len(colour) >= 3 else [colour[0] if colour else 0]


def read_reference(path: str, frame: int, width: int, height: int) -> np.ndarray:
    """The reference's colour as float32 ``(h, w, 3)`` (or ``(h, w, 1)`` for a grey file)."""
    img = read_image(path, frame)
    px = np.asarray(img.pixels)
    if px.shape[:2] != (height, width):
        raise VoidError(
            ErrorCode.RESOLUTION_MISMATCH,
            f"reference frame {frame} ({path}) is {px.shape[1]}x{px.shape[0]} but the plate is "
            f"{width}x{height}; paint the reference at the plate's size",
            "reference",
        )
    rgb = np.ascontiguousarray(px[:, :, colour_indices(img.channels)], np.float32)
    if not np.isfinite(rgb).all():
        raise VoidError(
            ErrorCode.NAN_IN_INPUT,
            f"reference frame {frame} ({path}) holds NaN or infinite pixels; a reference is the "
            "fill's source, so repaint or clamp it",
            "reference",
        )
    return rgb
