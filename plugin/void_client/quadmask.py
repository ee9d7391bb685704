"""VOID's quadmask, built from the artist's remove and affected mattes.

The four levels are fixed by the model (``docs/architecture.md``, "Quadmask") and defined only here.
Artists never paint them: they give a float *remove* matte and an optional *affected*
matte (shadow, reflection, things the object moved), and this module dilates, combines
and validates them.
"""

from __future__ import annotations

import numpy as np

from void_client.errors import ErrorCode, VoidError
from void_client.shader_reference import quadmask_overlay, snap_level

REMOVE = 0
OVERLAP = 63
AFFECTED = 127
KEEP = 255
LEVELS = (REMOVE, OVERLAP, AFFECTED, KEEP)

#: A matte pixel counts as "in" above this alpha.
MATTE_THRESHOLD = 0.5
#: Values this far outside [0, 1] are tolerated (filtering overshoot) and clipped.
RANGE_TOLERANCE = 1e-3


def snap(m: np.ndarray) -> np.ndarray:
    """The reference loader's snap of a resampled mask (0..255) back to the four levels."""
    return snap_level(m)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by ``radius`` pixels with an octagonal footprint (numpy only)."""
    m = np.asarray(mask, bool)
    if radius <= 0 or not m.any():
        return m.copy()
    out = m.copy()
    for i in range(radius):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        if i % 2:  # alternate 4- and 8-neighbourhood steps: close to a disc
            grown[1:, 1:] |= out[:-1, :-1]
            grown[:-1, :-1] |= out[1:, 1:]
            grown[1:, :-1] |= out[:-1, 1:]
            grown[:-1, 1:] |= out[1:, :-1]
        out = grown
    return out


def check_matte(matte: np.ndarray, name: str, frame: int | None = None) -> np.ndarray:
    """Refuse NaN/Inf and values outside [0, 1]; returns the matte as float32 in [0, 1]."""
    where = f" at frame {frame}" if frame is not None else ""
    m = np.asarray(matte, np.float32)
    if not np.isfinite(m).all():
        raise VoidError(
            ErrorCode.NAN_IN_INPUT,
            f"the {name} matte has NaN or infinite values{where}; clamp or fix it upstream (e.g. a Clamp node)",
            name,
        )
    lo, hi = float(m.min(initial=0.0)), float(m.max(initial=0.0))
    if lo < -RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
        raise VoidError(
            ErrorCode.MATTE_RANGE,
            f"the {name} matte has values in [{lo:.3g}, {hi:.3g}]{where}; a matte must be in [0, 1]",
            name,
        )
    return np.clip(m, 0.0, 1.0)


def build_quadmask(
    remove: np.ndarray,
    affected: np.ndarray | None = None,
    dilation: int = 0,
    frame: int | None = None,
) -> np.ndarray:
    """One frame's quadmask (uint8 ``(H, W)``) from float mattes ``(H, W)`` in [0, 1]."""
    r = check_matte(remove, "remove", frame) > MATTE_THRESHOLD
    r = dilate(r, dilation)
    q = np.full(r.shape, KEEP, np.uint8)
    if affected is not None:
        a = check_matte(affected, "affected", frame)
        if a.shape != r.shape:
            raise VoidError(
                ErrorCode.RESOLUTION_MISMATCH,
                f"affected matte is {a.shape[1]}x{a.shape[0]} but remove matte is {r.shape[1]}x{r.shape[0]}",
                "affected",
            )
        a = dilate(a > MATTE_THRESHOLD, dilation)
        q[a] = AFFECTED
        q[a & r] = OVERLAP
        q[r & ~a] = REMOVE
    else:
        q[r] = REMOVE
    return q


def require_nonempty(quadmasks: list[np.ndarray] | np.ndarray) -> None:
    """A job whose remove matte is empty on every frame is almost always a wiring mistake."""
    if not any(bool((np.asarray(q) < KEEP).any()) for q in quadmasks):
        raise VoidError(
            ErrorCode.EMPTY_MATTE,
            "the remove matte is empty on every frame; connect the Remove input (or pick the right channel)",
            "remove",
        )


def hole(quadmask: np.ndarray) -> np.ndarray:
    """Pixels to be regenerated: everything that is not keep (remove, overlap and affected)."""
    return np.asarray(quadmask) < KEEP


def trimask(quadmask: np.ndarray) -> np.ndarray:
    """Pass-1 view of the quadmask: ``(255 - m)/255`` collapsed to 1 / 0.5 / 0 (overlap = remove)."""
    v = (255.0 - snap(quadmask).astype(np.float32)) / 255.0
    out = np.zeros_like(v)
    out[v > 0.75] = 1.0
    out[(v >= 0.25) & (v <= 0.75)] = 0.5
    return out


def preview(rgb: np.ndarray, quadmask: np.ndarray) -> np.ndarray:
    """Colour-coded quadmask over the plate, for the panel and the demo."""
    return quadmask_overlay(rgb, quadmask)
