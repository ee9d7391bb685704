"""Write the VOID Remove node as a Nuke ``.gizmo`` from :mod:`void_nuke.node_spec`.

``nuke/void_nuke/nuke_path/VOIDRemove.gizmo`` (package data) is this module's output, checked
in so Nuke finds it on ``NUKE_PATH``; never edit it by hand (``tests/unit/test_nuke_gizmo.py``
fails when it drifts)::

    python -m void_nuke.gizmo_writer --write nuke/void_nuke/nuke_path/VOIDRemove.gizmo
    python -m void_nuke.gizmo_writer --check nuke/void_nuke/nuke_path/VOIDRemove.gizmo

Inside the group::

    Source ─ VOID_Plate ─┬─ VOID_PlateLayer (plate layer -> rgba: what the plate export renders)
                         ├─ VOID_ResultIntoPlate (B) ── VOID_ResultOrSource ─ VOID_Grade ─┐
    VOID_Result (Read) ──┘  (A: the result's rgba into the plate layer)   VOID_AddFill/Matte │
    VOID_Fill, VOID_Matte (Reads of --fill-out/--matte-out) ─ into void_fill / void_matte ──┘
    Remove ─ VOID_RemoveMatte ─ VOID_RemoveGrow ──┐                                        │
    Affected ─ VOID_AffectedMatte ─ ..Grow ───────┴ VOID_Quadmask ─ VOID_Overlay ─── VOID_View ─ Output
                                      (VOID_Overlay tints VOID_PlateLayer: the plate layer as rgba)

``VOID_ResultOrSource`` shows a result frame where its file exists and the Source elsewhere, so
frames appear as they arrive; the result replaces only the plate layer (``plate_layer``, a Link
to ``VOID_ResultIntoPlate.out``), every other layer of the Source passes through. With
``grade_outputs`` on, ``VOID_Grade`` adds the fill and matte as the layers ``void_fill`` and
``void_matte``. The quadmask preview is built the way the daemon builds it
(threshold, dilate, combine) and tinted with the overlay colours of :mod:`void_client.shader_reference`,
either by a MergeExpression (any Nuke) or by ``void_shaders/quadmask_overlay.blink`` in a BlinkScript.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import void_shaders
from void_client.quadmask import AFFECTED, KEEP, MATTE_THRESHOLD, OVERLAP, REMOVE
from void_client.shader_reference import OVERLAY_COLOURS, OVERLAY_OPACITY, SNAP_BOUNDS
from void_nuke.node_spec import (
    AFFECTED_MATTE_NODE,
    FILL_CHANNELS,
    FILL_LAYER,
    FILL_READ,
    GRADE_FOLDERS,
    INPUTS,
    KNOBS,
    LINK,
    MATTE_CHANNELS,
    MATTE_LAYER,
    MATTE_READ,
    NODE_CLASS,
    PLATE_LAYER_NODE,
    PLATE_NODE,
    PULLDOWN,
    PYSCRIPT,
    REMOVE_MATTE_NODE,
    RESULT_INTO_PLATE,
    RESULT_READ,
    TAB,
    TEXT,
    TILE_COLOURS,
    KnobDef,
)

#: The oldest Nuke the file is written for; newer versions read it without a warning.
NUKE_VERSION = "13.0 v1"
BLINK_SOURCE = "quadmask_overlay.blink"  # in void_shaders

_BARE = re.compile(r"[A-Za-z0-9_.:/+\-]+")
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "[": "\\[",
    "{": "\\{",
    "}": "\\}",
    "$": "\\$",
    "\n": "\\n",
    "\t": "\\t",
}


class Expr(str):
    """A knob expression, written ``{{...}}``."""


def tcl_word(value: Any) -> str:
    """One value as a ``.nk`` word: bare when safe, else double-quoted with Nuke's escapes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def knob_value(value: Any) -> str:
    return "{{" + tcl_word(str(value)) + "}}" if isinstance(value, Expr) else tcl_word(value)


# --------------------------------------------------------------------------- expressions
def quadmask_expressions() -> dict[str, str]:
    """MergeExpression knobs giving ``code / 255`` from dilated mattes (A: remove, B: affected).

    Same rule as :func:`void_client.quadmask.build_quadmask`: a matte is "in" above the
    threshold; remove and affected together are overlap. (Dilating before the threshold, as the
    group does, equals thresholding first: a max filter commutes with a threshold.)
    """
    code = f"(rm ? (af ? {OVERLAP} : {REMOVE}) : (af ? {AFFECTED} : {KEEP})) / {KEEP}"
    return {
        "temp_name0": "rm",
        "temp_expr0": f"Aa > {MATTE_THRESHOLD}",
        "temp_name1": "af",
        "temp_expr1": f"Ba > {MATTE_THRESHOLD}",
        "expr0": code,
        "expr1": code,
        "expr2": code,
    }


def overlay_expressions() -> dict[str, str]:
    """MergeExpression knobs tinting the plate (B) by the quadmask (A, ``code / 255``).

    The expression twin of ``quadmask_overlay.blink`` and :func:`void_client.shader_reference.quadmask_overlay`:
    round to the nearest 8-bit code, snap it to a level, tint remove/overlap/affected; keep
    pixels and alpha pass through.
    """
    op = OVERLAY_OPACITY
    knobs = {"temp_name0": "code", "temp_expr0": "floor(Ar * 255 + 0.5)"}
    for i, ch in enumerate("rgb"):
        expr = f"B{ch}"
        for bound, level in reversed(SNAP_BOUNDS):  # innermost test is the widest bound
            tint = f"B{ch} * (1 - {op}) + {OVERLAY_COLOURS[level][i]} * {op}"
            expr = f"code <= {bound} ? ({tint}) : ({expr})"
        knobs[f"expr{i}"] = expr
    return knobs


# --------------------------------------------------------------------------- graph
@dataclass(frozen=True)
class Node:
    """An internal node: class, name, inputs by name (None: unconnected), knobs in order."""

    cls: str
    name: str
    inputs: tuple[str | None, ...] = ()
    knobs: tuple[tuple[str, Any], ...] = ()
    pos: tuple[int, int] = (0, 0)


def grade_file(layer: str) -> str:
    """TCL for the fill/matte sequence of the run the node shows: the ``fill/`` (``matte/``)
    folder beside the results' folder, same file name (node_spec.grade_pattern in Python)."""
    results = "[value parent.results]"
    return f"[file dirname [file dirname {results}]]/{GRADE_FOLDERS[layer]}/[file tail {results}]"


def frame_exists(pattern: str) -> str:
    """TCL: 1 when this frame's file of ``pattern`` (TCL giving a printf pattern) exists, else 0.
    A stereo pattern's ``%V``/``%v`` (Nuke's view name / its first letter) match any view: TCL's
    ``format`` would refuse them."""
    path = f"[format [string map {{%V * %v *}} {pattern}] [expr int([frame])]]"
    return f"[expr [llength [glob -nocomplain -- {path}]] > 0]"


def internal_nodes(blink_source: str) -> list[Node]:
    """The group's contents, in an order where every input comes before its node."""
    src, rem, aff = INPUTS
    frame_file = frame_exists("[value parent.results]")
    fill_file = frame_exists(grade_file("fill"))
    grade_reads = [
        Node(
            "Read",
            name,
            knobs=(
                ("file", grade_file(layer)),
                ("first", Expr("parent.result_first")),
                ("last", Expr("parent.result_last")),
                ("raw", True),
                ("on_error", "black"),  # frames not written yet: black, not a Read error
            ),
            pos=(x, -160),
        )
        for name, layer, x in ((FILL_READ, "fill", -400), (MATTE_READ, "matte", -600))
    ]
    return [
        Node("Input", src, knobs=(("number", 0),), pos=(0, -400)),
        Node("Input", rem, knobs=(("number", 1),), pos=(300, -400)),
        Node("Input", aff, knobs=(("number", 2),), pos=(500, -400)),
        Node("Dot", PLATE_NODE, (src,), pos=(34, -300)),
        # The plate layer as rgba, for the plate export and the quadmask overlay (which must
        # tint the plate the artist chose, not the Source's rgba); its `in` follows the
        # plate_layer knob (void_nuke.actions.knob_changed) and is set again before every
        # export (void_nuke.export), as a gizmo's internals are not saved.
        Node(
            "Shuffle",
            PLATE_LAYER_NODE,
            (PLATE_NODE,),
            (("in", "rgba"), ("out", "rgba")),
            pos=(-100, -240),
        ),
        # Copy from A to B with both the same input: from0 is the artist's channel (a Link knob).
        Node(
            "Copy",
            REMOVE_MATTE_NODE,
            (rem, rem),
            (("from0", "rgba.alpha"), ("to0", "rgba.alpha")),
            pos=(300, -300),
        ),
        Node(
            "Copy",
            AFFECTED_MATTE_NODE,
            (aff, aff),
            (("from0", "rgba.alpha"), ("to0", "rgba.alpha")),
            pos=(500, -300),
        ),
        Node(
            "Dilate",
            "VOID_RemoveGrow",
            (REMOVE_MATTE_NODE,),
            (("channels", "alpha"), ("size", Expr("parent.dilation"))),
            pos=(300, -240),
        ),
        Node(
            "Dilate",
            "VOID_AffectedGrow",
            (AFFECTED_MATTE_NODE,),
            (("channels", "alpha"), ("size", Expr("parent.dilation"))),
            pos=(500, -240),
        ),
        Node(
            "MergeExpression",
            "VOID_Quadmask",
            ("VOID_AffectedGrow", "VOID_RemoveGrow"),
            tuple(quadmask_expressions().items()),
            pos=(400, -160),
        ),
        Node(
            "MergeExpression",
            "VOID_OverlayExpression",
            (PLATE_LAYER_NODE, "VOID_Quadmask"),
            tuple(overlay_expressions().items()),
            pos=(200, -80),
        ),
        Node(
            "BlinkScript",
            "VOID_OverlayBlink",
            (PLATE_LAYER_NODE, "VOID_Quadmask"),
            (("kernelSource", blink_source),),
            pos=(400, -80),
        ),
        Node(
            "Switch",
            "VOID_Overlay",
            ("VOID_OverlayExpression", "VOID_OverlayBlink"),
            (("which", Expr("parent.overlay_with")),),
            pos=(200, 0),
        ),
        Node(
            "Read",
            RESULT_READ,
            knobs=(
                ("file", "[value parent.results]"),
                ("first", Expr("parent.result_first")),
                ("last", Expr("parent.result_last")),
                ("raw", True),
            ),
            pos=(-200, -160),
        ),
        # B (input 0): the Source, passed through; A (input 1): the result, whose rgba goes into
        # the plate layer (`out`, the plate_layer Link knob).
        Node(
            "ShuffleCopy",
            RESULT_INTO_PLATE,
            (PLATE_NODE, RESULT_READ),
            (
                ("in", "rgba"),
                ("red", "red"),
                ("green", "green"),
                ("blue", "blue"),
                ("alpha", "alpha"),
                ("out", "rgba"),
            ),
            pos=(-200, -80),
        ),
        # results_version * 0 makes the Switch depend on a knob the glue bumps as frames arrive.
        Node(
            "Switch",
            "VOID_ResultOrSource",
            (PLATE_NODE, RESULT_INTO_PLATE),
            (("which", Expr(f"parent.results_version * 0 + {frame_file}")),),
            pos=(0, 0),
        ),
        *grade_reads,
        Node(
            "Copy",
            "VOID_AddFill",
            ("VOID_ResultOrSource", FILL_READ),
            tuple(
                kv
                for i, (c, to) in enumerate(zip(("red", "green", "blue", "alpha"), FILL_CHANNELS))
                for kv in ((f"from{i}", f"rgba.{c}"), (f"to{i}", to))
            ),
            pos=(-400, 0),
        ),
        Node(
            "Copy",
            "VOID_AddMatte",
            ("VOID_AddFill", MATTE_READ),
            (("from0", "rgba.alpha"), ("to0", MATTE_CHANNELS[0])),
            pos=(-600, 0),
        ),
        # Grade outputs on and this frame's fill written: the layers; else the result alone.
        Node(
            "Switch",
            "VOID_Grade",
            ("VOID_ResultOrSource", "VOID_AddMatte"),
            (("which", Expr(f"parent.results_version * 0 + parent.grade_outputs * {fill_file}")),),
            pos=(0, 50),
        ),
        Node(
            "Switch",
            "VOID_View",
            ("VOID_Grade", "VOID_Overlay", "VOID_Quadmask"),
            (("which", Expr("parent.view")),),
            pos=(0, 100),
        ),
        Node("Output", "Output1", ("VOID_View",), pos=(0, 200)),
    ]


# --------------------------------------------------------------------------- writing
def user_knob_lines(knob: KnobDef) -> list[str]:
    parts = [str(knob.kind), knob.name]
    if knob.label is not None:
        parts += ["l", tcl_word(knob.label)]
    if knob.tooltip:
        parts += ["t", tcl_word(knob.tooltip)]
    if knob.kind == PULLDOWN:
        parts += ["M", "{" + " ".join(tcl_word(v) for v in knob.values) + "}"]
    elif knob.kind == LINK:
        parts += ["T", knob.link]
    elif knob.kind == PYSCRIPT:
        parts += ["T", tcl_word(knob.script)]
    elif knob.kind == TEXT and knob.default:
        parts += ["T", tcl_word(knob.default)]
    if knob.newline is not None:
        parts.append("+STARTLINE" if knob.newline else "-STARTLINE")
    if knob.hidden:
        parts.append("+INVISIBLE")
    if knob.disabled:
        parts.append("+DISABLED")
    lines = [f" addUserKnob {{{' '.join(parts)}}}"]
    has_value = knob.kind not in (TAB, TEXT, PYSCRIPT, LINK)
    if (
        has_value
        and knob.default not in (None, "")
        and not (knob.kind == PULLDOWN and knob.default == knob.values[0])
    ):
        lines.append(f" {knob.name} {tcl_word(knob.default)}")
    return lines


def node_lines(node: Node) -> list[str]:
    lines = [f"push ${_var(i)}" if i else "push 0" for i in reversed(node.inputs)]
    lines.append(f" {node.cls} {{")
    if len(node.inputs) != 1:
        lines.append(f"  inputs {len(node.inputs)}")
    lines += [f"  {k} {knob_value(v)}" for k, v in node.knobs]
    lines += [f"  name {node.name}", f"  xpos {node.pos[0]}", f"  ypos {node.pos[1]}", " }"]
    lines.append(f"set {_var(node.name)} [stack 0]")
    return lines


def layer_lines() -> list[str]:
    """``add_layer`` for the grade-output layers, before any node names their channels."""
    return [
        f"add_layer {{{FILL_LAYER} {' '.join(FILL_CHANNELS)}}}",
        f"add_layer {{{MATTE_LAYER} {' '.join(MATTE_CHANNELS)}}}",
    ]


def _var(name: str) -> str:
    return "N" + name


def gizmo_text(blink_source: str | None = None) -> str:
    """The whole ``.gizmo`` file. Inputs are pushed last-first: the top of the stack is input 0."""
    source = void_shaders.read_text(BLINK_SOURCE) if blink_source is None else blink_source
    lines = [f"version {NUKE_VERSION}", "Gizmo {"]
    lines.append(
        " help "
        + tcl_word(
            "VOID Remove: removes an object and what it does to the scene (shadow, reflection, things it moves) "
            "from a shot with Netflix's VOID model, through the VOID Remove daemon.\n"
            "Source: the plate. Remove: a matte of the object (Roto, RotoPaint, any matte). "
            "Affected (optional): a matte of its shadow, reflection or what it moves.\n"
            "Press VOID Remove; the clean plate appears frame by frame. See docs/nuke.md."
        )
    )
    lines.append(f" tile_color {TILE_COLOURS['idle']:#010x}")
    for knob in KNOBS:
        lines += user_knob_lines(knob)
    lines.append("}")
    lines += layer_lines()
    for node in internal_nodes(source):
        lines += node_lines(node)
    lines.append("end_group")
    return "\n".join(lines) + "\n"


def write(path: str | Path, text: str | None = None) -> None:
    Path(path).write_text(text if text is not None else gizmo_text(), encoding="utf-8")


def main(argv: Iterable[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m void_nuke.gizmo_writer", description=f"write the {NODE_CLASS} gizmo"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--write", metavar="PATH", help="write the gizmo to PATH")
    g.add_argument(
        "--check", metavar="PATH", help="exit 1 if PATH differs from what would be written"
    )
    args = p.parse_args(list(argv) if argv is not None else None)
    text = gizmo_text()
    if args.write:
        write(args.write, text)
    elif args.check:
        current = Path(args.check).read_text(encoding="utf-8") if Path(args.check).exists() else ""
        if current != text:
            print(
                f"{args.check} is out of date; run python -m void_nuke.gizmo_writer --write {args.check}",
                file=sys.stderr,
            )
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
