"""DaVinci Resolve: the render format (the clip's resolution at the timeline's rate) or a refusal.

VOID Remove renders the timeline's picture at the clip's own resolution, so the timeline must run
at a constant, known rate and have the clip's shape; anything else is refused before anything is
rendered, with a message saying what to change.
"""

import re
from typing import Any, Tuple

from void_hostlink.compat import dataclass
from void_resolve.records import ItemInfo, TimelineInfo, unsupported_media

#: The timeline frame rates Resolve offers; anything else (variable, odd) is refused.
SUPPORTED_RATES = (
    16.0,
    18.0,
    23.976,
    24.0,
    25.0,
    29.97,
    30.0,
    47.952,
    48.0,
    50.0,
    59.94,
    60.0,
    72.0,
    95.904,
    96.0,
    100.0,
    119.88,
    120.0,
)
_RATE_TOLERANCE = 0.002
#: Smallest and largest frame side the job accepts (the daemon's own limit is 16384).
MIN_SIDE, MAX_SIDE = 16, 16384
#: The render is the timeline's picture at the clip's resolution, so the two must share a shape.
ASPECT_TOLERANCE = 0.01


@dataclass(frozen=True)
class FrameRate:
    fps: float
    drop_frame: bool = False

    @property
    def text(self) -> str:
        """As Resolve's clip attributes spell a rate (``"23.976"``, ``"25"``)."""
        return f"{self.fps:g}"


def parse_frame_rate(text: Any, drop_frame: Any = "", what: str = "the timeline") -> FrameRate:
    raw = str(text or "").strip()
    m = re.match(r"^(\d+(?:\.\d+)?)\s*(DF|NDF)?$", raw, re.IGNORECASE)
    if not m:
        raise unsupported_media(
            "frame_rate",
            f"{what} has no usable frame rate ({raw!r}); VOID Remove needs a constant rate",
        )
    fps = float(m.group(1))
    near = min(SUPPORTED_RATES, key=lambda r: abs(r - fps))
    if abs(near - fps) > _RATE_TOLERANCE:
        rates = ", ".join(f"{r:g}" for r in SUPPORTED_RATES)
        raise unsupported_media(
            "frame_rate", f"{what} runs at {fps:g} fps; VOID Remove supports {rates}"
        )
    drop = (m.group(2) or "").upper() == "DF" or str(drop_frame).strip().lower() in ("1", "true")
    return FrameRate(near, drop)


def same_rate(a: float, b: float) -> bool:
    return abs(a - b) <= _RATE_TOLERANCE


def parse_resolution(text: Any, what: str) -> Tuple[int, int]:
    m = re.match(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$", str(text or ""))
    if not m:
        raise unsupported_media("resolution", f"{what} has no readable resolution ({text!r})")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class Format:
    width: int
    height: int
    rate: FrameRate


def check_format(timeline: TimelineInfo, source: ItemInfo) -> Format:
    """The render format: the clip's resolution at the timeline's rate, or a clear refusal."""
    rate = parse_frame_rate(timeline.frame_rate, timeline.drop_frame, f"timeline '{timeline.name}'")
    w, h = parse_resolution(source.resolution, f"'{source.name}'")
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise unsupported_media(
            "resolution",
            f"'{source.name}' is {w}x{h}; VOID Remove takes {MIN_SIDE} to {MAX_SIDE} pixels a side",
        )
    try:
        tw, th = int(timeline.width), int(timeline.height)
    except (TypeError, ValueError):
        tw = th = 0
    if tw > 0 and th > 0 and abs(w / h - tw / th) > ASPECT_TOLERANCE * (tw / th):
        raise unsupported_media(
            "resolution",
            f"'{source.name}' is {w}x{h} ({w / h:.3f}:1) on a {tw}x{th} ({tw / th:.3f}:1) timeline; the render of the "
            "timeline at the clip's resolution would be distorted. Put the clip on a timeline of its own shape",
        )
    return Format(w, h, rate)
