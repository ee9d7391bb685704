"""EXR (and other OpenImageIO) image sequences: patterns, channel selection, atomic writes.

Patterns: ``name.####.exr`` (one ``#`` per digit), ``name.%04d.exr``, ``name.$F4.exr``.
A matte may be a channel of another sequence: ``PATTERN:layer.channel`` (``plate.####.exr:remove.a``).
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from void_client.atomic import replace_durably, temp_path_for
from void_client.errors import ErrorCode, VoidError

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
    """
    head, sep, tail = text.rpartition(":")
    if (
        sep
        and tail
        and "/" not in tail
        and "\\" not in tail
        and not (len(head) == 1 and head.isalpha())
    ):
        return head, tail
    return text, ""


@dataclass
class Image:
    """Pixels ``(h, w, c)`` in the file's type, with the spec they came with."""

    pixels: np.ndarray
    channels: list[str]
    spec: oiio.ImageSpec

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


def read_image(
    path: str | os.PathLike, frame: int | None = None, channel: str = "", matte: bool = False
) -> Image:
    """Read a whole image, or one channel of it (``channel`` as for :class:`SequenceRef`).

    ``matte``: the image is a matte, so an integer format needs no colour warning.
    """
    path = os.fspath(path)
    label = f"frame {frame} ({path})" if frame is not None else path
    inp = open_image(path, frame)
    try:
        spec = inp.spec()
        if spec.deep:
            raise VoidError(
                ErrorCode.CORRUPT_FRAME,
                f"{label} is a deep image; flatten it (DeepToImage) before removal",
                "frames",
            )
        if not matte and inp.seek_subimage(1, 0):
            _warn_once(
                f"parts|{os.path.dirname(os.path.abspath(path))}",
                "%s has several parts; only the first (%s) is processed and written back",
                path,
                ", ".join(spec.channelnames),
            )
            inp.seek_subimage(0, 0)
        if not matte and not is_float_format(spec):
            _warn_integer(path, spec)
        names = list(spec.channelnames)
        lo, hi = 0, spec.nchannels
        if channel:
            idx = select_channel(names, channel, label)
            lo, hi = idx, idx + 1
        pixels = inp.read_image(0, 0, lo, hi, _native_type(spec, lo, hi))
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
    return Image(pixels, names[lo:hi], spec)


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
    # Created 0666 & ~umask (not mkstemp's 0600): results are readable like any file the user
    # writes. OIIO reopens the file in place, so the mode stays.
    tmp = temp_path_for(path, os.path.splitext(path)[1] or ".exr")
    try:
        out = oiio.ImageOutput.create(tmp)
        if out is None or not out.open(tmp, spec):
            err = out.geterror() if out is not None else ""
            err = oiio_message(err, _drain_oiio_errors(), path=tmp)
            raise VoidError(ErrorCode.IO_ERROR, f"cannot write {path}: {err}", "out")
        ok = out.write_image(px)
        err = out.geterror()
        out.close()
        if not ok:
            err = oiio_message(err, _drain_oiio_errors(), path=tmp)
            raise VoidError(ErrorCode.IO_ERROR, f"cannot write {path}: {err}", "out")
        # Data on disk before the rename, the rename on disk before we acknowledge the frame.
        replace_durably(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sweep_stale_temps(pattern: SequencePattern) -> list[str]:
    """Remove temp files :func:`write_image` left for this pattern when its writer was killed.

    They are named ``.<final name>.<random><ext>``; a finished frame never has that name.
    """
    folder = os.path.dirname(pattern.prefix) or "."
    rx = re.compile(
        r"^\."
        + re.escape(os.path.basename(pattern.prefix))
        + r"-?\d+"
        + re.escape(pattern.suffix)
        + r"\.[A-Za-z0-9_]+"
        + re.escape(os.path.splitext(pattern.suffix)[1] or ".exr")
        + "$"
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
        raise VoidError(
            ErrorCode.MISSING_FRAMES,
            f"{what} {ref.pattern} is missing frames {format_ranges(missing)}",
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
