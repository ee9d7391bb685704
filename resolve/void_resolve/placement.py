"""DaVinci Resolve: where the clean plate goes, on disk and on the timeline (no Resolve call here).

A new output folder per run (:func:`output_folder`), its import into the ``VOID`` bin as one
sequence clip (:func:`import_info`, :func:`check_import`), and its place on a new track right
above the source at the same record frame (:func:`new_track_index`, :func:`locate_new_track`,
:func:`clip_info`, :func:`check_placement`).
"""

import os
import re
from pathlib import Path
from typing import Any, List, Mapping, Optional, Tuple, Union

from void_resolve.formats import FrameRate, same_rate
from void_resolve.records import FrameSpan, ItemInfo, Sequence, host_failed

#: The media pool bin that receives every clean plate, and the name of the tracks they go on.
BIN_NAME = "VOID"
TRACK_NAME = "VOID"


def safe_name(text: str, fallback: str = "clip") -> str:
    clean = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")
    return clean[:64] or fallback


def default_output_root(env: Optional[Mapping[str, str]] = None) -> Path:
    env = os.environ if env is None else env
    if env.get("VOID_RESOLVE_OUTPUT"):
        return Path(env["VOID_RESOLVE_OUTPUT"]).expanduser()
    return Path.home() / "VOID Remove"


def output_folder(root: Union[str, os.PathLike], project: str, clip: str, span: FrameSpan) -> Path:
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


def output_pattern(folder: Union[str, os.PathLike], clip: str) -> Sequence:
    return Sequence(str(Path(folder) / f"{safe_name(clip)}_void."), 8, ".exr")


def printf_path(pattern: Sequence) -> str:
    """``name.%08d.exr``: how ``MediaPool.ImportMedia`` takes a sequence."""
    return pattern.printf()


def import_info(pattern: Sequence, span: FrameSpan) -> dict:
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


def new_track_index(source: ItemInfo, matte: Optional[ItemInfo] = None) -> int:
    """The clean plate goes on a new track right above the source (and above its matte clip)."""
    return max(source.track, matte.track if matte else 0) + 1


def locate_new_track(
    before: List[Tuple[str, ...]], after: List[Tuple[str, ...]], wanted: int
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


def clip_info(
    media_item: Any, media_first: int, span: FrameSpan, track: int, end_inclusive: bool = False
) -> dict:
    """``MediaPool.AppendToTimeline([...])`` clipInfo placing the whole clean plate at ``span``.

    ``endFrame`` is one past the last frame as Resolve 21 reads it (measured: "``startFrame``
    inclusive, ``endFrame`` exclusive"); builds that read it as the last frame are found by a
    trial placement before the job (``end_inclusive``) and the placement is checked afterwards
    anyway (:func:`check_placement`).
    """
    return {
        "mediaPoolItem": media_item,
        "startFrame": media_first,
        "endFrame": media_first + span.count - (1 if end_inclusive else 0),
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
