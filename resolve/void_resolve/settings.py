"""DaVinci Resolve: what the artist chose (range, matte, engine, prompt, overwrite), kept between
runs.

:class:`ResolveSettings` is what a window (Qt, Resolve's UIManager) or the command line hands to
:class:`void_resolve.flow.RemoveFlow`; :func:`form_values` / :func:`settings_from_form` translate
to and from a window's widgets, :func:`load_settings` / :func:`save_settings` keep the last run's
choices in ``$VOID_REMOVE_HOME``, and :func:`uimanager_allowed` says whether Resolve's own dialog
opens in this Resolve.
"""

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from void_hostlink.atomic import write_text_atomic as hostlink_write_text_atomic
from void_hostlink.compat import asdict, dataclass, field, fields, replace
from void_hostlink.paths import home as hostlink_home
from void_hostlink.prompt_advice import prompt_warning
from void_resolve.client_tables import DEFAULT_ENDPOINT, PRESETS
from void_resolve.records import BAD_SPEC, ResolveError

log = logging.getLogger(__name__)


RANGE_MODES = ("auto", "clip", "inout")
RANGE_LABELS = {
    "auto": "Clip, or In/Out when marked",
    "clip": "Whole clip",
    "inout": "In/Out marks",
}
MATTE_MODES = ("auto", "fusion", "track", "alpha")
MATTE_LABELS = {
    "auto": "Auto (matte clip above, then Fusion Saver)",
    "fusion": "Fusion Saver in the clip's comp",
    "track": "Matte clip on the track above",
    "alpha": "Clip alpha (Color page Alpha Output)",
}
#: The default matte: a clip on the track above renders through the Deliver queue like the
#: plate. Fusion Savers do not write during a Deliver render (issue 16 #2), so the Fusion path
#: needs its own comp render, which no real Resolve has verified yet: it is chosen, not assumed.
DEFAULT_MATTE = "track"
ENGINES = ("propagate", "void")
#: The plate part and view fields (issue 21), the same words in every window. Both go to
#: ``void-remove run`` unchanged: ``--plate PATTERN:part/`` and ``--view``.
PLATE_PART_HINT = "first part (a multi-part plate's part name)"
PLATE_PART_TIP = (
    "A multi-part EXR plate: the part holding the image (void-remove run --plate PATTERN:part/). "
    "Empty: the first part, which is all Resolve's own render has."
)
VIEW_HINT = "every view (stereo: left, right)"
VIEW_TIP = "A stereo plate: the one view to clean (void-remove run --view). Empty: every view."
#: The overwrite checkbox, the same words in every window.
OVERWRITE_LABEL = "Overwrite the latest clean plate (else write the next _v### version)"
OVERWRITE_TIP = (
    "Off: every run writes a new version beside the earlier ones, which stay untouched. "
    "On: the clip's latest version is replaced (its old frames are deleted first)."
)


#: The preset pulldown: the artist presets (``void_client.presets``, the one table the panel,
#: the CLI and the Nuke node read, copied in :mod:`void_resolve.client_tables`) and ``custom``.
#: A preset goes to the worker as ``--preset NAME``; the worker applies it.
CUSTOM_PRESET = "custom"
PRESET_CHOICES: Tuple[str, ...] = tuple(name for name, _, _ in PRESETS) + (CUSTOM_PRESET,)
PRESET_TIP = "; ".join(f"{name}: {text}" for name, text, _ in PRESETS)
_PRESET_PASS2 = {name: bool(pass2) for name, _, pass2 in PRESETS}

#: Job settings the settings file may hold (``"job": {...}``), with the ``void-remove run`` flag
#: each becomes; a bool is a switch. The shot (frames, size, channels, output) is the flow's.
JOB_FLAGS = {
    "window": "--window",
    "overlap": "--overlap",
    "seam": "--seam",
    "dilation": "--dilation",
    "roi_margin": "--roi-margin",
    "feather": "--feather",
    "fast": "--fast",
    "restore_detail": "--restore-detail",
    "ocio_config": "--ocio-config",
    "colourspace": "--colourspace",
}


def with_preset(settings: "ResolveSettings", name: str) -> "ResolveSettings":
    """``settings`` with preset ``name`` chosen: its pass 2 goes to ``pass2`` (the one preset
    field a window shows); the worker applies the rest (``--preset``). ``custom`` changes
    nothing but the name."""
    out = replace(settings, job=dict(settings.job), preset=name)
    wanted = preset_pass2(name)
    if wanted is not None:
        out.pass2 = wanted
    return out


def preset_pass2(name: str) -> Optional[bool]:
    """Whether preset ``name`` runs pass 2, or None for ``custom`` or an unknown name."""
    return _PRESET_PASS2.get(name)


def form_note(values: Mapping[str, Any]) -> str:
    """The line a window shows under its fields: the missing-prompt warning or nothing."""
    return prompt_warning(str(values.get("engine") or ""), values.get("prompt")) or ""


def home() -> Path:
    """``void_hostlink.paths.home`` (the client's folder too), as a Path."""
    return Path(hostlink_home())


def write_text_atomic(path: Union[str, os.PathLike], text: str) -> None:
    """Write ``text`` through a temporary file in the same folder and ``os.replace``, so a
    reader sees the old file or the new one, never half of one."""
    hostlink_write_text_atomic(os.fspath(path), text)


@dataclass
class ResolveSettings:
    """What the artist chose in the dialog. ``job`` holds further :data:`JOB_FLAGS` settings."""

    range_mode: str = "auto"
    matte: str = DEFAULT_MATTE
    engine: str = "propagate"
    prompt: str = ""
    pass2: bool = False
    seed: int = 42
    job: dict = field(default_factory=dict)
    endpoint: str = DEFAULT_ENDPOINT
    autostart: bool = True
    #: Folder for clean plates ("" = ``$VOID_RESOLVE_OUTPUT`` or ``~/VOID Remove``).
    output_root: str = ""
    #: Replace the clip's latest clean plate version instead of writing the next ``_v###``
    #: (the default: an earlier result, maybe already cut in, is never touched).
    overwrite: bool = False
    #: An empty Data Burn-In preset (Workspace ▸ Data Burn-In) loaded before rendering so no
    #: burn-in ends up in the plate; "" = not switched (the API cannot read burn-in state).
    burn_in_preset: str = ""
    #: The artist preset last chosen (:data:`PRESET_CHOICES`); applied by :func:`with_preset`.
    preset: str = CUSTOM_PRESET
    #: Issue 21, passed through to ``void-remove run`` unchanged: the part of a multi-part plate
    #: (``--plate PATTERN:part/``) and the stereo view (``--view``). Resolve's own EXR render is
    #: one part and one view, so both stay "" unless the plate is not Resolve's render.
    plate_part: str = ""
    view: str = ""

    def validate(self) -> "ResolveSettings":
        if self.preset not in PRESET_CHOICES:
            raise ResolveError(
                BAD_SPEC,
                f"preset must be one of {PRESET_CHOICES}, got {self.preset!r}",
                "preset",
            )
        if self.range_mode not in RANGE_MODES:
            raise ResolveError(
                BAD_SPEC, f"range must be one of {RANGE_MODES}, got {self.range_mode!r}", "range"
            )
        if self.matte not in MATTE_MODES:
            raise ResolveError(
                BAD_SPEC, f"matte must be one of {MATTE_MODES}, got {self.matte!r}", "matte"
            )
        # The shot decides frames, size, channels and output; the rest must be a worker flag.
        bad = sorted(set(self.job) - set(JOB_FLAGS))
        if bad:
            raise ResolveError(
                BAD_SPEC,
                f"unknown or shot-owned job settings {bad}; the settings file's job may hold "
                f"{sorted(JOB_FLAGS)}",
                bad[0],
            )
        if "/" in self.plate_part or ":" in self.plate_part:
            raise ResolveError(
                BAD_SPEC, f"plate_part is a part name, got {self.plate_part!r}", "plate_part"
            )
        return self

    def plate_ref(self, plate: str) -> str:
        """``--plate``: the plate pattern, with ``:part/`` when a part is chosen (issue 21)."""
        return f"{plate}:{self.plate_part}/" if self.plate_part else plate

    def cli_args(self) -> List[str]:
        """The settings as ``void-remove run`` flags (preset first: flags given after it win)."""
        args = ["--engine", self.engine, "--seed", str(int(self.seed))]
        if self.preset != CUSTOM_PRESET:
            args += ["--preset", self.preset]
        if self.prompt:
            args += ["--prompt", self.prompt]
        if self.pass2:
            args.append("--pass2")
        for key in sorted(self.job):
            value = self.job[key]
            if isinstance(value, bool):
                if value:
                    args.append(JOB_FLAGS[key])
            elif value is not None and value != "":
                args += [JOB_FLAGS[key], str(value)]
        if self.view:
            args += ["--view", self.view]
        args += ["--endpoint", self.endpoint]
        if not self.autostart:
            args.append("--no-autostart")
        return args


SETTINGS_FILE = "resolve-settings.json"


def settings_path() -> Path:
    return home() / SETTINGS_FILE


def load_settings(path: Optional[Union[str, os.PathLike]] = None) -> ResolveSettings:
    """The settings of the last run (the window starts from them; with no window they are the
    run's settings). Defaults when there is no file or it cannot be used."""
    path = Path(path) if path else settings_path()
    if not path.is_file():
        return ResolveSettings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(ResolveSettings)}
        kept = {k: v for k, v in data.items() if k in known}
        job = kept.get("job")
        if isinstance(job, dict) and set(job) - set(JOB_FLAGS):
            # Files of earlier versions held a preset's engine options here; the preset's
            # name now goes to the worker, which applies them.
            log.info("ignoring job settings %s in %s", sorted(set(job) - set(JOB_FLAGS)), path)
            kept["job"] = {k: v for k, v in job.items() if k in JOB_FLAGS}
        return ResolveSettings(**kept).validate()
    except (ValueError, TypeError, ResolveError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return ResolveSettings()


def save_settings(
    settings: ResolveSettings, path: Optional[Union[str, os.PathLike]] = None
) -> None:
    path = Path(path) if path else settings_path()
    write_text_atomic(path, json.dumps(asdict(settings), indent=2, sort_keys=True))


def form_values(settings: ResolveSettings) -> dict:
    """What a window shows for ``settings`` (the inverse of :func:`settings_from_form`)."""
    return {
        "range": RANGE_MODES.index(settings.range_mode),
        "matte": MATTE_MODES.index(settings.matte),
        "engine": settings.engine,
        "prompt": settings.prompt,
        "pass2": bool(settings.pass2),
        "overwrite": bool(settings.overwrite),
        "preset": settings.preset,
        "plate_part": settings.plate_part,
        "view": settings.view,
    }


def settings_from_form(
    values: Mapping[str, Any], base: Optional[ResolveSettings] = None
) -> ResolveSettings:
    """Dialog values (keys ``range``, ``matte``, ``engine``, ``prompt``, ``pass2``,
    ``overwrite``, ``preset``, ``plate_part``, ``view``) → settings.

    ``range`` and ``matte`` may be a mode key, its label, or its index in the mode list, so
    every UI toolkit can hand over what its combo box gives most easily.
    """
    s = replace(base) if base else ResolveSettings()

    def mode(value: Any, modes: Tuple[str, ...], labels: Dict[str, str]) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(modes):
            return modes[value]
        text = str(value)
        for key, label in labels.items():
            if text in (key, label):
                return key
        return text  # validate() names it

    if "range" in values:
        s.range_mode = mode(values["range"], RANGE_MODES, RANGE_LABELS)
    if "matte" in values:
        s.matte = mode(values["matte"], MATTE_MODES, MATTE_LABELS)
    if values.get("engine"):
        s.engine = str(values["engine"]).strip()
    if "prompt" in values:
        s.prompt = str(values["prompt"] or "").strip()
    if "pass2" in values:
        s.pass2 = bool(values["pass2"])
    if "overwrite" in values:
        s.overwrite = bool(values["overwrite"])
    # Issue 21: passed to the worker as typed (validate() refuses a part name with / or :).
    if "plate_part" in values:
        s.plate_part = str(values["plate_part"] or "").strip()
    if "view" in values:
        s.view = str(values["view"] or "").strip()
    if values.get("preset"):
        # Last: the preset decides its fields, as it does everywhere (the windows keep the pass 2
        # box in step with it and switch to custom when the box is changed by hand).
        preset = values["preset"]
        if isinstance(preset, int) and not isinstance(preset, bool):
            preset = PRESET_CHOICES[preset] if 0 <= preset < len(PRESET_CHOICES) else str(preset)
        s.preset = str(preset)
        if s.preset in PRESET_CHOICES:
            s = with_preset(s, s.preset)
    return s.validate()


def uimanager_allowed(product: str, version: str) -> bool:
    """Resolve's own dialogs: Studio always; the free version only before 19.1, after which
    opening one shows an upgrade prompt instead."""
    if "studio" in product.lower():
        return True
    parts = [int(p) for p in re.findall(r"\d+", version)[:2]] + [0, 0]
    return (parts[0], parts[1]) < (19, 1)
