"""DaVinci Resolve as plain records, and the refusals the decisions raise (``docs/architecture.md``).

The glue (:mod:`void_resolve.api`) reads Resolve into :class:`TimelineInfo`, :class:`ItemInfo`
and :class:`SaverInfo`; every decision module (:mod:`~void_resolve.selection`,
:mod:`~void_resolve.formats`, :mod:`~void_resolve.mattes`, :mod:`~void_resolve.render`,
:mod:`~void_resolve.placement`) takes these and never a Resolve object. Frame numbers are Resolve
*record* frames (timeline frames: 86400 is 01:00:00:00 at 24 fps) unless a name says otherwise.
"""

import re
from typing import Any, List, Mapping, Optional, Tuple

from void_hostlink.compat import dataclass, field

#: Error codes, spelled as ``void_client.errors.ErrorCode``'s values (the ``void-remove`` worker
#: reports the same words in its ``failed`` events), so a host never needs the client to read one.
NOTHING_SELECTED = "nothing_selected"
HOST_FAILED = "host_failed"
UNSUPPORTED_MEDIA = "unsupported_media"
BAD_SPEC = "bad_spec"
CANCELLED = "cancelled"
INTERNAL = "internal"


class ResolveError(Exception):
    """A refusal the artist can act on: ``code`` (stable, for programs), ``message`` (one line
    that says what to do) and the ``field`` it is about.

    Standard library only: Resolve's Python loads ``void_resolve`` without the client
    (docs/architecture.md, "Host isolation"); ``void_hostlink.HostLinkError`` and the worker's
    ``failed`` events are turned into this by :func:`from_failed`.
    """

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = str(getattr(code, "value", code))
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


def from_failed(error: Optional[Mapping[str, Any]]) -> ResolveError:
    """The ``error`` object of a ``failed`` event (docs/protocol.md, "Progress stream (jsonl)")."""
    error = error or {}
    return ResolveError(
        str(error.get("code") or INTERNAL),
        str(error.get("message") or "void-remove failed without saying why"),
        str(error.get("field") or ""),
    )


def nothing_selected(field_name: str, message: str) -> ResolveError:
    return ResolveError(NOTHING_SELECTED, message, field_name)


def unsupported_media(field_name: str, message: str) -> ResolveError:
    return ResolveError(UNSUPPORTED_MEDIA, message, field_name)


def host_failed(field_name: str, message: str) -> ResolveError:
    return ResolveError(HOST_FAILED, message, field_name)


@dataclass(frozen=True)
class Sequence:
    """An image sequence ``<prefix><frame, zero-padded><suffix>`` (``plate.00086400.exr``).

    The host side's own, standard-library spelling of ``void_client.sequence.SequencePattern``:
    ``str()`` is the ``#`` form ``void-remove run`` takes, :meth:`printf` the ``%08d`` form
    ``MediaPool.ImportMedia`` takes.
    """

    prefix: str
    padding: int = 8
    suffix: str = ".exr"

    def path(self, frame: int) -> str:
        return "{}{:0{}d}{}".format(self.prefix, int(frame), self.padding, self.suffix)

    def printf(self) -> str:
        return f"{self.prefix}%0{self.padding}d{self.suffix}"

    def __str__(self) -> str:
        return self.prefix + "#" * self.padding + self.suffix

    @classmethod
    def parse(cls, text: str) -> "Sequence":
        """``name.########.exr`` (the ``#`` form the worker writes back in ``done.out``) or
        ``name.%08d.exr``."""
        m = re.match(r"^(.*?)(#+)([^#]*)$", text)
        if m is not None:
            return cls(m.group(1), len(m.group(2)), m.group(3))
        m = re.match(r"^(.*)%0?(\d*)d([^%]*)$", text)
        if m is not None:
            return cls(m.group(1), int(m.group(2) or 1), m.group(3))
        raise ResolveError(INTERNAL, f"not a sequence pattern: {text!r}", "out")


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
    upstream: Tuple[str, ...] = ()
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
    def frames(self) -> List[int]:
        return list(range(self.first, self.last + 1))

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"
