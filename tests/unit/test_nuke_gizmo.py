"""The VOID Remove gizmo file: read with our own small .nk reader (``docs/architecture.md``,
"Tests": never bend the file to a registry parser), checked for inputs, knobs, wiring, and
overlay/quadmask expressions that compute what the numpy reference computes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from void_client import shader_reference as kernels
from void_client.quadmask import build_quadmask
from void_hostlink.node_settings import NodeSettings
from void_nuke import gizmo_writer as G
from void_nuke import node_spec as N

REPO = Path(__file__).resolve().parents[2]
GIZMO = REPO / "nuke" / "void_nuke" / "nuke_path" / "VOIDRemove.gizmo"
if str(REPO / "nuke") not in sys.path:
    sys.path.insert(0, str(REPO / "nuke"))  # what NUKE_PATH does inside Nuke


# --------------------------------------------------------------------------- a small .nk reader
def _words(text: str) -> list[list[str]]:
    """Statements (one per line outside braces/quotes) of words: bare, "quoted" (escapes
    undone) or {braced} (kept verbatim, outer braces removed)."""
    statements: list[list[str]] = []
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            if words:
                statements.append(words)
            words = []
            i += 1
        elif ch in " \t\r":
            i += 1
        elif ch == "{":
            depth, j = 1, i + 1
            while depth:
                if text[j] == "\\":
                    j += 2
                    continue
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            words.append(text[i + 1 : j - 1])
            i = j
        elif ch == '"':
            out, j = [], i + 1
            while text[j] != '"':
                if text[j] == "\\":
                    out.append({"n": "\n", "t": "\t"}.get(text[j + 1], text[j + 1]))
                    j += 2
                else:
                    out.append(text[j])
                    j += 1
            words.append("".join(out))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in " \t\r\n":
                j += 1
            words.append(text[i:j])
            i = j
    if words:
        statements.append(words)
    return statements


@dataclass
class UserKnob:
    kind: int
    name: str
    args: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


@dataclass
class NkNode:
    cls: str
    knobs: dict[str, str]
    inputs: list[str | None]

    @property
    def name(self) -> str:
        return self.knobs["name"]


@dataclass
class Gizmo:
    version: str
    knobs: dict[str, str]
    user_knobs: dict[str, UserKnob]
    nodes: dict[str, NkNode]
    #: ``add_layer`` statements: layer -> its channels.
    layers: dict[str, list[str]] = field(default_factory=dict)


def _user_knob(spec: str) -> UserKnob:
    w = [x for s in _words(spec) for x in s]
    knob = UserKnob(int(w[0]), w[1])
    i = 2
    while i < len(w):
        if w[i][0] in "+-":
            knob.flags.append(w[i])
            i += 1
        else:
            knob.args[w[i]] = w[i + 1]
            i += 2
    return knob


def read_gizmo(text: str) -> Gizmo:
    """Read a .gizmo: the Gizmo block's knobs and user knobs, then the internal nodes wired by
    replaying the stack (a node takes its inputs from the top, input 0 on top)."""
    statements = _words(text)
    assert statements[0][0] == "version" and statements[1][0] == "Gizmo"
    knobs: dict[str, str] = {}
    user: dict[str, UserKnob] = {}
    for s in _words(statements[1][1]):
        if s[0] == "addUserKnob":
            k = _user_knob(s[1])
            user[k.name] = k
        else:
            knobs[s[0]] = s[1]
    stack: list[str | None] = []
    variables: dict[str, str | None] = {}
    nodes: dict[str, NkNode] = {}
    layers: dict[str, list[str]] = {}
    assert statements[-1] == ["end_group"]
    for s in statements[2:-1]:
        if s[0] == "add_layer":
            layer, *channels = _words(s[1])[0]
            layers[layer] = channels
        elif s[0] == "set":
            variables[s[1]] = stack[-1]
        elif s[0] == "push":
            stack.append(None if s[1] == "0" else variables[s[1].lstrip("$")])
        else:
            body = {b[0]: b[1] for b in _words(s[1])}
            count = int(body.get("inputs", "1"))
            inputs = [stack.pop() for _ in range(count)]
            node = NkNode(s[0], body, inputs)
            nodes[node.name] = node
            stack.append(node.name)
    return Gizmo(" ".join(statements[0][1:]), knobs, user, nodes, layers)


def typed_default(knob: UserKnob, text: str | None) -> Any:
    """A knob's saved value as Python sees it through ``knob.value()``."""
    if knob.kind == N.BOOLEAN:
        return text == "true"
    if knob.kind == N.INT:
        return int(text) if text is not None else 0
    if knob.kind == N.PULLDOWN:
        return text if text is not None else _words(knob.args["M"])[0][0]
    return text if text is not None else ""


@pytest.fixture(scope="module")
def gizmo() -> Gizmo:
    return read_gizmo(GIZMO.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- a small expression evaluator
_TOKEN = re.compile(r"\s*(?:(\d+\.\d*|\.\d+|\d+)|([A-Za-z_]\w*)|(<=|>=|==|!=|[-+*/()<>?:,]))")


def evaluate(expr: str, env: dict[str, Any]) -> np.ndarray:
    """Nuke's expression syntax as the gizmo uses it (numbers, names, + - * /, comparisons,
    ?:, floor()), evaluated element-wise over numpy arrays in float32 like Nuke's pixel engine."""
    tokens = [m.group(1) or m.group(2) or m.group(3) for m in _TOKEN.finditer(expr)]
    assert "".join(tokens) == re.sub(r"\s+", "", expr), f"cannot tokenise {expr!r}"
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(expected: str | None = None) -> str:
        nonlocal pos
        tok = tokens[pos]
        assert expected is None or tok == expected, (tok, expected)
        pos += 1
        return tok

    def ternary() -> Any:
        cond = comparison()
        if peek() == "?":
            take("?")
            a = ternary()
            take(":")
            b = ternary()
            return np.where(np.asarray(cond) != 0, a, b)
        return cond

    def comparison() -> Any:
        left = additive()
        ops = {
            "<=": np.less_equal,
            ">=": np.greater_equal,
            "<": np.less,
            ">": np.greater,
            "==": np.equal,
            "!=": np.not_equal,
        }
        if peek() in ops:
            op = ops[take()]
            return op(left, additive()).astype(np.float32)
        return left

    def additive() -> Any:
        value = term()
        while peek() in ("+", "-"):
            value = value + term() if take() == "+" else value - term()
        return value

    def term() -> Any:
        value = unary()
        while peek() in ("*", "/"):
            value = value * unary() if take() == "*" else value / unary()
        return value

    def unary() -> Any:
        if peek() == "-":
            take()
            return -unary()
        return primary()

    def primary() -> Any:
        tok = take()
        if tok == "(":
            value = ternary()
            take(")")
            return value
        if re.fullmatch(r"[\d.]+", tok):
            return np.float32(float(tok))
        if peek() == "(":
            take("(")
            arg = ternary()
            take(")")
            return {"floor": np.floor}[tok](arg)
        return env[tok]

    result = ternary()
    assert pos == len(tokens), f"trailing tokens in {expr!r}"
    return np.asarray(result, np.float32)


def merge_expression(
    knobs: dict[str, str], a: dict[str, np.ndarray], b: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    env = {f"A{c}": a[c] for c in a} | {f"B{c}": b[c] for c in b}
    for i in range(4):
        if f"temp_name{i}" in knobs:
            env[knobs[f"temp_name{i}"]] = evaluate(knobs[f"temp_expr{i}"], env)
    return {c: evaluate(knobs[f"expr{i}"], env) for i, c in enumerate("rgb")}


# --------------------------------------------------------------------------- tests
def test_checked_in_gizmo_is_exactly_what_the_generator_writes() -> None:
    assert GIZMO.read_text(encoding="utf-8") == G.gizmo_text()
    assert G.main(["--check", str(GIZMO)]) == 0


def test_gizmo_has_three_named_inputs_in_order(gizmo: Gizmo) -> None:
    inputs = sorted(
        (int(n.knobs.get("number", "0")), n.name) for n in gizmo.nodes.values() if n.cls == "Input"
    )
    assert inputs == [(0, "Source"), (1, "Remove"), (2, "Affected")]
    assert gizmo.version.startswith("13.0")
    assert [n.name for n in gizmo.nodes.values() if n.cls == "Output"] == ["Output1"]


def test_every_knob_is_declared_with_its_type_label_and_default(gizmo: Gizmo) -> None:
    assert list(gizmo.user_knobs) == list(N.KNOB_NAMES)
    for knob in N.KNOBS:
        u = gizmo.user_knobs[knob.name]
        assert u.kind == knob.kind
        if knob.label is not None:
            assert u.args["l"] == knob.label
        if knob.kind == N.PULLDOWN:
            assert tuple(x for s in _words(u.args["M"]) for x in s) == knob.values
        if knob.hidden:
            assert "+INVISIBLE" in u.flags
    # Settings knobs carry NodeSettings' defaults, which carry the JobSpec's.
    defaults = NodeSettings()
    for name in N.SETTINGS_KNOBS:
        assert typed_default(gizmo.user_knobs[name], gizmo.knobs.get(name)) == getattr(
            defaults, name
        ), name
    assert gizmo.knobs["tile_color"] == f"{N.TILE_COLOURS['idle']:#010x}"


def test_buttons_call_functions_of_the_glue(gizmo: Gizmo) -> None:
    import void_nuke.actions

    for name in ("void_remove", "cancel", "submit_farm", "suggest_affected"):
        script = gizmo.user_knobs[name].args["T"]
        function = re.search(r"void_nuke\.actions\.(\w+)\(nuke\.thisNode\(\)\)", script).group(1)
        assert callable(getattr(void_nuke.actions, function))
    assert gizmo.user_knobs["void_remove"].args["l"] == "<b>VOID Remove</b>"


def test_internal_graph_is_wired_as_designed(gizmo: Gizmo) -> None:
    nodes = gizmo.nodes
    assert nodes["Output1"].inputs == ["VOID_View"]
    assert nodes["VOID_View"].inputs == ["VOID_Grade", "VOID_Overlay", "VOID_Quadmask"]
    assert nodes["VOID_View"].knobs["which"] == "{parent.view}"
    assert nodes["VOID_ResultOrSource"].inputs == [
        N.PLATE_NODE,
        N.RESULT_INTO_PLATE,
    ]  # 0: Source until a result exists
    assert nodes[N.PLATE_NODE].inputs == ["Source"]
    assert nodes[N.REMOVE_MATTE_NODE].inputs == ["Remove", "Remove"]
    assert nodes[N.AFFECTED_MATTE_NODE].inputs == ["Affected", "Affected"]
    assert nodes["VOID_Quadmask"].inputs == [
        "VOID_AffectedGrow",
        "VOID_RemoveGrow",
    ]  # B affected, A remove
    # The overlay tints the plate layer (as rgba), not the Source's rgba (issue 21: a plate in
    # another layer was checked against the wrong picture).
    assert nodes["VOID_OverlayExpression"].inputs == [N.PLATE_LAYER_NODE, "VOID_Quadmask"]
    assert nodes["VOID_OverlayBlink"].inputs == [N.PLATE_LAYER_NODE, "VOID_Quadmask"]
    read = nodes[N.RESULT_READ]
    assert (
        read.cls == "Read" and read.inputs == [] and read.knobs["file"] == "[value parent.results]"
    )
    assert read.knobs["first"] == "{parent.result_first}" and read.knobs["raw"] == "true"
    for role, source in N.EXPORT_SOURCES.items():
        assert source in nodes, role
    # Link knobs point at knobs that exist; every parent.<knob> an expression reads exists.
    for knob in (k for k in N.KNOBS if k.kind == N.LINK):
        node_name, knob_name = knob.link.split(".")
        assert knob_name in nodes[node_name].knobs
    for node in nodes.values():
        for value in node.knobs.values():
            for ref in re.findall(r"parent\.(\w+)", value):
                assert ref in gizmo.user_knobs, (node.name, ref)


def test_blinkscript_overlay_runs_the_shader_file_unchanged(gizmo: Gizmo) -> None:
    source = (REPO / "shaders" / "void_shaders" / "quadmask_overlay.blink").read_text(
        encoding="utf-8"
    )
    assert gizmo.nodes["VOID_OverlayBlink"].knobs["kernelSource"] == source
    assert gizmo.nodes["VOID_Overlay"].inputs == ["VOID_OverlayExpression", "VOID_OverlayBlink"]


def test_expression_overlay_tints_like_the_reference_and_keeps_keep_pixels(gizmo: Gizmo) -> None:
    rng = np.random.default_rng(0)
    codes = np.arange(256, dtype=np.float32).repeat(4)  # every 8-bit code, as code/255
    plate = rng.uniform(0.0, 4.0, (codes.size, 3)).astype(np.float32)
    out = merge_expression(
        gizmo.nodes["VOID_OverlayExpression"].knobs,
        {"r": codes / 255.0},
        {c: plate[:, i] for i, c in enumerate("rgb")},
    )
    got = np.stack([out[c] for c in "rgb"], -1)
    want = kernels.quadmask_overlay(plate, codes)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    keep = kernels.snap_level(codes) == kernels.KEEP_LEVEL
    assert keep.sum() == 64 * 4 and got[keep].tobytes() == plate[keep].tobytes()


def test_expression_quadmask_matches_the_daemons_quadmask(gizmo: Gizmo) -> None:
    rng = np.random.default_rng(1)
    remove = rng.uniform(0, 1, (32, 40)).astype(np.float32)
    affected = rng.uniform(0, 1, (32, 40)).astype(np.float32)
    out = merge_expression(gizmo.nodes["VOID_Quadmask"].knobs, {"a": remove}, {"a": affected})
    want = build_quadmask(remove, affected, dilation=0)
    for c in "rgb":
        assert np.array_equal(np.round(out[c] * 255).astype(np.uint8), want)
    no_affected = merge_expression(
        gizmo.nodes["VOID_Quadmask"].knobs, {"a": remove}, {"a": np.zeros_like(remove)}
    )
    assert np.array_equal(
        np.round(no_affected["r"] * 255).astype(np.uint8), build_quadmask(remove, None, 0)
    )


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "two words",
        'a "quote"',
        "[value x] {braces} $var",
        "line\nbreak\ttab",
        "back\\slash",
        "",
    ],
)
def test_tcl_words_read_back_as_written(text: str) -> None:
    assert _words(f"knob {G.tcl_word(text)}\n") == [["knob", text]]


# --------------------------------------------------------------------------- layers, stereo, references
def tcl(text: str, results: str, frame: int = 1001) -> str:
    """What Nuke's TCL makes of ``text`` (a file knob, or a ``[...]`` inside an expression), by a
    real ``tclsh`` with Nuke's ``value`` and ``frame`` commands stubbed: ``value`` answers the
    node's results pattern, ``frame`` the current frame."""
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        pytest.skip("tclsh is not installed")
    script = (
        f"proc value {{args}} {{return {{{results}}}}}\n"
        f"proc frame {{}} {{return {frame}}}\n"
        f'puts "{text}"\n'
    )
    done = subprocess.run([tclsh], input=script, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def switch_tcl(expression: str) -> str:
    """The TCL part of a Switch's ``which`` (``{"..."}``: a quoted expression in braces), from
    its first ``[`` to the end."""
    (text,) = _words(expression[1:-1])[0]
    return text[text.index("[") :]


def test_new_knobs_are_declared_with_their_kinds_and_defaults(gizmo: Gizmo) -> None:
    u = gizmo.user_knobs
    assert u["plate_layer"].kind == N.LINK
    assert u["plate_layer"].args["T"] == f"{N.RESULT_INTO_PLATE}.out"
    assert (u["stereo_view"].kind, gizmo.knobs["stereo_view"]) == (N.STRING, "all")
    assert u["reference_frames"].kind == N.STRING and "reference_frames" not in gizmo.knobs
    assert (u["grade_outputs"].kind, gizmo.knobs["grade_outputs"]) == (N.BOOLEAN, "false")
    assert {"plate_layer", "stereo_view", "reference_frames", "grade_outputs"} <= N.STALE_TRIGGERS
    assert set(N.RUN_OPTION_KNOBS) <= set(N.KNOB_NAMES)


def test_the_result_replaces_only_the_plate_layer_and_grade_layers_are_added(
    gizmo: Gizmo,
) -> None:
    nodes = gizmo.nodes
    # The plate export renders the plate layer moved to rgba.
    assert N.EXPORT_SOURCES["plate"] == N.PLATE_LAYER_NODE
    shuffle = nodes[N.PLATE_LAYER_NODE]
    assert (shuffle.cls, shuffle.inputs, shuffle.knobs["out"]) == (
        "Shuffle",
        [N.PLATE_NODE],
        "rgba",
    )
    # B (input 0) the Source passes through; A (input 1) the result's rgba into `out`.
    into = nodes[N.RESULT_INTO_PLATE]
    assert (into.cls, into.inputs) == ("ShuffleCopy", [N.PLATE_NODE, N.RESULT_READ])
    assert (into.knobs["in"], into.knobs["out"]) == ("rgba", "rgba")
    # Grade outputs: the fill's rgba into void_fill, the matte's alpha into void_matte.
    assert gizmo.layers == {
        "void_fill": ["void_fill.red", "void_fill.green", "void_fill.blue", "void_fill.alpha"],
        "void_matte": ["void_matte.alpha"],
    }
    fill, matte = nodes["VOID_AddFill"], nodes["VOID_AddMatte"]
    assert fill.inputs == ["VOID_ResultOrSource", N.FILL_READ]
    assert [(fill.knobs[f"from{i}"], fill.knobs[f"to{i}"]) for i in range(4)] == [
        (f"rgba.{c}", f"void_fill.{c}") for c in ("red", "green", "blue", "alpha")
    ]
    assert matte.inputs == ["VOID_AddFill", N.MATTE_READ]
    assert (matte.knobs["from0"], matte.knobs["to0"]) == ("rgba.alpha", "void_matte.alpha")
    assert nodes["VOID_Grade"].inputs == ["VOID_ResultOrSource", "VOID_AddMatte"]
    assert "parent.grade_outputs *" in nodes["VOID_Grade"].knobs["which"]
    assert nodes["VOID_View"].inputs[0] == "VOID_Grade"
    # The Reads find the files the run's --fill-out/--matte-out write (node_spec.grade_pattern).
    results = "/shots/void_remove/sh010/VOIDRemove1/0123abcd/result/VOIDRemove1.%04d.exr"
    for read, layer in ((N.FILL_READ, "fill"), (N.MATTE_READ, "matte")):
        knobs = nodes[read].knobs
        assert tcl(knobs["file"], results) == N.grade_pattern(results, layer)
        assert knobs["on_error"] == "black" and knobs["raw"] == "true"
    assert N.grade_pattern(results, "fill") == (
        "/shots/void_remove/sh010/VOIDRemove1/0123abcd/fill/VOIDRemove1.%04d.exr"
    )


RESULTS = "/r/sh010/VOIDRemove1/ab12/result/VOIDRemove1.%04d.exr"


def test_run_arguments_for_grade_outputs_references_and_views() -> None:
    options = N.RunOptions(
        grade_outputs=True,
        reference_frames="1050=/paint/clean.1050.exr\n\n 1001 = C:\\paint\\clean 1001.exr ;",
        stereo_view="left",
    )
    assert N.run_arguments(options, RESULTS, ["left", "right"]) == [
        "--fill-out",
        "/r/sh010/VOIDRemove1/ab12/fill/VOIDRemove1.%04d.exr",
        "--matte-out",
        "/r/sh010/VOIDRemove1/ab12/matte/VOIDRemove1.%04d.exr",
        "--reference",
        "1001=C:/paint/clean 1001.exr",
        "--reference",
        "1050=/paint/clean.1050.exr",
        "--view",
        "left",
    ]
    # Defaults add nothing: no grade outputs, no references, a mono script, the rgba plate.
    assert N.run_arguments(N.RunOptions(), RESULTS, ["main"]) == []
    assert N.run_arguments(N.RunOptions(plate_layer="beauty"), RESULTS) == []
    assert N.run_arguments(N.RunOptions(), RESULTS, ["left", "right"]) == ["--view", "all"]
    values = N.RunOptions.from_values({"plate_layer": "rgba", "grade_outputs": 1.0})
    assert values == N.RunOptions(grade_outputs=True)
    assert N.run_option_values(values) != N.run_option_values(N.RunOptions())


@pytest.mark.parametrize(
    "options, views, knob, words",
    [
        (N.RunOptions(reference_frames="1001"), (), "reference_frames", "not FRAME=PATH"),
        (N.RunOptions(reference_frames="x=/a.exr"), (), "reference_frames", "not FRAME=PATH"),
        (N.RunOptions(reference_frames="1=/a.exr;1=/b.exr"), (), "reference_frames", "twice"),
        (N.RunOptions(stereo_view="left"), ("main",), "stereo_view", "mono"),
        (N.RunOptions(stereo_view="centre"), ("left", "right"), "stereo_view", "left, right"),
        (N.RunOptions(plate_layer="none"), (), "plate_layer", "pick a layer"),
    ],
)
def test_run_arguments_name_the_knob_that_cannot_run(
    options: N.RunOptions, views: tuple[str, ...], knob: str, words: str
) -> None:
    with pytest.raises(N.RunOptionError, match=words) as info:
        N.run_arguments(options, RESULTS, views)
    assert info.value.knob == knob


def test_stereo_exports_put_the_view_in_the_file_name() -> None:
    assert N.export_views("all", ["main"]) == []
    assert N.export_views("all", ["left", "right"]) == ["left", "right"]
    assert N.export_views("right", ["left", "right"]) == ["right"]
    assert N.view_pattern("/r/input/plate.%04d.exr", ["left"]) == "/r/input/plate.%V.%04d.exr"
    assert N.view_pattern("/r/input/plate.%04d.exr", []) == "/r/input/plate.%04d.exr"


@pytest.mark.parametrize("stereo", [False, True])
def test_result_and_fill_switches_see_the_frames_on_disk(
    gizmo: Gizmo, tmp_path: Path, stereo: bool
) -> None:
    name = "VOIDRemove1.%V.%04d.exr" if stereo else "VOIDRemove1.%04d.exr"
    results = f"{tmp_path}/run/result/{name}"
    on_disk = name.replace("%V", "left").replace("%04d", "1002")
    for folder in ("result", "fill"):
        (tmp_path / "run" / folder).mkdir(parents=True)
        (tmp_path / "run" / folder / on_disk).write_bytes(b"")
    result = switch_tcl(gizmo.nodes["VOID_ResultOrSource"].knobs["which"])
    grade = switch_tcl(gizmo.nodes["VOID_Grade"].knobs["which"])
    assert [tcl(result, results, f) for f in (1001, 1002)] == ["0", "1"]
    assert [tcl(grade, results, f) for f in (1001, 1002)] == ["0", "1"]
    (tmp_path / "run" / "fill" / on_disk).unlink()
    assert tcl(grade, results, 1002) == "0"  # the fill not written yet: the result alone


def test_the_quadmask_overlay_shows_the_plate_layer_through_the_shuffle(gizmo: Gizmo) -> None:
    """View "quadmask overlay": VOID_View input 1 -> VOID_Overlay (the Switch: expression or
    blinkscript) -> both overlay nodes' B/src input is VOID_PlateLayer, the Shuffle that moves
    the plate layer into rgba, fed by the Source; the result path still passes every layer."""
    nodes = gizmo.nodes
    assert nodes["VOID_View"].inputs[1] == "VOID_Overlay"
    assert nodes["VOID_Overlay"].cls == "Switch"
    assert nodes["VOID_Overlay"].knobs["which"] == "{parent.overlay_with}"
    for name in nodes["VOID_Overlay"].inputs:
        assert nodes[name].inputs[0] == N.PLATE_LAYER_NODE, name
    shuffle = nodes[N.PLATE_LAYER_NODE]
    assert shuffle.cls == "Shuffle" and shuffle.inputs == [N.PLATE_NODE]
    assert shuffle.knobs["out"] == "rgba"
    assert nodes["VOID_ResultOrSource"].inputs[0] == N.PLATE_NODE  # all layers, untouched
