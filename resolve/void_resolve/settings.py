"""DaVinci Resolve: what the artist chose (range, matte, engine, prompt, overwrite), kept between
runs.

:class:`ResolveSettings` is what a window (Qt, Resolve's UIManager) or the command line hands to
:class:`void_resolve.flow.RemoveFlow`; :func:`form_values` / :func:`settings_from_form` translate
to and from a window's widgets, :func:`load_settings` / :func:`save_settings` keep the last run's
choices in ``$VOID_REMOVE_HOME``, and :func:`uimanager_allowed` says whether Resolve's own dialog
opens in this Resolve.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from void_client.atomic import write_text_atomic
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.paths import home
from void_client.presets import PRESETS, apply_preset, preset_names
from void_client.prompt_advice import prompt_warning
from void_client.protocol import DEFAULT_ENDPOINT

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
ENGINES = ("propagate", "void")
#: The overwrite checkbox, the same words in every window.
OVERWRITE_LABEL = "Overwrite the latest clean plate (else write the next _v### version)"
OVERWRITE_TIP = (
    "Off: every run writes a new version beside the earlier ones, which stay untouched. "
    "On: the clip's latest version is replaced (its old frames are deleted first)."
)


#: The preset pulldown: the artist presets (void_client.presets, the one table the panel, the
#: CLI and the Nuke node read) and ``custom`` (the job settings as they are).
CUSTOM_PRESET = "custom"
PRESET_CHOICES: tuple[str, ...] = (*preset_names(), CUSTOM_PRESET)
PRESET_TIP = "; ".join(f"{p.name}: {p.description}" for p in PRESETS)


def with_preset(settings: ResolveSettings, name: str) -> ResolveSettings:
    """``settings`` with preset ``name`` applied by :func:`void_client.presets.apply_preset`:
    its window, overlap, seam, dilation, ROI margin, feather and engine options go to ``job``,
    its pass 2 to ``pass2``; ``custom`` changes nothing but the name."""
    out = dataclasses.replace(settings, job=dict(settings.job), preset=name)
    if name == CUSTOM_PRESET:
        return out
    applied = apply_preset(name, {**out.job, "pass2": out.pass2})
    out.pass2 = bool(applied.pop("pass2"))
    out.job = applied
    return out


def preset_pass2(name: str) -> bool | None:
    """Whether preset ``name`` runs pass 2 (the one preset field a window shows), or None for
    ``custom`` or an unknown name."""
    if name not in PRESET_CHOICES or name == CUSTOM_PRESET:
        return None
    return bool(apply_preset(name, {}).get("pass2"))


def form_note(values: Mapping[str, Any]) -> str:
    """The line a window shows under its fields: the missing-prompt warning
    (void_client.prompt_advice, the CLI's words) or nothing."""
    return prompt_warning(str(values.get("engine") or ""), values.get("prompt")) or ""


@dataclass
class ResolveSettings:
    """What the artist chose in the dialog. ``job`` holds any further :class:`JobSpec` field."""

    range_mode: str = "auto"
    matte: str = "auto"
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

    def validate(self) -> ResolveSettings:
        if self.preset not in PRESET_CHOICES:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"preset must be one of {PRESET_CHOICES}, got {self.preset!r}",
                "preset",
            )
        if self.range_mode not in RANGE_MODES:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"range must be one of {RANGE_MODES}, got {self.range_mode!r}",
                "range",
            )
        if self.matte not in MATTE_MODES:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"matte must be one of {MATTE_MODES}, got {self.matte!r}",
                "matte",
            )
        known = {f.name for f in dataclasses.fields(JobSpec)}
        # The shot decides these; letting a setting override them would desynchronise the job.
        owned = {
            "frames",
            "width",
            "height",
            "channels",
            "name",
            "transfer",
            "out_pattern",
            "job_id",
        }
        bad = sorted(set(self.job) - (known - owned))
        if bad:
            raise VoidError(ErrorCode.BAD_SPEC, f"unknown or shot-owned job settings {bad}", bad[0])
        return self

    def job_settings(self) -> dict:
        """The :class:`~void_client.sequence_job.RemoveRequest` settings (JobSpec fields)."""
        return {
            "engine": self.engine,
            "prompt": self.prompt,
            "pass2": bool(self.pass2),
            "seed": int(self.seed),
            **self.job,
        }


SETTINGS_FILE = "resolve-settings.json"


def settings_path() -> Path:
    return home() / SETTINGS_FILE


def load_settings(path: str | os.PathLike | None = None) -> ResolveSettings:
    """The settings of the last run (the window starts from them; with no window they are the
    run's settings). Defaults when there is no file or it cannot be used."""
    path = Path(path) if path else settings_path()
    if not path.is_file():
        return ResolveSettings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in dataclasses.fields(ResolveSettings)}
        return ResolveSettings(**{k: v for k, v in data.items() if k in known}).validate()
    except (ValueError, TypeError, VoidError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return ResolveSettings()


def save_settings(settings: ResolveSettings, path: str | os.PathLike | None = None) -> None:
    path = Path(path) if path else settings_path()
    write_text_atomic(path, json.dumps(dataclasses.asdict(settings), indent=2, sort_keys=True))


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
    }


def settings_from_form(
    values: Mapping[str, Any], base: ResolveSettings | None = None
) -> ResolveSettings:
    """Dialog values (keys ``range``, ``matte``, ``engine``, ``prompt``, ``pass2``,
    ``overwrite``, ``preset``) → settings.

    ``range`` and ``matte`` may be a mode key, its label, or its index in the mode list, so
    every UI toolkit can hand over what its combo box gives most easily.
    """
    s = dataclasses.replace(base) if base else ResolveSettings()

    def mode(value: Any, modes: tuple[str, ...], labels: dict[str, str]) -> str:
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
