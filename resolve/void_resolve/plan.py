"""DaVinci Resolve: the decisions behind the Scripts-menu flow, with no Resolve call in them.

The glue (``void_resolve.api``) reads Resolve into the plain records below
(:class:`TimelineInfo`, :class:`ItemInfo`, :class:`SaverInfo`) and carries out what the
functions here decide: which clip and frames to render, the render settings, which matte to
use, how rendered files map to timeline frames, where the clean plate goes on the timeline, and
what to undo when something fails. :mod:`void_resolve.flow` runs the steps in order.

Frame numbers are Resolve *record* frames (timeline frames: 86400 is 01:00:00:00 at 24 fps)
unless a name says otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from void_client.atomic import write_text_atomic
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.paths import home
from void_client.protocol import DEFAULT_ENDPOINT
from void_client.sequence import SequencePattern, read_image, write_image

log = logging.getLogger(__name__)

#: The media pool bin that receives every clean plate, and the name of the tracks they go on.
BIN_NAME = "VOID"
TRACK_NAME = "VOID"

RANGE_MODES = ("auto", "clip", "inout")
RANGE_LABELS = {
    "auto": "Clip, or In/Out when marked",
    "clip": "Whole clip",
    "inout": "In/Out marks",
}
MATTE_MODES = ("auto", "fusion", "track", "alpha")
MATTE_LABELS = {
    "auto": "Auto (Fusion Saver, then matte clip above)",
    "fusion": "Fusion Saver in the clip's comp",
    "track": "Matte clip on the track above",
    "alpha": "Clip alpha (Color page Alpha Output)",
}
ENGINES = ("propagate", "void")

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

#: A clip whose name holds one of these is a matte, not a shot (case-insensitive).
MATTE_WORDS = ("matte", "mask", "roto", "void_remove")
#: Fusion tools (``TOOLS_RegID``) that make a matte; a Saver fed by one writes a matte.
MASK_TOOL_IDS = frozenset(
    {
        "PolylineMask",
        "BSplineMask",
        "MagicMask",
        "BitmapMask",
        "WandMask",
        "EllipseMask",
        "RectangleMask",
        "TriangleMask",
        "RangesMask",
        "PaintMask",
        "MatteControl",
    }
)
REMOVE_SAVER = "void_remove"
AFFECTED_SAVER = "void_affected"

#: Compression words in Resolve's EXR codec names, best first: lossless before lossy.
_EXR_COMPRESSION_RANK = (("zip", 0), ("piz", 1), ("rle", 2), ("dwa", 8), ("b44", 8), ("pxr24", 8))

#: Each stage's share of the whole run, for one progress bar across render, job and import.
STAGE_SPANS = {
    "prepare": (0.0, 0.02),
    "render": (0.02, 0.30),
    "remove": (0.30, 0.95),
    "import": (0.95, 1.0),
    "done": (1.0, 1.0),
}


def _nothing(field_name: str, message: str) -> VoidError:
    return VoidError(ErrorCode.NOTHING_SELECTED, message, field_name)


def _unsupported(field_name: str, message: str) -> VoidError:
    return VoidError(ErrorCode.UNSUPPORTED_MEDIA, message, field_name)


def host_failed(field_name: str, message: str) -> VoidError:
    return VoidError(ErrorCode.HOST_FAILED, message, field_name)


# --------------------------------------------------------------------------- settings


@dataclass
class ResolveSettings:
    """What the artist chose in the dialog. ``job`` holds any further :class:`JobSpec` field."""

    range_mode: str = "auto"
    matte: str = "auto"
    engine: str = "propagate"
    prompt: str = ""
    pass2: bool = False
    seed: int = 42
    job: dict = field(default_factory=dict)
    endpoint: str = DEFAULT_ENDPOINT
    autostart: bool = True
    #: Folder for clean plates ("" = ``$VOID_RESOLVE_OUTPUT`` or ``~/VOID Remove``).
    output_root: str = ""

    def validate(self) -> ResolveSettings:
        if self.range_mode not in RANGE_MODES:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"range must be one of {RANGE_MODES}, got {self.range_mode!r}",
                "range",
            )
        if self.matte not in MATTE_MODES:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"matte must be one of {MATTE_MODES}, got {self.matte!r}",
                "matte",
            )
        known = {f.name for f in dataclasses.fields(JobSpec)}
        # The shot decides these; letting a setting override them would desynchronise the job.
        owned = {
            "frames",
            "width",
            "height",
            "channels",
            "name",
            "transfer",
            "out_pattern",
            "job_id",
        }
        bad = sorted(set(self.job) - (known - owned))
        if bad:
            raise VoidError(ErrorCode.BAD_SPEC, f"unknown or shot-owned job settings {bad}", bad[0])
        return self

    def job_settings(self) -> dict:
        """The :class:`~void_client.sequence_job.RemoveRequest` settings (JobSpec fields)."""
        return {
            "engine": self.engine,
            "prompt": self.prompt,
            "pass2": bool(self.pass2),
            "seed": int(self.seed),
            **self.job,
        }


SETTINGS_FILE = "resolve-settings.json"


def settings_path() -> Path:
    return home() / SETTINGS_FILE


def load_settings(path: str | os.PathLike | None = None) -> ResolveSettings:
    """The settings of the last run (the window starts from them; with no window they are the
    run's settings). Defaults when there is no file or it cannot be used."""
    path = Path(path) if path else settings_path()
    if not path.is_file():
        return ResolveSettings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in dataclasses.fields(ResolveSettings)}
        return ResolveSettings(**{k: v for k, v in data.items() if k in known}).validate()
    except (ValueError, TypeError, VoidError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return ResolveSettings()


def save_settings(settings: ResolveSettings, path: str | os.PathLike | None = None) -> None:
    path = Path(path) if path else settings_path()
    write_text_atomic(path, json.dumps(dataclasses.asdict(settings), indent=2, sort_keys=True))


def form_values(settings: ResolveSettings) -> dict:
    """What a window shows for ``settings`` (the inverse of :func:`settings_from_form`)."""
    return {
        "range": RANGE_MODES.index(settings.range_mode),
        "matte": MATTE_MODES.index(settings.matte),
        "engine": settings.engine,
        "prompt": settings.prompt,
        "pass2": bool(settings.pass2),
    }


def settings_from_form(
    values: Mapping[str, Any], base: ResolveSettings | None = None
) -> ResolveSettings:
    """Dialog values (keys ``range``, ``matte``, ``engine``, ``prompt``, ``pass2``) → settings.

    ``range`` and ``matte`` may be a mode key, its label, or its index in the mode list, so
    every UI toolkit can hand over what its combo box gives most easily.
    """
    s = dataclasses.replace(base) if base else ResolveSettings()

    def mode(value: Any, modes: tuple[str, ...], labels: dict[str, str]) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(modes):
            return modes[value]
        text = str(value)
        for key, label in labels.items():
            if text in (key, label):
                return key
        return text  # validate() names it

    if "range" in values:
        s.range_mode = mode(values["range"], RANGE_MODES, RANGE_LABELS)
    if "matte" in values:
        s.matte = mode(values["matte"], MATTE_MODES, MATTE_LABELS)
    if values.get("engine"):
        s.engine = str(values["engine"]).strip()
    if "prompt" in values:
        s.prompt = str(values["prompt"] or "").strip()
    if "pass2" in values:
        s.pass2 = bool(values["pass2"])
    return s.validate()


def uimanager_allowed(product: str, version: str) -> bool:
    """Resolve's own dialogs: Studio always; the free version only before 19.1, after which
    opening one shows an upgrade prompt instead."""
    if "studio" in product.lower():
        return True
    parts = [int(p) for p in re.findall(r"\d+", version)[:2]] + [0, 0]
    return (parts[0], parts[1]) < (19, 1)


# --------------------------------------------------------------------------- what Resolve holds


@dataclass(frozen=True)
class TimelineInfo:
    """A timeline as the glue reads it; values stay as Resolve gives them (often strings)."""

    name: str
    start_frame: int
    frame_rate: str
    width: str
    height: str
    video_tracks: int
    #: ``Timeline.GetMarkInOut()`` as returned (``{}`` when nothing is marked or unsupported).
    marks: Mapping[str, Any] = field(default_factory=dict)
    drop_frame: str = ""


@dataclass(frozen=True)
class ItemInfo:
    """A video timeline item. ``start`` is its first record frame, ``duration`` in frames."""

    name: str
    track: int
    start: int
    duration: int
    uid: str = ""
    #: The media pool item's ``Resolution`` property (``"1920x1080"``); "" without source media.
    resolution: str = ""
    has_media: bool = True
    comp_count: int = 0
    handle: Any = field(default=None, compare=False, repr=False)

    @property
    def last(self) -> int:
        return self.start + self.duration - 1

    def covers(self, first: int, last: int) -> bool:
        return self.start <= first and last <= self.last

    def overlaps(self, first: int, last: int) -> bool:
        return self.start <= last and first <= self.last


@dataclass(frozen=True)
class SaverInfo:
    """A Saver in one of the clip's Fusion comps, with the ``TOOLS_RegID`` chain feeding it."""

    name: str
    comp_index: int
    upstream: tuple[str, ...] = ()
    handle: Any = field(default=None, compare=False, repr=False)
    comp: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class FrameSpan:
    """Inclusive record-frame range."""

    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    @property
    def frames(self) -> list[int]:
        return list(range(self.first, self.last + 1))

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


# --------------------------------------------------------------------------- which clip, which frames


def is_matte_name(name: str) -> bool:
    low = name.lower()
    return any(w in low for w in MATTE_WORDS)


def marked_span(timeline: TimelineInfo) -> FrameSpan | None:
    """The timeline's video In/Out as record frames, or None when not both are marked.

    ``GetMarkInOut()`` counts from the timeline's first frame (Resolve's own example reads
    ``{'video': {'in': 0, 'out': 134}}``), so the timeline start is added here.
    """
    marks = timeline.marks or {}
    video = marks.get("video") or marks.get("all") or {}
    if "in" not in video or "out" not in video:
        return None
    first, last = int(video["in"]) + timeline.start_frame, int(video["out"]) + timeline.start_frame
    if last < first:
        return None
    return FrameSpan(first, last)


def choose_source(
    tracks: list[list[ItemInfo]], current: ItemInfo | None, marks: FrameSpan | None
) -> ItemInfo:
    """The clip to clean up: the one under the playhead, unless that is a matte over the shot.

    ``tracks[i]`` holds the items of video track ``i + 1``. With nothing under the playhead,
    the topmost shot covering the In/Out marks is used.
    """
    chosen: ItemInfo | None = None
    if current is not None:
        chosen = current
        if is_matte_name(current.name):
            # Resolve's current item is the topmost one, so a matte laid over the shot hides it.
            for items in reversed(tracks[: current.track - 1]):
                below = [
                    i
                    for i in items
                    if i.overlaps(current.start, current.last) and not is_matte_name(i.name)
                ]
                if below:
                    chosen = below[0]
                    break
    elif marks is not None:
        for items in reversed(tracks):
            found = [
                i for i in items if i.covers(marks.first, marks.last) and not is_matte_name(i.name)
            ]
            if found:
                chosen = found[0]
                break
        if chosen is None:
            raise _nothing(
                "clip", f"no clip covers the In/Out marks {marks}; mark a range inside one clip"
            )
    if chosen is None:
        raise _nothing(
            "clip",
            "no clip under the playhead: move the playhead onto the clip to clean up, or mark In/Out over it",
        )
    if not chosen.has_media:
        raise _nothing(
            "clip",
            f"'{chosen.name}' has no source media (a title, generator or compound clip?); VOID Remove works on media clips",
        )
    return chosen


def choose_span(source: ItemInfo, marks: FrameSpan | None, mode: str) -> FrameSpan:
    """Frames to process: the whole clip, or where the In/Out marks overlap it."""
    whole = FrameSpan(source.start, source.last)
    if mode == "clip" or (mode == "auto" and marks is None):
        return whole
    if marks is None:
        raise _nothing(
            "range", "the range is set to In/Out but the timeline has no In and Out marks"
        )
    first, last = max(whole.first, marks.first), min(whole.last, marks.last)
    if last < first:
        if mode == "auto":
            return whole
        raise _nothing(
            "range", f"the In/Out marks {marks} do not overlap '{source.name}' ({whole})"
        )
    return FrameSpan(first, last)


# --------------------------------------------------------------------------- format checks


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
        raise _unsupported(
            "frame_rate",
            f"{what} has no usable frame rate ({raw!r}); VOID Remove needs a constant rate",
        )
    fps = float(m.group(1))
    near = min(SUPPORTED_RATES, key=lambda r: abs(r - fps))
    if abs(near - fps) > _RATE_TOLERANCE:
        rates = ", ".join(f"{r:g}" for r in SUPPORTED_RATES)
        raise _unsupported(
            "frame_rate", f"{what} runs at {fps:g} fps; VOID Remove supports {rates}"
        )
    drop = (m.group(2) or "").upper() == "DF" or str(drop_frame).strip().lower() in ("1", "true")
    return FrameRate(near, drop)


def same_rate(a: float, b: float) -> bool:
    return abs(a - b) <= _RATE_TOLERANCE


def parse_resolution(text: Any, what: str) -> tuple[int, int]:
    m = re.match(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$", str(text or ""))
    if not m:
        raise _unsupported("resolution", f"{what} has no readable resolution ({text!r})")
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
        raise _unsupported(
            "resolution",
            f"'{source.name}' is {w}x{h}; VOID Remove takes {MIN_SIDE} to {MAX_SIDE} pixels a side",
        )
    try:
        tw, th = int(timeline.width), int(timeline.height)
    except (TypeError, ValueError):
        tw = th = 0
    if tw > 0 and th > 0 and abs(w / h - tw / th) > ASPECT_TOLERANCE * (tw / th):
        raise _unsupported(
            "resolution",
            f"'{source.name}' is {w}x{h} ({w / h:.3f}:1) on a {tw}x{th} ({tw / th:.3f}:1) timeline; the render of the "
            "timeline at the clip's resolution would be distorted. Put the clip on a timeline of its own shape",
        )
    return Format(w, h, rate)


# --------------------------------------------------------------------------- mattes


@dataclass(frozen=True)
class MatteChoice:
    """Where the remove (and affected) matte comes from.

    ``fusion``: Savers in the clip's comp, written while Resolve renders the plate.
    ``track``: a white-on-black matte clip on the track above, rendered on its own.
    ``alpha``: the clip's own alpha (e.g. Magic Mask into the Color page's Alpha Output).
    """

    kind: str
    remove: SaverInfo | ItemInfo | None = None
    affected: SaverInfo | None = None

    def describe(self) -> str:
        if self.kind == "fusion":
            extra = f" and '{self.affected.name}'" if self.affected else ""
            return f"Fusion Saver '{self.remove.name}'{extra}"  # type: ignore[union-attr]
        if self.kind == "track":
            return f"matte clip '{self.remove.name}' on V{self.remove.track}"  # type: ignore[union-attr]
        return "the clip's alpha"


def matte_track_item(
    tracks: list[list[ItemInfo]], source: ItemInfo, span: FrameSpan
) -> ItemInfo | None:
    """The clip on the track directly above the source that covers every frame of ``span``."""
    if source.track >= len(tracks):
        return None
    found = [i for i in tracks[source.track] if i.covers(span.first, span.last)]
    return found[0] if found else None


def choose_matte_savers(savers: list[SaverInfo]) -> tuple[SaverInfo | None, SaverInfo | None]:
    """(remove, affected) Savers: by name (``VOID_remove`` / ``VOID_affected``), else the one
    Saver fed by a mask tool (Polygon, B-Spline, Magic Mask...)."""
    low = {s.name.lower(): s for s in savers}
    remove = low.get(REMOVE_SAVER) or next((s for s in savers if "remove" in s.name.lower()), None)
    affected = low.get(AFFECTED_SAVER) or next(
        (s for s in savers if "affected" in s.name.lower()), None
    )
    if remove is None:
        masked = [s for s in savers if s is not affected and MASK_TOOL_IDS.intersection(s.upstream)]
        if len(masked) > 1:
            names = ", ".join(s.name for s in masked)
            raise _nothing(
                "matte",
                f"several Savers write mattes ({names}); rename the remove matte's Saver to VOID_remove",
            )
        remove = masked[0] if masked else None
    return remove, affected


def choose_matte(mode: str, savers: list[SaverInfo], track_item: ItemInfo | None) -> MatteChoice:
    remove, affected = choose_matte_savers(savers) if mode in ("auto", "fusion") else (None, None)
    if mode == "alpha":
        return MatteChoice("alpha")
    if mode in ("auto", "fusion") and remove is not None:
        return MatteChoice("fusion", remove, affected)
    if mode == "fusion":
        raise _nothing(
            "matte",
            "the clip's Fusion comp has no matte Saver; add a Saver named VOID_remove fed by your Polygon, B-Spline or Magic Mask",
        )
    if track_item is not None and (mode == "track" or is_matte_name(track_item.name)):
        return MatteChoice("track", track_item)
    if mode == "track":
        raise _nothing(
            "matte",
            "no matte clip on the track above covers the range; put a white-on-black matte clip on the next track up",
        )
    raise _nothing(
        "matte",
        "no matte found: add a Saver named VOID_remove to the clip's Fusion comp, or put a matte clip (name it "
        "'... matte') on the track above, or pick 'Clip alpha' when the Color page's Alpha Output holds the matte",
    )


# --------------------------------------------------------------------------- render


def pick_exr_codec(codecs: Mapping[str, str]) -> str:
    """A half-float EXR codec from ``Project.GetRenderCodecs("exr")`` (description → name),
    lossless compression first."""
    half = [name for name in (codecs or {}).values() if "half" in str(name).lower()]
    if not half:
        raise _unsupported(
            "codec",
            f"this Resolve offers no half-float EXR codec (it has {sorted((codecs or {}).values())})",
        )

    def rank(name: str) -> int:
        low = name.lower()
        return next((r for word, r in _EXR_COMPRESSION_RANK if word in low), 3)  # 3: uncompressed

    return min(half, key=lambda n: (rank(n), n))


def render_settings(
    target_dir: str | os.PathLike, name: str, span: FrameSpan, fmt: Format, alpha: bool = False
) -> dict:
    """``Project.SetRenderSettings`` for one EXR sequence of ``span`` at the clip's resolution."""
    settings: dict[str, Any] = {
        "SelectAllFrames": False,
        "MarkIn": span.first,
        "MarkOut": span.last,
        "TargetDir": os.fspath(target_dir),
        "CustomName": name,
        "ExportVideo": True,
        "ExportAudio": False,
        "FormatWidth": fmt.width,
        "FormatHeight": fmt.height,
        "FrameRate": fmt.rate.fps,
        "ExportAlpha": bool(alpha),
    }
    if alpha:
        settings["AlphaMode"] = (
            1  # straight: the plate's colour must not be multiplied by the matte
        )
    return settings


@dataclass(frozen=True)
class RenderState:
    done: bool
    ok: bool = False
    percent: float = 0.0
    message: str = ""
    #: Neither finished nor rendering: the queue stalled (or has not picked the job up yet).
    idle: bool = False


def render_state(status: Mapping[str, Any] | None, in_progress: bool) -> RenderState:
    """Read ``Project.GetRenderJobStatus(job)`` (``JobStatus``, ``CompletionPercentage``, ``Error``)."""
    status = status or {}
    state = str(status.get("JobStatus", "")).strip()
    try:
        percent = float(status.get("CompletionPercentage", 0) or 0)
    except (TypeError, ValueError):
        percent = 0.0
    low = state.lower()
    if low == "complete":
        return RenderState(True, True, 100.0, state)
    if low in ("failed", "cancelled", "canceled"):
        return RenderState(True, False, percent, str(status.get("Error") or state))
    return RenderState(False, False, percent, state, idle=not in_progress)


# --------------------------------------------------------------------------- rendered files


def numbered_files(folder: str | os.PathLike, prefix: str, ext: str = ".exr") -> dict[int, Path]:
    """``{frame number: path}`` for ``prefix[._-]?NNNN.ext`` files in ``folder``."""
    rx = re.compile(re.escape(prefix) + r"[._-]?(\d+)" + re.escape(ext) + "$", re.IGNORECASE)
    out: dict[int, Path] = {}
    folder = Path(folder)
    if folder.is_dir():
        for p in folder.iterdir():
            m = rx.match(p.name)
            if m:
                out[int(m.group(1))] = p
    return out


def rendered_frames(
    folder: str | os.PathLike, prefix: str, span: FrameSpan, what: str
) -> list[Path]:
    """Resolve's render of ``span``, in frame order. Resolve picks the file numbering, so only
    the count and the contiguity of the numbers are checked: file *i* is record frame first + i."""
    found = numbered_files(folder, prefix)
    numbers = sorted(found)
    if len(numbers) != span.count or (numbers and numbers[-1] - numbers[0] + 1 != len(numbers)):
        raise host_failed(
            "render",
            f"Resolve's render of the {what} wrote {len(numbers)} frames to {folder}, expected {span.count} ({span}); check the Deliver page's log",
        )
    return [found[n] for n in numbers]


def saver_frames(
    folder: str | os.PathLike, prefix: str, numbers: list[int], what: str
) -> list[Path] | None:
    """A Saver's frames, numbered in comp time; None when the Saver wrote nothing at all."""
    found = numbered_files(folder, prefix)
    if not found:
        return None
    missing = [n for n in numbers if n not in found]
    if missing:
        raise host_failed(
            "matte",
            f"the {what} Saver is missing comp frames {missing[:5]}{'...' if len(missing) > 5 else ''} in {folder}",
        )
    return [found[n] for n in numbers]


def comp_frames(comp_range: tuple[Any, Any], source: ItemInfo, span: FrameSpan) -> list[int]:
    """Comp-time frame numbers of ``span``: the comp's render range starts at the clip's first
    record frame (Resolve gives each clip its own comp time)."""
    try:
        start, end = int(round(float(comp_range[0]))), int(round(float(comp_range[1])))
    except (TypeError, ValueError, IndexError):
        raise host_failed(
            "matte", f"cannot read the Fusion comp's render range ({comp_range!r})"
        ) from None
    if end - start + 1 != source.duration:
        raise host_failed(
            "matte",
            f"the Fusion comp renders {end - start + 1} frames ({start}-{end}) but '{source.name}' is {source.duration} frames; "
            "reset the comp's render range to the clip",
        )
    return [start + (f - source.start) for f in span.frames]


@dataclass(frozen=True)
class WorkFiles:
    """The scratch folder of one run: Resolve's renders and the canonical, record-numbered
    sequences the daemon job reads (``plate.########.exr``, ``remove...``, ``affected...``)."""

    root: Path

    def sequence(self, kind: str) -> SequencePattern:
        return SequencePattern(str(self.root / f"{kind}."), 8, ".exr")

    def render_dir(self, kind: str) -> Path:
        return self.root / "render" / kind

    def saver_clip(self, kind: str) -> Path:
        """What a Saver is pointed at; Fusion inserts the frame number (``remove_0042.exr``)."""
        return self.root / "fusion" / f"{kind}_.exr"


def adopt(files: list[Path], pattern: SequencePattern, span: FrameSpan) -> None:
    """Rename rendered files to record-frame numbers so plate and mattes line up frame by frame."""
    os.makedirs(os.path.dirname(pattern.prefix) or ".", exist_ok=True)
    for path, frame in zip(files, span.frames, strict=True):
        os.replace(path, pattern.path(frame))


def split_alpha(plate: SequencePattern, remove: SequencePattern, span: FrameSpan) -> None:
    """Move the plate's alpha into its own matte sequence and keep the plate RGB (bit-exact),
    so the clean plate does not carry the matte as its alpha back onto the timeline."""
    for f in span.frames:
        img = read_image(plate.path(f), f)
        lower = [c.lower() for c in img.channels]
        if "a" not in lower:
            raise _unsupported(
                "matte",
                f"the render of frame {f} has no alpha channel; connect the matte to the clip's Alpha Output or pick another matte source",
            )
        a = lower.index("a")
        keep = [i for i in range(len(img.channels)) if i != a]
        write_image(remove.path(f), img.pixels[:, :, a], channels=["A"])
        write_image(
            plate.path(f),
            np.ascontiguousarray(img.pixels[:, :, keep]),
            channels=[img.channels[i] for i in keep],
        )


# --------------------------------------------------------------------------- output and placement


def safe_name(text: str, fallback: str = "clip") -> str:
    clean = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")
    return clean[:64] or fallback


def default_output_root(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("VOID_RESOLVE_OUTPUT"):
        return Path(env["VOID_RESOLVE_OUTPUT"]).expanduser()
    return Path.home() / "VOID Remove"


def output_folder(root: str | os.PathLike, project: str, clip: str, span: FrameSpan) -> Path:
    """A new folder per run (``_v2``, ``_v3``... when taken): a clean plate already on a
    timeline is never overwritten."""
    base = (
        Path(root) / safe_name(project, "project") / f"{safe_name(clip)}_{span.first}-{span.last}"
    )
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}_v{n}")
    return candidate


def output_pattern(folder: str | os.PathLike, clip: str) -> SequencePattern:
    return SequencePattern(str(Path(folder) / f"{safe_name(clip)}_void."), 8, ".exr")


def printf_path(pattern: SequencePattern) -> str:
    """``name.%08d.exr``: how ``MediaPool.ImportMedia`` takes a sequence."""
    return f"{pattern.prefix}%0{pattern.padding}d{pattern.suffix}"


def import_info(pattern: SequencePattern, span: FrameSpan) -> dict:
    """``MediaPool.ImportMedia([...])`` clipInfo for the clean plate as one sequence clip."""
    return {"FilePath": printf_path(pattern), "StartIndex": span.first, "EndIndex": span.last}


def media_first_frame(props: Mapping[str, Any], span: FrameSpan) -> int:
    """The imported clip's own first frame number (its ``Start`` property): for an image
    sequence that is the first file's number, and ``AppendToTimeline`` counts from it."""
    try:
        return int(str(props.get("Start", "")).strip())
    except ValueError:
        return span.first


def check_import(props: Mapping[str, Any], span: FrameSpan) -> None:
    """Refuse an import that lost frames; the frame rate is checked separately."""
    frames = str(props.get("Frames", "")).strip()
    if frames.isdigit() and int(frames) != span.count:
        raise host_failed(
            "import", f"Resolve imported {frames} of the {span.count} clean plate frames"
        )


def import_rate_ok(props: Mapping[str, Any], rate: FrameRate) -> bool:
    try:
        return same_rate(float(str(props.get("FPS", "")).split()[0]), rate.fps)
    except (ValueError, IndexError):
        return False


def new_track_index(source: ItemInfo, matte: ItemInfo | None = None) -> int:
    """The clean plate goes on a new track right above the source (and above its matte clip)."""
    return max(source.track, matte.track if matte else 0) + 1


def locate_new_track(
    before: list[tuple[str, ...]], after: list[tuple[str, ...]], wanted: int
) -> int:
    """Where the track just added went, from each track's item ids before and after.

    Resolve 19 and later insert at the index asked for; earlier versions append on top. The
    item lists tell the two apart, so the clean plate never lands on an existing track and the
    undo never deletes one.
    """
    if wanted <= len(before) and after == [*before[: wanted - 1], (), *before[wanted - 1 :]]:
        return wanted
    if after == [*before, ()]:
        return len(after)
    raise host_failed(
        "timeline",
        f"Resolve added a video track but not as track V{wanted} or on top; the timeline was left as it was",
    )


def clip_info(media_item: Any, media_first: int, span: FrameSpan, track: int) -> dict:
    """``MediaPool.AppendToTimeline([...])`` clipInfo placing the whole clean plate at ``span``.

    ``endFrame`` is one past the last frame, as Resolve reads it; the placement is checked after
    appending anyway (:func:`check_placement`).
    """
    return {
        "mediaPoolItem": media_item,
        "startFrame": media_first,
        "endFrame": media_first + span.count,
        "mediaType": 1,  # video only
        "trackIndex": track,
        "recordFrame": span.first,
    }


def check_placement(placed: ItemInfo, track: int, span: FrameSpan) -> None:
    if (placed.track, placed.start, placed.duration) != (track, span.first, span.count):
        raise host_failed(
            "timeline",
            f"Resolve placed the clean plate on V{placed.track} at {placed.start} for {placed.duration} frames, "
            f"expected V{track} at {span.first} for {span.count}",
        )


# --------------------------------------------------------------------------- progress and undo


def overall(stage: str, fraction: float) -> float:
    lo, hi = STAGE_SPANS.get(stage, (0.0, 1.0))
    return lo + (hi - lo) * min(max(fraction, 0.0), 1.0)


def progress_bar(fraction: float, width: int = 24) -> str:
    """A text bar for UIs without a progress widget (Resolve's UIManager)."""
    n = int(round(min(max(fraction, 0.0), 1.0) * width))
    return "█" * n + "░" * (width - n) + f" {fraction * 100:3.0f}%"


class Rollback:
    """Undo steps of a half-done run, newest first. A failing step is logged and the rest still
    run, so one refusal from Resolve never strands the others."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], Any]]] = []

    def add(self, label: str, undo: Callable[[], Any]) -> None:
        self._steps.append((label, undo))

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self._steps]

    def run(self) -> list[str]:
        """Undo everything; returns the labels of steps that failed."""
        failed = []
        while self._steps:
            label, undo = self._steps.pop()
            try:
                undo()
                log.info("undid: %s", label)
            except Exception as exc:  # noqa: BLE001 - keep undoing the rest
                log.warning("could not undo %s: %s", label, exc)
                failed.append(label)
        return failed

    def forget(self) -> None:
        """The run succeeded: keep everything."""
        self._steps.clear()
