"""Host-independent logic behind the Nuke node (void_client.node_job, void_nuke.node_spec):
settings, range, fingerprint, run folders, manifest, progress text, and a NodeRun against the real
daemon with real EXR exports."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from void_client import node_job as H
from void_client import protocol as P
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.job_state import FINAL_STATES, JobState
from void_client.output_manifest import claim_output, read_manifest
from void_client.sequence import SequencePattern, read_image, write_image
from void_daemon.demo_shot import Shot, make_shot
from void_nuke import node_spec as N


# --------------------------------------------------------------------------- settings and range
def test_settings_from_knob_values_coerce_whole_floats_and_carry_presets() -> None:
    s = H.NodeSettings.from_values(
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
    assert (
        js["engine_options"] == H.QUALITY_PRESETS["draft"]
        and js["engine"] == "void"
        and js["seed"] == 7
    )
    assert H.NodeSettings().job_settings()["engine_options"] == {}  # standard = the reference


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"seed": 2.5}, "seed"),
        ({"quality": "ultra"}, "quality"),
        ({"seam": "wipe"}, "seam"),
        ({"window": 21, "overlap": 21}, "overlap"),
        ({"endpoint": " "}, "endpoint"),
    ],
)
def test_bad_settings_are_refused_before_anything_renders(values: dict, field: str) -> None:
    with pytest.raises(VoidError) as e:
        H.NodeSettings.from_values(values)
    assert e.value.code == ErrorCode.BAD_SPEC and e.value.field == field


def test_range_is_the_inputs_unless_set_and_must_lie_inside_it() -> None:
    assert H.resolve_range(H.NodeSettings(), (1001, 1100)) == (1001, 1100)
    manual = H.NodeSettings(use_input_range=False, range_first=1010, range_last=1020)
    assert H.resolve_range(manual, (1001, 1100)) == (1010, 1020)
    for settings, src, words in [
        (
            H.NodeSettings(use_input_range=False, range_first=990, range_last=1000),
            (1001, 1100),
            "outside the Source's range 1001-1100",
        ),
        (
            H.NodeSettings(use_input_range=False, range_first=1020, range_last=1010),
            (1001, 1100),
            "ends before it starts",
        ),
        (H.NodeSettings(), (-5, 10), "below 0"),
        (H.NodeSettings(), None, "connect a plate"),
    ]:
        with pytest.raises(VoidError) as e:
            H.resolve_range(settings, src)
        assert words in e.value.message


# --------------------------------------------------------------------------- fingerprint
class G:
    """A tiny node graph: name -> (description, inputs)."""

    def __init__(self, **nodes: tuple[str, list[str | None]]) -> None:
        self.nodes = nodes

    def digest(self, *starts: str | None) -> list[str]:
        return H.upstream_digest(
            list(starts), lambda n: self.nodes[n][1], lambda n: n, lambda n: self.nodes[n][0]
        )


def test_upstream_digest_sees_knob_changes_and_rewiring_but_not_names() -> None:
    base = G(
        read=("Read file=a.exr", []), roto=("Roto curves=1", []), blur=("Blur size=2", ["read"])
    )
    d = base.digest("blur", "roto", None)
    assert d[2] == "none" and len(set(d)) == 3
    assert (
        G(
            read=("Read file=a.exr", []), roto=("Roto curves=1", []), blur=("Blur size=3", ["read"])
        ).digest("blur", "roto", None)[0]
        != d[0]
    )
    assert (
        G(
            read=("Read file=a.exr", []), roto=("Roto curves=1", []), blur=("Blur size=2", ["roto"])
        ).digest("blur", "roto", None)[0]
        != d[0]
    )
    renamed = G(r2=("Read file=a.exr", []), roto=("Roto curves=1", []), b2=("Blur size=2", ["r2"]))
    assert renamed.digest("b2", "roto", None) == d
    # shared upstream (a DAG) and a cycle through expressions both terminate
    dag = G(src=("Read", []), a=("Grade", ["src"]), b=("Blur", ["src"]), m=("Merge", ["a", "b"]))
    assert len(dag.digest("m")[0]) == 64
    cyc = G(a=("A", ["b"]), b=("B", ["a"]))
    assert len(cyc.digest("a")[0]) == 64
    assert H.upstream_order(["m"], lambda n: dag.nodes[n][1], lambda n: n) == ["src", "a", "b", "m"]


def test_cosmetic_knobs_are_left_out_of_a_nodes_description() -> None:
    a = N.describe_knobs(
        {"size": "2", "xpos": "10", "ypos": "5", "label": "x", "name": "Blur1", "tile_color": "0"}
    )
    b = N.describe_knobs({"size": "2", "xpos": "99", "name": "Blur7"})
    assert a == b == "size=2"


def test_fingerprint_follows_what_decides_the_pixels() -> None:
    s = H.NodeSettings()
    base = H.fingerprint(s, 1, 10, ["u"])
    assert (
        H.fingerprint(
            H.NodeSettings(endpoint="tcp://10.0.0.1:1", output_dir="/elsewhere"), 1, 10, ["u"]
        )
        == base
    )
    assert H.fingerprint(H.NodeSettings(seed=1), 1, 10, ["u"]) != base
    assert H.fingerprint(H.NodeSettings(quality="best"), 1, 10, ["u"]) != base
    assert H.fingerprint(s, 1, 11, ["u"]) != base
    assert H.fingerprint(s, 1, 10, ["v"]) != base
    assert H.fingerprint(s, 1, 10, ["u"], {"remove_channel": "rgba.red"}) != base


# --------------------------------------------------------------------------- plan and manifest
def test_run_folder_is_named_by_project_node_and_fingerprint(tmp_path: Path) -> None:
    fp = "ab" * 32
    script = tmp_path / "shots" / "sh010_comp_v003.nk"
    p = H.plan_run(H.NodeSettings(), 1001, 1010, True, fp, "Group1.VOIDRemove1", str(script))
    assert p.run_dir == str(
        tmp_path / "shots" / "void_remove" / "sh010_comp_v003" / "Group1.VOIDRemove1" / fp[:16]
    )
    assert p.pattern("result") == os.path.join(p.run_dir, "result", "Group1.VOIDRemove1.%04d.exr")
    assert [(e.role, e.channels) for e in p.exports()] == [
        ("plate", "rgba"),
        ("remove", "alpha"),
        ("affected", "alpha"),
    ]
    assert [e.role for e in H.plan_run(H.NodeSettings(), 1, 2, False, fp, "V", "").exports()] == [
        "plate",
        "remove",
    ]
    own = H.plan_run(
        H.NodeSettings(output_dir=str(tmp_path / "cache")), 1, 2, False, fp, "V", str(script)
    )
    assert own.run_dir.startswith(str(tmp_path / "cache" / "sh010_comp_v003"))
    assert H.plan_run(H.NodeSettings(), 1, 2, False, fp, "V", "").run_dir.startswith(
        os.environ["VOID_REMOVE_HOME"]
    )
    with pytest.raises(VoidError, match="contains '%'"):
        H.plan_run(H.NodeSettings(output_dir=str(tmp_path / "100%")), 1, 2, False, fp, "V", "")
    req = p.request(H.NodeSettings(seed=3), autostart=False)
    assert (
        req.frame_range == (1001, 1010)
        and req.settings["seed"] == 3
        and req.affected.endswith("affected.%04d.exr")
        and not req.autostart
    )


def test_export_steps_cover_each_role_once_in_chunks() -> None:
    p = H.RunPlan("/r", 1001, 1020, "f" * 64, True)
    steps = H.export_steps(p, 8)
    assert [(e.role, a, b) for e, a, b in steps][:3] == [
        ("plate", 1001, 1008),
        ("plate", 1009, 1016),
        ("plate", 1017, 1020),
    ]
    for role in ("plate", "remove", "affected"):
        frames = [f for e, a, b in steps if e.role == role for f in range(a, b + 1)]
        assert frames == p.frames


def test_results_count_as_complete_only_with_manifest_and_every_frame(tmp_path: Path) -> None:
    p = H.RunPlan(str(tmp_path), 1, 3, "c" * 64, False, "V")
    p.make_dirs()
    assert not H.results_complete(p)
    H.Manifest(p.fingerprint, 1, 3, job="j", complete=True).save(p.manifest_path)
    pat = SequencePattern.parse(p.pattern("result"))
    for f in (1, 2):
        write_image(pat.path(f), np.zeros((2, 2, 1), np.float16))
    assert not H.results_complete(p)  # frame 3 missing
    write_image(pat.path(3), np.zeros((2, 2, 1), np.float16))
    assert H.results_complete(p)
    assert not H.results_complete(
        H.RunPlan(str(tmp_path), 1, 3, "d" * 64, False, "V")
    )  # other inputs
    assert json.loads(Path(p.manifest_path).read_text())["job"] == "j"


# --------------------------------------------------------------------------- progress text
def test_run_state_reads_like_a_status_line() -> None:
    s = H.RunState(total=40)
    s.update(
        P.Progress(job="j1", stage="running", window=1, windows=3, frames_total=40, eta_s=12.4)
    )
    s.written = 10
    assert (
        s.text() == "running, window 2/3, 10/40 frames, ETA 12 s"
        and s.percent == 25
        and s.job == "j1"
    )
    s.update(P.Progress(job="j1", stage="queued", queue_position=2, frames_total=40))
    assert s.text().startswith("queued (position 2)")
    assert (
        H.RunState(total=4, stage="done", written=4, seconds=1.25).text()
        == "done: 4 frames in 1.2 s"
    )
    assert (
        H.RunState(
            total=4, stage="failed", error=VoidError(ErrorCode.EMPTY_MATTE, "no matte")
        ).text()
        == "error: no matte"
    )
    assert (
        H.RunState(total=4, stage="cancelled", written=1).text() == "cancelled (1/4 frames written)"
    )
    assert H.RunState(total=4, stage="reused").percent == 100
    assert H.export_error("plate", RuntimeError("Cancelled")).code == ErrorCode.CANCELLED
    e = H.export_error("remove", RuntimeError("Read1: file not found"))
    assert (
        e.code == ErrorCode.IO_ERROR and "remove export failed" in e.message and e.field == "remove"
    )


def test_run_stages_are_the_runs_own_around_the_daemon_jobs_states() -> None:
    # A run ends where its job ends, or reused; its own stages never collide with a job state.
    assert H.FINAL_STAGES == {*FINAL_STATES, H.RunStage.REUSED}
    assert not {s.value for s in H.RunStage} & {s.value for s in JobState}
    s = H.RunState(total=4)
    assert s.stage == H.RunStage.STARTING and s.text() == "starting, 0/4 frames"
    for stage in ("queued", "receiving", "running"):  # as the daemon sends them
        s.update(P.Progress(job="j1", stage=stage, frames_total=4))
        assert s.stage == JobState(stage) and not s.finished
    s.update(P.Progress(job="j1", stage="done", frames_total=4))
    assert s.finished and s.percent == 100


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


# --------------------------------------------------------------------------- NodeRun on the real daemon
def write_exports(plan: H.RunPlan, shot: Shot, remove: np.ndarray | None = None) -> None:
    """What the host's renderer does: plate RGBA half, mattes as one channel A."""
    plan.make_dirs()
    pats = {e.role: SequencePattern.parse(e.pattern) for e in plan.exports()}
    mattes = {"remove": shot.remove if remove is None else remove, "affected": shot.affected}
    for i, f in enumerate(plan.frames):
        write_image(
            pats["plate"].path(f), shot.plate[i].astype(np.float16), channels=["R", "G", "B", "A"]
        )
        for role in ("remove", "affected"):
            if role in pats:
                write_image(pats[role].path(f), mattes[role][i].astype(np.float16), channels=["A"])


@pytest.fixture(scope="module")
def shot() -> Shot:
    return make_shot(frames=12, width=96, height=64, seed=5)


def _plan(tmp_path: Path, shot: Shot, settings: H.NodeSettings) -> H.RunPlan:
    fp = H.fingerprint(settings, shot.first, shot.first + len(shot.plate) - 1, [str(tmp_path)])
    return H.plan_run(
        settings,
        shot.first,
        shot.first + len(shot.plate) - 1,
        True,
        fp,
        "VOIDRemove1",
        str(tmp_path / "shot.nk"),
    )


def test_host_job_runs_exports_through_the_daemon_and_records_a_complete_manifest(
    daemon, shot: Shot, tmp_path: Path
) -> None:
    settings = H.NodeSettings(endpoint=daemon.endpoint, window=13, overlap=4, dilation=2, seed=9)
    plan = _plan(tmp_path, shot, settings)
    write_exports(plan, shot)
    states: list[H.RunState] = []
    frames: list[int] = []
    job = H.NodeRun(plan, settings, on_state=states.append, on_frame=frames.append, autostart=False)
    report = job.run()
    assert sorted(frames) == plan.frames == report.frames_written
    assert (
        states[-1].stage == "done"
        and states[-1].written == 12
        and states[-1].text().startswith("done: 12 frames")
    )
    assert {"checking", "connecting"} <= {s.stage for s in states}
    assert H.results_complete(plan)
    m = H.Manifest.load(plan.manifest_path)
    assert m is not None and m.job == report.job and m.frames_written == 12
    stored = json.loads((daemon.jobs_dir / report.job / "spec.json").read_text())
    assert (
        stored["name"],
        stored["seed"],
        stored["dilation"],
        stored["window"],
        stored["frames"],
    ) == ("VOIDRemove1", 9, 2, 13, plan.frames)
    out = read_image(SequencePattern.parse(plan.pattern("result")).path(plan.first))
    assert out.pixels.dtype == np.float16 and out.channels == ["R", "G", "B", "A"]


def test_host_job_resubmits_when_the_job_it_would_reattach_to_is_gone(
    daemon, shot: Shot, tmp_path: Path
) -> None:
    settings = H.NodeSettings(endpoint=daemon.endpoint, window=13, overlap=4)
    plan = _plan(tmp_path, shot, settings)
    write_exports(plan, shot)
    H.Manifest(plan.fingerprint, plan.first, plan.last, job="deadbeef0000").save(plan.manifest_path)
    report = H.NodeRun(plan, settings, autostart=False).run()
    assert (
        report.job != "deadbeef0000"
        and len(report.frames_written) == 12
        and H.results_complete(plan)
    )


def test_host_job_rerun_after_a_cancel_reattaches_through_the_output_manifest(
    daemon, shot: Shot, tmp_path: Path
) -> None:
    # A dilation no other test uses: the first window is not in the daemon's cache.
    settings = H.NodeSettings(endpoint=daemon.endpoint, window=5, overlap=2, dilation=7)
    plan = _plan(tmp_path, shot, settings)
    write_exports(plan, shot)
    result = SequencePattern.parse(plan.pattern("result"))
    first = H.NodeRun(plan, settings, autostart=False)
    first.on_frame = lambda frame: first.cancel()
    with pytest.raises(VoidError) as e:
        first.run()
    assert e.value.code == ErrorCode.CANCELLED and first.state.stage == "cancelled"
    cancelled = read_manifest(result)
    assert cancelled is not None and cancelled["state"] == "cancelled"
    assert 0 < len(cancelled["frames_written"]) < 12
    job = H.Manifest.load(plan.manifest_path).job
    assert cancelled["job"] == job

    # Same node, same settings: the output manifest lets it finish the sequence, never refuses.
    report = H.NodeRun(plan, settings, autostart=False).run()
    assert H.results_complete(plan) and result.scan() == plan.frames
    done = read_manifest(result)
    assert done["state"] == "complete" and done["job"] == report.job
    assert sorted(f for e in done["jobs"] for f in e["frames"]) == plan.frames
    assert {e["settings_hash"] for e in done["jobs"]} == {cancelled["settings_hash"]}


def test_host_job_refuses_a_second_writer_of_its_results(
    daemon, shot: Shot, tmp_path: Path
) -> None:
    settings = H.NodeSettings(endpoint=daemon.endpoint, window=13, overlap=4)
    plan = _plan(tmp_path, shot, settings)
    write_exports(plan, shot)
    result = SequencePattern.parse(plan.pattern("result"))
    spec = JobSpec(frames=plan.frames, width=96, height=64)
    # Another writer (the same node running in a second Nuke, a script) holds the sequence.
    with claim_output(result, plan.frames, spec, [], job="otherjob0001"):
        with pytest.raises(VoidError) as e:
            H.NodeRun(plan, settings, autostart=False).run()
    assert e.value.code == ErrorCode.BAD_SPEC
    assert "job otherjob0001" in e.value.message and "is writing" in e.value.message
    assert result.scan() == []  # nothing was written beside the other writer


def test_host_job_failures_name_the_problem(daemon, shot: Shot, tmp_path: Path) -> None:
    settings = H.NodeSettings(endpoint=daemon.endpoint)
    plan = _plan(tmp_path, shot, settings)
    write_exports(plan, shot, remove=np.zeros_like(shot.remove))
    job = H.NodeRun(plan, settings, autostart=False)
    with pytest.raises(VoidError) as e:
        job.run()
    assert (
        e.value.code == ErrorCode.EMPTY_MATTE
        and job.state.stage == "failed"
        and "empty" in job.state.text()
    )
    os.remove(SequencePattern.parse(plan.pattern("plate")).path(1005))
    with pytest.raises(VoidError) as e:
        H.NodeRun(plan, settings, autostart=False).run()
    assert e.value.code == ErrorCode.MISSING_FRAMES and "1005" in e.value.message


def test_farm_submission_writes_a_resumable_openjd_bundle(shot: Shot, tmp_path: Path) -> None:
    settings = H.NodeSettings(window=13, overlap=4)
    plan = _plan(tmp_path, shot, settings)
    write_exports(plan, shot)
    first = H.submit_to_farm(plan, settings, "openjd")
    assert (
        not first.submitted
        and Path(first.main_file).is_file()
        and first.job_id.startswith("VOIDRemove1-")
    )
    farm = json.loads((Path(first.main_file).parent / "farm.json").read_text())
    assert farm["job"]["out_pattern"] == os.path.abspath(plan.pattern("result")) and farm[
        "plate"
    ].endswith("plate.%04d.exr")
    assert (
        H.submit_to_farm(plan, settings, "openjd").job_id == first.job_id
    )  # same inputs, same job
    assert "openjd run" in first.text()


def test_farm_submission_without_the_farm_package_says_so(
    monkeypatch: pytest.MonkeyPatch, shot: Shot, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "void_client.farm", None)  # as if the package were absent
    with pytest.raises(VoidError) as e:
        H.submit_to_farm(
            H.RunPlan(str(tmp_path), 1, 2, "e" * 64, False), H.NodeSettings(), "opencue"
        )
    assert e.value.field == "farm" and "not available" in e.value.message
