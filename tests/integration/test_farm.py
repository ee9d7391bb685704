"""Farm jobs on real parts: generated OpenJD templates run by the real ``openjd run``, the task
commands in subprocesses, results compared bit for bit with a run through the real daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from openjd.model import decode_job_template

from tests.support.cli import direct_runs, openjd_args
from void_client.errors import ErrorCode, VoidError
from void_client.farm import FarmSpec, submit_job
from void_client.quadmask import build_quadmask, hole
from void_client.sequence import SequencePattern, read_image
from void_client.sequence_job import RemoveRequest
from void_daemon.demo_shot import make_shot, write_shot
from void_daemon.farm_tasks import (
    FAULT_ENV,
    count_engine_loads,
    open_farm_job,
    run_assemble_task,
    run_window_task,
)
from void_daemon.roi import composite_alpha

#: 24 frames with 13-frame windows overlapping by 4: three windows, two seams.
SETTINGS = {"window": 13, "overlap": 4, "dilation": 3, "feather": 4}
FRAMES = list(range(1001, 1025))
#: How a farm node runs void-remove here: this interpreter, no console script on PATH needed.
COMMAND = [sys.executable, "-m", "void_client.cli.main"]
OPENJD = str(Path(sys.executable).with_name("openjd"))


def cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def openjd_run(template: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [OPENJD, "run", str(template)], capture_output=True, text=True, timeout=180, env=env
    )


def pixels(pattern: str) -> list[np.ndarray]:
    pat = SequencePattern.parse(pattern)
    return [read_image(pat.path(f)).pixels for f in FRAMES]


def journal(farm: FarmSpec, task: str) -> list[dict]:
    path = farm.job_dir / "journal" / f"{task}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def cache_entries(farm: FarmSpec) -> int:
    return len(list(farm.cache_dir.glob("*/*.npy")))


def shot_args(paths: dict[str, str]) -> list[str]:
    """The shot and settings every run in this file uses: the direct run and the farm jobs must
    ask for the same job for their frames to be compared bit for bit."""
    return [
        "--plate",
        paths["plate"],
        "--remove",
        paths["remove"],
        "--affected",
        paths["affected"],
        "--window",
        "13",
        "--overlap",
        "4",
        "--dilation",
        "3",
        "--feather",
        "4",
    ]


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory):
    s = make_shot(frames=len(FRAMES), width=64, height=48, seed=11)
    return s, write_shot(s, str(tmp_path_factory.mktemp("farm-shot")))


@pytest.fixture(scope="module")
def direct(shot, daemon, tmp_path_factory: pytest.TempPathFactory):
    """``void-remove run`` through the real daemon, once per seam mode."""
    return direct_runs(daemon.endpoint, tmp_path_factory.mktemp, shot_args(shot[1]))


def farm_spec(
    paths: dict, tmp_path: Path, seam: str = "crossfade", keep_work: bool = True
) -> FarmSpec:
    """A farm job; ``keep_work`` by default so tests can look at the cache after assemble."""
    req = RemoveRequest(
        paths["plate"],
        paths["remove"],
        str(tmp_path / "farm" / "clean.####.exr"),
        paths["affected"],
        settings={**SETTINGS, "seam": seam},
    )
    spec = FarmSpec.from_request(req, tmp_path / "work", command=COMMAND)
    spec.keep_work = keep_work
    return spec


@pytest.mark.parametrize("seam", ["crossfade", "chain"])
def test_openjd_run_gives_the_daemons_frames_bit_for_bit(
    shot, direct, tmp_path: Path, seam: str
) -> None:
    s, paths = shot
    out = str(tmp_path / "farm" / "clean.####.exr")
    # crossfade: write the job, then run it with openjd; chain: --submit runs openjd itself.
    # One task per window here (the layout before windows_per_task); runs of windows are
    # tested by test_openjd_run_of_several_windows_per_task_loads_once_per_task.
    submit = ["--submit"] if seam == "chain" else []
    r = cli(*openjd_args(shot_args(paths), tmp_path, seam, *submit))
    assert r.returncode == 0, r.stderr
    template = Path(r.stdout.strip())
    assert template.name == "template.yaml" and (template.parent / "farm.json").is_file()
    farm = FarmSpec.load(template.parent / "farm.json")
    import yaml

    steps = [
        st.name for st in decode_job_template(template=yaml.safe_load(template.read_text())).steps
    ]
    assert steps == (
        ["windows", "assemble"]
        if seam == "crossfade"
        else ["window-000", "window-001", "window-002", "assemble"]
    )

    if submit:
        log = (template.parent / "submitted.log").read_text()
    else:
        run = openjd_run(template)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        log = run.stdout
    assert "openjd_progress: 100.0" in log and "Session ended successfully" in log

    farm_px, direct_px, plates = pixels(out), pixels(direct(seam)), pixels(paths["plate"])
    assert all(a.dtype == np.float16 for a in farm_px)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(farm_px, direct_px, strict=True)), (
        "farm and daemon results differ"
    )
    # Not trivially equal: the hole was filled, and everything outside the composite is the plate.
    qms = [build_quadmask(rm, af, 3) for rm, af in zip(s.remove, s.affected, strict=True)]
    changed = sum(int((a != p).any()) for a, p in zip(farm_px, plates, strict=True))
    assert changed == len(FRAMES)
    for a, p, q in zip(farm_px, plates, qms, strict=True):
        outside = composite_alpha(hole(q), 4) == 0
        assert a[outside].tobytes() == p[outside].tobytes()
    # One engine run per window, each journalled once.
    for k in range(3):
        events = [e for e in journal(farm, f"window-{k:03d}") if e["event"] == "window"]
        assert len(events) == 1 and events[0]["cached"] is False
    # Assemble pruned the job's work (no --keep-work): its cache entries and chain frames.
    assert cache_entries(farm) == 0 and not (farm.job_dir / "out").exists()
    assert [e["event"] for e in journal(farm, "assemble")][-1] == "pruned"


@pytest.mark.parametrize("seam", ["crossfade", "chain"])
def test_openjd_run_of_several_windows_per_task_loads_once_per_task(
    shot, direct, tmp_path: Path, seam: str
) -> None:
    """Issue 17 ("one model load per worker"): two windows per task, so the three windows are
    tasks 0-1 and 2: two engine loads, not three, and the same frames bit for bit."""
    _, paths = shot
    farm = farm_spec(paths, tmp_path, seam=seam, keep_work=False)
    farm.windows_per_task = 2
    template = submit_job(farm, "openjd", tmp_path / "bundle")
    steps = [
        st.name for st in decode_job_template(template=yaml.safe_load(template.read_text())).steps
    ]
    assert steps == (
        ["windows", "assemble"]
        if seam == "crossfade"
        else ["windows-000-001", "window-002", "assemble"]
    )
    run = openjd_run(template)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Session ended successfully" in run.stdout
    farm_px, direct_px = pixels(farm.out_pattern), pixels(direct(seam))
    assert all(a.tobytes() == b.tobytes() for a, b in zip(farm_px, direct_px, strict=True)), (
        "farm and daemon results differ"
    )
    loads = [e for e in journal(farm, "task-000-001") if e["event"] == "engine"]
    loads += [e for e in journal(farm, "task-002-002") if e["event"] == "engine"]
    assert [e["windows"] for e in loads] == [[0, 1], [2, 2]]
    assert count_engine_loads(farm) == 2
    # Each window still ran its engine once and journalled itself in its own journal.
    for k in range(3):
        events = [e for e in journal(farm, f"window-{k:03d}") if e["event"] == "window"]
        assert len(events) == 1 and events[0]["cached"] is False


def test_a_killed_window_task_resumes_without_recomputing_finished_windows(
    shot, direct, tmp_path: Path
) -> None:
    _, paths = shot
    farm = farm_spec(paths, tmp_path)
    template = submit_job(farm, "openjd", tmp_path / "bundle")
    # Window 2 of 3 dies (SIGKILL) after its engine result reached the cache, before it was journalled.
    crashed = openjd_run(template, env={**os.environ, FAULT_ENV: "window:1"})
    assert crashed.returncode != 0
    assert [e["event"] for e in journal(farm, "window-000")] == ["window"]
    assert [e["event"] for e in journal(farm, "window-001")] == []
    assert not SequencePattern.parse(farm.out_pattern).scan()
    assert cache_entries(farm) >= 2  # window 0's result and the killed window's

    again = openjd_run(template)
    assert again.returncode == 0, again.stdout[-3000:]
    # Every window's engine ran once in all: window 0 was skipped outright, the killed window
    # found its result in the cache, and window 2 ran in whichever session reached it.
    done = {
        k: [e for e in journal(farm, f"window-{k:03d}") if e["event"] == "window"] for k in range(3)
    }
    assert [len(v) for v in done.values()] == [1, 1, 1]
    assert done[0][0]["cached"] is False and done[1][0]["cached"] is True
    assert journal(farm, "window-000")[-1]["event"] == "skipped"
    assert cache_entries(farm) == 3
    farm_px, direct_px = pixels(farm.out_pattern), pixels(direct("crossfade"))
    assert all(a.tobytes() == b.tobytes() for a, b in zip(farm_px, direct_px, strict=True))


def test_tasks_are_idempotent_and_assemble_waits_for_every_window(shot, tmp_path: Path) -> None:
    _, paths = shot
    farm = farm_spec(paths, tmp_path)
    spec_path = farm.save(tmp_path / "farm.json")
    r = cli("task", "window", "--spec", str(spec_path), "--index", "0")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[-2:] == [
        "openjd_progress: 100.0",
        f"openjd_status: window 0 [1/3, frames 1001-1013] done in {lines[-1].split(' done in ')[1]}",
    ]
    assert all(ln.startswith(("openjd_progress: ", "openjd_status: ")) for ln in lines)
    again = run_window_task(farm, 0)
    assert again.skipped
    with pytest.raises(VoidError) as err:
        run_assemble_task(farm)
    assert (
        err.value.code == ErrorCode.MISSING_FRAMES
        and "window tasks [1, 2] (of 0..2) are not finished" in err.value.message
    )
    for k in (1, 2):
        assert not run_window_task(farm, k).skipped
    first = run_assemble_task(farm)
    assert first.frames_written == FRAMES
    # A re-run (a requeued assemble task) writes nothing twice.
    assert run_assemble_task(farm).frames_written == []
    # A lost output frame is written again, and only that one.
    os.remove(SequencePattern.parse(farm.out_pattern).path(1010))
    assert run_assemble_task(farm).frames_written == [1010]
    assert len([e for e in journal(farm, "window-000") if e["event"] == "window"]) == 1


def test_chain_windows_refuse_to_run_out_of_order_and_a_bad_index_is_named(
    shot, tmp_path: Path
) -> None:
    _, paths = shot
    farm = farm_spec(paths, tmp_path, seam="chain")
    with pytest.raises(VoidError) as err:
        run_window_task(farm, 2)
    assert "window 2 continues from window tasks [0, 1]" in err.value.message
    spec_path = farm.save(tmp_path / "farm.json")
    r = cli("task", "window", "--spec", str(spec_path), "--index", "3")
    assert r.returncode == 2 and "window index 3 is outside 0..2" in r.stderr
    run_window_task(farm, 0)
    run_window_task(farm, 1)
    job, _ = open_farm_job(farm, "check")
    # Window 2 started from window 1's finished overlap frames, stored for it in the work dir.
    assert job.final and all(job.out_path(p).is_file() for p in job.final)
    assert sorted(job.windows_done) == [0, 1]


def test_a_lost_cache_entry_makes_the_window_run_again(shot, tmp_path: Path) -> None:
    _, paths = shot
    farm = farm_spec(paths, tmp_path)
    run_window_task(farm, 1)
    for p in farm.cache_dir.glob("*/*.npy"):
        p.unlink()
    redo = run_window_task(farm, 1)
    assert not redo.skipped and not redo.cached and cache_entries(farm) == 1


def test_a_journal_line_torn_by_a_crash_does_not_swallow_the_next_event(
    shot, tmp_path: Path
) -> None:
    _, paths = shot
    farm = farm_spec(paths, tmp_path)
    path = farm.job_dir / "journal" / "window-000.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text('{"t": 1, "event": "win')  # the node died mid-write
    run_window_task(farm, 0)
    job, _ = open_farm_job(farm, "check")
    assert sorted(job.windows_done) == [0]
    assert run_window_task(farm, 0).skipped


def test_the_client_side_never_imports_the_daemon() -> None:
    code = (
        "import sys, void_client.farm, void_client.farm.openjd, void_client.farm.opencue, void_client.farm.deadline, "
        "void_client.cli.farm, void_client.cli.main\n"
        "void_client.cli.main.build_parser()\n"
        "bad = sorted(m for m in ('void_daemon', 'cv2', 'torch', 'yaml') if m in sys.modules)\n"
        "assert not bad, bad"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def clean_env() -> dict[str, str]:
    """A worker's environment: no venv on PATH, no VIRTUAL_ENV, none of our variables."""
    return {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}


def test_a_job_written_with_the_default_worker_command_runs_where_the_venv_is_not_on_path(
    shot, direct, tmp_path: Path
) -> None:
    """Issue 17, finding 1: tasks ran a bare ``void-remove`` from the worker's PATH."""
    _, paths = shot
    # What the old default wrote: the bare console-script name. On a worker whose PATH does
    # not hold the venv it cannot even start.
    bare = cli(
        "farm",
        "openjd",
        *shot_args(paths),
        "--out",
        str(tmp_path / "bare" / "clean.####.exr"),
        "--worker-command",
        "void-remove",
        "--no-check",
    )
    assert bare.returncode == 0, bare.stderr
    failed = openjd_run(Path(bare.stdout.strip()), env=clean_env())
    assert failed.returncode != 0
    assert "void-remove" in failed.stdout + failed.stderr

    # The default now: this install's interpreter and module, absolute, recorded in farm.json.
    out = str(tmp_path / "farm" / "clean.####.exr")
    r = cli("farm", "openjd", *shot_args(paths), "--out", out)
    assert r.returncode == 0, r.stderr
    template = Path(r.stdout.strip())
    farm = FarmSpec.load(template.parent / "farm.json")
    assert farm.command == [sys.executable, "-m", "void_client.cli.main"]
    assert os.path.isabs(farm.command[0])
    # The work folder sits beside the delivery folder, not inside it (finding 7).
    assert Path(farm.work_dir) == tmp_path / "_void_work"
    step = yaml.safe_load(template.read_text())["steps"][0]
    assert step["script"]["actions"]["onRun"]["command"] == sys.executable

    run = openjd_run(template, env=clean_env())
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Session ended successfully" in run.stdout
    farm_px, direct_px = pixels(out), pixels(direct("crossfade"))
    assert all(a.tobytes() == b.tobytes() for a, b in zip(farm_px, direct_px, strict=True)), (
        "farm and daemon results differ"
    )
    # Work pruned after assemble; a requeued assemble finds every frame written and does nothing.
    assert cache_entries(farm) == 0
    assert run_assemble_task(farm).frames_written == []
