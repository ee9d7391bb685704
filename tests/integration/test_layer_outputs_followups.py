"""Fill and matte outputs, the follow-ups (issue 20), on a real daemon.

* ``void-remove status`` / ``jobs`` say where a job's fill and matte go: the daemon's job summary
  carries ``outputs``, ``layer_patterns`` and ``layers_in_out`` (docs/protocol.md, ``status``);
* a path-mode ``result`` names the fill and matte files it wrote beside the output (``layers``,
  an additive field of each ``paths`` entry);
* a plain ``void-remove attach JOB --out ...`` learns ``--grade-layers`` from the job and refuses,
  before collecting anything, a job whose fill or matte it has nowhere to write;
* the stale-temp sweep catches the nested temp file a ``--grade-layers`` write leaves when its
  process is killed (``..clean.1001.exr.<id>.exr.<id>.exr``).

Values are checked as in test_grade_outputs_modes: ``plate * (1 - matte) + fill`` is the output.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import numpy as np
import pytest

from tests.integration.test_exr_layouts import FRAMES, parts_of
from tests.integration.test_grade_outputs_modes import (
    CLI_SETTINGS,
    GRADED_CHANNELS,
    check_promise,
    path_spec,
    pixels,
    read_float,
    single_part_shot,
)
from tests.support import path_jobs
from tests.support.cli import input_args, void_remove
from tests.support.daemons import DaemonProcess
from tests.support.path_jobs import run_path_job
from void_client.atomic import temp_path_for
from void_client.cli.layer_summary import describe_layers, job_ids, learn_layers
from void_client.client import DaemonClient
from void_client.sequence import SequencePattern, sweep_stale_temps
from void_client.sequence_job import RemoveRequest, remove_sequence
from void_client.session import JobReport

#: The shared path-mode fixtures (tests/support/path_jobs.py), used here by name.
root, path_daemon, work = path_jobs.root, path_jobs.path_daemon, path_jobs.work


@pytest.fixture(scope="module")
def daemon(path_daemon: DaemonProcess) -> DaemonProcess:
    """Pixel jobs as usual; path-mode jobs confined to ``root``."""
    return path_daemon


@pytest.fixture(autouse=True)
def wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich cuts table cells to the terminal's width: the CLI tests read whole paths."""
    monkeypatch.setenv("COLUMNS", "400")


def entries_for(plate: str, rm: str, aff: str) -> list[dict]:
    pp, rp, ap = (SequencePattern.parse(x) for x in (plate, rm, aff))
    return [
        {"frame": f, "plate": pp.path(f), "remove": rp.path(f), "affected": ap.path(f)}
        for f in FRAMES
    ]


def endpoint_args(daemon: DaemonProcess) -> list[str]:
    return ["--endpoint", daemon.endpoint]


# --------------------------------------------------------------------------- 1 + 2. path mode
def test_path_mode_summary_status_jobs_and_results_name_the_layer_files(
    daemon: DaemonProcess, work: Path
) -> None:
    """Findings: the job summary (so ``status`` and ``jobs``) did not say where fill and matte
    go, and each path-mode ``result`` named only the output file."""
    plate, rm, aff = single_part_shot(work / "in")
    out = str(work / "o" / "clean.####.exr")
    fill = str(work / "f" / "fill.####.exr")
    job, results = run_path_job(
        daemon,
        path_spec(
            out, outputs=["fill", "matte"], layer_patterns={"fill": fill}, layers_in_out=True
        ),
        entries_for(plate, rm, aff),
    )
    # The result messages: every frame once, with the fill file beside the output; the matte
    # has no file of its own (it is inside the output), and the entry says so.
    assert sorted(e["frame"] for e in results) == FRAMES
    fp, op = SequencePattern.parse(fill), SequencePattern.parse(out)
    for e in results:
        f = e["frame"]
        assert e["path"] == op.path(f)
        assert e["layers"] == {"fill": fp.path(f)}
        assert e["layers_in_out"] is True
        assert os.path.isfile(e["layers"]["fill"])
        i = FRAMES.index(f)
        px = read_float(op.path(f))
        assert list(parts_of(op.path(f))[0][0].channelnames) == GRADED_CHANNELS
        assert pixels(fp.path(f)).tobytes() == px[..., 4:8].tobytes()
        plate_half = pixels(SequencePattern.parse(plate).path(f))
        check_promise(plate_half, px[..., :4].astype(np.float16), px[..., 4:8], px[..., 8], i)
    # The summary.
    with DaemonClient(daemon.endpoint) as c:
        (summary,) = c.status(job)
    assert summary["outputs"] == ["fill", "matte"]
    assert summary["layer_patterns"] == {"fill": fill}
    assert summary["layers_in_out"] is True
    # What the commands print.
    st = void_remove("status", job, *endpoint_args(daemon))
    assert st.returncode == 0, st.stderr
    row = next(line for line in st.stdout.splitlines() if job in line)
    assert f"fill: {fill}" in row and "matte in output" in row, st.stdout
    js = void_remove("jobs", "--json", *endpoint_args(daemon))
    assert js.returncode == 0, js.stderr
    (mine,) = [j for j in json.loads(js.stdout)["jobs"] if j["job"] == job]
    assert mine["layer_patterns"] == {"fill": fill} and mine["layers_in_out"] is True
    jt = void_remove("jobs", *endpoint_args(daemon))
    row = next(line for line in jt.stdout.splitlines() if job in line)
    assert f"fill: {fill}" in row and "matte in output" in row, jt.stdout


def test_job_without_layers_summarises_as_before(daemon: DaemonProcess, work: Path) -> None:
    """A job without fill/matte says so: empty fields, and ``-`` in the tables."""
    plate, rm, aff = single_part_shot(work / "in")
    out = str(work / "o" / "clean.####.exr")
    job, results = run_path_job(daemon, path_spec(out), entries_for(plate, rm, aff))
    assert all(e.get("layers", {}) == {} and not e.get("layers_in_out") for e in results)
    with DaemonClient(daemon.endpoint) as c:
        (summary,) = c.status(job)
    assert summary["outputs"] == [] and summary["layer_patterns"] == {}
    assert summary["layers_in_out"] is False
    st = void_remove("status", job, *endpoint_args(daemon))
    row = next(line for line in st.stdout.splitlines() if job in line)
    assert "fill" not in row and "matte" not in row


# --------------------------------------------------------------------------- 3. attach
def detached_run(daemon: DaemonProcess, plate: str, rm: str, aff: str, *extra: str) -> str:
    """``run ... --detach`` with ``extra``: the job id it printed."""
    r = void_remove(
        "run",
        *input_args(plate, rm, aff),
        *CLI_SETTINGS,
        *extra,
        "--detach",
        *endpoint_args(daemon),
        "--no-autostart",
    )
    assert r.returncode == 0, r.stderr
    line = next(x.strip() for x in r.stderr.splitlines() if "void-remove attach" in x)
    return shlex.split(line)[2]


def plain_attach(daemon: DaemonProcess, job: str, plate: str, rm: str, aff: str, out: str, *extra):
    return void_remove(
        "attach",
        job,
        *input_args(plate, rm, aff),
        "--out",
        out,
        *extra,
        *endpoint_args(daemon),
    )


def test_plain_attach_learns_grade_layers_from_the_job(daemon: DaemonProcess, work: Path) -> None:
    """Finding: ``attach JOB --out ...`` without ``--grade-layers`` wrote the outputs without
    the job's fill and matte layers (and acknowledged them: they were gone)."""
    plate, rm, aff = single_part_shot(work / "in")
    out = str(work / "o" / "clean.####.exr")
    job = detached_run(daemon, plate, rm, aff, "--out", out, "--grade-layers")
    st = void_remove("status", job, *endpoint_args(daemon))
    row = next(line for line in st.stdout.splitlines() if job in line)
    assert "fill, matte in output" in row, st.stdout
    a = plain_attach(daemon, job, plate, rm, aff, out)
    assert a.returncode == 0, a.stderr
    assert "--grade-layers" in a.stderr  # says what it learned
    op = SequencePattern.parse(out)
    assert op.scan() == FRAMES
    for i, f in enumerate(FRAMES):
        px = read_float(op.path(f))
        assert list(parts_of(op.path(f))[0][0].channelnames) == GRADED_CHANNELS
        plate_half = pixels(SequencePattern.parse(plate).path(f))
        check_promise(plate_half, px[..., :4].astype(np.float16), px[..., 4:8], px[..., 8], i)


def test_attach_refuses_a_fill_it_cannot_place_then_collects_with_it(
    daemon: DaemonProcess, work: Path
) -> None:
    """Finding: ``attach`` without the job's ``--fill-out`` dropped the fill silently. It is now
    refused before anything is collected; with the flag the same job is collected whole."""
    plate, rm, aff = single_part_shot(work / "in")
    out = str(work / "o" / "clean.####.exr")
    fill = str(work / "f" / "fill.####.exr")
    job = detached_run(daemon, plate, rm, aff, "--out", out, "--fill-out", fill)
    a = plain_attach(daemon, job, plate, rm, aff, out)
    assert a.returncode == 2, a.stderr
    assert "--fill-out" in a.stderr and job in a.stderr, a.stderr
    assert not SequencePattern.parse(out).scan(), "nothing was collected"
    # Asking for layers the job does not send is refused too.
    g = plain_attach(daemon, job, plate, rm, aff, out, "--fill-out", fill, "--grade-layers")
    assert g.returncode == 2 and "--grade-layers" in g.stderr, g.stderr
    ok = plain_attach(daemon, job, plate, rm, aff, out, "--fill-out", fill)
    assert ok.returncode == 0, ok.stderr
    op, fp = SequencePattern.parse(out), SequencePattern.parse(fill)
    assert op.scan() == FRAMES and fp.scan() == FRAMES
    for i, f in enumerate(FRAMES):
        fill_px = pixels(fp.path(f))
        plate_half = pixels(SequencePattern.parse(plate).path(f))
        # The fill's alpha is the composite's matte: the promise holds with it.
        check_promise(plate_half, pixels(op.path(f)), fill_px, fill_px[..., 3].copy(), i)


# --------------------------------------------------------------------------- 4. stale temps
def test_sweep_removes_the_nested_temp_a_killed_grade_write_leaves(
    daemon: DaemonProcess, work: Path
) -> None:
    """Finding: ``--grade-layers`` writes the composite to a hidden temp whose own atomic write
    makes a second one (``..clean.1001.exr.<id>.exr.<id>.exr``); a process killed there left it
    and the sweep did not match the double dot."""
    plate, rm, aff = single_part_shot(work / "in")
    out = str(work / "o" / "clean.####.exr")
    op = SequencePattern.parse(out)
    os.makedirs(work / "o")
    # Exactly the names write_graded → write_layout → write_image would hold at that moment.
    outer = temp_path_for(op.path(1002), ".exr")
    inner = temp_path_for(outer, ".exr")
    Path(inner).write_bytes(b"v/1\x01 half a header")
    assert os.path.basename(inner).startswith("..clean.1002.exr.")
    # A sweep must not take a finished frame or a sidecar whose name is like the temp's.
    (work / "o" / "clean.1002.exr.notes.txt").write_text("keep")
    report: JobReport = remove_sequence(
        RemoveRequest(
            plate,
            rm,
            out,
            affected=aff,
            settings={"window": 5, "overlap": 0, "dilation": 2, "feather": 2},
            endpoint=daemon.endpoint,
            autostart=False,
            grade_layers=True,
            overwrite=True,
        )
    )
    assert report.frames_written == FRAMES
    assert not os.path.exists(inner) and not os.path.exists(outer)
    left = sorted(n for n in os.listdir(work / "o") if n.startswith(".."))
    assert left == [], left
    assert (work / "o" / "clean.1002.exr.notes.txt").read_text() == "keep"
    # The sweep alone, on both forms, names what it removed.
    a = temp_path_for(op.path(1001), ".exr")
    b_outer = temp_path_for(op.path(1003), ".exr")
    b = temp_path_for(b_outer, ".exr")
    removed = sweep_stale_temps(op)
    assert sorted(removed) == sorted(os.path.basename(x) for x in (a, b_outer, b))
    assert sweep_stale_temps(op) == []


def test_attach_learning_with_an_older_daemon_and_a_stereo_id() -> None:
    """An older daemon's summary has no layer fields: attach's flags stand as given. A stereo
    run's id names every view's job; the views' summaries are read together."""
    old = {"job": "a1", "state": "running"}
    got = learn_layers("a1", [old], "", "/o/m.####.exr", True)  # type: ignore[list-item]
    assert (got.fill_out, got.matte_out, got.grade_layers, got.learned) == (
        "",
        "/o/m.####.exr",
        True,
        [],
    )
    assert describe_layers(old) == "-"  # type: ignore[arg-type]
    assert job_ids("left=a1, right=b2") == ["a1", "b2"] and job_ids("a1") == ["a1"]
    views = [
        {"outputs": ["fill", "matte"], "layer_patterns": {}, "layers_in_out": True},
        {"outputs": ["fill", "matte"], "layer_patterns": {}, "layers_in_out": True},
    ]
    got = learn_layers("left=a1,right=b2", views, "", "", False)  # type: ignore[arg-type]
    assert got.grade_layers and got.learned == ["--grade-layers"]
