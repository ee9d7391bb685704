"""``--fill-out`` / ``--matte-out``: the composite's fill and matte as sequences of their own.

A compositor grades, regrains and comps the fill himself: ``fill`` is the premultiplied RGBA of
the edited region and ``matte`` is exactly the matte the daemon composited with, so that in
float32 ``plate * (1 - matte) + fill`` gives the composited output (docs/user-guide.md,
"Fill and matte for compositing"). The daemon sends both with each result when the job's spec
lists them in ``outputs`` (docs/protocol.md); this module checks, holds and writes the extra
sequences with the same output safety as ``--out`` (:mod:`void_client.output_guard`,
:mod:`void_client.output_manifest`, atomic writes), docs/reliability.md "Sources and outputs".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import OpenImageIO as oiio

from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.output_guard import check_job_paths, real_path
from void_client.output_manifest import OutputClaim, claim_output
from void_client.sequence import SequencePattern, write_image

#: The command-line flag of each layer, for messages.
FLAGS = {"fill": "--fill-out", "matte": "--matte-out"}


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
                        "its own pattern",
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
        received: dict[str, tuple[list[str], np.ndarray]],
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
            write_image(pat.path(frame), pixels, _layer_spec(like, pixels), channels)
            claim: Callable[[int], None] | None = getattr(
                self.claims.get(layer), "frame_written", None
            )
            if claim is not None:
                claim(frame)


def _layer_spec(like: oiio.ImageSpec, pixels: np.ndarray) -> oiio.ImageSpec:
    """A float EXR spec with ``like``'s windows and pixel aspect, for ``pixels`` ``(h, w, c)``."""
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, "float")
    spec.x, spec.y = like.x, like.y
    spec.full_x, spec.full_y = like.full_x, like.full_y
    spec.full_width, spec.full_height = like.full_width, like.full_height
    spec.attribute("PixelAspectRatio", float(like.get_float_attribute("PixelAspectRatio", 1.0)))
    spec.attribute("compression", "zip")
    return spec
