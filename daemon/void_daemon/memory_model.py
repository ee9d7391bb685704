"""How much memory a job's window takes, estimated before the job is accepted.

One 1-frame 2048x2048 ``propagate`` job once peaked at 2.0 GiB of daemon memory while the
limits accepted 16384x16384 (64 times the pixels): a job that cannot fit must be refused at
submit with the size that would fit, not discovered by the kernel's OOM killer mid-shot.

The model is ``peak = FIXED + pixels x (PER_PIXEL + PER_PIXEL_FRAME x frames)`` where
``frames`` is the longest window the plan runs (padded to a valid ``8m+5`` length, so a
1-frame job runs a 5-frame window) with the margin frames its engine reads beyond it
(``Engine.margin``, :data:`MARGINS`); the scheduler runs one window at a time. The constants for
``propagate`` were fitted (least squares, residuals within 33 MiB) to a real daemon's peak RSS
over its idle RSS (psutil, 10 ms samples) on seven jobs from 512x512 to 2048x2048 and from 5- to
21-frame windows, with a hole over most of the frame (the engine's crop is then the whole
frame: the worst case), and rounded up by 5%. ``bench/memory_model.py`` measures them again;
``docs/reliability.md`` quotes the figures.

``void`` resizes every crop to the model's size, so its per-pixel share is only the plate-side
work around the model (full-resolution crops, masks, colour conversion, seam blending,
compositing): a documented estimate of four float32 RGB copies of each window frame, not a
measurement. The model's own weights are loaded once per daemon, governed by
``--memory-mode``, and not counted against a job. Unknown engines use ``propagate``'s figures.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from void_client.windows import plan_windows, window_margins

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cost:
    """Peak memory of one window as ``fixed + pixels * (per_pixel + per_pixel_frame * T)``."""

    fixed: int
    per_pixel: float
    per_pixel_frame: float

    def bytes(self, width: int, height: int, frames: int) -> int:
        px = width * height
        return int(self.fixed + px * (self.per_pixel + self.per_pixel_frame * max(1, frames)))


#: Fitted to measured peaks: 91 MiB + 168 B/px + 59.6 B/px per window frame, rounded up 5%.
PROPAGATE = Cost(fixed=96 << 20, per_pixel=176.0, per_pixel_frame=62.0)
#: Plate-side work only (documented estimate): four float32 RGB copies of each window frame.
VOID = Cost(fixed=512 << 20, per_pixel=64.0, per_pixel_frame=48.0)
COSTS = {"propagate": PROPAGATE, "void": VOID}
#: Frames each side of a window the engine reads (``Engine.margin``), by engine name: the one
#: definition, here because admission runs on the I/O thread, which must not import an engine
#: module (cv2, torch) to ask it; ``PropagateEngine.margin`` reads it.
MARGINS = {"propagate": 16, "void": 0}


def margin(engine: str) -> int:
    """Frames each side of a window ``engine`` reads as sources (unknown engines: none)."""
    return MARGINS.get(engine, 0)


def cost(engine: str) -> Cost:
    return COSTS.get(engine, PROPAGATE)


def window_frames(
    n_frames: int, window: int, overlap: int, margin: int = 0, seam: str = "crossfade"
) -> int:
    """Frames of the longest window the plan runs, padding and the ``margin`` frames read
    beyond it included (what the engine holds)."""
    try:
        windows = plan_windows(n_frames, window, overlap)
        return max(
            len(w.positions) + sum(window_margins(windows, w.index, margin, seam)) for w in windows
        )
    except Exception:  # an invalid plan is refused elsewhere with its own message
        return max(1, min(n_frames, window))


def estimate(engine: str, width: int, height: int, frames: int) -> int:
    """Estimated peak daemon memory, in bytes, for a window of ``frames`` frames."""
    return cost(engine).bytes(width, height, frames)


def largest_fit(
    engine: str, width: int, height: int, frames: int, budget: int
) -> tuple[int, int] | None:
    """The largest size with ``width:height``'s aspect (even sides) whose window fits
    ``budget`` bytes, or None when not even a tiny one does."""
    c = cost(engine)
    per_px = c.per_pixel + c.per_pixel_frame * max(1, frames)
    room = budget - c.fixed
    if room <= 0 or per_px <= 0:
        return None
    scale = min(1.0, (room / per_px / (width * height)) ** 0.5)

    def side(w: int) -> tuple[int, int]:
        return w, max(2, round(w * height / width / 2) * 2)

    w = max(2, int(width * scale) // 2 * 2)
    while w >= 16 and c.bytes(*side(w), frames) > budget:
        w -= 2
    w, h = side(w)
    if w < 16 or h < 16:
        return None
    return w, h


def longest_window_that_fits(
    engine: str,
    width: int,
    height: int,
    n_frames: int,
    overlap: int,
    budget: int,
    seam: str = "crossfade",
) -> int | None:
    """The longest ``window`` setting whose plan fits ``budget`` at this size, or None."""
    from void_client.windows import MIN_WINDOW

    best = None
    for window in range(MIN_WINDOW, 198, 8):  # valid lengths are 8m+5
        frames = window_frames(n_frames, window, min(overlap, window - 1), margin(engine), seam)
        if estimate(engine, width, height, frames) > budget:
            break
        best = window
    return best


def available_memory() -> int | None:
    """Memory the machine can give a new workload now (MemAvailable), or None when unknown.

    psutil is not a daemon dependency, so this reads ``/proc/meminfo`` on Linux and asks
    ``sysconf`` elsewhere.
    """
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


__all__ = [
    "COSTS",
    "MARGINS",
    "Cost",
    "PROPAGATE",
    "VOID",
    "available_memory",
    "cost",
    "estimate",
    "largest_fit",
    "margin",
    "longest_window_that_fits",
    "window_frames",
]
