"""The VOID Remove node for Nuke, as data: its knobs, inputs, internal nodes and export recipe.

This is the one definition the gizmo file (:mod:`void_nuke.gizmo_writer` writes
``nuke_path/VOIDRemove.gizmo`` from it) and the glue (:mod:`void_nuke.actions`) both read, so a
knob's name is written once. No Nuke API is called here (:mod:`void_nuke.host` is the one module
that does); facts about Nuke (knob type ids, Write knob values, cosmetic knob names) are data.
The run's settings themselves are :class:`void_client.node_job.NodeSettings`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from void_client import protocol as P
from void_client.job_spec import SEAM_MODES
from void_client.node_job import CUSTOM_PRESET, QUALITY_PRESETS, NodeSettings
from void_client.presets import PRESETS, preset_names

T = TypeVar("T")

#: The node's class: the gizmo's file name, what ``nuke.createNode`` and callbacks filter on.
NODE_CLASS = "VOIDRemove"
#: Inputs, in Nuke's input order.
INPUTS = ("Source", "Remove", "Affected")
SOURCE, REMOVE, AFFECTED = range(3)
#: Menu placement and shortcut (Nodes toolbar ▸ VOID ▸ VOID Remove).
TOOLBAR_MENU = "VOID"
MENU_ITEM = "VOID Remove"
SHORTCUT = "Ctrl+Alt+Shift+V"
PANEL_TITLE = "VOID Remove"
PANEL_ID = "com.void-remove.panel"

# Internal nodes the glue talks to (the gizmo defines the rest of the graph).
PLATE_NODE = "VOID_Plate"
REMOVE_MATTE_NODE = "VOID_RemoveMatte"
AFFECTED_MATTE_NODE = "VOID_AffectedMatte"
RESULT_READ = "VOID_Result"
#: Which internal node each export role is rendered from.
EXPORT_SOURCES = {"plate": PLATE_NODE, "remove": REMOVE_MATTE_NODE, "affected": AFFECTED_MATTE_NODE}

#: Knobs of the temporary Write that renders an export, in the order they must be set
#: (``file_type`` first: it creates the EXR knobs). The plate's bounding box becomes the EXR data
#: window; ``raw`` keeps Nuke's colour management out of scene-linear plates and mattes.
EXPORT_WRITE_KNOBS: tuple[tuple[str, Any], ...] = (
    ("file_type", "exr"),
    ("datatype", "16 bit half"),
    ("compression", "Zip (1 scanline)"),
    ("raw", True),
)

#: Nuke user-knob type ids, as ``addUserKnob {<id> ...}`` writes them.
STRING, FILE, INT, PULLDOWN, BOOLEAN, TAB, PYSCRIPT, TEXT, LINK = 1, 2, 3, 4, 6, 20, 22, 26, 41

#: Farm managers the Submit button offers (void_client.farm's writers).
FARMS = ("openjd", "opencue", "deadline")
#: Engines the pulldown offers; the daemon refuses unknown ones with a clear error.
ENGINES = ("propagate", "void")
VIEWS = ("result", "quadmask overlay", "quadmask")
OVERLAY_KERNELS = ("expression", "blinkscript")


@dataclass(frozen=True)
class KnobDef:
    """One user knob of the node."""

    name: str
    kind: int
    label: str | None = None
    default: Any = None
    tooltip: str = ""
    values: tuple[str, ...] = ()  # pulldown entries
    newline: bool | None = None  # True: +STARTLINE, False: -STARTLINE, None: Nuke's default
    hidden: bool = False
    disabled: bool = False
    link: str = ""  # Link knob target, "InternalNode.knob"
    script: str = ""  # Python button code


def _button(function: str) -> str:
    return f"import void_nuke.actions\nvoid_nuke.actions.{function}(nuke.thisNode())"


_D = NodeSettings()

#: Knobs whose values :class:`~void_client.node_job.NodeSettings` reads (its field names).
SETTINGS_KNOBS = tuple(f.name for f in dataclasses.fields(NodeSettings))

KNOBS: tuple[KnobDef, ...] = (
    KnobDef("void_tab", TAB, "VOID Remove"),
    KnobDef(
        "use_input_range",
        BOOLEAN,
        "use input range",
        _D.use_input_range,
        "Process the Source's whole frame range.",
        newline=True,
    ),
    KnobDef(
        "range_first",
        INT,
        "frame range",
        _D.range_first,
        "First frame to process (when 'use input range' is off).",
        disabled=True,
    ),
    KnobDef(
        "range_last", INT, "", _D.range_last, "Last frame to process.", newline=False, disabled=True
    ),
    KnobDef(
        "preset",
        PULLDOWN,
        "preset",
        _D.preset,
        "Artist presets, the same as the panel's, the CLI's --preset and Resolve's: "
        + "; ".join(f"{p.name}: {p.description}" for p in PRESETS)
        + ". Choosing one sets window, overlap, seam, dilation, ROI margin, feather and pass 2 "
        "(its diffusion steps win over quality); editing those knobs makes it 'custom'.",
        (*preset_names(), CUSTOM_PRESET),
    ),
    KnobDef(
        "engine",
        PULLDOWN,
        "engine",
        _D.engine,
        "propagate: fast CPU propagation (no model). void: the VOID model on the daemon's GPU.",
        ENGINES,
    ),
    KnobDef(
        "quality",
        PULLDOWN,
        "quality",
        _D.quality,
        "VOID engine sampling steps: draft 12, standard 30 (the reference), best 50.",
        tuple(QUALITY_PRESETS),
        newline=False,
    ),
    KnobDef(
        "pass2",
        BOOLEAN,
        "pass 2",
        _D.pass2,
        "Run VOID's warped-noise refinement pass (void engine; slower, steadier).",
        newline=False,
    ),
    KnobDef(
        "prompt",
        STRING,
        "background prompt",
        _D.prompt,
        "What the background looks like without the object (void engine), e.g. 'an empty street'.",
    ),
    KnobDef("seed", INT, "seed", _D.seed, "Noise seed; the same seed gives the same result."),
    KnobDef(
        "roi_margin",
        INT,
        "ROI margin",
        _D.roi_margin,
        "Context around the mattes the engine sees, in pixels.",
    ),
    KnobDef(
        "dilation",
        INT,
        "mask dilation",
        _D.dilation,
        "Grow the remove and affected mattes by this many pixels.",
        newline=False,
    ),
    KnobDef(
        "seam",
        PULLDOWN,
        "seam mode",
        _D.seam,
        "crossfade: windows independent, blended over the overlap (farm friendly). chain: each window continues the previous one's fill.",
        SEAM_MODES,
    ),
    KnobDef(
        "remove_channel",
        LINK,
        "remove matte",
        tooltip="Channel of the Remove input holding the remove matte.",
        link=f"{REMOVE_MATTE_NODE}.from0",
    ),
    KnobDef(
        "affected_channel",
        LINK,
        "affected matte",
        tooltip="Channel of the Affected input holding the affected matte (shadow, reflection, things moved).",
        link=f"{AFFECTED_MATTE_NODE}.from0",
    ),
    KnobDef(
        "view",
        PULLDOWN,
        "view",
        VIEWS[0],
        "result: the clean plate (the Source until results exist). quadmask overlay: what VOID will remove, tinted over the plate. quadmask: the mask itself.",
        VIEWS,
    ),
    KnobDef(
        "overlay_with",
        PULLDOWN,
        "overlay with",
        OVERLAY_KERNELS[0],
        "expression works everywhere; blinkscript runs shaders/quadmask_overlay.blink (needs a BlinkScript licence).",
        OVERLAY_KERNELS,
        newline=False,
    ),
    KnobDef(
        "endpoint",
        STRING,
        "daemon",
        _D.endpoint,
        f"Address of the VOID daemon (default {P.DEFAULT_ENDPOINT}: this machine, started on demand).",
    ),
    KnobDef("divider_run", TEXT, ""),
    KnobDef(
        "void_remove",
        PYSCRIPT,
        "<b>VOID Remove</b>",
        tooltip="Export the range, send it to the daemon and load the clean plate as it arrives.",
        script=_button("run"),
        newline=True,
    ),
    KnobDef(
        "cancel",
        PYSCRIPT,
        "Cancel",
        tooltip="Stop the running job.",
        script=_button("cancel"),
        newline=False,
    ),
    KnobDef(
        "submit_farm",
        PYSCRIPT,
        "Submit to farm",
        tooltip="Export the range and submit the job to the chosen farm manager.",
        script=_button("submit_farm"),
        newline=False,
    ),
    KnobDef(
        "farm", PULLDOWN, "", FARMS[0], "Farm manager for 'Submit to farm'.", FARMS, newline=False
    ),
    KnobDef("status", TEXT, "status", "idle"),
    KnobDef("advanced_tab", TAB, "Advanced"),
    KnobDef(
        "output_dir",
        FILE,
        "cache folder",
        _D.output_dir,
        "Where runs are kept; empty: a void_remove folder next to the script.",
    ),
    KnobDef(
        "window",
        INT,
        "window",
        _D.window,
        "Longest temporal window in frames (rounded down to 8m+5).",
    ),
    KnobDef(
        "overlap",
        INT,
        "overlap",
        _D.overlap,
        "Frames shared by neighbouring windows.",
        newline=False,
    ),
    KnobDef(
        "feather",
        INT,
        "feather",
        _D.feather,
        "Soft edge of the composite outside the hole, in pixels.",
    ),
    KnobDef(
        "results", STRING, "results", "", "The result sequence the node shows (set by VOID Remove)."
    ),
    KnobDef("result_first", INT, "", 0, hidden=True),
    KnobDef("result_last", INT, "", 0, hidden=True),
    KnobDef("results_version", INT, "", 0, hidden=True),
    KnobDef("run_hash", STRING, "", "", hidden=True),
)
KNOB_NAMES = tuple(k.name for k in KNOBS)

#: Tile colours (0xRRGGBBAA) that tell the state at a glance in the node graph.
TILE_COLOURS = {
    "idle": 0x3B6E8FFF,
    "running": 0xC08A2EFF,
    "done": 0x3E8E4AFF,
    "stale": 0xD9662BFF,
    "failed": 0xB23A3AFF,
}

#: Knobs that change how a node looks, not what it renders: left out of the upstream fingerprint.
COSMETIC_KNOBS = frozenset(
    {
        "name",
        "xpos",
        "ypos",
        "selected",
        "label",
        "note_font",
        "note_font_size",
        "note_font_color",
        "tile_color",
        "gl_color",
        "hide_input",
        "postage_stamp",
        "postage_stamp_frame",
        "cached",
        "help",
        "icon",
        "indicators",
        "bookmark",
        "dope_sheet",
        "lock_connections",
        "autolabel",
        "onCreate",
        "onDestroy",
        "knobChanged",
        "updateUI",
        "showPanel",
        "inputChange",
        # an upstream VOID Remove's progress display; its results path and hash do count
        "status",
        "results_version",
    }
)

#: Classes whose output is a matte: on creation from a selection they wire to Remove/Affected.
MATTE_CLASSES = frozenset(
    {"Roto", "RotoPaint", "Keyer", "IBKGizmoV3", "Primatte", "Keylight", "Cryptomatte", "Ultimatte"}
)
_AFFECTED_HINTS = ("affect", "shadow", "reflect", "interact")


def project_path(root_name: str) -> str:
    """The saved script's path from the root's ``name`` knob: empty (or ``"Root"``, what
    ``nuke.root().name()`` gives) while the script is unsaved."""
    return "" if root_name in ("", "Root") else root_name


def nuke_path(path: str) -> str:
    """Nuke wants forward slashes on every platform (and TCL reads backslashes as escapes)."""
    return path.replace("\\", "/")


def describe_knobs(knob_scripts: dict[str, str]) -> str:
    """A node's knobs as one line per knob, minus the cosmetic ones (for the upstream digest)."""
    return "\n".join(f"{k}={v}" for k, v in sorted(knob_scripts.items()) if k not in COSMETIC_KNOBS)


STALE_STATUS = "stale: the inputs changed since the last run; press VOID Remove"
UP_TO_DATE_STATUS = "up to date"
#: Knob changes after which the node checks whether its results are stale.
STALE_TRIGGERS = frozenset(
    {*SETTINGS_KNOBS, "remove_channel", "affected_channel", "inputChange", "showPanel"}
)


def stale_status(stale: bool, current: str) -> tuple[str, str] | None:
    """``(status text, tile colour key)`` for a node whose results are (not) stale, or None to
    leave it as it is (an error or a cancel stays on screen until the next run)."""
    if stale and current != STALE_STATUS:
        return STALE_STATUS, "stale"
    if not stale and current == STALE_STATUS:
        return UP_TO_DATE_STATUS, "done"
    return None


def assign_inputs(selected: Sequence[tuple[T, str, str]]) -> dict[int, T]:
    """Wire a new node from the selected ``(node, class, name)``: the first non-matte node is the
    Source; mattes (Roto, RotoPaint, keyers) go to Remove, then Affected. A matte whose name says
    shadow/reflection/affected goes to Affected first."""
    mattes = [(n, name) for n, cls, name in selected if cls in MATTE_CLASSES]
    plates = [n for n, cls, _ in selected if cls not in MATTE_CLASSES]
    hinted = [n for n, name in mattes if any(h in name.lower() for h in _AFFECTED_HINTS)]
    others = [n for n, name in mattes if not any(h in name.lower() for h in _AFFECTED_HINTS)]
    out: dict[int, T] = {}
    if plates:
        out[SOURCE] = plates[0]
    if others:
        out[REMOVE] = others[0]
    rest = hinted + others[1:]
    if rest:
        out[AFFECTED] = rest[0]
    return out
