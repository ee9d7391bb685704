"""The Nuke glue (nuke/void_nuke) against a fake ``nuke`` that records calls and holds no logic,
and the real daemon: the fake's ``execute`` stands in for Nuke's renderer by writing real EXR
frames, and every run is a real ``void-remove run ... --progress jsonl`` process (the node's one
code path, docs/nuke.md "Host isolation"), so exports, the job, the results and the Read reload
all run for real."""

from __future__ import annotations

import json
import logging
import os
import runpy
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tests.support.daemons import free_port
from tests.support.fakes import fake_nuke_exe as FX
from tests.support.fakes.fake_nuke import FakeNuke, FakeNukescripts, Knob, LinkKnob, Node
from tests.support.reporting import say
from tests.unit.test_nuke_gizmo import GIZMO, read_gizmo, typed_default
from void_client.quadmask import build_quadmask, hole
from void_client.sequence import SequencePattern, read_image, write_image
from void_daemon.demo_shot import Shot, make_shot
from void_daemon.metrics import psnr
from void_daemon.roi import composite_alpha
from void_hostlink import node_plan as PL
from void_hostlink import node_settings as S
from void_nuke import node_spec as N

REPO = Path(__file__).resolve().parents[2]
NUKE_PATH = REPO / "nuke" / "void_nuke" / "nuke_path"
if str(REPO / "nuke") not in sys.path:
    sys.path.insert(0, str(REPO / "nuke"))  # what NUKE_PATH does inside Nuke

import void_nuke.actions as glue  # noqa: E402
import void_nuke.export  # noqa: E402
import void_nuke.host  # noqa: E402  (needs the NUKE_PATH folder on sys.path)
import void_nuke.startup  # noqa: E402

FIRST = 1001
JOB = {"window": 13, "overlap": 4, "dilation": 2}
#: The worker the node runs: this install's void-remove (the installer records the same).
WORKER = str(Path(sys.executable).parent / "void-remove")
#: The sequences the graph's Read, Roto and RotoPaint nodes "render" (their ``file`` knobs),
#: written once by :func:`sources`; the background export's ``nuke -x`` copies them.
SOURCE_FILES: dict[str, str] = {}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeNuke:
    monkeypatch.setenv(
        "VOID_REMOVE_HOME", str(tmp_path / "void-home")
    )  # runs of unsaved scripts land here
    monkeypatch.setenv("VOID_REMOVE_EXE", WORKER)
    f = FakeNuke()
    # The GUI's export is a `nuke -x` of a saved copy of the script (void_nuke.export): the
    # fake executable renders what the fake's scriptSave(filename) wrote.
    exe = tmp_path / "bin" / "Nuke15.1"
    exe.parent.mkdir()
    exe.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{REPO / "tests/support/fakes/fake_nuke_exe.py"}" "$@"\n'
    )
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    f.EXE_PATH = str(exe)
    save = f.scriptSave

    def script_save(path: str = "") -> None:
        save(path)
        if path:
            FX.save_script(f, path)

    f.scriptSave = script_save  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "nuke", f)
    monkeypatch.setitem(sys.modules, "nukescripts", FakeNukescripts())
    monkeypatch.setattr(void_nuke.host, "nuke", f)
    glue.RUNS.clear()
    glue._LAST_REFRESH.clear()
    glue._QUICK.clear()
    yield f
    for job in list(void_nuke.export.EXPORTS.values()):  # never leave a render running
        job.cancel()
        job.wait(30)
    void_nuke.export.EXPORTS.clear()
    for run in list(glue.RUNS.values()):  # never leave a worker talking to the daemon
        if run.process is not None and run.process.running:
            run.process.cancel()
            try:
                run.process.wait(60)
            except Exception:
                run.process.kill()
    glue.RUNS.clear()


@pytest.fixture(scope="module")
def shot() -> Shot:
    return make_shot(frames=12, width=96, height=64, seed=11, first=FIRST)


def write_sources(folder: Path, shot: Shot, remove: np.ndarray | None = None) -> dict[str, str]:
    """The shot as the sequences its Read and roto nodes stand for: plate RGBA, mattes as A."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {r: str(folder / f"{r}.####.exr") for r in ("plate", "remove", "affected")}
    mattes = {"remove": shot.remove if remove is None else remove, "affected": shot.affected}
    for i in range(len(shot.plate)):
        f = FIRST + i
        write_image(
            files["plate"].replace("####", f"{f:04d}"),
            shot.plate[i].astype(np.float16),
            channels=["R", "G", "B", "A"],
        )
        for role, matte in mattes.items():
            write_image(
                files[role].replace("####", f"{f:04d}"), matte[i].astype(np.float16), channels=["A"]
            )
    return files


@pytest.fixture(scope="module", autouse=True)
def sources(shot: Shot, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    SOURCE_FILES.update(write_sources(tmp_path_factory.mktemp("sources"), shot))
    yield SOURCE_FILES
    SOURCE_FILES.clear()


def void_node(fake: FakeNuke, name: str = "VOIDRemove1", **knobs: Any) -> Node:
    """A VOIDRemove node as Nuke would build it from the gizmo file: its knobs with their saved
    defaults, its internal nodes by name (read with the gizmo test's own reader)."""
    g = read_gizmo(GIZMO.read_text(encoding="utf-8"))
    values: dict[str, Any] = {k: typed_default(u, g.knobs.get(k)) for k, u in g.user_knobs.items()}
    values["tile_color"] = int(g.knobs["tile_color"], 16)
    children = [
        Node(n.cls, n.name, {**n.knobs, **({"reload": None} if n.cls == "Read" else {})})
        for n in g.nodes.values()
    ]
    by_name = {c.name(): c for c in children}
    for k in N.KNOBS:
        if k.kind == N.LINK:  # a Link knob shows (and sets) the internal knob's value
            node_name, knob_name = k.link.split(".")
            values[k.name] = LinkKnob(k.name, by_name[node_name][knob_name], k.link)
    links = {k: v for k, v in knobs.items() if isinstance(values.get(k), LinkKnob)}
    values.update({k: v for k, v in knobs.items() if k not in links})
    node = fake.add(Node(N.NODE_CLASS, name, values, children=children))
    for k, v in links.items():
        node[k].setValue(v)
    return node


def wired(
    fake: FakeNuke,
    shot: Any,
    affected: bool = True,
    files: dict[str, str] | None = None,
    **knobs: Any,
) -> Node:
    """The comp around a VOID Remove node. ``files``: what the inputs' ``file`` knobs name
    (default the written shot, :data:`SOURCE_FILES`; ``{}``: fixed names, for graphs that
    separate processes must build identically)."""
    files = SOURCE_FILES if files is None else files
    last = FIRST + len(shot.plate) - 1
    read = fake.add(
        Node(
            "Read",
            "Read1",
            {"file": files.get("plate", "/plates/sh010.####.exr"), "xpos": 0},
            frames=(FIRST, last),
        )
    )
    roto_knobs = {"curves": "ball", "xpos": 0, **({"file": files["remove"]} if files else {})}
    roto = fake.add(Node("Roto", "Roto1", roto_knobs, frames=(FIRST, last)))
    node = void_node(fake, **{**{k: v for k, v in JOB.items()}, **knobs})
    node.setInput(0, read)
    node.setInput(1, roto)
    if affected:
        shadow = {"curves": "shadow", **({"file": files["affected"]} if files else {})}
        node.setInput(2, fake.add(Node("RotoPaint", "Shadow1", shadow, frames=(FIRST, last))))
    return node


def renderer(shot: Shot, remove: np.ndarray | None = None) -> Any:
    """Stands in for Nuke rendering a Write: writes the frames the Write asks for, from the shot,
    by which internal node feeds it (plate RGBA half, mattes as A)."""
    mattes = {
        N.REMOVE_MATTE_NODE: shot.remove if remove is None else remove,
        N.AFFECTED_MATTE_NODE: shot.affected,
    }

    def execute(write: Node, first: int, last: int) -> None:
        assert write["file_type"].value() == "exr" and write["datatype"].value() == "16 bit half"
        pattern = SequencePattern.parse(write["file"].value())
        source = write.input(0).name()
        for f in range(first, last + 1):
            i = f - FIRST
            if source == N.EXPORT_SOURCES["plate"]:  # the plate layer, as rgba
                assert write["channels"].value() == "rgba"
                write_image(
                    pattern.path(f), shot.plate[i].astype(np.float16), channels=["R", "G", "B", "A"]
                )
            else:
                assert write["channels"].value() == "alpha"
                write_image(pattern.path(f), mattes[source][i].astype(np.float16), channels=["A"])

    return execute


def pump(fake: FakeNuke, until: Any, timeout: float = 90.0) -> None:
    """Nuke's event loop: run what worker threads handed to executeInMainThread."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while fake.main_thread:
            function, args = fake.main_thread.pop(0)
            function(*args)
        if until():
            return
        time.sleep(0.01)
    raise AssertionError("timed out waiting for the run")


def executes(fake: FakeNuke) -> list[tuple]:
    return [args for name, args in fake.calls if name == "execute"]


def exports_made(fake: FakeNuke) -> int:
    """Temporary export Writes made so far (three per export of a node with Affected)."""
    return len([args for name, args in fake.calls if name == "create" and args[0] == "Write"])


def idle() -> bool:
    """No export and no worker in flight."""
    return not glue.RUNS and not void_nuke.export.EXPORTS


# --------------------------------------------------------------------------- startup
def test_init_and_menu_register_the_node_without_qt_in_init(fake: FakeNuke) -> None:
    runpy.run_path(str(NUKE_PATH / "init.py"))
    assert [c for c in fake.calls if c[0] == "addBeforeRender"] == [
        ("addBeforeRender", (glue.before_render,))
    ]
    runpy.run_path(str(NUKE_PATH / "menu.py"))
    toolbar = fake.menus["Nodes"].menus[N.TOOLBAR_MENU]
    assert toolbar.commands == [(N.MENU_ITEM, glue.create, N.SHORTCUT)]
    assert ("addKnobChanged", (glue.knob_changed, N.NODE_CLASS)) in fake.calls
    assert ("addUpdateUI", (glue.update_ui, N.NODE_CLASS)) in fake.calls
    # The panel is its own process (void-remove panel), not a Qt widget inside Nuke.
    bar, submenu, item = void_nuke.startup.PANEL_MENU
    assert fake.menus[bar].menus[submenu].commands == [(item, void_nuke.startup.open_panel, "")]
    assert sys.modules["nukescripts"].panels.registered == []
    # init.py runs in render mode too: it must not load Qt.
    code = (
        f"import sys, runpy; sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'nuke')!r}]; from tests.support.fakes.fake_nuke import FakeNuke; "
        f"sys.modules['nuke'] = FakeNuke(); runpy.run_path({str(NUKE_PATH / 'init.py')!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PySide2', 'shiboken6', 'shiboken2')))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


def test_the_install_block_alone_makes_the_node_loadable_in_a_bare_python(tmp_path: Path) -> None:
    # -I -S: no site-packages and no PYTHONPATH, as in Nuke's own Python: only the block written
    # by `void-remove install nuke` puts the host-only folder on sys.path, and nothing heavy is
    # importable from it (finding 8).
    from void_nuke import installer

    home = tmp_path / ".nuke"
    assert installer.install(installer_args("--nuke-dir", str(home))) == 0
    code = (
        f"import sys, types; fake = types.ModuleType('nuke'); fake.pluginAddPath = lambda p: sys.path.append(p); "
        f"sys.modules['nuke'] = fake; exec(open({str(home / 'init.py')!r}).read()); "
        "import void_nuke.startup, void_hostlink; print(void_nuke.__file__); print(void_hostlink.find_void_remove())\n"
        "try:\n    import void_client\nexcept ImportError:\n    print('no client')"
    )
    r = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, cwd="/"
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    folder = home / "void_remove" / "python"
    assert lines[0] == str(folder / "void_nuke" / "__init__.py")
    assert lines[1] == str(installer.worker_argv()) and lines[2] == "no client"


def installer_args(*argv: str):
    import argparse

    from void_nuke import installer

    p = argparse.ArgumentParser()
    installer.add_arguments(p)
    return p.parse_args(list(argv))


def test_create_wires_plate_and_rotos_from_the_selection(fake: FakeNuke) -> None:
    read = fake.add(Node("Read", "Read1"))
    roto = fake.add(Node("Roto", "Roto_ball"))
    shadow = fake.add(Node("RotoPaint", "RotoPaint_shadow"))
    fake.selected = [shadow, roto, read]
    node = glue.create()
    assert node.Class() == N.NODE_CLASS
    assert [node.input(i) for i in range(3)] == [read, roto, shadow]
    fake.selected = [roto]  # createNode would hang the Roto on input 0; the glue rewires it
    only = glue.create()
    assert [only.input(i) for i in range(3)] == [None, roto, None]


def test_a_new_node_plans_from_its_defaults_and_the_sources_range(
    fake: FakeNuke, shot: Shot
) -> None:
    node = wired(fake, shot)
    p = glue.prepare(node)
    assert p.settings == S.NodeSettings(**JOB) and (p.plan.first, p.plan.last) == (
        FIRST,
        FIRST + 11,
    )
    assert p.plan.has_affected and p.name == "VOIDRemove1"
    assert p.plan.run_dir.startswith(os.environ["VOID_REMOVE_HOME"])  # unsaved script ("Root")
    fake.root_node["name"].setValue("/shows/x/sh010_comp.nk")
    assert glue.prepare(node).plan.run_dir.startswith(
        "/shows/x/void_remove/sh010_comp/VOIDRemove1/"
    )


# --------------------------------------------------------------------------- a GUI run
def test_gui_run_exports_in_the_background_then_streams_results_into_the_read(
    fake: FakeNuke, daemon, shot: Shot
) -> None:
    node = wired(fake, shot, endpoint=daemon.endpoint, seed=7)
    main = threading.get_ident()
    glue.run(node)
    # The press returns at once: the export is a `nuke -x` of a saved copy (finding 11), made of
    # temporary Writes inside the node, one per role, already deleted from the artist's script.
    assert not glue.RUNS and "VOIDRemove1" in void_nuke.export.EXPORTS
    assert [args for name, args in fake.calls if name == "create"] == [("Write", "VOIDRemove1")] * 3
    assert len([c for c in fake.calls if c[0] == "delete"]) == 3 and executes(fake) == []
    saved = [args[0] for name, args in fake.calls if name == "scriptSave"]
    assert len(saved) == 1 and saved[0].endswith(".nk")
    pump(fake, lambda: bool(glue.RUNS))
    plan = glue.RUNS["VOIDRemove1"].prepared.plan
    for e in plan.exports():  # every frame of every role is on disk before the job starts
        assert all(os.path.exists(plan.frame_path(e.role, f)) for f in plan.frames)
    assert (
        node["results"].value() == N.nuke_path(plan.pattern("result"))
        and node["result_first"].value() == FIRST
    )
    assert node["results"].value() % FIRST == SequencePattern.parse(plan.pattern("result")).path(
        FIRST
    )  # the TCL [format] the Switch uses
    pump(fake, idle)
    statuses = node["status"].history
    assert any(t.startswith("exporting 1/") for t in statuses)  # export progress on the node
    assert "starting" in statuses  # then the worker's (its events are coalesced per UI tick)
    assert node["status"].value().startswith("done: 12 frames")
    assert (
        node["tile_color"].value() == N.TILE_COLOURS["done"]
        and node["run_hash"].value() == plan.fingerprint
    )
    assert fake.messages == [] and fake.tasks == []  # the node's status is the one indicator
    assert node.node(N.RESULT_READ)["reload"].executed >= 2 and node["results_version"].value() >= 2
    assert set(node["status"].threads) == {main}  # every UI update came through executeInMainThread
    # The daemon ran the job the knobs describe, and the frames are the real pipeline's.
    manifest = PL.Manifest.load(plan.manifest_path)
    spec = json.loads((daemon.jobs_dir / manifest.job / "spec.json").read_text())
    assert (
        spec["seed"],
        spec["dilation"],
        spec["window"],
        spec["overlap"],
        spec["engine"],
    ) == (7, 2, 13, 4, "propagate")
    assert spec["frames"] == plan.frames and (spec["width"], spec["height"]) == (96, 64)
    check_clean_plate(plan, shot)


def check_clean_plate(plan: PL.RunPlan, shot: Shot) -> None:
    out = SequencePattern.parse(plan.pattern("result"))
    result = np.stack([read_image(out.path(f)).pixels for f in plan.frames])
    qms = np.stack(
        [
            build_quadmask(r, a, JOB["dilation"])
            for r, a in zip(shot.remove, shot.affected, strict=True)
        ]
    )
    plate = shot.plate.astype(np.float16)
    for i in range(len(plan.frames)):
        outside = composite_alpha(hole(qms[i]), 6) == 0
        assert result[i][outside].tobytes() == plate[i][outside].tobytes()
    inside = psnr(result[..., :3].astype(np.float32), shot.truth, hole(qms))
    before = psnr(shot.plate[..., :3], shot.truth, hole(qms))
    assert inside > before + 6.0


def test_unchanged_inputs_reuse_results_and_upstream_edits_mark_the_node_stale(
    fake: FakeNuke, daemon, shot: Shot
) -> None:
    node = wired(fake, shot, endpoint=daemon.endpoint)
    fake.on_execute = renderer(shot)
    glue.run(node)
    pump(fake, idle)
    first_plan_dir = PL.Manifest.load(glue.prepare(node).plan.manifest_path)
    assert first_plan_dir is not None and first_plan_dir.complete
    n_exec = exports_made(fake)
    fake.ask_answer = False  # "run again anyway?" -> no
    glue.run(node)
    assert exports_made(fake) == n_exec and idle()
    assert fake.questions and "up to date" in fake.questions[-1]
    assert node["status"].value() == "up to date: 12 frames from an earlier run"
    # Moving a node changes nothing; editing the roto makes the result stale.
    fake.toNode("Roto1")["xpos"].setValue(250)
    glue.refresh(node)
    assert node["status"].value().startswith("up to date")
    fake.toNode("Roto1")["curves"].setValue("ball, moved")
    fake.this_node = node
    glue.update_ui()
    assert (
        node["status"].value() == N.STALE_STATUS
        and node["tile_color"].value() == N.TILE_COLOURS["stale"]
    )
    fake.toNode("Roto1")["curves"].setValue("ball")
    glue._LAST_REFRESH.clear()
    glue.update_ui()
    assert node["status"].value() == N.UP_TO_DATE_STATUS


def test_knob_changes_toggle_the_manual_range_and_recheck_staleness(
    fake: FakeNuke, shot: Shot
) -> None:
    node = wired(fake, shot, run_hash="0" * 64)
    fake.this_node, fake.this_knob = node, node["use_input_range"]
    node["use_input_range"].setValue(False)
    glue.knob_changed()
    assert node["range_first"].enabled and node["range_last"].enabled
    assert node["status"].value() == N.STALE_STATUS  # its last run was made from other inputs
    node["use_input_range"].setValue(True)
    glue.knob_changed()
    assert not node["range_first"].enabled


def test_choosing_the_plate_layer_points_the_overlays_shuffle_at_it(
    fake: FakeNuke, shot: Shot
) -> None:
    """The quadmask overlay view reads VOID_PlateLayer: its ``in`` must follow the plate_layer
    knob as soon as it changes (and when the panel opens or the view switches), not only before
    an export, or the overlay tints the Source's rgba."""
    node = wired(fake, shot)
    shuffle = node.node(N.PLATE_LAYER_NODE)
    node["plate_layer"].setValue("beauty")
    fake.this_node, fake.this_knob = node, node["plate_layer"]
    glue.knob_changed()
    assert shuffle["in"].value() == "beauty"
    shuffle["in"].setValue("rgba")  # a script reopened: the gizmo's internals start over
    fake.this_knob = node["view"]
    node["view"].setValue("quadmask overlay")
    glue.knob_changed()
    assert shuffle["in"].value() == "beauty"


# --------------------------------------------------------------------------- cancel and errors
def test_cancel_stops_the_running_job(fake: FakeNuke, daemon, tmp_path: Path) -> None:
    long = make_shot(frames=40, width=128, height=80, seed=2, first=FIRST)
    files = write_sources(tmp_path / "long", long)
    node = wired(fake, long, files=files, endpoint=daemon.endpoint, window=13, overlap=4)
    fake.on_execute = renderer(long)
    glue.run(node)
    pump(fake, lambda: bool(glue.RUNS))  # the export is done; the worker has just started
    current = glue.RUNS["VOIDRemove1"]
    glue.cancel(node)  # at once: before the worker has even started talking
    assert node["status"].value() == "cancelling"
    glue.cancel(node)  # pressed again: still one SIGTERM (a second would leave the job running)
    pump(fake, idle)
    assert node["status"].value().startswith("cancelled") and current.state.stage == "cancelled"
    final = current.process.wait(30) if current.process is not None else {}
    assert final["event"] == "cancelled" and not final.get("left_running"), final
    plan = current.prepared.plan
    assert not PL.results_complete(plan)
    result = SequencePattern.parse(plan.pattern("result"))
    folder = Path(plan.pattern("result")).parent
    # No partial output: only whole frames (and the output manifest's dot files) are left.
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted(
        os.path.basename(result.path(f)) for f in result.scan()
    )
    assert (
        node["tile_color"].value() == N.TILE_COLOURS["idle"]
        and node["run_hash"].value() == ""
        and fake.messages == []
    )
    glue.cancel(node)
    assert node["status"].value() == "nothing to cancel"


def test_cancel_during_the_export_stops_it_and_starts_no_job(
    fake: FakeNuke, shot: Shot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOID_FAKE_NUKE_FRAME_S", "0.2")  # a slow render, to cancel mid-way
    node = wired(fake, shot)
    glue.run(node)
    glue.cancel(node)
    assert node["status"].value() == "cancelling the export"
    pump(fake, idle)
    assert node["status"].value() == "cancelled" and fake.messages == [] and not glue.RUNS
    plan = glue.prepare(node).plan
    for e in plan.exports():  # the export leaves nothing, whole or partial
        assert not any(os.path.exists(plan.frame_path(e.role, f)) for f in plan.frames)


def test_cancel_after_a_rename_during_the_export_still_stops_it_and_leaves_nothing(
    fake: FakeNuke, shot: Shot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16, finding 11: Cancel found the export by the name the node had when it started;
    after a rename it answered "nothing to cancel" and the export ran on."""
    monkeypatch.setenv("VOID_FAKE_NUKE_FRAME_S", "0.2")
    node = wired(fake, shot)
    glue.run(node)
    node.setName("CleanPlate")  # renamed while the background export runs
    glue.cancel(node)
    assert node["status"].value() == "cancelling the export"
    pump(fake, idle)
    assert node["status"].value() == "cancelled" and fake.messages == [] and not glue.RUNS
    plan = glue.prepare(node).plan
    for e in plan.exports():
        assert not any(os.path.exists(plan.frame_path(e.role, f)) for f in plan.frames)
    leftovers = [p for p in Path(plan.run_dir).rglob("*") if p.is_file() and "input" in p.parts]
    assert leftovers == [], leftovers  # no frame, whole or partial


def _iou_outside(proposal: np.ndarray, shot: Shot) -> float:
    outside = shot.remove <= 0.0
    mine, true = (proposal > 0.5) & outside, (shot.affected > 0.5) & outside
    return float((mine & true).sum()) / max(1.0, float((mine | true).sum()))


def test_suggest_affected_runs_the_cli_in_the_background_and_wires_a_read_of_it(
    fake: FakeNuke, shot: Shot, request: pytest.FixtureRequest
) -> None:
    """Issue 19, item 4: the node's Suggest affected matte runs the real ``void-remove
    suggest-affected`` on the background export, off the main thread, and the Affected input
    reads the proposal; a second press is a new version; an artist's own matte stays wired."""
    node = wired(fake, shot, affected=False)
    glue.suggest_affected(node)
    assert node["status"].value().startswith("suggesting")  # returned at once
    pump(fake, lambda: node.input(N.AFFECTED) is not None or "error" in node["status"].value())
    assert fake.messages == [], fake.messages
    read = node.input(N.AFFECTED)
    assert read is not None and read.Class() == "Read", node["status"].value()
    pattern = SequencePattern.parse(read["file"].value())
    # Beside the node's runs, in a folder of its own: a new Affected input changes the run
    # folder (the fingerprint), never where the suggestions of this node are kept.
    node_dir = Path(glue.prepare(node).plan.run_dir).parent
    assert Path(pattern.path(FIRST)).parent == node_dir / "suggested"
    assert read["file"].value().endswith("affected_suggested.####.exr") and pattern.scan() == list(
        range(FIRST, FIRST + len(shot.plate))
    )
    assert (read["first"].value(), read["last"].value()) == (FIRST, FIRST + len(shot.plate) - 1)
    assert node["affected_channel"].value() == "rgba.alpha"
    proposal = np.stack(
        [read_image(pattern.path(f), matte=True).pixels[..., 0] for f in pattern.scan()]
    )
    iou = _iou_outside(proposal.astype(np.float32), shot)
    say(request, f"Nuke node suggest-affected on the 12x96x64 shot: IoU {iou:.3f} (floor 0.6)")
    assert iou >= 0.6  # measured 0.80; the CLI test's floor
    # A second press: a new version, the new Read replaces the earlier suggestion on the input.
    first_read = read
    glue.suggest_affected(node)
    pump(
        fake, lambda: node.input(N.AFFECTED) is not first_read or "error" in node["status"].value()
    )
    second = node.input(N.AFFECTED)
    assert second["file"].value().endswith("affected_suggested_v002.####.exr")
    assert SequencePattern.parse(first_read["file"].value()).scan()  # the first one is kept
    # The artist's own matte on Affected is never replaced.
    own = fake.add(Node("RotoPaint", "MyShadow", {"curves": "shadow"}))
    node.setInput(N.AFFECTED, own)
    glue.suggest_affected(node)
    pump(fake, lambda: "suggested" in node["status"].value() and not glue.SUGGESTING)
    assert node.input(N.AFFECTED) is own and len(fake.messages) == 1
    assert "connect the suggestion yourself" in fake.messages[0]


@pytest.mark.parametrize(
    ("knobs", "inputs", "words"),
    [
        (
            {"use_input_range": False, "range_first": 900, "range_last": 950},
            3,
            "outside the Source's range",
        ),
        ({}, 1, "Remove input"),
        ({}, 0, "connect a plate"),
    ],
)
def test_setup_errors_are_a_message_before_anything_renders(
    fake: FakeNuke, shot: Shot, knobs: dict, inputs: int, words: str
) -> None:
    node = wired(fake, shot, **knobs)
    for i in range(inputs, 3):
        node.setInput(i, None)
    glue.run(node)
    assert exports_made(fake) == 0 and idle()
    assert len(fake.messages) == 1 and words in fake.messages[0]
    assert (
        node["status"].value().startswith("error:")
        and node["tile_color"].value() == N.TILE_COLOURS["failed"]
    )


def test_settings_the_cli_refuses_are_its_message_on_the_node(
    fake: FakeNuke, daemon, shot: Shot
) -> None:
    # One definition of each rule: the worker's `void-remove run` checks the job's flags.
    node = wired(fake, shot, endpoint=daemon.endpoint, overlap=200)
    fake.on_execute = renderer(shot)
    glue.run(node)
    pump(fake, idle)
    assert len(fake.messages) == 1 and "overlap" in fake.messages[0]
    assert node["tile_color"].value() == N.TILE_COLOURS["failed"]


def test_an_empty_remove_matte_is_reported_from_the_worker(
    fake: FakeNuke, daemon, shot: Shot, tmp_path: Path
) -> None:
    files = write_sources(tmp_path / "empty", shot, remove=np.zeros_like(shot.remove))
    node = wired(fake, shot, files=files, endpoint=daemon.endpoint)
    fake.on_execute = renderer(shot, remove=np.zeros_like(shot.remove))
    glue.run(node)
    pump(fake, idle)
    assert len(fake.messages) == 1 and "empty on every frame" in fake.messages[0]
    assert node["status"].value().startswith("error: the remove matte")


def test_missing_engine_weights_are_reported(fake: FakeNuke, daemon, shot: Shot) -> None:
    node = wired(fake, shot, endpoint=daemon.endpoint, engine="void")
    fake.on_execute = renderer(shot)
    glue.run(node)
    pump(fake, idle)
    assert len(fake.messages) == 1 and "weights" in fake.messages[0].lower()
    assert node["tile_color"].value() == N.TILE_COLOURS["failed"]


def test_no_daemon_offers_to_start_one(
    fake: FakeNuke, shot: Shot, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    node = wired(fake, shot, endpoint=endpoint)
    fake.on_execute = renderer(shot)
    fake.ask_answer = False
    glue.run(node)
    pump(fake, idle)
    assert "No VOID daemon answers at" in fake.questions[-1]
    assert "no answer from the VOID daemon" in fake.messages[-1]
    # "Yes": a second attempt that starts a daemon; this one's command exits at once.
    monkeypatch.setenv("VOID_DAEMON_COMMAND", f"{sys.executable} -c 'raise SystemExit(3)'")
    fake.ask_answer, fake.messages[:] = True, []
    n_exec = exports_made(fake)
    glue.run(node)
    pump(fake, lambda: idle() and bool(fake.messages))
    assert exports_made(fake) == 2 * n_exec  # exported once for this press, not for the retry
    assert "exited at start" in fake.messages[-1]


# --------------------------------------------------------------------------- batch and farm
def test_batch_mode_runs_the_script_blocking_end_to_end(fake: FakeNuke, daemon, shot: Shot) -> None:
    fake.GUI = False
    node = wired(fake, shot, endpoint=daemon.endpoint)
    fake.on_execute = renderer(shot)
    assert glue.batch_main(["/shows/x/sh010_comp.nk", "--save"]) == 0
    assert (
        fake.calls[0] == ("scriptOpen", ("/shows/x/sh010_comp.nk",))
        and ("scriptSave", ("",)) in fake.calls
    )
    assert fake.main_thread == [] and fake.tasks == []  # no event loop, no progress window
    plan = glue.prepare(node).plan
    assert node["status"].value().startswith("done: 12 frames") and PL.results_complete(plan)
    check_clean_plate(plan, shot)
    n_exec = len(executes(fake))
    assert (
        glue.batch_main(["/shows/x/sh010_comp.nk"]) == 0 and len(executes(fake)) == n_exec
    )  # reused
    assert (
        glue.batch_main(["/shows/x/sh010_comp.nk", "--force"]) == 0
        and len(executes(fake)) == 2 * n_exec
    )


STEREO = ("left", "right")


def stereo_renderer(shot: Shot) -> Any:
    """``nuke.execute(write, first, last, 1, views)`` of a stereo export Write: one file per view
    (``%V`` in its file knob), each view's frames from the shot (the same for both eyes)."""
    mono = renderer(shot)

    def execute(write: Node, first: int, last: int, views: Any = None) -> None:
        assert "%V" in write["file"].value() and write["views"].value().split() == list(STEREO)
        assert list(views or ()) == list(STEREO)
        pattern = write["file"].value()
        for view in views:
            write["file"].setValue(pattern.replace("%V", view))
            mono(write, first, last)
        write["file"].setValue(pattern)

    return execute


def check_stereo_results(node: Node, plan: PL.RunPlan, shot: Shot) -> None:
    result = plan.pattern("result")
    assert node["results"].value() == N.nuke_path(N.view_pattern(result, STEREO))
    assert "%V" in node["results"].value()
    for view in STEREO:
        for f in plan.frames:
            path = N.view_pattern(result, STEREO).replace("%V", view) % f
            assert os.path.exists(path), path
    assert not os.path.exists(plan.frame_path("result", plan.first))  # no mono sequence


def test_a_stereo_script_runs_both_views_in_the_gui_and_the_read_shows_percent_v(
    fake: FakeNuke, daemon, shot: Shot
) -> None:
    """Issue 21 through the node: a two-view script with stereo view 'all' gets ``%V`` in
    ``--out`` and in the results knob, and both views' results are written."""
    fake.script_views = list(STEREO)
    node = wired(fake, shot, endpoint=daemon.endpoint)
    glue.run(node)
    pump(fake, idle, timeout=180)
    assert node["status"].value().startswith("done"), node["status"].value()
    check_stereo_results(node, glue.prepare(node).plan, shot)


def test_a_stereo_script_in_batch_exports_and_runs_every_view(
    fake: FakeNuke, daemon, shot: Shot
) -> None:
    fake.GUI = False
    fake.script_views = list(STEREO)
    node = wired(fake, shot, endpoint=daemon.endpoint)
    fake.on_execute = stereo_renderer(shot)
    assert glue.batch_main(["/shows/x/sh010_stereo.nk"]) == 0
    plan = glue.prepare(node).plan
    check_stereo_results(node, plan, shot)
    n_exec = len(executes(fake))
    assert glue.batch_main(["/shows/x/sh010_stereo.nk"]) == 0 and len(executes(fake)) == n_exec


def test_submit_to_farm_of_a_stereo_script_submits_each_view_with_its_files(
    fake: FakeNuke, shot: Shot
) -> None:
    fake.script_views = list(STEREO)
    node = wired(fake, shot, farm="openjd")
    fake.on_execute = stereo_renderer(shot)
    glue.submit_farm(node)
    plan = glue.prepare(node).plan
    assert len(fake.messages) == 1 and "openjd run" in fake.messages[0], fake.messages
    assert "%V" in node["results"].value()
    for view in STEREO:
        spec = json.loads((Path(plan.farm_dir) / view / "job" / PL.FARM_SPEC_NAME).read_text())
        plate = N.view_pattern(plan.pattern("plate"), STEREO).replace("%V", view)
        assert spec["plate"] == os.path.abspath(plate) and os.path.exists(plate % plan.first)
        assert f".{view}." in json.dumps(spec["job"]["out_pattern"])


def test_batch_failure_exits_nonzero_with_the_reason(
    fake: FakeNuke, daemon, shot: Shot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.GUI = False
    wired(fake, shot, endpoint=daemon.endpoint)
    fake.on_execute = renderer(shot, remove=np.zeros_like(shot.remove))
    with caplog.at_level(logging.ERROR, logger="void_nuke"):
        assert glue.batch_main(["shot.nk"]) == 2
    assert "[empty_matte]" in caplog.text and "VOIDRemove1" in caplog.text
    assert glue.batch_main(["shot.nk", "--node", "NoSuchNode"]) == 2


def render_graph(fake: FakeNuke, **knobs: Any) -> tuple[Node, Node]:
    """A comp: Read and rotos into VOID Remove, a Grade, the comp's Write (also built by
    ``tests/support/nuke_render_task.py`` in each simulated render process)."""
    node = wired(fake, SimpleNamespace(plate=[None] * 12), files={}, **knobs)
    grade = fake.add(Node("Grade", "Grade1", {"white": 1.2}))
    write = fake.add(Node("Write", "Write1", {"file": "/out/clean.####.exr"}))
    grade.setInput(0, node)
    write.setInput(0, grade)
    return node, write


RENDER_TASK = REPO / "tests" / "support" / "nuke_render_task.py"


def render_tasks(frames: list[int], endpoint: str) -> list[dict]:
    """Several farm render tasks at once, each its own process (``nuke -x`` per task)."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(RENDER_TASK), str(f), endpoint],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in frames
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=180)
        assert p.returncode == 0, stderr
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def test_farm_render_tasks_never_run_the_void_job(fake: FakeNuke, daemon, shot: Shot) -> None:
    """Finding 9: beforeRender fires in every render process; none of them may run the job."""

    def jobs() -> set[str]:
        return {p.name for p in daemon.jobs_dir.iterdir()} if daemon.jobs_dir.is_dir() else set()

    frames = [FIRST, FIRST + 5, FIRST + 11]
    before = jobs()
    # No results yet: every task stops before rendering, says what to do, exports nothing.
    for frame, task in zip(frames, render_tasks(frames, daemon.endpoint), strict=True):
        assert task["rendered"] == [] and task["executes"] == [["Write1", frame, frame]]
        assert "VOID Remove VOIDRemove1: no finished results" in task["error"]
        assert (
            "press VOID Remove on the node" in task["error"] and "Submit to farm" in task["error"]
        )
    assert jobs() == before
    # The artist runs VOID Remove (here as `nuke -t void_remove_batch.py` would); then every
    # task renders from the results on disk, found by the fingerprint, and submits nothing.
    fake.GUI = False
    node, _write = render_graph(fake, endpoint=daemon.endpoint)
    fake.on_execute = renderer(shot)
    assert glue.run_blocking(node).stage == "done"
    plan = glue.prepare(node).plan
    after_run = jobs()
    assert len(after_run) == len(before) + 1
    for task in render_tasks(frames, daemon.endpoint):
        assert task["error"] == "" and task["rendered"] == ["Write1"]
        assert task["results"] == N.nuke_path(plan.pattern("result"))
    assert jobs() == after_run
    # In this process too (a render here is a task): an upstream edit stops it, no job runs.
    fake.toNode("Roto1")["curves"].setValue("other")
    fake.on_execute = None
    void_nuke.startup.init()  # registers the beforeRender hook, as init.py does
    with pytest.raises(RuntimeError, match="no finished results for its current inputs"):
        fake.execute(fake.toNode("Write1"), FIRST, FIRST)
    assert jobs() == after_run


def test_switching_the_matte_channel_changes_the_fingerprint_and_marks_the_node_stale(
    fake: FakeNuke, shot: Shot
) -> None:
    """Finding 10: the channel enters the fingerprint as selected, not as a Link's toScript()."""
    node = wired(fake, shot)
    link = node["remove_channel"]
    assert link.toScript() == f"{N.REMOVE_MATTE_NODE}.from0"  # the link's name, as in Nuke
    original = link.value()
    before = glue.prepare(node).plan.fingerprint
    node["run_hash"].setValue(before)
    link.setValue("rgba.red")
    assert node.node(N.REMOVE_MATTE_NODE)["from0"].value() == "rgba.red"
    assert glue.prepare(node).plan.fingerprint != before
    fake.this_node, fake.this_knob = node, link
    glue.knob_changed()
    assert node["status"].value() == N.STALE_STATUS
    link.setValue(original)
    glue.knob_changed()
    assert glue.prepare(node).plan.fingerprint == before
    assert node["status"].value() == N.UP_TO_DATE_STATUS


def test_the_stale_check_serialises_only_the_direct_inputs(fake: FakeNuke, shot: Shot) -> None:
    """Finding 10: updateUI must not serialise the whole upstream graph every second."""
    node = wired(fake, shot)
    upstream = fake.toNode("Read1")
    for i in range(40):  # a deep comp above the plate
        grade = fake.add(Node("Grade", f"Grade{i}", {f"knob{j}": j for j in range(10)}))
        grade.setInput(0, upstream)
        upstream = grade
    node.setInput(0, upstream)
    node["run_hash"].setValue(glue.prepare(node).plan.fingerprint)
    fake.this_node = node
    glue.update_ui()  # the first check walks everything once
    direct = sum(len(node.input(i).knobs()) for i in range(3))
    whole = fake.serialisations
    costs = []
    for _ in range(5):
        glue._LAST_REFRESH.clear()  # a second has passed
        n = fake.serialisations
        glue.update_ui()
        costs.append(fake.serialisations - n)
    say = f"knob serialisations per stale check: {costs} (direct inputs {direct}, graph {whole})"
    print(say)
    assert max(costs) <= direct < 40 * 10
    assert node["status"].value() != N.STALE_STATUS  # unchanged: not stale
    upstream["knob0"].setValue(99)  # an edit of the Source's own node is seen at the next tick
    glue._LAST_REFRESH.clear()
    glue.update_ui()
    assert node["status"].value() == N.STALE_STATUS
    upstream["knob0"].setValue(0)
    fake.toNode("Grade3")["knob1"].setValue(7)  # further up: only the full fingerprint sees it
    assert glue.prepare(node).plan.fingerprint != node["run_hash"].value()


def test_the_results_knob_is_read_only_for_the_artist(fake: FakeNuke, shot: Shot) -> None:
    """Finding 11: the artist cannot type into ``results``; VOID Remove still sets it."""
    node = wired(fake, shot)
    fake.this_node, fake.this_knob = node, Knob("showPanel")
    glue.knob_changed()
    assert not node["results"].artist_set("/elsewhere/%04d.exr")
    assert node["results"].getFlag(fake.READ_ONLY)
    glue._show_results(glue.prepare(node))
    assert node["results"].value().endswith(".%04d.exr")


def test_renaming_the_node_mid_run_keeps_the_job_under_the_new_name(
    fake: FakeNuke, daemon, shot: Shot
) -> None:
    """Finding 11: a rename while the job runs must not silently cancel it."""
    node = wired(fake, shot, endpoint=daemon.endpoint)
    fake.on_execute = renderer(shot)
    glue.run(node)
    pump(fake, lambda: bool(glue.RUNS))  # the export is done, the job runs
    node.setName("CleanPlate")
    assert glue._run_of(node) is not None and "CleanPlate" in glue.RUNS
    pump(fake, idle)
    assert node["status"].value().startswith("done: 12 frames"), node["status"].value()
    assert fake.questions == [] and fake.messages == []


def test_a_node_deleted_or_renamed_during_its_export(fake: FakeNuke, daemon, shot: Shot) -> None:
    node = wired(fake, shot, endpoint=daemon.endpoint)
    glue.run(node)
    node.setName("CleanPlate")  # renamed while the background export runs
    pump(fake, lambda: bool(glue.RUNS))
    assert list(glue.RUNS) == ["CleanPlate"]
    pump(fake, idle)
    assert node["status"].value().startswith("done: 12 frames")
    other = wired(fake, shot, endpoint=daemon.endpoint, seed=3)
    glue.run(other)
    fake.delete(other)  # deleted while the background export runs: no job starts
    pump(fake, idle)
    assert not glue.RUNS and fake.messages == []


def test_deleting_the_node_mid_run_asks_before_cancelling(
    fake: FakeNuke, daemon, shot: Shot
) -> None:
    node = wired(fake, shot, endpoint=daemon.endpoint)
    fake.on_execute = renderer(shot)
    glue.run(node)
    pump(fake, lambda: bool(glue.RUNS))  # the export is done, the job runs
    current = glue.RUNS["VOIDRemove1"]
    fake.delete(node)
    fake.ask_answer = True  # "Cancel the job?" -> yes
    pump(fake, lambda: current.process is not None and not current.process.running)
    assert len(fake.questions) == 1 and "was deleted" in fake.questions[0]
    assert current.state.stage in ("cancelled", "done")
    assert current.process.wait(30)["event"] == current.state.stage


def test_submit_to_farm_exports_and_writes_the_farm_job(fake: FakeNuke, shot: Shot) -> None:
    node = wired(fake, shot, farm="openjd")
    fake.on_execute = renderer(shot)
    glue.submit_farm(node)
    plan = glue.prepare(node).plan
    assert len(fake.messages) == 1 and "openjd run" in fake.messages[0]
    assert node["status"].value().startswith("openjd job VOIDRemove1-") and node[
        "results"
    ].value() == N.nuke_path(plan.pattern("result"))
    farm_json = Path(plan.farm_dir) / "job" / PL.FARM_SPEC_NAME
    assert json.loads(farm_json.read_text())["remove"] == os.path.abspath(plan.pattern("remove"))
    # Submitted again with the same inputs: the same folder and job files, rewritten.
    glue.submit_farm(node)
    assert node["status"].value().startswith(f"openjd job {plan.job_id} ")


FAKE_DEADLINECOMMAND = """#!{python}
# Stands in for Deadline's `deadlinecommand JOB_INFO PLUGIN_INFO`: answers `JobID=<id>` (what
# the real one prints for a submitted job) and records both files.
import json, os, sys
log = {log!r}
n = sum(1 for _ in open(log)) if os.path.exists(log) else 0
with open(log, "a") as f:
    f.write(json.dumps([open(sys.argv[1]).read(), open(sys.argv[2]).read()]) + "\\n")
print("Result=Success")
print("JobID=job%03d" % n)
"""


def fake_deadlinecommand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put :data:`FAKE_DEADLINECOMMAND` first on PATH; returns the log it records jobs in."""
    log = tmp_path / "deadline.jsonl"
    exe = tmp_path / "deadline" / "deadlinecommand"
    exe.parent.mkdir()
    exe.write_text(FAKE_DEADLINECOMMAND.format(python=sys.executable, log=str(log)))
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    return log


def deadline_jobs(log: Path) -> tuple[list[list[str]], list[str]]:
    """The (job info, plugin info) pairs submitted: the VOID jobs', then the comp render's."""
    jobs = [json.loads(line) for line in log.read_text().splitlines()]
    return jobs[:-1], jobs[-1]


def submit_with_comp_render(
    fake: FakeNuke, shot: Shot, tmp_path: Path, farm: str
) -> tuple[Any, Any, Path]:
    """Submit the node of :func:`render_graph` to ``farm`` from a saved script, answering yes
    to the comp-render question ("Also submit/render Write1 ...?"): node, Write and script."""
    node, write = render_graph(fake, farm=farm)
    script = tmp_path / "sh010_comp.nk"
    fake.root_node["name"].setValue(str(script))
    fake.on_execute = renderer(shot)
    fake.ask_answer = True
    glue.submit_farm(node)
    assert fake.questions and "Write1" in fake.questions[-1], fake.messages
    return node, write, script


def test_submit_to_deadline_also_submits_the_comp_render_waiting_on_the_void_job(
    fake: FakeNuke, shot: Shot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_deadlinecommand(tmp_path, monkeypatch)
    node, write, script = submit_with_comp_render(fake, shot, tmp_path, "deadline")
    void_jobs, (comp_job, comp_plugin) = deadline_jobs(log)
    assert void_jobs and all("Plugin=Nuke" not in j for j, _ in void_jobs)
    ids = [f"job{i:03d}" for i in range(len(void_jobs))]
    assert "Plugin=Nuke\n" in comp_job and f"JobDependencies={','.join(ids)}\n" in comp_job
    assert f"Frames={write.firstFrame()}-{write.lastFrame()}\n" in comp_job  # the Write's range
    assert comp_plugin.splitlines()[:2] == [f"SceneFile={script}", "WriteNode=Write1"]
    assert ("scriptSave", ("",)) in fake.calls  # the farm renders the saved script
    status = node["status"].value()
    assert f"comp render job{len(void_jobs):03d} waits on it" in status, status
    # No: nothing more is submitted.
    fake.ask_answer = False
    glue.submit_farm(node)
    assert len(log.read_text().splitlines()) == 2 * len(void_jobs) + 1


def test_a_stereo_deadline_comp_render_waits_on_every_views_void_job(
    fake: FakeNuke, shot: Shot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_deadlinecommand(tmp_path, monkeypatch)
    fake.script_views = list(STEREO)
    node, _write = render_graph(fake, farm="deadline")
    fake.root_node["name"].setValue(str(tmp_path / "sh010_stereo.nk"))
    fake.on_execute = stereo_renderer(shot)
    fake.ask_answer = True
    glue.submit_farm(node)
    void_jobs, (comp_job, _plugin) = deadline_jobs(log)
    plan = glue.prepare(node).plan
    per_view = {
        v: (Path(plan.farm_dir) / v / "job" / "submitted.log").read_text().count("JobID=")
        for v in STEREO
    }
    assert all(per_view.values()) and sum(per_view.values()) == len(void_jobs), per_view
    ids = [f"job{i:03d}" for i in range(len(void_jobs))]
    assert f"JobDependencies={','.join(ids)}\n" in comp_job  # both views' VOID jobs


def test_submit_to_openjd_adds_the_comp_render_as_a_step_after_assemble(
    fake: FakeNuke, shot: Shot, tmp_path: Path
) -> None:
    """OpenJD has no job-on-job dependency, so the comp render is a step of the VOID bundle:
    ``comp-<Write>``, one task per frame of the Write, depending on ``assemble`` (the VOID
    steps' last), running ``nuke -x -X <Write> -F <frame> <script>`` with this Nuke. The
    template stays valid Open Job Description (checked with openjd-model, the reference)."""
    import yaml
    from openjd.model import decode_job_template

    from void_client.farm import openjd
    from void_nuke import comp_render as CR

    # The node cannot import the client: its copies of the bundle's names must agree.
    assert (CR.OPENJD_TEMPLATE, CR.OPENJD_ASSEMBLE_STEP) == (
        openjd.TEMPLATE_FILE,
        openjd.ASSEMBLE_STEP,
    )
    node, write, script = submit_with_comp_render(fake, shot, tmp_path, "openjd")
    plan = glue.prepare(node).plan
    path = Path(plan.farm_dir) / "job" / openjd.TEMPLATE_FILE
    template = yaml.safe_load(path.read_text())
    decode_job_template(template=template)  # raises on anything OpenJD refuses
    steps = {s["name"]: s for s in template["steps"]}
    comp = steps["comp-Write1"]
    assert openjd.ASSEMBLE_STEP in steps and list(steps)[-1] == "comp-Write1"
    assert comp["dependencies"] == [{"dependsOn": openjd.ASSEMBLE_STEP}]
    (frame,) = comp["parameterSpace"]["taskParameterDefinitions"]
    assert frame["range"] == f"{write.firstFrame()}-{write.lastFrame()}"
    action = comp["script"]["actions"]["onRun"]
    assert action["command"] == fake.EXE_PATH
    assert action["args"] == ["-x", "-X", "Write1", "-F", "{{Task.Param.Frame}}", str(script)]
    assert ("scriptSave", ("",)) in fake.calls
    assert "comp render comp-Write1 added after assemble" in node["status"].value()
    # Submitted again: the farm rewrote the template; one comp step again, not two.
    glue.submit_farm(node)
    names = [s["name"] for s in yaml.safe_load(path.read_text())["steps"]]
    assert names.count("comp-Write1") == 1


FAKE_OPENCUE = """# Stands in for OpenCue's Python API in the void-remove process the node starts:
# opencue.api.launchSpec records the spec and answers the job names, as pycue's does.
import os

os.getuid = lambda: 4321  # the artist: Cuebot refuses root, and test containers run as root


class api:  # noqa: N801 - pycue's module name
    @staticmethod
    def launchSpec(text):  # noqa: N802 - pycue's name
        n = len(os.listdir({log!r}))
        with open(os.path.join({log!r}, "spec%03d.xml" % n), "w") as f:
            f.write(text)
        return ["myshow-sh010-maria_void_remove_%d" % n]
"""


def test_submit_to_opencue_adds_the_comp_render_to_the_void_jobs_spec(
    fake: FakeNuke, shot: Shot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenCue: the node passes ``--comp-render SCRIPT:WRITE`` to ``void-remove farm opencue``,
    so the one spec it launches holds the comp layer ``comp_<Write>`` (this Nuke, ``-x -X
    <Write> -F #FRAME_START#-#FRAME_END# <script>``) with a depend on ``assemble``; Nuke never
    loads OpenCue's API. The launched spec is checked against Cuebot's DTD."""
    from lxml import etree

    from void_client.farm import opencue
    from void_nuke import comp_render as CR

    # The node cannot import the client: its copies of the spec's names must agree.
    assert (CR.OPENCUE_LAYER_PREFIX, CR.OPENCUE_ASSEMBLE_LAYER) == (
        opencue.COMP_LAYER_PREFIX,
        opencue.ASSEMBLE_LAYER,
    )
    sent = tmp_path / "launched"
    sent.mkdir()
    fake_api = tmp_path / "fake_pycue" / "opencue"
    fake_api.mkdir(parents=True)
    (fake_api / "__init__.py").write_text(FAKE_OPENCUE.format(log=str(sent)))
    path = os.pathsep.join(filter(None, [str(fake_api.parent), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("CUEBOT_HOSTS", "cuebot.test")
    monkeypatch.setenv("LOGNAME", "maria")
    node, write = render_graph(fake, farm="opencue")
    script = tmp_path / "sh010_comp.nk"
    fake.root_node["name"].setValue(str(script))
    fake.on_execute = renderer(shot)
    fake.ask_answer = True  # "Also render Write1 in the OpenCue job ...?" -> yes
    glue.submit_farm(node)
    assert fake.questions and "Write1" in fake.questions[-1], fake.messages
    (spec_file,) = sorted(sent.iterdir())  # one launch: VOID layers and comp layer together
    parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
    tree = etree.ElementTree(etree.fromstring(spec_file.read_bytes(), parser))
    dtd = etree.DTD(str(REPO / "tests" / "data" / "opencue" / f"cjsl-{opencue.SPEC_VERSION}.dtd"))
    assert dtd.validate(tree), dtd.error_log.filter_from_errors()
    names = [el.get("name") for el in tree.findall("job/layers/layer")]
    assert names[-2:] == ["assemble", "comp_Write1"], names
    comp = tree.find("job/layers/layer[@name='comp_Write1']")
    assert comp.findtext("cmd") == (
        f"{fake.EXE_PATH} -x -X Write1 -F #FRAME_START#-#FRAME_END# {script}"
    )
    assert comp.findtext("range") == f"{write.firstFrame()}-{write.lastFrame()}"
    (dep,) = [d for d in tree.findall("depends/depend") if d.findtext("deplayer") == "comp_Write1"]
    assert (dep.get("type"), dep.findtext("onlayer")) == ("LAYER_ON_LAYER", "assemble")
    assert dep.findtext("onjob") == dep.findtext("depjob") == tree.find("job").get("name")
    assert tree.findtext("user") == "maria"
    assert ("scriptSave", ("",)) in fake.calls  # the farm renders the saved script
    status = node["status"].value()
    assert status.startswith("submitted to opencue: "), status
    log = Path(glue.prepare(node).plan.farm_dir) / "job" / "submitted.log"
    assert log.read_text() == "launched myshow-sh010-maria_void_remove_0\n"
    assert "comp render comp_Write1 waits on assemble" in status, status
    # No: the VOID job alone, without a comp layer.
    fake.ask_answer = False
    glue.submit_farm(node)
    second = sorted(sent.iterdir())[-1]
    assert second != spec_file and "comp_Write1" not in second.read_text()
    assert "comp render" not in node["status"].value()


def test_selftest_runs_every_step_in_a_scratch_group_and_writes_a_report(
    fake: FakeNuke, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import void_nuke

    def gizmo_node() -> Node:
        node = void_node(fake, "VOIDRemove_made")
        for key in [k for k in fake.registry if k.startswith("VOIDRemove_made")]:
            del fake.registry[key]  # nuke.nodes registers it under its own name
        return node

    def render(write: Node, first: int, last: int, views: Any = None) -> None:
        pattern = write["file"].value()
        for view in views or [""]:
            for f in range(first, last + 1):
                path = pattern.replace("%V", view) % f
                write_image(path, np.zeros((4, 4, 4), np.float16), channels=["R", "G", "B", "A"])

    fake.factories[N.NODE_CLASS] = gizmo_node
    fake.on_execute = render
    before = dict(fake.registry)
    report = void_nuke.selftest(str(tmp_path))
    out = capsys.readouterr().out
    assert report.ok, out
    assert len(report.steps) == 19 and out.count("PASS ") == 19
    # The background export's assumptions, each a named step (docs/nuke.md lists them).
    assert "PASS host.executable (nuke.EXE_PATH) [finding 11]" in out
    assert "PASS nuke -x -X <Write> -F 1-1 [--view]" in out and "-X VOID_selftest.Write" in out
    assert "--view main" in out and "PASS afterFrameRender print reaches stdout" in out
    assert "'VOID_EXPORT_FRAME 1 Write" in out
    assert "[finding 9]" in out and "beforeRender fired with thisNode=VOID_selftest.Write" in out
    assert "remove_channel.toScript()='VOID_RemoveMatte.from0'" in out  # what a TD reports back
    text = Path(report.path).read_text()
    assert text.startswith("VOID Remove self-test, Nuke fake\n") and "19/19 passed" in text
    assert fake.registry == before and fake.before_render == []  # the scratch group is gone
    # A host that breaks a call: that step fails, the others still run, the report says which.
    fake.factories.clear()
    report = void_nuke.selftest(str(tmp_path))
    failed = [s for s in report.steps if not s.ok]
    assert [s.finding for s in failed] == ["10"] and "host.linked_value" in failed[0].calls


def test_the_panel_entry_starts_void_remove_panel_as_its_own_process(
    fake: FakeNuke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The full panel (Qt, numpy, the protocol) never loads into Nuke: the menu entry runs the
    # recorded void-remove with `panel`. A stand-in worker records how it was started.
    import void_nuke.panel

    record = tmp_path / "argv.json"
    worker = tmp_path / "void-remove"
    worker.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"json.dump([sys.argv[1:], os.getsid(0) == os.getpid()], open({str(record)!r}, 'w'))\n"
    )
    worker.chmod(0o755)
    monkeypatch.setenv("VOID_REMOVE_EXE", str(worker))
    void_nuke.panel._PROCESS.clear()
    void_nuke.startup.open_panel()
    void_nuke.panel._PROCESS[0].wait(30)
    assert json.loads(record.read_text()) == [["panel"], True]  # its own session: outlives Nuke
    assert fake.messages == []
    monkeypatch.setenv("VOID_REMOVE_EXE", str(tmp_path / "missing"))
    void_nuke.panel._PROCESS.clear()
    void_nuke.startup.open_panel()
    assert len(fake.messages) == 1 and "cannot start" in fake.messages[0]
