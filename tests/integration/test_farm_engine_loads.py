"""Model loads per farm job (issue 17, "one model load per worker, not per window"): each farm
task is its own process, as on a farm, and every engine load is journalled by the task that
made it (``journal/task-FIRST-LAST.jsonl``), so the loads of a job are counted from disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from void_client.farm import FarmSpec
from void_client.sequence import SequencePattern, read_image
from void_client.sequence_job import RemoveRequest
from void_daemon.demo_shot import make_shot, write_shot
from void_daemon.farm_tasks import count_engine_loads, run_assemble_task

COMMAND = [sys.executable, "-m", "void_client.cli.main"]
FRAMES = list(range(1001, 1025))


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_shot(
        make_shot(frames=len(FRAMES), width=48, height=32, seed=17),
        str(tmp_path_factory.mktemp("loads-shot")),
    )


def six_window_job(paths: dict, root: Path, seam: str, per: int) -> Path:
    """24 frames in 5-frame windows overlapping by 1: six windows, ``per`` to a task."""
    req = RemoveRequest(
        paths["plate"],
        paths["remove"],
        str(root / "out" / "clean.####.exr"),
        paths["affected"],
        settings={"window": 5, "overlap": 1, "seam": seam, "dilation": 2, "feather": 2},
    )
    spec = FarmSpec.from_request(req, root / "work", command=COMMAND)
    spec.windows_per_task = per
    assert len(spec.windows()) == 6
    return spec.save(root / "farm.json")


def run_tasks(spec_path: Path) -> list[str]:
    """Every window task of the job, one process each and in order, as the farm's task graph
    names them (the argv the writers put in the farm's files)."""
    spec = FarmSpec.load(spec_path)
    logs = []
    for task in spec.task_graph(str(spec_path), "{frame}"):
        if task.name == "assemble":
            continue
        first, _, last = task.frames.partition("-")
        for frame in range(int(first), int(last or first) + 1):
            argv = [a.replace("{frame}", str(frame)) for a in task.argv]
            r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
            logs.append(r.stdout)
    return logs


def frames_of(spec_path: Path) -> list[bytes]:
    pat = SequencePattern.parse(FarmSpec.load(spec_path).out_pattern)
    return [read_image(pat.path(f)).pixels.tobytes() for f in FRAMES]


@pytest.mark.parametrize("seam", ["crossfade", "chain"])
def test_three_windows_per_task_load_the_engine_twice_for_six_windows(
    paths, tmp_path: Path, seam: str
) -> None:
    per_window = six_window_job(paths, tmp_path / "one", seam, 1)
    grouped = six_window_job(paths, tmp_path / "three", seam, 3)

    assert len(run_tasks(per_window)) == 6
    assert count_engine_loads(FarmSpec.load(per_window)) == 6  # the old cost: a load per window

    logs = run_tasks(grouped)
    assert len(logs) == 2
    assert count_engine_loads(FarmSpec.load(grouped)) == 2
    # The later windows of a task say they reuse the engine; the task's bar is split between
    # its windows (each one's "done" at 1/3, 2/3, 3/3) and ends at 100 once.
    assert logs[0].count("engine propagate already loaded by this task") == 2
    percents = [float(ln.split(": ")[1]) for ln in logs[0].splitlines() if "progress" in ln]
    done = [
        float(p.split(": ")[1])
        for p, s in zip(logs[0].splitlines(), logs[0].splitlines()[1:], strict=False)
        if "progress" in p and " done in " in s
    ]
    assert done == [33.3, 66.7, 100.0] and max(percents) == 100.0 and percents.count(100.0) == 1
    # A requeued task whose windows are all done loads nothing (before assemble prunes the
    # cache; a window is done only while its result is cached).
    again = run_tasks(grouped)
    assert all(log.count("already done; skipped") == 3 for log in again)
    assert count_engine_loads(FarmSpec.load(grouped)) == 2

    # The same frames whatever the grouping.
    for spec_path in (per_window, grouped):
        assert run_assemble_task(FarmSpec.load(spec_path)).frames_written == FRAMES
    a, b = frames_of(per_window), frames_of(grouped)
    assert a == b
    assert any(
        x != read_image(SequencePattern.parse(paths["plate"]).path(f)).pixels.tobytes()
        for x, f in zip(a, FRAMES, strict=True)
    )


def test_a_run_index_is_checked_before_anything_loads(paths, tmp_path: Path) -> None:
    spec_path = six_window_job(paths, tmp_path, "crossfade", 3)
    for bad, says in (
        ("4-9", "window index 9 is outside 0..5"),
        ("3-1", "window run 3-1 is backwards"),
        ("two", "must be a window index K or a run A-B"),
    ):
        r = subprocess.run(
            [*COMMAND, "task", "window", "--spec", str(spec_path), "--index", bad],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2 and says in r.stderr, r.stderr
    r = subprocess.run(
        [*COMMAND, "task", "window", "--spec", str(spec_path), "--task", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "task 2 is outside 0..1" in r.stderr
    assert count_engine_loads(FarmSpec.load(spec_path)) == 0


OPENJD = str(Path(sys.executable).with_name("openjd"))


@pytest.mark.parametrize("seam", ["crossfade", "chain"])
def test_a_warm_engine_session_loads_once_for_every_task(paths, tmp_path: Path, seam: str) -> None:
    """``--warm-engine``: an OpenJD job environment starts ``task serve`` when the session
    starts; all six one-window tasks (six steps for chain) use its engine: one load, not six,
    and the same frames as tasks that load their own."""
    from void_client.farm import submit_job

    cold = six_window_job(paths, tmp_path / "cold", seam, 1)
    run_tasks(cold)
    assert run_assemble_task(FarmSpec.load(cold)).frames_written == FRAMES

    spec = FarmSpec.load(six_window_job(paths, tmp_path / "warm", seam, 1))
    spec.warm_engine = True
    template = submit_job(spec, "openjd", tmp_path / "warm" / "bundle")
    run = subprocess.run(
        [OPENJD, "run", str(template)], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Session ended successfully" in run.stdout
    assert "openjd_env: VOID_REMOVE_TASK_SERVER=" in run.stdout
    assert count_engine_loads(spec) == 1
    assert run.stdout.count("already loaded by this task") == 5
    assert frames_of(cold) == frames_of(template.parent / "farm.json")


def test_a_task_whose_session_server_is_gone_loads_the_engine_itself(paths, tmp_path: Path) -> None:
    spec_path = six_window_job(paths, tmp_path, "crossfade", 3)
    r = subprocess.run(
        [*COMMAND, "task", "window", "--spec", str(spec_path), "--task", "0"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "VOID_REMOVE_TASK_SERVER": str(tmp_path / "gone.sock")},
    )
    assert r.returncode == 0, r.stderr
    assert "no task server on" in r.stderr and "loading the engine in this task" in r.stderr
    assert count_engine_loads(FarmSpec.load(spec_path)) == 1
