"""EXR (and other OpenImageIO) image sequences: patterns, channel selection, atomic writes.

Patterns: ``name.####.exr`` (one ``#`` per digit), ``name.%04d.exr``, ``name.$F4.exr``.
A matte may be a channel of another sequence: ``PATTERN:layer.channel`` (``plate.####.exr:remove.a``),
found in whichever part of a multi-part EXR holds it, or ``PATTERN:part/layer.channel`` to name the
part. A multi-part plate is written back with the same parts (:func:`write_layout`): the edited part
replaced, the others copied bit-exactly. Deep EXRs are refused by their headers (docs/user-guide.md,
"Plates we accept").
Pixels come back in the file's own type (half stays half, float stays float) so a round trip is
bit-exact, and writing reuses the source's spec: data/display windows, pixel aspect and metadata.

Other formats OpenImageIO reads work too — 8/16-bit PNG and TIFF, 10-bit DPX — with a warning:
their pixels are read as float (0..1) and written back in the source's own bit depth through the
same spec, which is exact for every code value the plate had. Integer plates are usually
display-referred, not scene-linear; :attr:`Image.colourspace` says what the file declares.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from void_client.atomic import replace_durably, temp_path_for
from void_client.errors import ErrorCode, VoidError
from void_client.pattern_hint import pattern_hint

log = logging.getLogger(__name__)

_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%(0?)(\d*)d")
_HOUDINI = re.compile(r"\$F(\d*)")


@dataclass(frozen=True)
class SequencePattern:
    """A frame-numbered file pattern, normalised to ``prefix`` + padded number + ``suffix``."""

    prefix: str
    padding: int
    suffix: str

    @classmethod
    def parse(cls, pattern: str) -> SequencePattern:
        for rx, pad in (
            (_HASHES, lambda m: len(m.group(0))),
            (_PRINTF, lambda m: int(m.group(2) or 1)),
            (_HOUDINI, lambda m: int(m.group(1) or 1)),
        ):
            found = list(rx.finditer(pattern))
            if found:
                m = found[-1]
                return cls(pattern[: m.start()], pad(m), pattern[m.end() :])
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"{pattern!r} has no frame number; use name.####.exr, name.%04d.exr or name.$F4.exr",
            "pattern",
        )

    def path(self, frame: int) -> str:
        sign = "-" if frame < 0 else ""
        return f"{self.prefix}{sign}{abs(frame):0{self.padding}d}{self.suffix}"

    def scan(self) -> list[int]:
        """Frame numbers that exist on disk, sorted."""
        rx = re.compile(
            re.escape(os.path.basename(self.prefix)) + r"(-?\d+)" + re.escape(self.suffix) + "$"
        )
        folder = os.path.dirname(self.prefix) or "."
        frames = []
        for p in glob.glob(os.path.join(glob.escape(folder), "*")):
            m = rx.match(os.path.basename(p))
            if m and (len(m.group(1).lstrip("-")) >= self.padding):
                frames.append(int(m.group(1)))
        return sorted(set(frames))

    def __str__(self) -> str:
        return f"{self.prefix}{'#' * self.padding}{self.suffix}"


#: Nuke's Write view variables: ``%V`` the full view name (``left``), ``%v`` its first letter
#: (``l``); https://learn.foundry.com/nuke/content/comp_environment/stereoscopic_films/rendering_stereo_images.html
_VIEW_TOKEN = re.compile(r"%[Vv]")
#: A ``%v`` pattern only shows first letters; these are the views of Nuke's default stereo
#: project (``left``/``right``), so ``l``/``r`` files and ``%V`` files name the same views.
_LETTER_VIEWS = {"l": "left", "r": "right"}


def has_view_token(pattern: str) -> bool:
    """The pattern has ``%V`` or ``%v``: one file sequence per view."""
    return bool(_VIEW_TOKEN.search(pattern or ""))


def expand_view(pattern: str, view: str) -> str:
    """``shot.%V.####.exr`` → ``shot.left.####.exr``; ``%v`` → the view's first letter."""
    return pattern.replace("%V", view).replace("%v", view[:1])


def split_at_view(name: str) -> tuple[str, str]:
    """A file name split before its view token, where a version or ``_preview`` goes so that
    every view's file carries it (``clean.%V.`` → (``clean.``, ``%V.``)); (``name``, "") when
    the name has no token or nothing before it (``%V.``: the whole name is the stem)."""
    m = _VIEW_TOKEN.search(name)
    if m and name[: m.start()].rstrip("._-"):
        return name[: m.start()], name[m.start() :]
    return name, ""


def view_glob(pattern: str) -> str:
    """A glob matching every view's name of a ``%V``/``%v`` path (the rest escaped)."""
    return re.sub(r"%[Vv]", lambda m: "*" if m.group(0) == "%V" else "?", glob.escape(pattern))


def scan_views(pattern: str) -> list[str]:
    """The views a ``%V``/``%v`` pattern has files for on disk (any frame), ``left`` and
    ``right`` first. A ``%v`` letter is named as Nuke's stereo views (``l`` → ``left``)."""
    path, _ = split_channel(pattern)
    pat = SequencePattern.parse(path)
    globs, rxs, tokens = [], [], []
    for piece in re.split(r"(%[Vv]|\x00)", f"{pat.prefix}\x00{pat.suffix}"):
        if piece in ("%V", "%v"):
            globs.append("*" if piece == "%V" else "?")
            rxs.append(r"([^/\\]+?)" if piece == "%V" else r"([A-Za-z0-9])")
            tokens.append(piece)
        elif piece == "\x00":  # the frame number
            globs.append("*")
            rxs.append(r"-?\d{" + str(max(pat.padding, 1)) + ",}")
        else:
            globs.append(glob.escape(piece))
            rxs.append(re.escape(piece))
    rx = re.compile("".join(rxs) + "$")
    found: set[str] = set()
    for p in glob.glob("".join(globs)):
        m = rx.match(p)
        if not m:
            continue
        names = m.groups()
        full = [n for n, t in zip(names, tokens) if t == "%V"]
        view = full[0] if full else _LETTER_VIEWS.get(names[0], names[0])
        if all(expand_view(t, view) == n for n, t in zip(names, tokens)):
            found.add(view)
    order = {"left": 0, "right": 1}
    return sorted(found, key=lambda v: (order.get(v, 2), v))


@dataclass(frozen=True)
class SequenceRef:
    """A pattern plus an optional channel selector (``layer.channel``, ``A``, or a layer name)."""

    pattern: SequencePattern
    channel: str = ""

    @classmethod
    def parse(cls, text: str) -> SequenceRef:
        path, channel = split_channel(text)
        return cls(SequencePattern.parse(path), channel)

    def path(self, frame: int) -> str:
        return self.pattern.path(frame)


def split_channel(text: str) -> tuple[str, str]:
    """``"plate.####.exr:remove.a"`` → (``"plate.####.exr"``, ``"remove.a"``).

    The selector follows the last ':' unless that colon belongs to a Windows drive or a folder.
    After an ``.exr`` pattern it may name a part: ``shot.####.exr:mattes/remove.A`` (one '/').
    """
    head, sep, tail = text.rpartition(":")
    if not sep or not tail or "\\" in tail or (len(head) == 1 and head.isalpha()):
        return text, ""
    if "/" not in tail:
        return head, tail
    # A '/' in the tail is a folder unless the head is an EXR pattern and the tail is part/…
    if (
        head.lower().endswith(".exr")
        and tail.count("/") == 1
        and not tail.startswith("/")
        and not re.search(r"\.[A-Za-z]{3,4}$", tail)
    ):
        return head, tail
    return text, ""


@dataclass
class Image:
    """Pixels ``(h, w, c)`` in the file's type, with the spec they came with."""

    pixels: np.ndarray
    channels: list[str]
    spec: oiio.ImageSpec
    #: Which part (EXR subimage) the pixels came from, and how many parts the file has.
    part: int = 0
    nparts: int = 1

    @property
    def data_window(self) -> tuple[int, int, int, int]:
        s = self.spec
        return (s.x, s.y, s.width, s.height)

    @property
    def display_window(self) -> tuple[int, int, int, int]:
        s = self.spec
        return (s.full_x, s.full_y, s.full_width, s.full_height)

    @property
    def pixel_aspect(self) -> float:
        """Width/height of one pixel (2.0 for a 2x anamorphic plate); 1.0 when the file is silent."""
        value = self.spec.get_float_attribute("PixelAspectRatio", 1.0)
        return value if 0.1 <= value <= 10.0 else 1.0

    @property
    def is_integer(self) -> bool:
        """The file stores integers (8/10/12/16-bit), read here as float 0..1."""
        return not is_float_format(self.spec)

    @property
    def colourspace(self) -> str:
        """The colour space the file declares (``oiio:ColorSpace``), or ""."""
        return self.spec.get_string_attribute("oiio:ColorSpace", "")


def _formats(spec: oiio.ImageSpec) -> list[str]:
    return [str(f) for f in (list(spec.channelformats) or [spec.format] * spec.nchannels)]


def is_float_format(spec: oiio.ImageSpec) -> bool:
    """Every channel is half or float (an EXR plate, not an 8/16-bit picture)."""
    return all(f in ("half", "float", "double") for f in _formats(spec))


_WARNED: set[str] = set()


def _warn_once(key: str, message: str, *args: object) -> None:
    """A warning per sequence (folder), not per frame."""
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning(message, *args)


def _native_type(spec: oiio.ImageSpec, chbegin: int, chend: int) -> str:
    kinds = set(_formats(spec)[chbegin:chend])
    return "half" if kinds == {"half"} else "float"


def _warn_integer(path: str, spec: oiio.ImageSpec) -> None:
    """Once per folder and format: say what happens to an integer plate."""
    bits = spec.get_int_attribute("oiio:BitsPerSample", 0) or 8 * spec.channel_bytes()
    declared = spec.get_string_attribute("oiio:ColorSpace", "")
    _warn_once(
        f"int|{os.path.dirname(os.path.abspath(path))}|{spec.format}|{bits}",
        "%s is a %d-bit integer image: read as float 0..1 and written back as %d-bit. Integer plates are "
        "usually display-referred (%s); for the void engine set the job's colourspace to match, "
        "e.g. 'sRGB Encoded Rec.709 (sRGB)', or convert the plate to scene-linear EXR.",
        path,
        bits,
        bits,
        f"the file says {declared!r}" if declared else "the file does not say",
    )


def oiio_message(*texts: str, path: str = "") -> str:
    """OpenImageIO's error text folded into one line for our message.

    OIIO queues several lines per failure (``EXR Error (path): ...`` twice, then the cause);
    printed as-is they appear as raw lines after our one-line error. Keep each distinct line
    once, drop the repeated ``(path)`` we already name, and join them with "; ".
    """
    seen: list[str] = []
    for text in texts:
        for line in (text or "").splitlines():
            line = line.strip()
            if path:
                line = line.replace(f" ({path})", "")
            if line and line not in seen:
                seen.append(line)
    return "; ".join(seen)


def _drain_oiio_errors() -> str:
    """Take OIIO's pending global error (so nothing is printed for it later) and return it."""
    return oiio.geterror()


def open_image(path: str, frame: int | None = None, field: str = "frames") -> oiio.ImageInput:
    """Open for reading, or say which frame is missing or unreadable. The caller closes it."""
    label = f"frame {frame} ({path})" if frame is not None else path
    if os.path.isdir(path):
        raise VoidError(
            ErrorCode.MISSING_FRAMES,
            f"{label} is a folder, not an image file; give a file pattern such as "
            f"{os.path.join(path, 'name.####.exr')}",
            field,
        )
    if not os.path.isfile(path):
        what = "exists but is not a regular file" if os.path.exists(path) else "does not exist"
        raise VoidError(ErrorCode.MISSING_FRAMES, f"{label} {what}", field)
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise VoidError(
            ErrorCode.CORRUPT_FRAME,
            f"{label} cannot be read: {oiio_message(_drain_oiio_errors(), path=path) or 'unknown format'}",
            field,
        )
    return inp


def part_name(spec: oiio.ImageSpec, index: int) -> str:
    """A part's name (the EXR ``name`` attribute), or ``#index`` for a nameless subimage."""
    return spec.get_string_attribute("oiio:subimagename", "") or f"#{index}"


def read_parts(inp: oiio.ImageInput, label: str) -> list[oiio.ImageSpec]:
    """Every part's spec; a deep part anywhere refuses the file before any pixel is read."""
    specs: list[oiio.ImageSpec] = []
    while inp.seek_subimage(len(specs), 0):
        specs.append(oiio.ImageSpec(inp.spec()))
    if not specs:  # a reader that cannot seek: its one spec
        specs = [oiio.ImageSpec(inp.spec())]
    deep = [part_name(s, i) for i, s in enumerate(specs) if s.deep]
    if deep:
        which = "" if len(specs) == 1 else f" (part {', '.join(deep)} of {len(specs)})"
        raise VoidError(
            ErrorCode.UNSUPPORTED_MEDIA,
            f"{label} is a deep image{which}; flatten it first (Nuke: DeepToImage, then Write) "
            "and give the flat EXR",
            "frames",
        )
    return specs


def describe_parts(specs: Sequence[oiio.ImageSpec]) -> str:
    """``rgba: [R, G, B, A]; mattes: [remove.A]`` for error messages."""
    return "; ".join(
        f"{part_name(s, i)}: [{', '.join(s.channelnames)}]" for i, s in enumerate(specs)
    )


def check_flat(path: str, frame: int | None = None, field: str = "frames") -> None:
    """Refuse a deep file (any part) by its headers alone; nothing else is read."""
    label = f"frame {frame} ({path})" if frame is not None else path
    inp = open_image(path, frame, field)
    try:
        read_parts(inp, label)
    finally:
        inp.close()


def find_part(specs: list[oiio.ImageSpec], name: str, label: str) -> int:
    """The index of the part called ``name`` (case-insensitive; ``#N`` or ``N`` by number)."""
    key = name.strip().lower()
    for i, s in enumerate(specs):
        if part_name(s, i).lower() == key or key in (str(i), f"#{i}"):
            return i
    raise VoidError(
        ErrorCode.BAD_SPEC,
        f"{label} has no part {name!r}; its parts are {describe_parts(specs)}",
        "channel",
    )


def select_part_channel(specs: list[oiio.ImageSpec], selector: str, label: str) -> tuple[int, int]:
    """(part, channel) a selector names: ``part/layer.channel`` explicitly, else the one part
    holding ``layer.channel`` (an error naming the parts when several do)."""
    if "/" in selector:
        name, _, rest = selector.partition("/")
        part = find_part(specs, name, label)
        return part, select_channel(list(specs[part].channelnames), rest, f"{label} part {name}")
    if len(specs) == 1:
        return 0, select_channel(list(specs[0].channelnames), selector, label)
    exact = [
        (i, [n.lower() for n in s.channelnames].index(selector.lower()))
        for i, s in enumerate(specs)
        if selector.lower() in [n.lower() for n in s.channelnames]
    ]
    found = exact
    if not found:
        for i, s in enumerate(specs):
            with contextlib.suppress(VoidError):
                found.append((i, select_channel(list(s.channelnames), selector)))
    if len(found) == 1:
        return found[0]
    if found:
        names = [part_name(specs[i], i) for i, _ in found]
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"{label}: {selector!r} is in several parts ({', '.join(names)}); say which with "
            f"PATTERN:{names[0]}/{selector}",
            "channel",
        )
    raise VoidError(
        ErrorCode.BAD_SPEC,
        f"{label} has no channel {selector!r} in any part; it has {describe_parts(specs)}",
        "channel",
    )


def file_views(specs: list[oiio.ImageSpec]) -> list[str]:
    """A stereo file's views in order: the parts' ``view`` attributes (one part per view), else
    the ``multiView`` list (all views in one part); ``[]`` for a mono file."""
    if len(specs) > 1:
        found = [s.get_string_attribute("view", "") for s in specs]
        return list(dict.fromkeys(v for v in found if v))
    listed = specs[0].getattribute("multiView") if specs else None
    if isinstance(listed, str):
        listed = (listed,)
    return [str(v) for v in listed or ()]


def channel_view(name: str, views: list[str]) -> str:
    """OpenEXR's rule (ImfMultiView): a one-component name is the default (first) view's; else
    the second-to-last component names the view, or the channel belongs to no view ("")."""
    parts = name.split(".")
    if len(parts) == 1:
        return views[0] if views else ""
    return parts[-2] if parts[-2] in views else ""


@dataclass(frozen=True)
class ViewPlace:
    """Where one view lives in a file: a part, and which of its channels (None: all)."""

    part: int
    channels: tuple[int, ...] | None = None


def view_place(specs: list[oiio.ImageSpec], view: str, label: str) -> ViewPlace:
    """The part (one part per view: its first part of that view) or the view's beauty channels
    in a single multi-view part."""
    views = file_views(specs)
    if view not in views:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"{label} has no view {view!r}; its views are {views or 'none (mono)'}",
            "view",
        )
    if len(specs) > 1:
        return ViewPlace(
            next(i for i, s in enumerate(specs) if s.get_string_attribute("view") == view)
        )
    # The view's beauty only (``R`` in the default view, ``right.R``): its other layers
    # (``depth.right.Z``, mattes) are passed through like every channel of no view.
    names = list(specs[0].channelnames)
    beauty = tuple(
        i
        for i, n in enumerate(names)
        if channel_view(n, views) == view and n.count(".") == (0 if "." not in n else 1)
    )
    return ViewPlace(0, beauty)


def view_selector(specs: list[oiio.ImageSpec], selector: str, view: str, label: str) -> str:
    """A matte selector made explicit for one view of a stereo matte file: ``part/channel`` in
    the view's parts, or the view's own channel name in a single multi-view part."""
    views = file_views(specs)
    if view not in views:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"{label} has no {view!r} view (its views: {views or 'none, it is mono'}); give a "
            "matte for that view, or reuse another view's with --matte-view NAME",
            "view",
        )
    if len(specs) > 1:
        mine = [(i, s) for i, s in enumerate(specs) if s.get_string_attribute("view") == view]
        part, chan = select_part_channel([s for _, s in mine], selector, f"{label} view {view}")
        index = mine[part][0]
        return f"{part_name(specs[index], index)}/{specs[index].channelnames[chan]}"
    names = list(specs[0].channelnames)
    layer, _, last = selector.rpartition(".")
    candidates = [f"{layer}.{view}.{last}" if layer else f"{view}.{last}", f"{view}.{selector}"]
    if view == views[0]:
        candidates.insert(0, selector)
    lower = {n.lower(): n for n in names}
    for cand in candidates:
        if cand.lower() in lower and channel_view(lower[cand.lower()], views) == view:
            return lower[cand.lower()]
    raise VoidError(
        ErrorCode.BAD_SPEC,
        f"{label} has no {selector!r} for view {view!r} (tried {candidates}); it has {names}",
        "channel",
    )


def read_specs(path: str, frame: int | None = None, field: str = "frames") -> list[oiio.ImageSpec]:
    """Every part's header (deep files refused)."""
    label = f"frame {frame} ({path})" if frame is not None else path
    inp = open_image(path, frame, field)
    try:
        return read_parts(inp, label)
    finally:
        inp.close()


def _read_format(spec: oiio.ImageSpec, chbegin: int, chend: int) -> str:
    """The type that holds every channel in [chbegin, chend) exactly (bit-exact round trip)."""
    kinds = set(_formats(spec)[chbegin:chend])
    if len(kinds) == 1:
        return kinds.pop()
    return "double"  # half, float and uint32 all fit exactly


def read_image(
    path: str | os.PathLike,
    frame: int | None = None,
    channel: str = "",
    matte: bool = False,
    part: int = 0,
) -> Image:
    """Read a whole part (the first unless ``part``), or one channel found in any part
    (``channel`` as for :class:`SequenceRef`, ``part/layer.channel`` to name the part).

    ``matte``: the image is a matte, so an integer format needs no colour warning.
    """
    path = os.fspath(path)
    label = f"frame {frame} ({path})" if frame is not None else path
    inp = open_image(path, frame)
    try:
        specs = read_parts(inp, label)
        if channel:
            part, idx = select_part_channel(specs, channel, label)
            lo, hi = idx, idx + 1
        else:
            lo, hi = 0, specs[part].nchannels
        spec = specs[part]
        if not matte and not is_float_format(spec):
            _warn_integer(path, spec)
        names = list(spec.channelnames)
        inp.seek_subimage(part, 0)
        pixels = inp.read_image(part, 0, lo, hi, _native_type(spec, lo, hi))
        if pixels is None:
            raise VoidError(
                ErrorCode.CORRUPT_FRAME,
                f"{label} is truncated or corrupt: "
                f"{oiio_message(inp.geterror(), _drain_oiio_errors(), path=path) or 'no detail'}",
                "frames",
            )
    finally:
        inp.close()
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return Image(pixels, names[lo:hi], spec, part, len(specs))


def plate_part(path: str, selector: str, frame: int | None = None) -> int:
    """The part ``--plate PATTERN:part/`` names (``""``: the first part)."""
    if not selector:
        return 0
    label = f"frame {frame} ({path})" if frame is not None else path
    inp = open_image(path, frame, "plate")
    try:
        specs = read_parts(inp, label)
    finally:
        inp.close()
    return find_part(specs, selector.rstrip("/"), label)


def select_channel(names: list[str], selector: str, label: str = "") -> int:
    """Index of the channel a selector names, case-insensitively.

    ``remove.a`` matches ``remove.A``; a bare layer (``remove``) takes its alpha, then its only
    channel; an empty selector on a multi-channel image takes ``A``.
    """
    lower = [n.lower() for n in names]
    sel = selector.lower()
    if sel in lower:
        return lower.index(sel)
    for suffix in ("a", "alpha", "y", "r"):
        cand = f"{sel}.{suffix}" if sel else suffix
        if cand in lower:
            return lower.index(cand)
    in_layer = [i for i, n in enumerate(lower) if n.startswith(sel + ".")]
    if len(in_layer) == 1:
        return in_layer[0]
    raise VoidError(
        ErrorCode.BAD_SPEC,
        f"{label or 'image'} has no channel {selector!r}; it has {names}",
        "channel",
    )


def read_matte(path: str, frame: int | None = None, channel: str = "") -> np.ndarray:
    """One matte channel as float32 ``(h, w)``: the selected channel, else A, else the first."""
    if channel:
        img = read_image(path, frame, channel, matte=True)
    else:
        full = read_image(path, frame, matte=True)
        names = [n.lower() for n in full.channels]
        idx = names.index("a") if "a" in names and len(names) > 1 else 0
        img = Image(full.pixels[:, :, idx : idx + 1], [full.channels[idx]], full.spec)
    return img.pixels[:, :, 0].astype(np.float32)


def write_image(
    path: str | os.PathLike,
    pixels: np.ndarray,
    like: oiio.ImageSpec | None = None,
    channels: list[str] | None = None,
) -> None:
    """Write atomically (temp file in the same folder, then rename) keeping ``like``'s spec."""
    path = os.fspath(path)
    px = np.ascontiguousarray(pixels)
    if px.ndim == 2:
        px = px[:, :, None]
    h, w, c = px.shape
    if like is not None:
        spec = oiio.ImageSpec(like)
        if (spec.width, spec.height, spec.nchannels) != (w, h, c):
            raise VoidError(
                ErrorCode.SHAPE_MISMATCH,
                f"pixels are {w}x{h}x{c} but the reference spec is {spec.width}x{spec.height}x{spec.nchannels}",
            )
    else:
        kind = {"float16": "half", "uint8": "uint8", "uint16": "uint16"}.get(px.dtype.name, "float")
        spec = oiio.ImageSpec(w, h, c, kind)
        if path.lower().endswith(".exr"):
            spec.attribute("compression", "zip")
    if channels:
        spec.channelnames = tuple(channels)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    write_parts(path, [spec], [px])


Edit = tuple[int, tuple[int, ...] | None, np.ndarray]
#: ``--out-layer``: (part, that part's channels the pixels are, or None for all, layer, pixels).
LayerAdd = tuple[int, tuple[int, ...] | None, str, np.ndarray]


def write_layout(
    path: str | os.PathLike,
    pixels: np.ndarray,
    source: str,
    part: int = 0,
    channels: tuple[int, ...] | None = None,
    out_layer: str = "",
) -> None:
    """Write ``pixels`` as part ``part`` (or those of its ``channels``) of a copy of
    ``source``'s layout, atomically (:func:`write_edits`); with ``out_layer`` the part is kept
    and the pixels are added beside it as a new layer (one view's channels: that view's)."""
    if out_layer:
        write_edits(path, source, [], adds=[(part, channels, out_layer, pixels)])
    else:
        write_edits(path, source, [(part, channels, pixels)])


def write_edits(
    path: str | os.PathLike,
    source: str,
    edits: list[Edit],
    adds: list[LayerAdd] | None = None,
) -> None:
    """A copy of ``source`` with each edit's pixels in its part (all channels, or the listed
    ones), written atomically.

    Everything else is copied from ``source`` bit-exactly with its own spec (channels, pixel
    types, compression, tiling, windows, metadata). A single-part source edited whole is
    :func:`write_image`. Each of ``adds`` = (part, channels, layer, pixels): the pixels become
    layer ``layer`` beside that part's channels: ``layer.R``… in the same part of a single-part
    file (one view's channels of a multi-view part: ``layer.R``, ``layer.right.R``), a new part
    ``layer`` (``layer.<view>`` for a view's part) right after it in a multi-part one.
    """
    path = os.fspath(path)
    inp = open_image(source, None, "plate")
    whole = not adds and len(edits) == 1 and edits[0][0] == 0 and edits[0][1] is None
    try:
        specs = read_parts(inp, source)
        layers: list[np.ndarray] = []
        by_part: dict[int, list[tuple[tuple[int, ...] | None, np.ndarray]]] = {}
        for part, chans, px in edits:  # several edits of one part: views of a multi-view part
            by_part.setdefault(part, []).append((chans, px))
        for i, s in enumerate(specs if not (whole and len(specs) == 1) else []):
            if i in by_part and by_part[i][0][0] is None:
                px = np.ascontiguousarray(by_part[i][0][1])
                px = px[:, :, None] if px.ndim == 2 else px
                if px.shape != (s.height, s.width, s.nchannels):
                    raise VoidError(
                        ErrorCode.SHAPE_MISMATCH,
                        f"pixels are {px.shape[1]}x{px.shape[0]}x{px.shape[2]} but part "
                        f"{part_name(s, i)} of {source} is {s.width}x{s.height}x{s.nchannels}",
                    )
                layers.append(px)
                continue
            inp.seek_subimage(i, 0)
            got = inp.read_image(i, 0, 0, s.nchannels, _read_format(s, 0, s.nchannels))
            if got is None:
                raise VoidError(
                    ErrorCode.CORRUPT_FRAME,
                    f"part {part_name(s, i)} of {source} cannot be read: "
                    f"{oiio_message(inp.geterror(), _drain_oiio_errors(), path=source)}",
                    "plate",
                )
            got = np.asarray(got)
            got = got[:, :, None] if got.ndim == 2 else got
            for chans, px in by_part.get(i, []):  # some channels of this part (one view's)
                px = px[:, :, None] if px.ndim == 2 else px
                if px.dtype != got.dtype and got.dtype != np.float64:
                    got = got.astype(np.float64)  # holds half, float and uint32 exactly
                got[:, :, list(chans or ())] = px
            layers.append(got)
    finally:
        inp.close()
    if whole and len(specs) == 1:
        write_image(path, edits[0][2], specs[0])
        return
    if adds:
        taken = {n.lower() for s in specs for n in s.channelnames}
        taken |= {part_name(s, i).lower() for i, s in enumerate(specs)}
        # Highest part first: a new part goes right after its own, so lower indices stay valid.
        for part, chans, layer, px in sorted(adds, key=lambda a: -a[0]):
            _add_layer(specs, layers, part, chans, layer, px, source, taken)
    if len({s.tile_width > 0 for s in specs}) > 1:
        # OpenImageIO 3.2 cannot write a multi-part file mixing tiled and scanline parts (it
        # fails or crashes on the second kind); the pixels stay exact, the parts become scanline.
        _warn_once(
            f"tiles|{os.path.dirname(os.path.abspath(path))}",
            "%s mixes tiled and scanline parts; the output's parts are all scanline",
            source,
        )
        for s in specs:
            s.tile_width = s.tile_height = s.tile_depth = 0
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    write_parts(path, specs, layers)


def write_parts(path: str, specs: list[oiio.ImageSpec], pixels: list[np.ndarray]) -> None:
    """Every part (``specs[i]`` holding ``pixels[i]``) to ``path``, atomically: a temp file in
    the same folder, then a durable rename, so a reader never sees half a file."""
    # Created 0666 & ~umask (not mkstemp's 0600): results are readable like any file the user
    # writes. OIIO reopens the file in place, so the mode stays.
    tmp = temp_path_for(path, os.path.splitext(path)[1] or ".exr")
    try:
        out = oiio.ImageOutput.create(tmp)
        ok, err = False, ""
        if out is not None:
            ok = out.open(tmp, tuple(specs)) if len(specs) > 1 else out.open(tmp, specs[0])
            for i, (s, px) in enumerate(zip(specs, pixels)):
                if i and ok:
                    ok = out.open(tmp, s, "AppendSubimage")
                ok = ok and out.write_image(np.ascontiguousarray(px))
            err = out.geterror()
            out.close()
        if not ok:
            err = oiio_message(err, _drain_oiio_errors(), path=tmp)
            raise VoidError(ErrorCode.IO_ERROR, f"cannot write {path}: {err}", "out")
        replace_durably(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _add_layer(
    specs: list[oiio.ImageSpec],
    layers: list[np.ndarray],
    part: int,
    chans: tuple[int, ...] | None,
    layer: str,
    pixels: np.ndarray,
    source: str,
    taken: set[str],
) -> None:
    """Put ``pixels`` beside part ``part`` (or its ``chans``) as layer ``layer`` (see
    :func:`write_edits`); ``taken``: the source's channel and part names, lower-case."""
    base = specs[part]
    formats = list(base.channelformats) or [base.format] * base.nchannels
    if chans is None:
        names = [f"{layer}.{n.rsplit('.', 1)[-1]}" for n in base.channelnames]
    else:  # one view's beauty (``R`` or ``right.R``): the new layer keeps the view's name
        names = [f"{layer}.{base.channelnames[i]}" for i in chans]
        formats = [formats[i] for i in chans]
    view = base.get_string_attribute("view", "")
    new_part = f"{layer}.{view}" if view and len(specs) > 1 else layer
    if {layer.lower(), new_part.lower()} & taken or any(n.lower() in taken for n in names):
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"--out-layer {layer}: {source} already has that layer; its parts are "
            f"{describe_parts(specs)}",
            "out_layer",
        )
    px = np.asarray(pixels)
    px = px[:, :, None] if px.ndim == 2 else px
    if len(specs) == 1:
        spec = oiio.ImageSpec(base)
        spec.nchannels = base.nchannels + len(names)
        spec.channelnames = (*base.channelnames, *names)
        if base.channelformats:
            spec.channelformats = (*base.channelformats, *formats)
        here = layers[part]
        if here.dtype != px.dtype:
            here, px = here.astype(np.float64), px.astype(np.float64)
        specs[part], layers[part] = spec, np.concatenate([here, px], axis=2)
        return
    spec = oiio.ImageSpec(base)
    spec.nchannels = len(names)
    spec.channelnames = tuple(names)
    if base.channelformats:
        spec.channelformats = tuple(formats)
    spec.attribute("name", new_part)
    spec.attribute("oiio:subimagename", new_part)  # what OpenImageIO names the part from
    specs.insert(part + 1, spec)
    layers.insert(part + 1, px)


def sweep_stale_temps(pattern: SequencePattern) -> list[str]:
    """Remove temp files :func:`write_image` left for this pattern when its writer was killed.

    They are named ``.<final name>.<random><ext>``; a finished frame never has that name. A
    ``--grade-layers`` write (void_client.layer_outputs.write_graded) writes the composite to
    such a temp through :func:`write_layout`, whose own atomic write makes a temp of the temp:
    ``..<final name>.<random><ext>.<random><ext>``, caught too.
    """
    folder = os.path.dirname(pattern.prefix) or "."
    ext = re.escape(os.path.splitext(pattern.suffix)[1] or ".exr")
    rx = re.compile(
        r"^\.{1,2}"
        + re.escape(os.path.basename(pattern.prefix))
        + r"-?\d+"
        + re.escape(pattern.suffix)
        + r"(?:\.[A-Za-z0-9_]+"
        + ext
        + r"){1,2}$"
    )
    removed = []
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if rx.match(name):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
                    removed.append(name)
    if removed:
        log.info("removed %d temp files left by an interrupted writer in %s", len(removed), folder)
    return removed


def require_frames(ref: SequenceRef, frames: list[int], what: str) -> None:
    """Refuse a range with missing files, naming the frames (as compact ranges)."""
    missing = [f for f in frames if not os.path.exists(ref.path(f))]
    if missing:
        # Say what is there: the frames on disk, or (none match) the sequence meant.
        have = ref.pattern.scan()
        p = ref.pattern
        there = (
            f" (on disk: {format_ranges(have)})"
            if have
            else f"; {pattern_hint(p.prefix, p.padding, p.suffix)}"
        )
        raise VoidError(
            ErrorCode.MISSING_FRAMES,
            f"{what} {ref.pattern} is missing frames {format_ranges(missing)}{there}",
            what,
        )


def format_ranges(frames: list[int]) -> str:
    """``[1,2,3,7,9,10]`` → ``"1-3, 7, 9-10"``."""
    out: list[str] = []
    fs = sorted(frames)
    i = 0
    while i < len(fs):
        j = i
        while j + 1 < len(fs) and fs[j + 1] == fs[j] + 1:
            j += 1
        out.append(str(fs[i]) if i == j else f"{fs[i]}-{fs[j]}")
        i = j + 1
    return ", ".join(out)


def parse_range(text: str) -> tuple[int, int]:
    """``"1001-1100"`` or ``"1001"``; negative frames allowed (``-5--1``)."""
    m = re.fullmatch(r"\s*(-?\d+)\s*(?:-\s*(-?\d+))?\s*", text)
    if not m:
        raise VoidError(
            ErrorCode.BAD_SPEC, f"range {text!r} must look like FIRST-LAST, e.g. 1001-1100", "range"
        )
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) is not None else first
    if last < first:
        raise VoidError(ErrorCode.BAD_SPEC, f"range {text!r} ends before it starts", "range")
    return first, last
