"""``JobSpec``: the one description of a removal job, serialised for the wire, journal and farm."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from void_client.errors import ErrorCode, VoidError

SEAM_MODES = ("crossfade", "chain")
TRANSFER_MODES = ("pixels", "paths")
#: Layers a job may ask for beside the composite (docs/protocol.md, ``result``).
OUTPUT_LAYERS = ("fill", "matte")


@dataclass
class JobSpec:
    """Everything the daemon needs to run a job, except the pixels themselves."""

    frames: list[int]
    width: int
    height: int
    channels: list[str] = field(default_factory=lambda: ["R", "G", "B", "A"])
    name: str = "shot"
    engine: str = "propagate"
    #: Longest window in frames; rounded down to a valid length (see ``windows.py``).
    window: int = 197
    overlap: int = 16
    seam: str = "crossfade"
    #: Quadmask dilation in pixels, applied to the remove and affected mattes.
    dilation: int = 4
    #: Extra context around the masks for the engine crop, in pixels.
    roi_margin: int = 48
    #: Width of the composite matte's soft edge outside the hole, in pixels.
    feather: int = 6
    prompt: str = ""
    seed: int = 42
    pass2: bool = False
    engine_options: dict = field(default_factory=dict)
    transfer: str = "pixels"
    #: Path mode only: where the daemon writes results (``name.####.exr`` style pattern).
    out_pattern: str = ""
    job_id: str = ""
    #: OpenColorIO config for ``display`` engines (path or ``ocio://`` URI); "" → $OCIO → built-in.
    ocio_config: str = ""
    #: The plate's colour space in that config (e.g. ``ACEScg``); "" → linear Rec.709 primaries.
    colourspace: str = ""
    #: The plate's pixel aspect (2.0 for 2x anamorphic): ROI and feather are fitted in square pixels.
    pixel_aspect: float = 1.0
    #: Re-inject the plate's grain into the filled region (see ``void_daemon/detail.py``).
    restore_detail: bool = False
    #: Frames that come with a clean reference frame the artist painted (``--reference``); its
    #: pixels travel with that frame's inputs (role ``reference``, or a path-mode ``reference``).
    references: list[int] = field(default_factory=list)
    #: Layers sent with each result beside the composite, for compositors: ``fill`` (premultiplied
    #: RGBA of the edited region) and/or ``matte`` (the composite's matte).
    outputs: list[str] = field(default_factory=list)
    #: Path mode: the pattern the daemon writes each of ``outputs`` to as its own sequence
    #: (``--fill-out``/``--matte-out``); pixel transfer: empty (the client writes them).
    layer_patterns: dict = field(default_factory=dict)
    #: ``--grade-layers``: fill and matte are also layers of the output EXRs themselves
    #: (``fill.R/G/B/A``, ``matte.A``; parts ``fill`` and ``matte`` of a multi-part plate).
    layers_in_out: bool = False

    def validate(self) -> JobSpec:
        def bad(field_name: str, msg: str) -> VoidError:
            return VoidError(ErrorCode.BAD_SPEC, msg, field_name)

        if not self.frames:
            raise bad("frames", "the job has no frames; check the frame range")
        if any(not isinstance(f, int) for f in self.frames):
            raise bad("frames", "frame numbers must be integers")
        if len(set(self.frames)) != len(self.frames):
            raise bad("frames", "frame numbers must be unique")
        if list(self.frames) != sorted(self.frames):
            raise bad("frames", "frame numbers must be in increasing order")
        if not (0 < self.width <= 16384 and 0 < self.height <= 16384):
            raise bad("width", f"resolution {self.width}x{self.height} is outside 1..16384")
        if not self.channels:
            raise bad("channels", "the plate needs at least one channel")
        if self.window < 1:
            raise bad("window", "window must be at least 1 frame")
        if not 0 <= self.overlap < max(self.window, 1):
            raise bad(
                "overlap",
                f"overlap must be between 0 and window-1 ({self.window - 1}), got {self.overlap}",
            )
        if self.seam not in SEAM_MODES:
            raise bad("seam", f"seam must be one of {SEAM_MODES}, got {self.seam!r}")
        if not 0 <= self.dilation <= 256:
            raise bad("dilation", "dilation must be between 0 and 256 pixels")
        if not 0 <= self.feather <= 256:
            raise bad("feather", "feather must be between 0 and 256 pixels")
        if self.roi_margin < 0:
            raise bad("roi_margin", "roi_margin must not be negative")
        if self.transfer not in TRANSFER_MODES:
            raise bad("transfer", f"transfer must be one of {TRANSFER_MODES}")
        if self.transfer == "paths" and not self.out_pattern:
            raise bad("out_pattern", "path mode needs an output pattern the daemon can write to")
        if len(self.prompt) > 4096:
            raise bad("prompt", "prompt is longer than 4096 characters")
        try:  # the spec is journalled and handed to farm tasks as JSON
            json.dumps(self.engine_options, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise bad(
                "engine_options",
                f"engine_options must hold JSON values only (numbers, strings, lists, maps): {exc}",
            ) from exc
        if not 0.1 <= self.pixel_aspect <= 10.0:
            raise bad(
                "pixel_aspect", f"pixel_aspect must be between 0.1 and 10, got {self.pixel_aspect}"
            )
        for f in self.references:
            if not isinstance(f, int) or isinstance(f, bool) or f not in set(self.frames):
                raise bad(
                    "references",
                    f"reference frame {f} is outside the job's frames "
                    f"{self.frames[0]}-{self.frames[-1]}; give a frame of the shot",
                )
        if len(set(self.references)) != len(self.references):
            raise bad("references", "each frame takes at most one reference")
        if any(o not in OUTPUT_LAYERS for o in self.outputs) or len(set(self.outputs)) != len(
            self.outputs
        ):
            raise bad("outputs", f"outputs must be distinct names from {OUTPUT_LAYERS}")
        self._validate_layer_targets(bad)
        return self

    def _validate_layer_targets(self, bad: Any) -> None:
        """Each fill/matte layer has somewhere to go: the client (pixel transfer), a path-mode
        pattern, or the output files themselves (``layers_in_out``)."""
        if self.layers_in_out and not {"fill", "matte"} <= set(self.outputs):
            raise bad("layers_in_out", "layers_in_out needs outputs ['fill', 'matte']")
        patterns = self.layer_patterns
        if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in patterns.items()):
            raise bad("layer_patterns", "layer_patterns maps a layer name to a frame pattern")
        if set(patterns) - set(self.outputs):
            raise bad(
                "layer_patterns", f"layer_patterns names layers not in outputs {self.outputs}"
            )
        if self.transfer == "pixels" and patterns:
            raise bad(
                "layer_patterns", "with pixel transfer the client writes the layers; drop them"
            )
        if self.transfer == "paths" and not self.layers_in_out:
            nowhere = [o for o in self.outputs if o not in patterns]
            if nowhere:
                raise bad(
                    "layer_patterns",
                    f"path mode writes outputs {nowhere} nowhere: give each a pattern in "
                    "layer_patterns, or set layers_in_out",
                )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not d["references"]:
            del d["references"]  # a job without references reads as before to an older daemon
        if not d["outputs"]:
            del d["outputs"]  # nor one without fill/matte layers
        if not d["layer_patterns"]:
            del d["layer_patterns"]
        if not d["layers_in_out"]:
            del d["layers_in_out"]
        return d

    @classmethod
    def from_dict(cls, d: Any) -> JobSpec:
        if not isinstance(d, dict):
            raise VoidError(ErrorCode.BAD_SPEC, "job spec must be a map")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise VoidError(ErrorCode.BAD_SPEC, f"unknown job spec fields {unknown}", unknown[0])
        for req in ("frames", "width", "height"):
            if req not in d:
                raise VoidError(ErrorCode.BAD_SPEC, f"job spec is missing {req!r}", req)
        kwargs = {}
        for name, value in d.items():
            f = known[name]
            default = (
                f.default
                if f.default is not dataclasses.MISSING
                else (f.default_factory() if callable(f.default_factory) else None)
            )
            if default is not None:
                if (
                    isinstance(default, float)
                    and isinstance(value, int)
                    and not isinstance(value, bool)
                ):
                    value = float(value)  # JSON writes 2.0 as 2
                ok = isinstance(value, type(default)) and not (
                    isinstance(value, bool) and not isinstance(default, bool)
                )
                if not ok:
                    raise VoidError(
                        ErrorCode.BAD_SPEC, f"{name} must be {type(default).__name__}", name
                    )
            kwargs[name] = value
        if (
            not isinstance(kwargs["frames"], list)
            or not isinstance(kwargs["width"], int)
            or not isinstance(kwargs["height"], int)
        ):
            raise VoidError(
                ErrorCode.BAD_SPEC, "frames must be a list, width and height integers", "frames"
            )
        return cls(**kwargs).validate()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        return cls.from_dict(json.loads(text))
