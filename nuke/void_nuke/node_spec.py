"""The VOID Remove node for Nuke, as data: its knobs, inputs, internal nodes and export recipe.

This is the one definition the gizmo file (:mod:`void_nuke.gizmo_writer` writes
``nuke_path/VOIDRemove.gizmo`` from it) and the glue (:mod:`void_nuke.actions`) both read, so a
knob's name is written once. No Nuke API is called here (:mod:`void_nuke.host` is the one module
that does); facts about Nuke (knob type ids, Write knob values, cosmetic knob names) are data.
The run's settings themselves are :class:`void_hostlink.node_settings.NodeSettings`; like
every module Nuke imports, this one needs only the standard library and void_hostlink.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from void_hostlink.node_settings import (
    CUSTOM_PRESET,
    DEFAULT_ENDPOINT,
    PRESETS,
    QUALITY_PRESETS,
    SEAM_MODES,
    NodeSettings,
    preset_names,
)

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
#: Shuffle moving the artist's plate layer into rgba: what the plate export renders, so the
#: exported plate is always rgba and ``--plate`` needs no part or layer selector.
PLATE_LAYER_NODE = "VOID_PlateLayer"
#: ShuffleCopy putting the result's rgba into the plate layer of the Source; every other layer
#: of the Source passes through (the ``plate_layer`` knob is a Link to its ``out``).
RESULT_INTO_PLATE = "VOID_ResultIntoPlate"
#: Reads of the run's ``--fill-out`` / ``--matte-out`` sequences (grade outputs).
FILL_READ = "VOID_Fill"
MATTE_READ = "VOID_Matte"
#: The layers the node adds when ``grade_outputs`` is on. Nuke names channels ``layer.channel``
#: and a layer name cannot hold a dot, so issue 20's ``void.fill`` / ``void.matte`` are the
#: layers ``void_fill`` (premultiplied fill RGBA) and ``void_matte`` (the edited region's alpha).
FILL_LAYER = "void_fill"
MATTE_LAYER = "void_matte"
FILL_CHANNELS = tuple(f"{FILL_LAYER}.{c}" for c in ("red", "green", "blue", "alpha"))
MATTE_CHANNELS = (f"{MATTE_LAYER}.alpha",)
#: Folders beside the run's ``result/`` folder holding the fill and matte, same file names.
GRADE_FOLDERS = {"fill": "fill", "matte": "matte"}
#: Which internal node each export role is rendered from.
EXPORT_SOURCES = {
    "plate": PLATE_LAYER_NODE,
    "remove": REMOVE_MATTE_NODE,
    "affected": AFFECTED_MATTE_NODE,
}

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
#: ``stereo_view``: every view of a stereo plate (one job each, ``void-remove run --view all``)
#: or one of the script's views by name.
ALL_VIEWS = "all"


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

#: Knobs whose values :class:`~void_hostlink.node_settings.NodeSettings` reads (its field names).
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
        "plate_layer",
        LINK,
        "plate layer",
        tooltip="Layer of the Source that is the plate (default rgba). It is exported as rgba, and "
        "the clean plate replaces this layer only: every other layer of the Source passes through.",
        link=f"{RESULT_INTO_PLATE}.out",
    ),
    KnobDef(
        "stereo_view",
        STRING,
        "stereo view",
        ALL_VIEWS,
        "Stereo scripts: 'all' processes every view of the script (one job each), or name one "
        "view (left, right, ...). Mono scripts: leave it at 'all'.",
    ),
    KnobDef(
        "reference_frames",
        STRING,
        "reference frames",
        "",
        "Clean frames you painted, FRAME=PATH, several separated by ';' or new lines "
        "(e.g. 1001=/shots/sh010/clean.1001.exr). The propagate engine spreads them through the "
        "shot; the void engine ignores them.",
    ),
    KnobDef(
        "grade_outputs",
        BOOLEAN,
        "grade outputs",
        False,
        f"Also output the fill (premultiplied RGBA, layer {FILL_LAYER}) and the matte of the "
        f"edited region ({MATTE_LAYER}.alpha) as layers, to grade and regrain the fill yourself: "
        "result = plate * (1 - matte) + fill.",
        newline=False,
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
        f"Address of the VOID daemon (default {DEFAULT_ENDPOINT}: this machine, started on demand).",
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
    KnobDef(
        "suggest_affected",
        PYSCRIPT,
        "Suggest affected matte",
        tooltip="Propose an affected matte (shadows that move with the object) from the plate and "
        "the remove matte: a soft matte in a new Read, connected to the Affected input when that "
        "is empty or holds an earlier suggestion. Edit it as you like; each press is a new version.",
        script=_button("suggest_affected"),
        newline=True,
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
    {
        *SETTINGS_KNOBS,
        "remove_channel",
        "affected_channel",
        "plate_layer",
        "stereo_view",
        "reference_frames",
        "grade_outputs",
        "inputChange",
        "showPanel",
    }
)
#: Knobs that decide the run's pixels or outputs beyond :class:`NodeSettings`: a run's
#: fingerprint must hash their values (:func:`run_option_values`).
RUN_OPTION_KNOBS = ("plate_layer", "stereo_view", "reference_frames", "grade_outputs")


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


# --------------------------------------------------------------------------- suggest affected
#: File name of a proposed affected matte in the node's ``suggested/`` folder (``void-remove suggest-affected``);
#: a second suggestion is ``affected_suggested_v002.####.exr`` and so on, never overwritten.
SUGGESTED_NAME = "affected_suggested"
SUGGESTED_FOLDER = "suggested"
#: Name prefix of the Read the node makes for a suggestion (next to the node, in its script).
SUGGESTED_READ_PREFIX = "VOID_AffectedSuggested"
#: The roles the suggestion needs exported: the plate (its layer as rgba) and the remove matte.
SUGGEST_ROLES = ("plate", "remove")


def suggestion_pattern(run_dir: str, version: int) -> str:
    """The ``--out`` of the ``version``-th suggestion (1: no suffix) in ``run_dir``."""
    suffix = "" if version <= 1 else f"_v{version:03d}"
    return posixpath.join(nuke_path(run_dir), f"{SUGGESTED_NAME}{suffix}.####.exr")


def is_suggestion_read(node_class: str, file_knob: str) -> bool:
    """A Read of an earlier suggestion (the node may replace it on the Affected input; any other
    node there is the artist's and stays)."""
    name = posixpath.basename(nuke_path(file_knob))
    return node_class == "Read" and name.startswith(SUGGESTED_NAME)


# --------------------------------------------------------------------------- run arguments
class RunOptionError(ValueError):
    """A run-option knob holds something ``void-remove run`` would refuse: ``knob`` names it."""

    def __init__(self, knob: str, message: str) -> None:
        super().__init__(message)
        self.knob = knob
        self.message = message


@dataclass(frozen=True)
class RunOptions:
    """The output, stereo, reference and layer knobs of a node, as values."""

    plate_layer: str = "rgba"
    stereo_view: str = ALL_VIEWS
    reference_frames: str = ""
    grade_outputs: bool = False

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> RunOptions:
        """From knob values as Nuke returns them (``plate_layer`` read through its Link)."""
        return cls(
            plate_layer=str(values.get("plate_layer") or "rgba").strip(),
            stereo_view=str(values.get("stereo_view") or ALL_VIEWS).strip(),
            reference_frames=str(values.get("reference_frames") or ""),
            grade_outputs=bool(values.get("grade_outputs", False)),
        )


def parse_references(text: str) -> list[tuple[int, str]]:
    """``reference_frames`` as ``[(frame, path), ...]`` in frame order: entries ``FRAME=PATH``
    separated by new lines or ';' (the CLI's ``--reference FRAME=PATH``, repeated)."""
    out: dict[int, str] = {}
    for entry in text.replace(";", "\n").splitlines():
        entry = entry.strip()
        if not entry:
            continue
        frame_text, sep, path = entry.partition("=")
        try:
            frame = int(frame_text.strip())
        except ValueError:
            frame = None
        if not sep or frame is None or not path.strip():
            raise RunOptionError(
                "reference_frames",
                f"reference frames: {entry!r} is not FRAME=PATH "
                "(e.g. 1001=/shots/sh010/clean.1001.exr)",
            )
        if frame in out:
            raise RunOptionError(
                "reference_frames",
                f"reference frames: frame {frame} is given twice; give one clean frame per frame",
            )
        out[frame] = nuke_path(path.strip())
    return sorted(out.items())


def grade_pattern(result_pattern: str, layer: str) -> str:
    """Where ``--fill-out`` / ``--matte-out`` write: a ``fill/`` or ``matte/`` folder beside the
    result's folder, same file name (the gizmo's Reads compute the same path in TCL)."""
    result_pattern = nuke_path(result_pattern)
    run_dir = posixpath.dirname(posixpath.dirname(result_pattern))
    return posixpath.join(run_dir, GRADE_FOLDERS[layer], posixpath.basename(result_pattern))


def stereo_view_argument(view: str, script_views: Sequence[str] = ()) -> str:
    """``--view``'s value for ``stereo_view`` ("" when nothing is to be passed: a mono script)."""
    view = view.strip() or ALL_VIEWS
    if len(script_views) < 2:
        if view != ALL_VIEWS and view not in script_views:
            raise RunOptionError(
                "stereo_view",
                f"stereo view {view!r}: the script is mono; set stereo view to 'all'",
            )
        return ""
    if view != ALL_VIEWS and view not in script_views:
        raise RunOptionError(
            "stereo_view",
            f"stereo view {view!r}: the script's views are {', '.join(script_views)} (or 'all')",
        )
    return view


def export_views(view: str, script_views: Sequence[str]) -> list[str]:
    """The views a temporary export Write renders: ``stereo_view``'s one view, or every view of
    a stereo script; ``[]`` for a mono script (no ``%V`` in the file name)."""
    if len(script_views) < 2:
        return []
    chosen = stereo_view_argument(view, script_views)
    return list(script_views) if chosen == ALL_VIEWS else [chosen]


def view_pattern(pattern: str, views: Sequence[str]) -> str:
    """An export pattern for a stereo export: ``%V`` (Nuke's full view name, the Write's file
    knob) before the frame number, ``plate.%V.%04d.exr``; unchanged for a mono export."""
    if not views:
        return pattern
    head, sep, tail = pattern.rpartition(".%0")
    return f"{head}.%V{sep}{tail}" if sep else pattern


def run_arguments(
    options: RunOptions, result_pattern: str, script_views: Sequence[str] = ()
) -> list[str]:
    """The ``void-remove run`` flags these knobs add to a run whose ``--out`` is
    ``result_pattern`` (``void-remove run --help``): ``--fill-out``/``--matte-out`` when grade
    outputs are on, ``--reference FRAME=PATH`` per reference frame and ``--view`` for a stereo
    script. The plate layer adds no flag: the node exports that layer as rgba (``--plate`` reads
    the exported file's beauty), and puts the result back into it.

    Raises :class:`RunOptionError` naming the knob when a value cannot run."""
    layer = options.plate_layer.strip()
    if not layer or layer in ("none", "all") or not layer.replace("_", "").isalnum():
        raise RunOptionError(
            "plate_layer", f"plate layer {layer!r}: pick a layer of the Source (e.g. rgba)"
        )
    args: list[str] = []
    if options.grade_outputs:
        args += ["--fill-out", grade_pattern(result_pattern, "fill")]
        args += ["--matte-out", grade_pattern(result_pattern, "matte")]
    for frame, path in parse_references(options.reference_frames):
        args += ["--reference", f"{frame}={path}"]
    view = stereo_view_argument(options.stereo_view, script_views)
    if view:
        args += ["--view", view]
    return args


def run_option_values(options: RunOptions) -> str:
    """The options as one stable line, for the run's fingerprint (references in frame order)."""
    refs = ";".join(f"{f}={p}" for f, p in parse_references(options.reference_frames))
    return (
        f"plate_layer={options.plate_layer}\nstereo_view={options.stereo_view}\n"
        f"references={refs}\ngrade_outputs={int(options.grade_outputs)}"
    )
