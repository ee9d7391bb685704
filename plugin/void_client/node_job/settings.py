"""A host node's settings (its knob values) and the frames it processes.

:class:`NodeSettings` holds what an artist sets on the node, with :data:`QUALITY_PRESETS` mapped to
engine options; :func:`resolve_range` checks the node's range against its Source's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from void_client import protocol as P
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import SEAM_MODES, JobSpec
from void_client.presets import PRESET_KEYS, apply_preset, preset_names

_SPEC_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(JobSpec) if f.default is not dataclasses.MISSING
}

#: The preset pulldown's entry for "the knobs as set by hand" (nothing applied).
CUSTOM_PRESET = "custom"
#: The node's knobs an artist preset (void_client.presets) decides; its engine options are
#: merged into the job's at run time (:meth:`NodeSettings.job_settings`).
PRESET_KNOBS: tuple[str, ...] = tuple(k for k in PRESET_KEYS if k != "engine_options")


def preset_knob_values(name: str) -> dict[str, Any]:
    """The knob values preset ``name`` sets: :func:`void_client.presets.apply_preset`'s fields,
    so the node and every other front end use the same numbers."""
    applied = apply_preset(name, {})
    return {k: applied[k] for k in PRESET_KNOBS if k in applied}


#: Quality presets: per-job engine options on top of the engine's own defaults ("standard" is the
#: VOID reference: 30 DDIM steps). Only the ``void`` engine reads them; ``propagate`` ignores them.
QUALITY_PRESETS: dict[str, dict[str, Any]] = {
    "draft": {"steps": 12, "pass2_steps": 20},
    "standard": {},
    "best": {"steps": 50},
}


@dataclass
class NodeSettings:
    """What an artist sets on a host node. Field names are the node's knob names."""

    use_input_range: bool = True
    range_first: int = 1001
    range_last: int = 1100
    engine: str = _SPEC_DEFAULTS["engine"]
    quality: str = "standard"
    #: An artist preset (void_client.presets) or ``custom``; choosing one sets the knobs of
    #: :data:`PRESET_KNOBS`, and its engine options (steps, ...) win over ``quality``'s.
    preset: str = CUSTOM_PRESET
    pass2: bool = _SPEC_DEFAULTS["pass2"]
    prompt: str = _SPEC_DEFAULTS["prompt"]
    seed: int = _SPEC_DEFAULTS["seed"]
    roi_margin: int = _SPEC_DEFAULTS["roi_margin"]
    dilation: int = _SPEC_DEFAULTS["dilation"]
    seam: str = _SPEC_DEFAULTS["seam"]
    window: int = _SPEC_DEFAULTS["window"]
    overlap: int = _SPEC_DEFAULTS["overlap"]
    feather: int = _SPEC_DEFAULTS["feather"]
    endpoint: str = P.DEFAULT_ENDPOINT
    #: Where runs live; empty means next to the host's project file (see :func:`plan_run`).
    output_dir: str = ""

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> NodeSettings:
        """Settings from knob values as a host returns them (ints may come back as floats)."""
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in values:
                continue
            value = values[f.name]
            kind = type(f.default)
            try:
                if kind is bool:
                    value = bool(value)
                elif kind is int:
                    number = float(value)
                    if number != round(number):
                        raise ValueError(value)
                    value = int(round(number))
                else:
                    value = str(value) if f.name == "prompt" else str(value).strip()
            except (TypeError, ValueError) as exc:
                raise VoidError(
                    ErrorCode.BAD_SPEC, f"{f.name} must be a whole number, got {value!r}", f.name
                ) from exc
            kwargs[f.name] = value
        return cls(**kwargs).validate()

    def validate(self) -> NodeSettings:
        if self.quality not in QUALITY_PRESETS:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"quality must be one of {tuple(QUALITY_PRESETS)}, got {self.quality!r}",
                "quality",
            )
        if self.preset != CUSTOM_PRESET and self.preset not in preset_names():
            choices = (*preset_names(), CUSTOM_PRESET)
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"preset must be one of {choices}, got {self.preset!r}",
                "preset",
            )
        if self.seam not in SEAM_MODES:
            raise VoidError(
                ErrorCode.BAD_SPEC, f"seam must be one of {SEAM_MODES}, got {self.seam!r}", "seam"
            )
        if not self.engine:
            raise VoidError(ErrorCode.BAD_SPEC, "choose an engine", "engine")
        if not self.endpoint:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"the daemon address is empty; the default is {P.DEFAULT_ENDPOINT}",
                "endpoint",
            )
        # The job spec's own rules (window, overlap, dilation, ...) before anything is rendered.
        JobSpec(frames=[0], width=1, height=1, **self.job_settings()).validate()
        return self

    def job_settings(self) -> dict[str, Any]:
        """The :class:`JobSpec` fields these settings decide (frames and size come from the plate)."""
        return {
            "engine": self.engine,
            "window": self.window,
            "overlap": self.overlap,
            "seam": self.seam,
            "dilation": self.dilation,
            "roi_margin": self.roi_margin,
            "feather": self.feather,
            "prompt": self.prompt,
            "seed": self.seed,
            "pass2": self.pass2,
            "engine_options": self.engine_options(),
        }

    def engine_options(self) -> dict[str, Any]:
        """``quality``'s engine options, with the preset's on top (merged as ``apply_preset``
        merges them). ``custom`` adds nothing, so a node without a preset hashes as before."""
        options = dict(QUALITY_PRESETS[self.quality])
        if self.preset == CUSTOM_PRESET:
            return options
        return dict(apply_preset(self.preset, {"engine_options": options})["engine_options"])


def resolve_range(settings: NodeSettings, source_range: tuple[int, int] | None) -> tuple[int, int]:
    """The frames to process: the Source's own range, or the node's, which must lie inside it."""
    if source_range is None:
        raise VoidError(ErrorCode.BAD_SPEC, "connect a plate to the Source input", "source")
    src_first, src_last = int(source_range[0]), int(source_range[1])
    first, last = (
        (src_first, src_last)
        if settings.use_input_range
        else (settings.range_first, settings.range_last)
    )
    if last < first:
        raise VoidError(
            ErrorCode.BAD_SPEC, f"the frame range {first}-{last} ends before it starts", "range"
        )
    if first < 0:
        # Hosts pad negative numbers differently (%04d gives -001, '####' gives -0001).
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"the frame range {first}-{last} starts below 0; offset the plate to positive frames",
            "range",
        )
    if first < src_first or last > src_last:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"frames {first}-{last} are outside the Source's range {src_first}-{src_last}; fix the range or tick 'use input range'",
            "range",
        )
    return first, last
