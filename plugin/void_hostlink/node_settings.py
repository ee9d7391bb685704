"""A host node's settings (its knob values), the frames it processes, and the ``void-remove``
flags that run them: standard library only, Python 3.6 (docs/nuke.md, "Host isolation").

The numbers themselves (presets, job defaults, seam modes) are the client's, baked into
:mod:`void_hostlink.node_tables`; the flags' validation is the CLI's (``void-remove run`` refuses
a bad window with the same words everywhere). What stays here is what the host needs before any
process starts: coercing knob values, the range against the Source's, and the exact job settings
the fingerprint hashes.
"""

import collections
import copy
from typing import Any, Dict, List, Mapping, Optional, Tuple

from void_hostlink import HostLinkError
from void_hostlink.compat import dataclass, fields
from void_hostlink.node_tables import TABLES

DEFAULT_ENDPOINT = TABLES["DEFAULT_ENDPOINT"]  # type: str
SEAM_MODES = tuple(TABLES["SEAM_MODES"])  # type: Tuple[str, ...]
JOB_DEFAULTS = dict(TABLES["JOB_DEFAULTS"])  # type: Dict[str, Any]

Preset = collections.namedtuple("Preset", "name description settings engine_options")
PRESETS = tuple(
    Preset(p["name"], p["description"], p["settings"], p["engine_options"])
    for p in TABLES["PRESETS"]
)

#: The preset pulldown's entry for "the knobs as set by hand" (nothing applied).
CUSTOM_PRESET = "custom"
#: The node's knobs an artist preset decides (its engine options go into the job, not a knob).
PRESET_KNOBS = tuple(k for k in TABLES["PRESET_KEYS"] if k != "engine_options")

#: Quality presets: per-job engine options on top of the engine's own defaults ("standard" is the
#: VOID reference: 30 DDIM steps). Only the ``void`` engine reads them; ``propagate`` ignores them.
#: A node-only knob: passed to ``void-remove run`` as ``--engine-option``.
QUALITY_PRESETS = {
    "draft": {"steps": 12, "pass2_steps": 20},
    "standard": {},
    "best": {"steps": 50},
}  # type: Dict[str, Dict[str, Any]]

BAD_SPEC = "bad_spec"


def preset_names() -> List[str]:
    """The presets' canonical names, in display order."""
    return [p.name for p in PRESETS]


def get_preset(name: str) -> Preset:
    for p in PRESETS:
        if p.name == name:
            return p
    choices = tuple(preset_names()) + (CUSTOM_PRESET,)
    raise HostLinkError(BAD_SPEC, "preset must be one of {}, got {!r}".format(choices, name))


def preset_knob_values(name: str) -> Dict[str, Any]:
    """The knob values preset ``name`` sets (the CLI's ``--preset`` sets the same fields)."""
    return {k: v for k, v in get_preset(name).settings.items() if k in PRESET_KNOBS}


@dataclass
class NodeSettings:
    """What an artist sets on a host node. Field names are the node's knob names."""

    use_input_range: bool = True
    range_first: int = 1001
    range_last: int = 1100
    engine: str = JOB_DEFAULTS["engine"]
    quality: str = "standard"
    #: A preset's name or ``custom``; choosing one sets the knobs of :data:`PRESET_KNOBS`, and
    #: its engine options (steps, ...) win over ``quality``'s.
    preset: str = CUSTOM_PRESET
    pass2: bool = JOB_DEFAULTS["pass2"]
    prompt: str = JOB_DEFAULTS["prompt"]
    seed: int = JOB_DEFAULTS["seed"]
    roi_margin: int = JOB_DEFAULTS["roi_margin"]
    dilation: int = JOB_DEFAULTS["dilation"]
    seam: str = JOB_DEFAULTS["seam"]
    window: int = JOB_DEFAULTS["window"]
    overlap: int = JOB_DEFAULTS["overlap"]
    feather: int = JOB_DEFAULTS["feather"]
    endpoint: str = DEFAULT_ENDPOINT
    #: Where runs live; empty means next to the host's project file (see node_plan.plan_run).
    output_dir: str = ""

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "NodeSettings":
        """Settings from knob values as a host returns them (ints may come back as floats)."""
        kwargs = {}  # type: Dict[str, Any]
        for f in fields(cls):
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
                raise HostLinkError(
                    BAD_SPEC, "{} must be a whole number, got {!r}".format(f.name, value)
                ) from exc
            kwargs[f.name] = value
        return cls(**kwargs).validate()

    def validate(self) -> "NodeSettings":
        """What the host needs to hash the settings; everything else the CLI checks."""
        if self.quality not in QUALITY_PRESETS:
            raise HostLinkError(
                BAD_SPEC,
                "quality must be one of {}, got {!r}".format(tuple(QUALITY_PRESETS), self.quality),
            )
        if self.preset != CUSTOM_PRESET:
            get_preset(self.preset)
        if not self.engine:
            raise HostLinkError(BAD_SPEC, "choose an engine")
        if not self.endpoint:
            raise HostLinkError(
                BAD_SPEC, "the daemon address is empty; the default is {}".format(DEFAULT_ENDPOINT)
            )
        return self

    def engine_options(self) -> Dict[str, Any]:
        """``quality``'s engine options with the preset's on top (as the CLI's ``--preset``
        merges them). ``custom`` adds nothing."""
        options = copy.deepcopy(QUALITY_PRESETS[self.quality])
        if self.preset != CUSTOM_PRESET:
            options.update(copy.deepcopy(get_preset(self.preset).engine_options))
        return options

    def job_settings(self) -> Dict[str, Any]:
        """The job fields these settings decide, as the fingerprint hashes them (frames and
        size come from the plate)."""
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

    def cli_args(self, autostart: bool = True) -> List[str]:
        """The ``void-remove run`` / ``farm`` flags for these settings. Every knob is passed
        explicitly, so a ``--preset`` contributes only its engine options (the knobs already
        hold its values, or the artist changed them on purpose)."""
        args = ["--engine", self.engine]
        if self.preset != CUSTOM_PRESET:
            args += ["--preset", self.preset]
        args += [
            "--window",
            str(self.window),
            "--overlap",
            str(self.overlap),
            "--seam",
            self.seam,
            "--dilation",
            str(self.dilation),
            "--roi-margin",
            str(self.roi_margin),
            "--feather",
            str(self.feather),
            "--seed",
            str(self.seed),
        ]
        if self.prompt:
            args.append("--prompt=" + self.prompt)  # "=": a prompt may start with "-"
        if self.pass2:
            args.append("--pass2")
        for key, value in sorted(QUALITY_PRESETS[self.quality].items()):
            args += ["--engine-option", "{}={}".format(key, value)]
        args += ["--endpoint", self.endpoint]
        if not autostart:
            args.append("--no-autostart")
        return args


def resolve_range(
    settings: NodeSettings, source_range: Optional[Tuple[int, int]]
) -> Tuple[int, int]:
    """The frames to process: the Source's own range, or the node's, which must lie inside it."""
    if source_range is None:
        raise HostLinkError(BAD_SPEC, "connect a plate to the Source input")
    src_first, src_last = int(source_range[0]), int(source_range[1])
    if settings.use_input_range:
        first, last = src_first, src_last
    else:
        first, last = settings.range_first, settings.range_last
    if last < first:
        raise HostLinkError(
            BAD_SPEC, "the frame range {}-{} ends before it starts".format(first, last)
        )
    if first < 0:
        # Hosts pad negative numbers differently (%04d gives -001, '####' gives -0001).
        raise HostLinkError(
            BAD_SPEC,
            "the frame range {}-{} starts below 0; offset the plate to positive frames".format(
                first, last
            ),
        )
    if first < src_first or last > src_last:
        raise HostLinkError(
            BAD_SPEC,
            "frames {}-{} are outside the Source's range {}-{}; fix the range or tick "
            "'use input range'".format(first, last, src_first, src_last),
        )
    return first, last
