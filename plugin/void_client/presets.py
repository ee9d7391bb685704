"""Presets in artist language: one table shared by the panel, the CLI (``--preset``) and hosts.

An artist picks "fast preview" or "final"; the preset sets the engineering fields of a job
(window, overlap, seam, dilation, ROI margin, feather, pass 2, engine options), which stay
editable afterwards (the panel's "Advanced" section, explicit CLI flags). The table is defined
once here, Qt-free, so every front end offers the same presets with the same numbers
(see ``docs/architecture.md`` for the client layering and ``docs/panel.md`` for the panel).

``apply_preset`` never mutates its input: it returns the settings with the preset's fields on
top, and ``engine_options`` merged key by key (the preset's keys win, others are kept).
Settings the preset does not name (prompt, seed, engine, output flags) pass through untouched.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from void_client.errors import ErrorCode, VoidError


@dataclass(frozen=True)
class Preset:
    """One artist-facing preset and the engineering settings it stands for."""

    #: Canonical name, as shown to the artist and accepted by ``--preset``.
    name: str
    #: One line for a tooltip or ``--help``: when to use it and what it costs.
    description: str
    #: JobSpec fields it sets (window, overlap, seam, dilation, roi_margin, feather, pass2).
    settings: dict[str, Any] = field(default_factory=dict)
    #: Merged into ``engine_options`` (void engine knobs; other engines ignore unknown keys).
    engine_options: dict[str, Any] = field(default_factory=dict)


#: The presets, in the order front ends list them. Window lengths are valid ``8m+5`` lengths
#: (``windows.py``) so the overlap a preset sets is valid for its own window.
PRESETS: tuple[Preset, ...] = (
    Preset(
        name="fast preview",
        description="judge the mattes and the fill quickly: short windows, pass 1 only, "
        "fewer diffusion steps; not for delivery",
        settings={
            "window": 45,
            "overlap": 8,
            "seam": "crossfade",
            "dilation": 4,
            "roi_margin": 32,
            "feather": 4,
            "pass2": False,
        },
        engine_options={"steps": 10},
    ),
    Preset(
        name="final",
        description="delivery quality: longest windows, pass 2 refinement, the reference "
        "step counts",
        settings={
            "window": 197,
            "overlap": 16,
            "seam": "crossfade",
            "dilation": 4,
            "roi_margin": 48,
            "feather": 6,
            "pass2": True,
        },
        engine_options={"steps": 30, "pass2_steps": 50},
    ),
    Preset(
        name="long shot",
        description="hundreds of frames: longest windows chained so each continues the "
        "previous one, wider overlap to hide the seams",
        settings={
            "window": 197,
            "overlap": 32,
            "seam": "chain",
            "dilation": 4,
            "roi_margin": 48,
            "feather": 6,
            "pass2": False,
        },
        engine_options={"steps": 30},
    ),
    Preset(
        name="4K plate",
        description="UHD/4K plates: shorter windows and tiled VAE to fit GPU memory, mattes "
        "grown and feathered in proportion to the resolution",
        settings={
            "window": 85,
            "overlap": 16,
            "seam": "crossfade",
            "dilation": 8,
            "roi_margin": 96,
            "feather": 12,
            "pass2": False,
        },
        engine_options={"steps": 30, "vae_tiling": True},
    ),
)

#: The settings keys any preset may set: what the panel groups under "Advanced".
PRESET_KEYS: tuple[str, ...] = (
    "window",
    "overlap",
    "seam",
    "dilation",
    "roi_margin",
    "feather",
    "pass2",
    "engine_options",
)


def _key(name: str) -> str:
    # "Fast preview", "fast-preview" and "fast_preview" are one preset (CLI flags have no spaces).
    return " ".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


def preset_names() -> list[str]:
    """The canonical names, in display order."""
    return [p.name for p in PRESETS]


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (case, ``-`` and ``_`` ignored); a :class:`VoidError` that
    lists the valid names otherwise."""
    wanted = _key(name)
    for p in PRESETS:
        if _key(p.name) == wanted:
            return p
    names = ", ".join(repr(n) for n in preset_names())
    raise VoidError(ErrorCode.BAD_SPEC, f"unknown preset {name!r}; choose one of {names}", "preset")


def apply_preset(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with preset ``name`` applied (a new dict; the input is not modified).

    The preset's fields replace those in ``settings``; ``engine_options`` are merged, the
    preset's keys winning, so options it does not know about (weights paths, a prompt's
    guidance) survive.
    """
    preset = get_preset(name)
    out = copy.deepcopy(settings)
    out.update(copy.deepcopy(preset.settings))
    if preset.engine_options:
        merged = dict(out.get("engine_options") or {})
        merged.update(copy.deepcopy(preset.engine_options))
        out["engine_options"] = merged
    return out


def matching_preset(settings: dict[str, Any]) -> str | None:
    """The name of the preset whose fields ``settings`` hold exactly, or None ("custom")."""
    opts = settings.get("engine_options") or {}
    for p in PRESETS:
        if all(settings.get(k) == v for k, v in p.settings.items()) and all(
            opts.get(k) == v for k, v in p.engine_options.items()
        ):
            return p.name
    return None


__all__ = [
    "PRESETS",
    "PRESET_KEYS",
    "Preset",
    "apply_preset",
    "get_preset",
    "matching_preset",
    "preset_names",
]
