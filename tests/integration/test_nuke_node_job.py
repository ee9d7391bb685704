"""The host-side logic behind the Nuke node, standard library only (void_hostlink.node_settings,
node_fingerprint, node_plan, node_status; void_nuke.node_spec): settings, range, fingerprint,
run folders, manifest, status text; and the run itself, which is ``void-remove run ...
--progress jsonl`` in its own process (void_hostlink.VoidRemoveProcess) against the real daemon
with real EXR exports: the same client code path as the CLI (docs/nuke.md, "Host isolation")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.cli import void_remove
from void_client.job_spec import JobSpec
from void_client.output_manifest import claim_output, read_manifest
from void_client.sequence import SequencePattern, read_image, write_image
from void_daemon.demo_shot import Shot, make_shot
from void_hostlink import HostLinkError, VoidRemoveProcess, find_void_remove
from void_hostlink import node_fingerprint as F
from void_hostlink import node_plan as PL
from void_hostlink import node_settings as S
from void_hostlink import node_status as ST
from void_nuke import node_spec as N

#: The worker the node runs: this install's void-remove (the installer records the same).
WORKER = str(Path(sys.executable).parent / "void-remove")


@pytest.fixture(autouse=True)
def _worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOID_REMOVE_EXE", WORKER)


# --------------------------------------------------------------------------- settings and range
def test_settings_from_knob_values_coerce_whole_floats_and_carry_presets() -> None:
    s = S.NodeSettings.from_values(
        {
            "seed": 7.0,
            "dilation": 3,
            "quality": "draft",
            "engine": "void",
            "pass2": 1,
            "prompt": " sky ",
            "unknown": 1,
        }
    )
    assert (s.seed, s.dilation, s.pass2, s.prompt) == (7, 3, True, " sky ")
    js = s.job_settings()
    assert js["engine_options"] == S.QUALITY_PRESETS["draft"] and js["engine"] == "void"
    assert S.NodeSettings().job_settings()["engine_options"] == {}  # standard = the reference
    # A preset's engine options win over quality's, as the CLI's --preset merges them.
    final = S.NodeSettings(quality="draft", preset="final")
    assert final.engine_options() == {"steps": 30, "pass2_steps": 50}


def test_settings_become_the_clis_flags() -> None:
    s = S.NodeSettings(
        seed=9, window=13, overlap=4, quality="best", preset="final", prompt="-dash", pass2=True
    )
    args = s.cli_args(autostart=False)
    flag = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--")}
    assert flag["--seed"] == "9" and flag["--window"] == "13" and flag["--overlap"] == "4"
    assert flag["--preset"] == "final" and flag["--engine-option"] == "steps=50"
    assert "--prompt=-dash" in args and "--pass2" in args and args[-1] == "--no-autostart"
    assert "--preset" not in S.NodeSettings().cli_args()  # custom: the knobs alone


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"seed": 2.5}, "seed must be a whole number"),
        ({"quality": "ultra"}, "quality must be one of"),
        ({"preset": "cinematic"}, "preset must be one of"),
        ({"endpoint": " "}, "daemon address is empty"),
    ],
)
def test_bad_settings_the_host_must_hash_are_refused_before_anything_renders(
    values: dict, words: str
) -> None:
    # The rest (window, overlap, seam...) is the CLI's to check: one definition of each rule.
    with pytest.raises(HostLinkError) as e:
        S.NodeSettings.from_values(values)
    assert e.value.code == "bad_spec" and words in e.value.message


def test_range_is_the_inputs_unless_set_and_must_lie_inside_it() -> None:
    assert S.resolve_range(S.NodeSettings(), (1001, 1100)) == (1001, 1100)
    manual = S.NodeSettings(use_input_range=False, range_first=1010, range_last=1020)
    assert S.resolve_range(manual, (1001, 1100)) == (1010, 1020)
    for settings, src, words in [
        (
            S.NodeSettings(use_input_range=False, range_first=990, range_last=1000),
            (1001, 1100),
            "outside the Source's range 1001-1100",
        ),
        (
            S.NodeSettings(use_input_range=False, range_first=1020, range_last=1010),
            (1001, 1100),
            "ends before it starts",
        ),
        (S.NodeSettings(), (-5, 10), "below 0"),
        (S.NodeSettings(), None, "connect a plate"),
    ]:
        with pytest.raises(HostLinkError) as e:
            S.resolve_range(settings, src)
        assert words in e.value.message


# --------------------------------------------------------------------------- fingerprint
class G:
    """A tiny node graph: name -> (description, inputs)."""

    def __init__(self, **nodes: tuple[str, list[str | None]]) -> None:
        self.nodes = nodes

    def digest(self, *starts: str | None) -> list[str]:
        return F.upstream_digest(
            list(starts), lambda n: self.nodes[n][1], lambda n: n, lambda n: self.nodes[n][0]
        )


def test_upstream_digest_sees_knob_changes_and_rewiring_but_not_names() -> None:
    base = G(
        read=("Read file=a.exr", []), roto=("Roto curves=1", []), blur=("Blur size=2", ["read"])
    )
    d = base.digest("blur", "roto", None)
    assert d[2] == "none" and len(set(d)) == 3
    changed = G(
        read=("Read file=a.exr", []), roto=("Roto curves=1", []), blur=("Blur size=3", ["read"])
    )
    assert changed.digest("blur", "roto", None)[0] != d[0]
    rewired = G(
        read=("Read file=a.exr", []), roto=("Roto curves=1", []), blur=("Blur size=2", ["roto"])
    )
    assert rewired.digest("blur", "roto", None)[0] != d[0]
    renamed = G(r2=("Read file=a.exr", []), roto=("Roto curves=1", []), b2=("Blur size=2", ["r2"]))
    assert renamed.digest("b2", "roto", None) == d
    # shared upstream (a DAG) and a cycle through expressions both terminate
    dag = G(src=("Read", []), a=("Grade", ["src"]), b=("Blur", ["src"]), m=("Merge", ["a", "b"]))
    assert len(dag.digest("m")[0]) == 64
    cyc = G(a=("A", ["b"]), b=("B", ["a"]))
    assert len(cyc.digest("a")[0]) == 64
    assert F.upstream_order(["m"], lambda n: dag.nodes[n][1], lambda n: n) == ["src", "a", "b", "m"]


def test_cosmetic_knobs_are_left_out_of_a_nodes_description() -> None:
    a = N.describe_knobs(
        {"size": "2", "xpos": "10", "ypos": "5", "label": "x", "name": "Blur1", "tile_color": "0"}
    )
    b = N.describe_knobs({"size": "2", "xpos": "99", "name": "Blur7"})
    assert a == b == "size=2"


def test_fingerprint_follows_what_decides_the_pixels() -> None:
    s = S.NodeSettings()
    base = F.fingerprint(s, 1, 10, ["u"])
    elsewhere = S.NodeSettings(endpoint="tcp://10.0.0.1:1", output_dir="/elsewhere")
    assert F.fingerprint(elsewhere, 1, 10, ["u"]) == base
    assert F.fingerprint(S.NodeSettings(seed=1), 1, 10, ["u"]) != base
    assert F.fingerprint(S.NodeSettings(quality="best"), 1, 10, ["u"]) != base
    assert F.fingerprint(S.NodeSettings(preset="final"), 1, 10, ["u"]) != base
    assert F.fingerprint(s, 1, 11, ["u"]) != base
    assert F.fingerprint(s, 1, 10, ["v"]) != base
    assert F.fingerprint(s, 1, 10, ["u"], {"remove_channel": "rgba.red"}) != base


# --------------------------------------------------------------------------- plan and manifest
def test_run_folder_is_named_by_project_node_and_fingerprint(tmp_path: Path) -> None:
    fp = "ab" * 32
    script = tmp_path / "shots" / "sh010_comp_v003.nk"
    p = PL.plan_run(S.NodeSettings(), 1001, 1010, True, fp, "Group1.VOIDRemove1", str(script))
    assert p.run_dir == str(
        tmp_path / "shots" / "void_remove" / "sh010_comp_v003" / "Group1.VOIDRemove1" / fp[:16]
    )
    assert p.pattern("result") == os.path.join(p.run_dir, "result", "Group1.VOIDRemove1.%04d.exr")
    assert [(e.role, e.channels) for e in p.exports()] == [
        ("plate", "rgba"),
        ("remove", "alpha"),
        ("affected", "alpha"),
    ]
    two = PL.plan_run(S.NodeSettings(), 1, 2, False, fp, "V", "")
    assert [e.role for e in two.exports()] == ["plate", "remove"]
    own = PL.plan_run(
        S.NodeSettings(output_dir=str(tmp_path / "cache")), 1, 2, False, fp, "V", str(script)
    )
    assert own.run_dir.startswith(str(tmp_path / "cache" / "sh010_comp_v003"))
    assert two.run_dir.startswith(os.environ["VOID_REMOVE_HOME"])
    with pytest.raises(HostLinkError, match="contains '%'"):
        PL.plan_run(S.NodeSettings(output_dir=str(tmp_path / "100%")), 1, 2, False, fp, "V", "")
    args = p.run_args(S.NodeSettings(seed=3), autostart=False)
    assert args[:3] == ["run", "--plate", p.pattern("plate")]
    assert args[args.index("--range") + 1] == "1001-1010"
    assert args[args.index("--affected") + 1].endswith("affected.%04d.exr")
    assert "--no-autostart" in args and "--overwrite" in args
    assert "--affected" not in two.run_args(S.NodeSettings())


def test_export_steps_cover_each_role_once_in_chunks() -> None:
    p = PL.RunPlan("/r", 1001, 1020, "f" * 64, True)
    steps = PL.export_steps(p, 8)
    assert [(e.role, a, b) for e, a, b in steps][:3] == [
        ("plate", 1001, 1008),
        ("plate", 1009, 1016),
        ("plate", 1017, 1020),
    ]
    for role in ("plate", "remove", "affected"):
        frames = [f for e, a, b in steps if e.role == role for f in range(a, b + 1)]
        assert frames == p.frames


def test_results_count_as_complete_only_with_manifest_and_every_frame(tmp_path: Path) -> None:
    p = PL.RunPlan(str(tmp_path), 1, 3, "c" * 64, False, "V")
    p.make_dirs()
    assert not PL.results_complete(p)
    assert PL.record_event(p, {"event": "done", "job": "j", "written": 3, "seconds": 1.5})
    assert not PL.record_event(p, {"event": "state", "job": "j"})
    for f in (1, 2):
        write_image(p.frame_path("result", f), np.zeros((2, 2, 1), np.float16))
    assert not PL.results_complete(p)  # frame 3 missing
    write_image(p.frame_path("result", 3), np.zeros((2, 2, 1), np.float16))
    assert PL.results_complete(p)
    other = PL.RunPlan(str(tmp_path), 1, 3, "d" * 64, False, "V")
    assert not PL.results_complete(other)  # other inputs
    saved = json.loads(Path(p.manifest_path).read_text())
    assert (saved["job"], saved["complete"], saved["frames_written"]) == ("j", True, 3)


# --------------------------------------------------------------------------- progress text
def test_run_state_reads_the_worker_stream_as_a_status_line() -> None:
    s = ST.RunState(total=40)
    assert s.text() == "starting, 0/40 frames"
    s.update(
        {
            "event": "state",
            "job": "j1",
            "stage": "running",
            "written": 10,
            "total": 40,
            "window": 1,
            "windows": 3,
            "eta_s": 12.4,
            "queue_position": 0,
        }
    )
    assert s.text() == "running, window 2/3, 10/40 frames, ETA 12 s" and s.percent == 25
    s.update({"event": "frame", "frame": 1011, "path": "/x"})
    s.update({"event": "state", "stage": "running", "written": 10, "total": 40})  # lagging count
    assert s.written == 11 and s.job == "j1"
    s.update({"event": "state", "stage": "queued", "queue_position": 2, "total": 40})
    assert s.text().startswith("queued (position 2)")
    s.update({"event": "warning", "message": "the void engine reads a prompt"})
    assert s.text().endswith("; the void engine reads a prompt")
    done = ST.RunState(total=4)
    done.update({"event": "done", "job": "j", "written": 4, "seconds": 1.25})
    assert done.text() == "done: 4 frames in 1.2 s" and done.finished and done.percent == 100
    failed = ST.RunState(total=4)
    failed.update({"event": "failed", "error": {"code": "empty_matte", "message": "no matte"}})
    assert failed.text() == "error: no matte" and failed.error_code == "empty_matte"
    cancelled = ST.RunState(total=4, written=1)
    cancelled.update({"event": "cancelled", "job": "j"})
    assert cancelled.text() == "cancelled (1/4 frames written)"
    assert ST.RunState(total=4, stage=ST.REUSED).percent == 100


def test_node_definition_facts() -> None:
    assert set(N.SETTINGS_KNOBS) <= set(N.KNOB_NAMES)
    assert len(set(N.KNOB_NAMES)) == len(N.KNOB_NAMES)
    assert N.project_path("Root") == "" and N.project_path("/s/a.nk") == "/s/a.nk"
    assert N.nuke_path("C:\\shots\\a.%04d.exr") == "C:/shots/a.%04d.exr"
    assert N.stale_status(True, "done: 4 frames in 1.0 s") == (N.STALE_STATUS, "stale")
    assert N.stale_status(True, N.STALE_STATUS) is None
    assert N.stale_status(False, N.STALE_STATUS) == (N.UP_TO_DATE_STATUS, "done")
    assert N.stale_status(False, "error: x") is None
    sel = [
        ("read", "Read", "Read1"),
        ("r1", "Roto", "Roto_ball"),
        ("r2", "RotoPaint", "Shadow_paint"),
        ("g", "Grade", "Grade1"),
    ]
    assert N.assign_inputs(sel) == {N.SOURCE: "read", N.REMOVE: "r1", N.AFFECTED: "r2"}
    assert N.assign_inputs([("a", "Roto", "RotoA"), ("b", "Roto", "RotoB")]) == {
        N.REMOVE: "a",
        N.AFFECTED: "b",
    }
    assert N.assign_inputs([]) == {}


# --------------------------------------------------------------------------- the worker, for real
def write_exports(plan: PL.RunPlan, shot: Shot, remove: np.ndarray | None = None) -> None:
    """What the host's renderer does: plate RGBA half, mattes as one channel A."""
    plan.make_dirs()
    mattes = {"remove": shot.remove if remove is None else remove, "affected": shot.affected}
    for i, f in enumerate(plan.frames):
        write_image(
            plan.frame_path("plate", f),
            shot.plate[i].astype(np.float16),
            channels=["R", "G", "B", "A"],
        )
        for e in plan.exports()[1:]:
            write_image(
                plan.frame_path(e.role, f), mattes[e.role][i].astype(np.float16), channels=["A"]
            )


@pytest.fixture(scope="module")
def shot() -> Shot:
    return make_shot(frames=12, width=96, height=64, seed=5)


def _plan(tmp_path: Path, shot: Shot, settings: S.NodeSettings) -> PL.RunPlan:
    last = shot.first + len(shot.plate) - 1
    fp = F.fingerprint(settings, shot.first, last, [str(tmp_path)])
    return PL.plan_run(
        settings, shot.first, last, True, fp, "VOIDRemove1", str(tmp_path / "shot.nk")
    )


def run_worker(
    plan: PL.RunPlan, settings: S.NodeSettings, on_event: Any = None
) -> tuple[dict, list[dict]]:
    """The node's run, as the glue starts it: the worker's events and its final one."""
    events: list[dict] = []

    def seen(event: dict) -> None:
        PL.record_event(plan, event)
        events.append(event)
        if on_event is not None:
            on_event(event, process)

    process = VoidRemoveProcess(plan.run_args(settings, autostart=False), on_event=seen)
    process.start()
    return process.wait(180), events


def test_the_worker_runs_the_exports_through_the_daemon_as_a_direct_cli_run_does(
    daemon, shot: Shot, tmp_path: Path
) -> None:
    settings = S.NodeSettings(endpoint=daemon.endpoint, window=13, overlap=4, dilation=2, seed=9)
    plan = _plan(tmp_path, shot, settings)
    write_exports(plan, shot)
    final, events = run_worker(plan, settings)
    assert final["event"] == "done" and final["written"] == 12, final
    frames = [e["frame"] for e in events if e["event"] == "frame"]
    assert sorted(frames) == plan.frames
    state = ST.RunState(total=12)
    for e in events:
        state.update(e)
    assert state.text().startswith("done: 12 frames") and state.job == final["job"]
    assert PL.results_complete(plan)
    m = PL.Manifest.load(plan.manifest_path)
    assert m is not None and m.job == final["job"] and m.frames_written == 12
    stored = json.loads((daemon.jobs_dir / final["job"] / "spec.json").read_text())
    assert (stored["seed"], stored["dilation"], stored["window"], stored["frames"]) == (
        9,
        2,
        13,
        plan.frames,
    )
    # One code path: a direct `void-remove run` of the same exports gives the same pixels.
    direct = tmp_path / "direct" / "clean.####.exr"
    args = plan.run_args(settings, autostart=False)
    args[args.index("--out") + 1] = str(direct)
    r = void_remove(*args)
    assert r.returncode == 0, r.stderr
    for f in (plan.first, plan.first + 6, plan.last):
        node = read_image(plan.frame_path("result", f))
        cli = read_image(SequencePattern.parse(str(direct)).path(f))
        assert node.channels == cli.channels == ["R", "G", "B", "A"]
        assert node.pixels.dtype == np.float16
        assert np.array_equal(node.pixels, cli.pixels), f


def test_cancel_stops_the_job_keeps_whole_frames_and_a_rerun_completes(
    daemon, shot: Shot, tmp_path: Path
) -> None:
    # A dilation no other test uses: the first window is not in the daemon's cache; 40 frames
    # in short windows, so the cancel lands long before the last window even on a busy machine.
    long = make_shot(frames=40, width=96, height=64, seed=6)
    settings = S.NodeSettings(endpoint=daemon.endpoint, window=5, overlap=2, dilation=7)
    plan = _plan(tmp_path, long, settings)
    write_exports(plan, long)
    result = SequencePattern.parse(plan.pattern("result"))

    cancelled: list[int] = []

    def cancel_on_first_frame(event: dict, process: VoidRemoveProcess) -> None:
        # Once: a second SIGTERM means "leave the job running", as a second Ctrl-C does.
        if event["event"] == "frame" and not cancelled:
            cancelled.append(event["frame"])
            process.cancel()

    final, events = run_worker(plan, settings, cancel_on_first_frame)
    assert final["event"] == "cancelled", final
    assert not PL.results_complete(plan) and not Path(plan.manifest_path).exists()
    written = result.scan()
    assert 0 < len(written) < 40
    folder = Path(plan.pattern("result")).parent
    # No partial output: every file is a whole frame (no temporaries left behind).
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted(
        os.path.basename(result.path(f)) for f in written
    )
    for f in written:
        assert read_image(result.path(f)).pixels.shape == (64, 96, 4)
    cancelled = read_manifest(result)
    assert cancelled is not None and cancelled["state"] == "cancelled"

    final, _ = run_worker(plan, settings)  # the artist presses VOID Remove again
    assert final["event"] == "done", final
    assert PL.results_complete(plan) and result.scan() == plan.frames
    assert read_manifest(result)["state"] == "complete"


def test_a_second_writer_of_the_results_is_refused(daemon, shot: Shot, tmp_path: Path) -> None:
    settings = S.NodeSettings(endpoint=daemon.endpoint, window=13, overlap=4)
    plan = _plan(tmp_path, shot, settings)
    write_exports(plan, shot)
    result = SequencePattern.parse(plan.pattern("result"))
    spec = JobSpec(frames=plan.frames, width=96, height=64)
    # Another writer (the same node running in a second Nuke, a script) holds the sequence.
    with claim_output(result, plan.frames, spec, [], job="otherjob0001"):
        final, _ = run_worker(plan, settings)
    assert final["event"] == "failed"
    assert "otherjob0001" in final["error"]["message"], final
    assert result.scan() == []  # nothing was written beside the other writer


def test_worker_failures_name_the_problem(daemon, shot: Shot, tmp_path: Path) -> None:
    settings = S.NodeSettings(endpoint=daemon.endpoint)
    plan = _plan(tmp_path, shot, settings)
    write_exports(plan, shot, remove=np.zeros_like(shot.remove))
    final, _ = run_worker(plan, settings)
    assert final["event"] == "failed" and final["error"]["code"] == "empty_matte", final
    write_exports(plan, shot)
    os.remove(plan.frame_path("plate", 1005))
    final, _ = run_worker(plan, settings)
    assert final["error"]["code"] == "missing_frames" and "1005" in final["error"]["message"]


def test_no_daemon_is_a_code_the_node_offers_to_start_one_for(shot: Shot, tmp_path: Path) -> None:
    from tests.support.daemons import free_port

    settings = S.NodeSettings(endpoint=f"tcp://127.0.0.1:{free_port()}")
    plan = _plan(tmp_path, shot, settings)
    write_exports(plan, shot)
    final, _ = run_worker(plan, settings)
    assert final["event"] == "failed" and final["error"]["code"] == "daemon_unreachable", final


def test_farm_submission_writes_a_resumable_openjd_bundle_into_the_run_folder(
    shot: Shot, tmp_path: Path
) -> None:
    settings = S.NodeSettings(window=13, overlap=4)
    plan = _plan(tmp_path, shot, settings)
    write_exports(plan, shot)
    argv = find_void_remove() + plan.farm_args(settings, "openjd")
    assert "--submit" not in argv  # openjd's submit would run the whole job here
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    job = Path(plan.farm_dir) / "job"
    farm = json.loads((job / PL.FARM_SPEC_NAME).read_text())
    assert farm["job"]["out_pattern"] == os.path.abspath(plan.pattern("result"))
    assert farm["plate"].endswith("plate.%04d.exr") and (job / "template.yaml").is_file()
    # Results the farm writes count once every frame is there (no run.json from a farm).
    assert not PL.results_complete(plan)
    for f in plan.frames:
        write_image(plan.frame_path("result", f), np.zeros((2, 2, 1), np.float16))
    assert PL.results_complete(plan)
    assert "--submit" in plan.farm_args(settings, "opencue")
