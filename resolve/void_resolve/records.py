"""DaVinci Resolve as plain records, and the refusals the decisions raise (``docs/architecture.md``).

The glue (:mod:`void_resolve.api`) reads Resolve into :class:`TimelineInfo`, :class:`ItemInfo`
and :class:`SaverInfo`; every decision module (:mod:`~void_resolve.selection`,
:mod:`~void_resolve.formats`, :mod:`~void_resolve.mattes`, :mod:`~void_resolve.render`,
:mod:`~void_resolve.placement`) takes these and never a Resolve object. Frame numbers are Resolve
*record* frames (timeline frames: 86400 is 01:00:00:00 at 24 fps) unless a name says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from void_client.errors import ErrorCode, VoidError


def nothing_selected(field_name: str, message: str) -> VoidError:
    return VoidError(ErrorCode.NOTHING_SELECTED, message, field_name)


def unsupported_media(field_name: str, message: str) -> VoidError:
    return VoidError(ErrorCode.UNSUPPORTED_MEDIA, message, field_name)


def host_failed(field_name: str, message: str) -> VoidError:
    return VoidError(ErrorCode.HOST_FAILED, message, field_name)


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
