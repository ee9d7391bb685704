"""DaVinci Resolve: where the remove (and affected) matte comes from (no Resolve call here).

A white-on-black matte clip on the track above, a Fusion Saver in the clip's comp (by name, else
the one Saver fed by a mask tool; rendered by an explicit comp render, since Savers do not write
during a Deliver render), or the clip's own alpha; ``auto`` tries them in that order
(:func:`choose_matte`).
"""

from typing import List, Optional, Tuple, Union

from void_hostlink.compat import dataclass
from void_resolve.records import FrameSpan, ItemInfo, SaverInfo, nothing_selected
from void_resolve.selection import is_matte_name

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


@dataclass(frozen=True)
class MatteChoice:
    """Where the remove (and affected) matte comes from.

    ``fusion``: Savers in the clip's comp, written while Resolve renders the plate.
    ``track``: a white-on-black matte clip on the track above, rendered on its own.
    ``alpha``: the clip's own alpha (e.g. Magic Mask into the Color page's Alpha Output).
    """

    kind: str
    remove: Optional[Union[SaverInfo, ItemInfo]] = None
    affected: Optional[SaverInfo] = None

    def describe(self) -> str:
        if self.kind == "fusion":
            extra = f" and '{self.affected.name}'" if self.affected else ""
            return f"Fusion Saver '{self.remove.name}'{extra}"  # type: ignore[union-attr]
        if self.kind == "track":
            return f"matte clip '{self.remove.name}' on V{self.remove.track}"  # type: ignore[union-attr]
        return "the clip's alpha"


def matte_track_item(
    tracks: List[List[ItemInfo]], source: ItemInfo, span: FrameSpan
) -> Optional[ItemInfo]:
    """The clip on the track directly above the source that covers every frame of ``span``."""
    if source.track >= len(tracks):
        return None
    found = [i for i in tracks[source.track] if i.covers(span.first, span.last)]
    return found[0] if found else None


def choose_matte_savers(savers: List[SaverInfo]) -> Tuple[Optional[SaverInfo], Optional[SaverInfo]]:
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
            raise nothing_selected(
                "matte",
                f"several Savers write mattes ({names}); rename the remove matte's Saver to VOID_remove",
            )
        remove = masked[0] if masked else None
    return remove, affected


def choose_matte(mode: str, savers: List[SaverInfo], track_item: Optional[ItemInfo]) -> MatteChoice:
    remove, affected = choose_matte_savers(savers) if mode in ("auto", "fusion") else (None, None)
    if mode == "alpha":
        return MatteChoice("alpha")
    # Auto takes a matte clip above first: it renders through the Deliver queue like the plate.
    # A Fusion Saver needs its own comp render (Savers do not write during Deliver, issue 16 #2).
    if mode == "auto" and track_item is not None and is_matte_name(track_item.name):
        return MatteChoice("track", track_item)
    if mode in ("auto", "fusion") and remove is not None:
        return MatteChoice("fusion", remove, affected)
    if mode == "fusion":
        raise nothing_selected(
            "matte",
            "the clip's Fusion comp has no matte Saver; add a Saver named VOID_remove fed by your Polygon, B-Spline or Magic Mask",
        )
    if track_item is not None and (mode == "track" or is_matte_name(track_item.name)):
        return MatteChoice("track", track_item)
    if mode == "track":
        raise nothing_selected(
            "matte",
            "no matte clip on the track above covers the range; put a white-on-black matte clip on the next track up",
        )
    raise nothing_selected(
        "matte",
        "no matte found: add a Saver named VOID_remove to the clip's Fusion comp, or put a matte clip (name it "
        "'... matte') on the track above, or pick 'Clip alpha' when the Color page's Alpha Output holds the matte",
    )
