"""DaVinci Resolve: render settings and state, and the rendered files (no Resolve call here).

The plate (and a matte clip) are rendered through Resolve's render queue as half-float EXR
sequences (:func:`render_settings`, :func:`render_state`); Resolve picks their file numbering, so
:func:`rendered_frames` / :func:`saver_frames` map files to frames and :func:`adopt` renames them to
record-frame numbers in the run's scratch folder (:class:`WorkFiles`), where the ``void-remove``
worker reads them. Standard library only: Resolve's Python never loads numpy or OpenImageIO
(docs/architecture.md, "Host isolation"); the clip's alpha as the matte is read by the worker
through a channel selector (``PATTERN:A``), not split here.
"""

import os
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from void_hostlink.compat import dataclass
from void_resolve.formats import Format
from void_resolve.records import FrameSpan, ItemInfo, Sequence, host_failed, unsupported_media

#: Compression words in Resolve's EXR codec names, best first: lossless before lossy.
_EXR_COMPRESSION_RANK = (("zip", 0), ("piz", 1), ("rle", 2), ("dwa", 8), ("b44", 8), ("pxr24", 8))


def pick_exr_codec(codecs: Mapping[str, str]) -> str:
    """A half-float EXR codec from ``Project.GetRenderCodecs("exr")`` (description → name),
    lossless compression first."""
    half = [name for name in (codecs or {}).values() if "half" in str(name).lower()]
    if not half:
        raise unsupported_media(
            "codec",
            f"this Resolve offers no half-float EXR codec (it has {sorted((codecs or {}).values())})",
        )

    def rank(name: str) -> int:
        low = name.lower()
        return next((r for word, r in _EXR_COMPRESSION_RANK if word in low), 3)  # 3: uncompressed

    return min(half, key=lambda n: (rank(n), n))


def render_settings(
    target_dir: Union[str, os.PathLike],
    name: str,
    span: FrameSpan,
    fmt: Format,
    alpha: bool = False,
) -> dict:
    """``Project.SetRenderSettings`` for one EXR sequence of ``span`` at the clip's resolution."""
    settings: Dict[str, Any] = {
        "SelectAllFrames": False,
        "MarkIn": span.first,
        "MarkOut": span.last,
        "TargetDir": os.fspath(target_dir),
        "CustomName": name,
        "ExportVideo": True,
        "ExportAudio": False,
        # Keys not given keep the Deliver page's values; burnt-in subtitles would end up in the
        # plate (issue 16 #5). Accepted on 21.0.4.5 per a production ledger (D019).
        "ExportSubtitle": False,
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


def render_state(status: Optional[Mapping[str, Any]], in_progress: bool) -> RenderState:
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


def numbered_files(
    folder: Union[str, os.PathLike], prefix: str, ext: str = ".exr"
) -> Dict[int, Path]:
    """``{frame number: path}`` for ``prefix[._-]?NNNN.ext`` files in ``folder``."""
    rx = re.compile(re.escape(prefix) + r"[._-]?(\d+)" + re.escape(ext) + "$", re.IGNORECASE)
    out: Dict[int, Path] = {}
    folder = Path(folder)
    if folder.is_dir():
        for p in folder.iterdir():
            m = rx.match(p.name)
            if m:
                out[int(m.group(1))] = p
    return out


def rendered_frames(
    folder: Union[str, os.PathLike], prefix: str, span: FrameSpan, what: str
) -> List[Path]:
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
    folder: Union[str, os.PathLike], prefix: str, numbers: List[int], what: str
) -> Optional[List[Path]]:
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


def comp_frames(comp_range: Tuple[Any, Any], source: ItemInfo, span: FrameSpan) -> List[int]:
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

    def sequence(self, kind: str) -> Sequence:
        return Sequence(str(self.root / f"{kind}."), 8, ".exr")

    def render_dir(self, kind: str) -> Path:
        return self.root / "render" / kind

    def saver_clip(self, kind: str) -> Path:
        """What a Saver is pointed at; Fusion inserts the frame number (``remove_0042.exr``)."""
        return self.root / "fusion" / f"{kind}_.exr"


def adopt(files: List[Path], pattern: Sequence, span: FrameSpan) -> None:
    """Rename rendered files to record-frame numbers so plate and mattes line up frame by frame."""
    if len(files) != span.count:  # zip(strict=) is Python 3.10; Resolve may run 3.6
        raise host_failed("render", f"{len(files)} rendered files for {span.count} frames")
    os.makedirs(os.path.dirname(pattern.prefix) or ".", exist_ok=True)
    for path, frame in zip(files, span.frames):
        os.replace(path, pattern.path(frame))
