"""Disk the daemon uses, on real processes: ``void-remove jobs`` and ``jobs clean``, the retention
policy (inputs dropped once results are collected, old jobs removed, a disk budget) and the
modes of the files it writes (``docs/reliability.md``, "Disk").
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.daemons import DaemonProcess, journal_events
from void_client import protocol as P
from void_client.client import DaemonClient
from void_client.job_spec import JobSpec
from void_client.sequence import SequencePattern
from void_client.sequence_job import RemoveRequest, SequenceJob
from void_client.session import JobSession
from void_daemon.demo_shot import make_shot, write_shot
from void_daemon.retention import disk_bytes

SETTINGS = {"window": 13, "overlap": 4, "dilation": 3, "feather": 6}
N = 24


@pytest.fixture(scope="module")
def shot_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_shot(
        make_shot(frames=N, width=64, height=48, seed=31), str(tmp_path_factory.mktemp("shot"))
    )


def make_seq(paths: dict[str, str], out: Path, settings: dict | None = None) -> SequenceJob:
    return SequenceJob(
        RemoveRequest(
            paths["plate"],
            paths["remove"],
            str(out / "r.####.exr"),
            paths["affected"],
            settings=settings or SETTINGS,
        )
    )


def run_job(endpoint: str, seq: SequenceJob):  # type: ignore[no-untyped-def]
    with DaemonClient(endpoint, timeout=20) as c:
        return JobSession(c, seq.job_spec(), seq.read_frame, seq.write_result).run()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "void_client.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def pruned(job_dir: Path) -> dict | None:
    events = [e for e in journal_events(job_dir / "journal.jsonl") if e["event"] == "pruned"]
    return events[-1] if events else None


def stored_arrays(job_dir: Path) -> list[str]:
    return sorted(p.name for p in [*job_dir.glob("in/*"), *job_dir.glob("out/*")])


# ----------------------------------------------------------------------------- retention


def test_inputs_are_dropped_once_results_are_collected_and_the_cache_still_serves_a_rerun(
    tmp_path: Path, shot_paths: dict[str, str]
) -> None:
    jobs = tmp_path / "jobs"
    d = DaemonProcess(jobs).start()
    try:
        report = run_job(d.endpoint, make_seq(shot_paths, tmp_path / "a"))
        job_dir = jobs / report.job
        event = wait_for(lambda: pruned(job_dir), 30, "the collected job's inputs to be dropped")
        assert stored_arrays(job_dir) == []
        assert event["freed"] > 0
        with DaemonClient(d.endpoint) as c:
            (state,) = c.status(report.job)
        assert state["state"] == "done" and state["frames_done"] == N
        assert state["disk_bytes"] == disk_bytes(job_dir)
        # The window cache is kept: the same shot again costs no engine time.
        again = run_job(d.endpoint, make_seq(shot_paths, tmp_path / "b"))
        assert again.cached_windows == again.windows == 3
    finally:
        d.stop()
    # A pruned job replays as done, with its frames counted, after a restart.
    d.start()
    try:
        with DaemonClient(d.endpoint) as c:
            (state,) = c.status(report.job)
        assert state["state"] == "done" and state["frames_done"] == N
    finally:
        d.stop()
    print(f"\n{N}-frame 64x48 job: {event['freed']} bytes freed, {disk_bytes(job_dir)} left")


@pytest.mark.slow
def test_disk_of_a_96_frame_256x160_job_before_and_after_retention(tmp_path: Path) -> None:
    files = write_shot(make_shot(frames=96, width=256, height=160, seed=5), str(tmp_path / "shot"))
    jobs = tmp_path / "jobs"
    d = DaemonProcess(jobs).start()
    try:
        settings = {"window": 29, "overlap": 8, "dilation": 3, "feather": 6}
        report = run_job(d.endpoint, make_seq(files, tmp_path / "out", settings))
        job_dir = jobs / report.job
        event = wait_for(lambda: pruned(job_dir), 60, "the inputs to be dropped")
        after = disk_bytes(job_dir)
        before = after + event["freed"]
        cache = disk_bytes(jobs / "cache")
    finally:
        d.stop()
    assert stored_arrays(job_dir) == [] and after < 100_000
    print(
        f"\n96-frame 256x160 job: {before / 2**20:.1f} MiB before retention, "
        f"{after / 2**10:.1f} KiB after; window cache {cache / 2**20:.1f} MiB (kept)"
    )


def test_finished_jobs_older_than_the_retention_period_are_removed(
    tmp_path: Path, shot_paths: dict[str, str]
) -> None:
    jobs = tmp_path / "jobs"
    # 0.00005 days is 4.3 s.
    d = DaemonProcess(jobs, extra=["--retention-days", "0.00005"]).start()
    try:
        report = run_job(d.endpoint, make_seq(shot_paths, tmp_path / "a"))
        with DaemonClient(d.endpoint) as c:
            live = c.submit(JobSpec(frames=[1, 2], width=8, height=8)).job
            wait_for(lambda: not (jobs / report.job).exists(), 30, "the old job to be removed")
            assert [j["job"] for j in c.status()] == [live]  # active jobs are never removed
        assert (jobs / live).is_dir()
    finally:
        d.stop()
    assert f"removed job {report.job}" in d.log.read_text()


def test_over_the_disk_budget_the_oldest_finished_job_goes_first(
    tmp_path: Path, shot_paths: dict[str, str]
) -> None:
    """One job's window cache is ~1.4 MB here: a 2 MB budget holds one run's cache, not two."""
    jobs = tmp_path / "jobs"
    budget = 2_000_000
    d = DaemonProcess(jobs, extra=["--disk-budget-gib", str(budget / 2**30)]).start()
    newer = {**SETTINGS, "dilation": 4}
    try:
        first = run_job(d.endpoint, make_seq(shot_paths, tmp_path / "a"))
        wait_for(lambda: pruned(jobs / first.job), 30, "the first job's inputs to be dropped")
        assert (jobs / first.job).is_dir()  # under budget: nothing removed yet
        second = run_job(d.endpoint, make_seq(shot_paths, tmp_path / "b", newer))
        wait_for(lambda: disk_bytes(jobs) <= budget, 30, "the disk budget to be met")
        log = d.log.read_text()
        assert not (jobs / first.job).exists()
        assert "disk budget" in log
        assert log.index(f"removed job {first.job}") < log.index(f"removed job {second.job}")
        # The least recently written cache entries went: the latest settings re-run for free.
        again = run_job(d.endpoint, make_seq(shot_paths, tmp_path / "c", newer))
        assert again.cached_windows == again.windows == 3
    finally:
        d.stop()


# ----------------------------------------------------------------------------- jobs / clean


def test_jobs_lists_disk_use_and_clean_removes_what_it_says(
    tmp_path: Path, shot_paths: dict[str, str]
) -> None:
    jobs = tmp_path / "jobs"
    d = DaemonProcess(jobs).start()
    try:
        done = run_job(d.endpoint, make_seq(shot_paths, tmp_path / "a"))
        wait_for(lambda: pruned(jobs / done.job), 30, "retention")
        with DaemonClient(d.endpoint) as c:
            live = c.submit(JobSpec(frames=[1, 2], width=8, height=8, name="live-one")).job
        listed = cli("jobs", "--endpoint", d.endpoint, "--json")
        assert listed.returncode == 0, listed.stderr
        rows = {j["job"]: j for j in json.loads(listed.stdout)["jobs"]}
        assert set(rows) == {done.job, live}
        assert rows[done.job]["disk_bytes"] == disk_bytes(jobs / done.job)
        assert rows[done.job]["state"] == "done" and rows[done.job]["frames_done"] == N
        table = cli("jobs", "--endpoint", d.endpoint)
        assert table.returncode == 0 and done.job in table.stdout and "done" in table.stdout
        assert "live-one" in table.stdout and "total" in table.stdout

        # --older-than keeps what is younger.
        kept = cli("jobs", "clean", "--older-than", "7d", "--endpoint", d.endpoint)
        assert kept.returncode == 0 and "removed 0 jobs" in kept.stdout, kept.stdout
        assert (jobs / done.job).is_dir()

        cleaned = cli("jobs", "clean", "--all-finished", "--endpoint", d.endpoint)
        assert cleaned.returncode == 0, cleaned.stderr
        assert done.job in cleaned.stdout and "removed 1 job" in cleaned.stdout
        assert not (jobs / done.job).exists()
        assert (jobs / live).is_dir()  # an active job is never cleaned
        assert any((jobs / "cache").rglob("*.npy"))  # the window cache is kept
        with DaemonClient(d.endpoint) as c:
            assert [j["job"] for j in c.status()] == [live]
            reply = c.request(P.Clean(all_finished=True))
            assert isinstance(reply, P.Clean) and reply.removed == []
    finally:
        d.stop()


# ----------------------------------------------------------------------------- file modes


def test_path_mode_results_follow_the_umask(tmp_path: Path) -> None:
    root = tmp_path / "show"
    shot = make_shot(frames=5, width=48, height=32, seed=12)
    files = write_shot(shot, str(root / "plates"))
    old = os.umask(0o022)
    try:
        d = DaemonProcess(tmp_path / "jobs", extra=["--allow-root", str(root)]).start()
    finally:
        os.umask(old)
    out = root / "renders" / "clean.####.exr"
    out.parent.mkdir()
    try:
        with DaemonClient(d.endpoint) as c:
            ack = c.submit(
                JobSpec(
                    frames=shot.frames,
                    width=48,
                    height=32,
                    window=13,
                    overlap=4,
                    dilation=3,
                    transfer="paths",
                    out_pattern=str(out),
                )
            )
            pat = {k: SequencePattern.parse(v) for k, v in files.items()}
            c.send_frames(
                ack.job,
                paths=[
                    {
                        "frame": f,
                        "plate": pat["plate"].path(f),
                        "remove": pat["remove"].path(f),
                        "affected": pat["affected"].path(f),
                    }
                    for f in shot.frames
                ],
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                msg = c.recv(10)
                assert msg is not None and not isinstance(msg, P.Error), msg
                if isinstance(msg, P.Progress) and msg.stage == "done":
                    break
    finally:
        d.stop()
    written = SequencePattern.parse(str(out))
    modes = {f: stat.S_IMODE(os.stat(written.path(f)).st_mode) for f in shot.frames}
    assert set(modes.values()) == {0o644}, modes
