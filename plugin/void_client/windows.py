"""Window planning and seam weights: the one definition of VOID's frame-count rule.

CogVideoX-Fun compresses time by 4 and patches latents by 2, so a window must hold ``4k+1``
frames with an even number of latent frames: valid lengths are ``8m+5`` (5, 13, ..., 85, ..., 197).
Any shot length is cut into windows of a valid length that overlap by at least ``overlap``
frames; a shot shorter than one window is padded ping-pong to the next valid length.

Kept free of heavy imports: the daemon, the farm writers and the host panel all plan with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TEMPORAL_COMPRESSION = 4
TEMPORAL_PATCH = 2
MIN_WINDOW = 5
MAX_WINDOW = 197
_STEP = TEMPORAL_COMPRESSION * TEMPORAL_PATCH


def is_valid_length(n: int) -> bool:
    """True when ``n`` frames make a window the model accepts (``8m+5``)."""
    return n >= MIN_WINDOW and (n - MIN_WINDOW) % _STEP == 0


def valid_length_at_most(n: int) -> int:
    """The longest valid length ``<= n`` (never below the minimum of 5)."""
    return MIN_WINDOW + _STEP * max(0, (n - MIN_WINDOW) // _STEP)


def valid_length_at_least(n: int) -> int:
    """The shortest valid length ``>= n``."""
    return MIN_WINDOW + _STEP * max(0, math.ceil((n - MIN_WINDOW) / _STEP))


def latent_frames(n: int) -> int:
    """Latent frames the VAE makes of ``n`` frames (``(n-1)/4 + 1``)."""
    return (n - 1) // TEMPORAL_COMPRESSION + 1


def pingpong(count: int, length: int) -> list[int]:
    """``length`` positions walking ``0..count-1`` forth and back: 0 1 2 1 0 1 2 ..."""
    if count == 1:
        return [0] * length
    period = 2 * (count - 1)
    out = []
    for i in range(length):
        j = i % period
        out.append(j if j < count else period - j)
    return out


@dataclass(frozen=True)
class Window:
    """A window over positions ``[start, stop)`` of the job's frame list.

    ``positions`` is what the engine receives, with ping-pong padding after the real frames
    when the shot is shorter than a valid length.
    """

    index: int
    start: int
    stop: int
    positions: tuple[int, ...]

    @property
    def real(self) -> int:
        return self.stop - self.start

    def covers(self, position: int) -> bool:
        return self.start <= position < self.stop


def plan_windows(n_frames: int, window: int = MAX_WINDOW, overlap: int = 16) -> list[Window]:
    """Cut ``n_frames`` into overlapping windows of one valid length.

    All windows have the same length ``L = valid_length_at_most(window)`` except a single
    window for a short shot. Starts are spread evenly, so every overlap is at least
    ``overlap`` and the extra is shared across seams rather than dumped on the last one.
    """
    if n_frames < 1:
        raise ValueError("a shot has at least one frame")
    length = valid_length_at_most(min(max(window, MIN_WINDOW), MAX_WINDOW))
    if n_frames <= length:
        padded = valid_length_at_least(n_frames)
        return [Window(0, 0, n_frames, tuple(pingpong(n_frames, padded)))]
    overlap = max(0, min(overlap, length - 1))
    count = math.ceil((n_frames - overlap) / (length - overlap))
    count = max(count, 2)
    span = n_frames - length
    starts = [round(i * span / (count - 1)) for i in range(count)]
    return [Window(i, s, s + length, tuple(range(s, s + length))) for i, s in enumerate(starts)]


def window_margins(
    windows: list[Window], index: int, margin: int, seam: str = "crossfade"
) -> tuple[int, int]:
    """Frames before and after window ``index`` that an engine reading ``margin`` frames beyond
    its window (``Engine.margin``) is given as sources: the shot's frames next to the window,
    clamped to the shot. Their fill is discarded; only the window's own frames are kept.

    At most half the window's length on each side, so an engine never fills more than twice
    its window's frames (a 13-frame window with 16 on each side would fill 45).
    ``chain``: none before the window. Its first frames are the earlier window's result (the
    context, marked keep), which must stay the engine's first frames; before them the shot is
    already final. A single window covers the shot (and may be padded): no margins.
    """
    if margin <= 0 or len(windows) < 2:
        return 0, 0
    w = windows[index]
    margin = min(margin, w.real // 2)
    shot = max(v.stop for v in windows)
    before = 0 if seam == "chain" else min(margin, w.start)
    return before, min(margin, shot - w.stop)


def _ramp(m: int) -> list[float]:
    """Rising smooth weights over ``m`` overlapping frames, strictly between 0 and 1."""
    return [0.5 - 0.5 * math.cos(math.pi * (j + 1) / (m + 1)) for j in range(m)]


def seam_weights(windows: list[Window], seam: str = "crossfade") -> list[list[float]]:
    """Per window, a weight for each of its real frames; weights of a frame sum to 1.

    ``crossfade``: a raised-cosine ramp across every overlap. ``chain``: a frame belongs to the
    earliest window that covers it (later windows see it as already-filled context).
    """
    if seam not in ("crossfade", "chain"):
        raise ValueError(f"unknown seam mode {seam!r}")
    raw: list[list[float]] = []
    for k, w in enumerate(windows):
        weights = [1.0] * w.real
        if seam == "chain":
            if k > 0:
                prev_stop = max(v.stop for v in windows[:k])
                for p in range(w.start, min(prev_stop, w.stop)):
                    weights[p - w.start] = 0.0
        else:
            if k > 0 and windows[k - 1].stop > w.start:
                m = windows[k - 1].stop - w.start
                for j, r in enumerate(_ramp(m)):
                    weights[j] = min(weights[j], r)
            if k + 1 < len(windows) and w.stop > windows[k + 1].start:
                m = w.stop - windows[k + 1].start
                for j, r in enumerate(_ramp(m)):
                    weights[w.real - 1 - j] = min(weights[w.real - 1 - j], r)
        raw.append(weights)
    n = max(w.stop for w in windows)
    total = [0.0] * n
    for w, ws in zip(windows, raw):
        for i, x in enumerate(ws):
            total[w.start + i] += x
    return [[x / total[w.start + i] for i, x in enumerate(ws)] for w, ws in zip(windows, raw)]
