"""``--fill-out`` / ``--matte-out``: the composite's fill and matte as sequences of their own.

A compositor grades, regrains and comps the fill himself: ``fill`` is the premultiplied RGBA of
the edited region and ``matte`` is exactly the matte the daemon composited with, so that in
float32 ``plate * (1 - matte) + fill`` gives the composited output (docs/user-guide.md,
"Fill and matte for compositing"). The daemon sends both with each result when the job's spec
lists them in ``outputs`` (docs/protocol.md); this module checks, holds and writes the extra
sequences with the same output safety as ``--out`` (:mod:`void_client.output_guard`,
:mod:`void_client.output_manifest`, atomic writes), docs/reliability.md "Sources and outputs".

``--grade-layers`` puts both into the output EXRs themselves (:func:`write_graded`): channels
``fill.R/G/B/A`` and ``matte.A`` beside the plate's in a single-part file, parts ``fill`` and
``matte`` after the plate's own in a multi-part one; always float, whatever the plate's type.
The daemon's path mode writes both forms with the same functions (``void_daemon.stages``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from void_client.atomic import temp_path_for
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.output_guard import check_job_paths, real_path
from void_client.output_manifest import OutputClaim, claim_output
from void_client.sequence import (
    SequencePattern,
    describe_parts,
    open_image,
    part_name,
    read_parts,
    write_image,
    write_parts,
)

#: The command-line flag of each layer, for messages.
FLAGS = {"fill": "--fill-out", "matte": "--matte-out"}
#: The layers ``--grade-layers`` adds to each output EXR, in this order.
GRADE_LAYERS = ("fill", "matte")

#: One frame's layers as the daemon sends them: layer → (channel names, float32 pixels).
Layers = dict[str, tuple[list[str], np.ndarray]]


class LayerOutputs:
    """The extra output sequences of one run, by layer (``fill``, ``matte``); maybe none."""

    def __init__(
        self,
        patterns: dict[str, str],
        inputs: Sequence[tuple[str, SequencePattern]],
        out: SequencePattern,
        frames: Sequence[int],
    ) -> None:
        """Refuses, before anything is sent, a pattern that would write over an input frame or
        that names the same sequence as ``--out`` or the other layer."""
        self.patterns = {layer: SequencePattern.parse(p) for layer, p in patterns.items() if p}
        taken = [("--out", out)]
        for layer, pat in self.patterns.items():
            check_job_paths(inputs, pat, frames, field=f"{layer}_out", flag=FLAGS[layer])
            for flag, other in taken:
                if real_path(other.path(frames[0])) == real_path(pat.path(frames[0])):
                    raise VoidError(
                        ErrorCode.BAD_SPEC,
                        f"{FLAGS[layer]} {pat} is the same sequence as {flag}; give each output "
                        "its own pattern (to put fill and matte inside the --out EXRs as "
                        "layers, use --grade-layers)",
                        f"{layer}_out",
                    )
            taken.append((FLAGS[layer], pat))
        self.claims: dict[str, OutputClaim] = {}

    @property
    def layers(self) -> list[str]:
        """The layers to ask the daemon for (``JobSpec.outputs``)."""
        return list(self.patterns)

    @contextlib.contextmanager
    def claimed(
        self,
        wanted: Sequence[int],
        spec: JobSpec,
        inputs: Sequence[str],
        overwrite: bool,
        job: str = "",
    ) -> Iterator[None]:
        """Hold every extra sequence for the run, like ``--out`` (lock + manifest)."""
        with contextlib.ExitStack() as stack:
            for layer, pat in self.patterns.items():
                self.claims[layer] = stack.enter_context(
                    claim_output(pat, wanted, spec, inputs, overwrite, job=job)
                )
            yield

    def set_job(self, job: str) -> None:
        for claim in self.claims.values():
            claim.set_job(job)

    def finish(self, state: str) -> None:
        for claim in self.claims.values():
            claim.finish(state)

    def write(
        self,
        frame: int,
        received: Layers,
        like: oiio.ImageSpec,
    ) -> None:
        """Write frame ``frame`` of each extra sequence atomically, float32 (a half fill would
        no longer recompose to the output), on the plate's data and display windows."""
        for layer, pat in self.patterns.items():
            if layer not in received:
                raise VoidError(
                    ErrorCode.INTERNAL,
                    f"the daemon sent frame {frame} without its {layer} layer; update the daemon "
                    f"or drop {FLAGS[layer]}",
                    f"{layer}_out",
                )
            channels, pixels = received[layer]
            write_layer_file(pat.path(frame), channels, pixels, like)
            claim: Callable[[int], None] | None = getattr(
                self.claims.get(layer), "frame_written", None
            )
            if claim is not None:
                claim(frame)


def write_layer_file(
    path: str, channels: list[str], pixels: np.ndarray, like: oiio.ImageSpec
) -> None:
    """One frame of a ``--fill-out``/``--matte-out`` sequence, atomically, float32 (a half fill
    would no longer recompose to the output), on ``like``'s data and display windows."""
    write_image(path, pixels, layer_spec(like, pixels), channels)


def grade_channels(layer: str, channels: Sequence[str]) -> list[str]:
    """``fill`` + ``[R, G, B, A]`` (or ``[rgba.R, ...]``) → ``[fill.R, fill.G, fill.B, fill.A]``:
    the layer's own name, whatever layer the plate's colour channels were in."""
    return [f"{layer}.{c.rsplit('.', 1)[-1]}" for c in channels]


def check_grade_room(specs: Sequence[oiio.ImageSpec], label: str) -> None:
    """Refuse a plate that already has a ``fill``/``matte`` layer or part: ``--grade-layers``
    would write a file with two channels of one name."""
    taken = {n.split(".", 1)[0].lower() for s in specs for n in s.channelnames if "." in n}
    taken |= {part_name(s, i).lower() for i, s in enumerate(specs)}
    clash = [layer for layer in GRADE_LAYERS if layer in taken]
    if clash:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"--grade-layers: {label} already has a layer or part {clash[0]!r}; its parts are "
            f"{describe_parts(specs)}. Write fill and matte as their own sequences with "
            "--fill-out/--matte-out instead",
            "grade_layers",
        )


def write_graded(
    path: str, layers: Layers, part: int, write_composite: Callable[[str], None]
) -> None:
    """Write the output frame ``path`` with fill and matte inside it, atomically.

    ``write_composite(tmp)`` writes the composited frame as it would be without them (the
    plate's layout, ``--out-layer``, views: :func:`void_client.sequence.write_layout`) to a
    hidden name in the same folder; its parts are then copied bit-exactly into ``path`` with
    the layers added after part ``part``'s channels (single-part file) or after every part.
    Two writes of the frame: the layout code stays the one that writes every other output.
    """
    missing = [layer for layer in GRADE_LAYERS if layer not in layers]
    if missing:
        raise VoidError(
            ErrorCode.INTERNAL,
            f"the daemon sent {os.path.basename(path)} without its {missing[0]} layer; update "
            "the daemon or drop --grade-layers",
            "grade_layers",
        )
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    composite = temp_path_for(path, os.path.splitext(path)[1] or ".exr")
    try:
        write_composite(composite)
        specs, pixels = _read_all_parts(composite)
        check_grade_room(specs, os.path.basename(path))
        _add_grade_layers(specs, pixels, layers, part)
        write_parts(path, specs, pixels)
    finally:
        Path(composite).unlink(missing_ok=True)


def _read_all_parts(path: str) -> tuple[list[oiio.ImageSpec], list[np.ndarray]]:
    """Every part's spec and pixels in a type that holds them exactly."""
    inp = open_image(path, None, "out")
    try:
        specs = read_parts(inp, path)
        pixels = []
        for i, s in enumerate(specs):
            inp.seek_subimage(i, 0)
            got = inp.read_image(i, 0, 0, s.nchannels, _exact_type(s))
            if got is None:
                raise VoidError(
                    ErrorCode.IO_ERROR, f"cannot read back {path}: {inp.geterror()}", "out"
                )
            got = np.asarray(got)
            pixels.append(got[:, :, None] if got.ndim == 2 else got)
    finally:
        inp.close()
    return specs, pixels


def _formats(spec: oiio.ImageSpec) -> list[str]:
    return [str(f) for f in (list(spec.channelformats) or [spec.format] * spec.nchannels)]


def _exact_type(spec: oiio.ImageSpec) -> str:
    """float32 holds half and float exactly; anything else (uint32, double) goes to double."""
    return "float" if set(_formats(spec)) <= {"half", "float"} else "double"


def _add_grade_layers(
    specs: list[oiio.ImageSpec], pixels: list[np.ndarray], layers: Layers, part: int
) -> None:
    new = [
        (layer, grade_channels(layer, layers[layer][0]), _hwc(layers[layer][1]))
        for layer in GRADE_LAYERS
    ]
    base = specs[part]
    for _, _, px in new:
        if px.shape[:2] != (base.height, base.width):
            raise VoidError(
                ErrorCode.SHAPE_MISMATCH,
                f"a layer of {px.shape[1]}x{px.shape[0]} does not fit part "
                f"{part_name(base, part)} ({base.width}x{base.height})",
                "grade_layers",
            )
    if len(specs) == 1:  # channels beside the plate's, in their own (float) type
        names = [n for _, chans, _ in new for n in chans]
        spec = oiio.ImageSpec(base)
        formats = _formats(base) + ["float"] * len(names)
        spec.nchannels = base.nchannels + len(names)
        spec.channelnames = (*base.channelnames, *names)
        spec.channelformats = tuple(oiio.TypeDesc(f) for f in formats)
        here = pixels[0]
        extra = np.concatenate([px for _, _, px in new], axis=2).astype(here.dtype)
        specs[0], pixels[0] = spec, np.concatenate([here, extra], axis=2)
        return
    for layer, names, px in new:  # a part each, after the file's own, with the beauty's header
        spec = oiio.ImageSpec(base)
        spec.nchannels = len(names)
        spec.channelnames = tuple(names)
        spec.set_format("float")
        spec.channelformats = ()
        spec.alpha_channel = len(names) - 1
        spec.z_channel = -1
        spec.erase_attribute("view")
        spec.attribute("name", layer)
        spec.attribute("oiio:subimagename", layer)  # what OpenImageIO names the part from
        specs.append(spec)
        pixels.append(px.astype(np.float32))


def _hwc(pixels: np.ndarray) -> np.ndarray:
    px = np.asarray(pixels, np.float32)
    return px[:, :, None] if px.ndim == 2 else px


def layer_spec(like: oiio.ImageSpec, pixels: np.ndarray) -> oiio.ImageSpec:
    """A float EXR spec with ``like``'s windows and pixel aspect, for ``pixels`` ``(h, w, c)``."""
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, "float")
    spec.x, spec.y = like.x, like.y
    spec.full_x, spec.full_y = like.full_x, like.full_y
    spec.full_width, spec.full_height = like.full_width, like.full_height
    spec.attribute("PixelAspectRatio", float(like.get_float_attribute("PixelAspectRatio", 1.0)))
    spec.attribute("compression", "zip")
    return spec
