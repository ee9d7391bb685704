"""DaVinci Resolve: which clip to clean up and which of its frames (no Resolve call here).

The clip under the playhead, unless that is a matte laid over the shot; with nothing under the
playhead, the topmost shot covering the In/Out marks. The frames are the whole clip or where the
In/Out marks overlap it (:class:`~void_resolve.settings.ResolveSettings.range_mode`).
"""

from typing import List, Optional

from void_resolve.records import FrameSpan, ItemInfo, TimelineInfo, nothing_selected

#: A clip whose name holds one of these is a matte, not a shot (case-insensitive).
MATTE_WORDS = ("matte", "mask", "roto", "void_remove")


def is_matte_name(name: str) -> bool:
    low = name.lower()
    return any(w in low for w in MATTE_WORDS)


def marked_span(timeline: TimelineInfo) -> Optional[FrameSpan]:
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
    tracks: List[List[ItemInfo]], current: Optional[ItemInfo], marks: Optional[FrameSpan]
) -> ItemInfo:
    """The clip to clean up: the one under the playhead, unless that is a matte over the shot.

    ``tracks[i]`` holds the items of video track ``i + 1``. With nothing under the playhead,
    the topmost shot covering the In/Out marks is used.
    """
    chosen: Optional[ItemInfo] = None
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
            raise nothing_selected(
                "clip", f"no clip covers the In/Out marks {marks}; mark a range inside one clip"
            )
    if chosen is None:
        raise nothing_selected(
            "clip",
            "no clip under the playhead: move the playhead onto the clip to clean up, or mark In/Out over it",
        )
    if not chosen.has_media:
        raise nothing_selected(
            "clip",
            f"'{chosen.name}' has no source media (a title, generator or compound clip?); VOID Remove works on media clips",
        )
    return chosen


def choose_span(source: ItemInfo, marks: Optional[FrameSpan], mode: str) -> FrameSpan:
    """Frames to process: the whole clip, or where the In/Out marks overlap it."""
    whole = FrameSpan(source.start, source.last)
    if mode == "clip" or (mode == "auto" and marks is None):
        return whole
    if marks is None:
        raise nothing_selected(
            "range", "the range is set to In/Out but the timeline has no In and Out marks"
        )
    first, last = max(whole.first, marks.first), min(whole.last, marks.last)
    if last < first:
        if mode == "auto":
            return whole
        raise nothing_selected(
            "range", f"the In/Out marks {marks} do not overlap '{source.name}' ({whole})"
        )
    return FrameSpan(first, last)
