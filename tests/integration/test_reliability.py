"""Crash and resume, dead clients, dead daemons, full and unwritable disks — on real processes.

The daemon is SIGKILLed at chosen moments by ``fault_daemon.py`` (mid-window, half-way through
a finished frame's file, half-way through a journal line), restarted on the same jobs folder,
and the *same* client session carries on: it re-attaches by itself and must receive every
frame exactly once, bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.support.daemons import (
    DaemonProcess,
    FaultyDaemon,
    Restarter,
    free_port,
    journal_events,
    try_mount,
    umount,
)
from void_client import protocol as P
from void_client import session as session_mod
from void_client.client import DaemonClient
from void_client.errors import ErrorCode, VoidError
from void_client.output_manifest import MANIFEST_SUFFIX
from void_client.sequence import SequencePattern, read_image
from void_client.sequence_job import RemoveRequest, SequenceJob, remove_sequence
from void_client.session import JobSession
from void_daemon.demo_shot import make_shot, write_shot

SETTINGS = {"window": 13, "overlap": 4, "dilation": 3, "feather": 6}
N = 24
FRAMES = list(range(1001, 1001 + N))


@pytest.fixture(scope="module")
def shot_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """24 frames, three windows of 13 with these settings."""
    return write_shot(
        make_shot(frames=N, width=64, height=48, seed=10),
        str(tmp_path_factory.mktemp("crash-shot")),
    )


def make_seq(paths: dict[str, str], out: Path) -> SequenceJob:
    return SequenceJob(
        RemoveRequest(
            paths["plate"],
            paths["remove"],
            str(out / "r.####.exr"),
            paths["affected"],
            settings=SETTINGS,
        )
    )


@pytest.fixture(scope="module")
def reference(
    shot_paths: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[int, bytes]:
    """The uninterrupted run's frames, to compare every crashed-and-resumed run against bit for bit."""
    tmp = tmp_path_factory.mktemp("reference")
    d = DaemonProcess(tmp / "jobs").start()
    out: dict[int, bytes] = {}
    try:
        seq = make_seq(shot_paths, tmp)
        with DaemonClient(d.endpoint) as c:
            JobSession(
                c, seq.job_spec(), seq.read_frame, lambda f, px: out.__setitem__(f, px.tobytes())
            ).run()
    finally:
        d.stop()
    assert sorted(out) == FRAMES
    return out


class Collector:
    """A write_result that counts how often each frame arrives."""

    def __init__(self) -> None:
        self.count: Counter[int] = Counter()
        self.pixels: dict[int, bytes] = {}
        self.lock = threading.Lock()

    def __call__(self, frame: int, px: np.ndarray) -> None:
        with self.lock:
            self.count[frame] += 1
            self.pixels[frame] = px.tobytes()


def run_through_crash(
    tmp_path: Path, shot_paths: dict[str, str], fault: str, snapshot, monkeypatch
) -> tuple[Collector, Restarter, Path]:  # type: ignore[no-untyped-def]
    """One JobSession against a daemon that kills itself at ``fault`` and is restarted clean."""
    monkeypatch.setattr(session_mod, "STALL_CHECK_S", 0.5)
    jobs = tmp_path / "jobs"
    # --keep-job-files: these tests inspect the job's stored frames after it is done.
    d = FaultyDaemon(jobs, extra=["--keep-job-files"]).start(fault=fault)
    restarter = Restarter(d, snapshot=lambda: snapshot(jobs))
    seq = make_seq(shot_paths, tmp_path)
    got = Collector()
    try:
        with DaemonClient(d.endpoint, timeout=20) as c:
            report = JobSession(c, seq.job_spec(), seq.read_frame, got).run()
        restarter.join(30)
        assert restarter.error is None, restarter.error
        assert restarter.exit_code == -signal.SIGKILL  # the fault fired: this run crossed a crash
        return got, restarter, jobs / report.job
    finally:
        d.stop()


def only_job(jobs: Path) -> Path:
    (job,) = [p for p in jobs.iterdir() if (p / "spec.json").exists()]
    return job


def assert_exactly_once_and_identical(got: Collector, reference: dict[int, bytes]) -> None:
    assert sorted(got.count) == FRAMES
    assert set(got.count.values()) == {1}, {f: n for f, n in got.count.items() if n != 1}
    assert all(got.pixels[f] == reference[f] for f in FRAMES)


def test_sigkill_mid_window_resumes_without_recomputing_and_the_session_gets_every_frame_once(
    tmp_path, shot_paths, reference, monkeypatch
) -> None:
    def snapshot(jobs: Path) -> list[int]:
        return [
            e["index"]
            for e in journal_events(only_job(jobs) / "journal.jsonl")
            if e["event"] == "window"
        ]

    got, restarter, job_dir = run_through_crash(
        tmp_path, shot_paths, "window:1", snapshot, monkeypatch
    )
    # Killed as window 1 started: window 0 was finished and journalled, window 1 was not.
    assert restarter.snapshot == [0]
    windows = [
        e["index"] for e in journal_events(job_dir / "journal.jsonl") if e["event"] == "window"
    ]
    assert sorted(windows) == [0, 1, 2]  # each window ran once across both lives
    assert_exactly_once_and_identical(got, reference)


def stray_dotfiles(folder: Path) -> list[str]:
    """Hidden files in an output folder other than the sequence's manifest: temp files left behind."""
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.name.startswith(".") and not p.name.endswith(MANIFEST_SUFFIX)
    )


def test_sigkill_half_way_through_a_frame_file_leaves_no_partial_output(
    tmp_path, shot_paths, reference, monkeypatch
) -> None:
    def snapshot(jobs: Path) -> dict:
        job = only_job(jobs)
        out = job / "out"
        whole = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
        loaded = {
            name: np.load(out / name).shape for name in whole
        }  # every announced name is a whole file
        finals = [e["pos"] for e in journal_events(job / "journal.jsonl") if e["event"] == "final"]
        return {
            "temps": [p.name for p in out.iterdir() if p.name.startswith(".")],
            "whole": whole,
            "loaded": loaded,
            "finals": finals,
        }

    got, restarter, job_dir = run_through_crash(
        tmp_path, shot_paths, "write:out:5", snapshot, monkeypatch
    )
    snap = restarter.snapshot
    assert len(snap["temps"]) == 1  # the torn write is a temp file, never a frame
    assert len(snap["whole"]) == 4 and set(snap["loaded"].values()) == {(48, 64, 4)}
    assert sorted(snap["finals"]) == [int(n[:6]) for n in snap["whole"]]
    # After the restart: the torn temp file was swept, every frame is whole and right.
    assert not [p for p in (job_dir / "out").iterdir() if p.name.startswith(".")]
    assert len(list((job_dir / "out").iterdir())) == N
    assert_exactly_once_and_identical(got, reference)


def test_a_journal_line_torn_by_sigkill_is_cut_and_the_job_completes(
    tmp_path, shot_paths, reference, monkeypatch
) -> None:
    def snapshot(jobs: Path) -> bytes:
        return (only_job(jobs) / "journal.jsonl").read_bytes()

    got, restarter, job_dir = run_through_crash(
        tmp_path, shot_paths, "journal:final:3", snapshot, monkeypatch
    )
    assert not restarter.snapshot.endswith(b"\n")  # the crash tore the last line
    events = journal_events(job_dir / "journal.jsonl")  # and now every line parses
    assert events[-1]["event"] == "state" and events[-1]["state"] == "done"
    assert_exactly_once_and_identical(got, reference)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "void_client.cli.main", *args]


def test_killed_client_job_finishes_and_a_new_client_attaches_and_collects(
    tmp_path, shot_paths, reference
) -> None:
    d = DaemonProcess(tmp_path / "jobs").start()
    out = tmp_path / "out" / "k.####.exr"
    try:
        run = subprocess.Popen(
            cli(
                "run",
                "--plate",
                shot_paths["plate"],
                "--remove",
                shot_paths["remove"],
                "--affected",
                shot_paths["affected"],
                "--out",
                str(out),
                "--window",
                "13",
                "--overlap",
                "4",
                "--dilation",
                "3",
                "--feather",
                "6",
                "--endpoint",
                d.endpoint,
                "--no-autostart",
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        pattern = SequencePattern.parse(str(out))
        with DaemonClient(d.endpoint) as c:
            # SIGKILL the client once every input frame is in and its first result is on disk.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                jobs = c.status()
                if jobs and jobs[0]["frames_received"] == N and pattern.scan():
                    break
                time.sleep(0.02)
            run.kill()
            run.wait()
            time.sleep(0.3)  # acks the client sent just before dying are in
            job = jobs[0]["job"]
            written_before = set(pattern.scan())
            acked_before = c.status(job)[0]["frames_acked"]
            # Without any client the job still computes every frame.
            while c.status(job)[0]["frames_done"] < N and time.monotonic() < deadline:
                time.sleep(0.05)
            state = c.status(job)[0]
            assert state["frames_done"] == N and state["state"] not in ("failed", "cancelled"), (
                state
            )
        assert 1 <= len(written_before) < N
        r = subprocess.run(
            cli(
                "attach",
                job,
                "--plate",
                shot_paths["plate"],
                "--remove",
                shot_paths["remove"],
                "--affected",
                shot_paths["affected"],
                "--out",
                str(out),
                "--endpoint",
                d.endpoint,
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        # The new client received exactly the frames the dead one had not acknowledged.
        assert f"wrote {N - acked_before} frames" in r.stderr
        assert pattern.scan() == FRAMES
        for f in FRAMES:
            px = read_image(pattern.path(f)).pixels
            assert px.astype(np.float16).tobytes() == reference[f], f
        assert stray_dotfiles(out.parent) == []  # no temp files; the output manifest is expected
        with DaemonClient(d.endpoint) as c:
            assert c.status(job)[0]["state"] == "done"
    finally:
        d.stop()


def test_a_client_whose_daemon_dies_mid_job_gets_daemon_unreachable_in_bounded_time(
    tmp_path, shot_paths, monkeypatch
) -> None:
    monkeypatch.setattr(session_mod, "STALL_CHECK_S", 1.0)
    d = DaemonProcess(tmp_path / "jobs").start()
    seq = make_seq(shot_paths, tmp_path)
    killed_at: list[float] = []

    def on_event(msg: P.Message) -> None:
        if isinstance(msg, P.Result) and not killed_at:
            d.kill()
            killed_at.append(time.monotonic())

    try:
        with DaemonClient(d.endpoint, timeout=2.0) as c:
            with pytest.raises(VoidError) as err:
                JobSession(c, seq.job_spec(), seq.read_frame, lambda f, px: None, on_event).run()
            waited = time.monotonic() - killed_at[0]
        assert err.value.code == ErrorCode.DAEMON_UNREACHABLE
        # STALL_CHECK_S of silence, then one status request that times out after 2 s.
        assert waited < 1.0 + 2.0 + 2.0, waited
    finally:
        d.stop()


# ----------------------------------------------------------------------------- disks


@pytest.fixture
def tmpfs(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 3 MiB tmpfs: a disk that really fills up (root only; skipped where mount is not allowed)."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if not try_mount(["-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)]):
        pytest.skip("cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)")
    yield mnt
    umount(mnt)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill the file system of ``folder`` until about ``leave`` bytes are free."""
    st = os.statvfs(folder)
    todo = max(0, st.f_bavail * st.f_frsize - leave)
    fd = os.open(folder / f"filler-{time.monotonic_ns()}.bin", os.O_WRONLY | os.O_CREAT)
    try:
        while todo > 0:
            todo -= os.write(fd, b"\0" * min(todo, 1 << 16))
    except OSError:  # full: that was the point
        pass
    finally:
        os.close(fd)


def small_job(tmp: Path, seed: int, frames: int = 8) -> tuple[SequenceJob, dict]:
    paths = write_shot(
        make_shot(frames=frames, width=64, height=48, seed=seed), str(tmp / f"shot{seed}")
    )
    return SequenceJob(
        RemoveRequest(
            paths["plate"],
            paths["remove"],
            str(tmp / f"o{seed}" / "o.####.exr"),
            paths["affected"],
            settings={"window": 13, "overlap": 4},
        )
    ), paths


def test_full_jobs_disk_fails_the_job_with_io_error_and_the_daemon_keeps_serving(
    tmp_path, tmpfs
) -> None:
    d = DaemonProcess(tmpfs / "jobs", extra=["--keep-job-files"]).start()
    try:
        first, _ = small_job(tmp_path, 1)
        done: dict[int, bytes] = {}
        with DaemonClient(d.endpoint) as c:
            JobSession(
                c,
                first.job_spec(),
                first.read_frame,
                lambda f, px: done.__setitem__(f, px.tobytes()),
            ).run()
            first_job_files = sorted(p for p in (tmpfs / "jobs").rglob("out/*.npy"))
            first_bytes = [p.read_bytes() for p in first_job_files]

            # A job that cannot fit is refused at submit, before any frame is sent.
            big = first.job_spec()
            big.frames = list(range(1, 2001))
            with pytest.raises(VoidError) as err:
                c.submit(big)
            assert err.value.code == ErrorCode.IO_ERROR and "MiB are free" in err.value.message

            # A job that fits at submit but meets a full disk mid-way fails with a clear error.
            second, _ = small_job(tmp_path, 2)

            def read_frame(frame: int):  # type: ignore[no-untyped-def]
                if frame == second.frames[2]:  # the disk fills up while the job is being sent
                    fill(tmpfs)
                return second.read_frame(frame)

            session = JobSession(c, second.job_spec(), read_frame, lambda f, px: None, io_threads=1)
            with pytest.raises(VoidError) as err:
                session.run()
            assert err.value.code == ErrorCode.IO_ERROR
            assert "No space left on device" in err.value.message
            assert c.status(session.job)[0]["state"] == "failed"
            assert c.hello().daemon_version  # still serving
        # The earlier job's stored frames are untouched.
        assert [p.read_bytes() for p in first_job_files] == first_bytes
        assert all(np.load(p).shape == (48, 64, 4) for p in first_job_files)
    finally:
        d.stop()


def test_full_output_disk_gives_io_error_and_earlier_frames_stay_whole(
    tmp_path, tmpfs, daemon
) -> None:
    seq, paths = small_job(tmp_path, 3, frames=16)
    out = tmpfs / "out" / "o.####.exr"
    (tmpfs / "out").mkdir()
    fill(tmpfs, leave=100_000)  # room for a few frames only
    req = RemoveRequest(
        paths["plate"],
        paths["remove"],
        str(out),
        paths["affected"],
        settings={"window": 13, "overlap": 4},
        endpoint=daemon.endpoint,
        autostart=False,
    )
    with pytest.raises(VoidError) as err:
        remove_sequence(req)
    assert err.value.code == ErrorCode.IO_ERROR
    assert str(tmpfs / "out") in err.value.message or "frame" in err.value.message
    written = SequencePattern.parse(str(out)).scan()
    assert 0 < len(written) < 16
    for f in written:  # every file that exists is a whole, readable frame
        assert read_image(SequencePattern.parse(str(out)).path(f)).pixels.shape == (48, 64, 4)
    assert stray_dotfiles(tmpfs / "out") == []


def test_unwritable_output_folder_is_refused_before_any_work(tmp_path, daemon) -> None:
    seq, paths = small_job(tmp_path, 4)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    for out in (blocker / "o.####.exr", blocker / "deeper" / "o.####.exr"):
        req = RemoveRequest(
            paths["plate"],
            paths["remove"],
            str(out),
            settings={"window": 13, "overlap": 4},
            endpoint=daemon.endpoint,
            autostart=False,
        )
        with DaemonClient(daemon.endpoint) as c:
            before = len(c.status())
        with pytest.raises(VoidError) as err:
            remove_sequence(req)
        assert (
            err.value.code == ErrorCode.IO_ERROR and "cannot write results to" in err.value.message
        )
        with DaemonClient(daemon.endpoint) as c:
            assert len(c.status()) == before  # nothing was submitted


def test_read_only_output_mount_is_refused_and_its_files_untouched(tmp_path, daemon) -> None:
    src = tmp_path / "ro-src"
    src.mkdir()
    (src / "o.1001.exr").write_bytes(b"an earlier output")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if not (
        try_mount(["--bind", str(src), str(mnt)]) and try_mount(["-o", "remount,bind,ro", str(mnt)])
    ):
        umount(mnt)
        pytest.skip("cannot make a read-only bind mount here")
    try:
        seq, paths = small_job(tmp_path, 5)
        req = RemoveRequest(
            paths["plate"],
            paths["remove"],
            str(mnt / "o.####.exr"),
            settings={"window": 13, "overlap": 4},
            endpoint=daemon.endpoint,
            autostart=False,
        )
        with pytest.raises(VoidError) as err:
            remove_sequence(req)
        assert err.value.code == ErrorCode.IO_ERROR and "Read-only file system" in err.value.message
        assert (mnt / "o.1001.exr").read_bytes() == b"an earlier output"
    finally:
        umount(mnt)


# ----------------------------------------------------------------------------- operations


def test_sigterm_stops_at_a_step_boundary_and_a_restart_keeps_the_queue(
    tmp_path, shot_paths, reference, monkeypatch
) -> None:
    """Graceful shutdown: the running window finishes or stops at a step boundary, finished frames
    are stored, the process exits 0; the restarted daemon resumes the job from its journal."""
    monkeypatch.setattr(session_mod, "STALL_CHECK_S", 0.5)
    jobs = tmp_path / "jobs"
    d = FaultyDaemon(jobs, extra=["--log-format", "json"]).start()
    restarter = Restarter(d)
    seq = make_seq(shot_paths, tmp_path)
    got = Collector()
    assert d.proc is not None
    proc = d.proc

    def on_event(msg: P.Message) -> None:
        if (
            isinstance(msg, P.Progress)
            and msg.stage == "running"
            and msg.window >= 1
            and proc.poll() is None
        ):
            proc.terminate()

    try:
        with DaemonClient(d.endpoint, timeout=20) as c:
            report = JobSession(c, seq.job_spec(), seq.read_frame, got, on_event).run()
        restarter.join(30)
        assert restarter.error is None and restarter.exit_code == 0  # a clean exit, not a crash
        states = [
            e["state"]
            for e in journal_events(jobs / report.job / "journal.jsonl")
            if e["event"] == "state"
        ]
        assert "failed" not in states and "cancelled" not in states and states[-1] == "done"
        windows = [
            e["index"]
            for e in journal_events(jobs / report.job / "journal.jsonl")
            if e["event"] == "window"
        ]
        assert sorted(windows) == [0, 1, 2]
        assert_exactly_once_and_identical(got, reference)
        # Structured logs: every line the daemon wrote is one JSON object.
        lines = [ln for ln in d.log.read_text().splitlines() if ln.startswith("{")]
        assert lines and all(json.loads(ln)["level"] for ln in lines)
        assert any("resuming job" in json.loads(ln)["msg"] for ln in lines)
    finally:
        d.stop()


def test_daemon_status_is_a_health_check(daemon) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "void_daemon", "status", "--endpoint", daemon.endpoint, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    answer = json.loads(ok.stdout)
    assert answer["version"] and any(
        e["name"] == "propagate" and e["available"] for e in answer["engines"]
    )
    dead = subprocess.run(
        [
            sys.executable,
            "-m",
            "void_daemon",
            "status",
            "--endpoint",
            f"tcp://127.0.0.1:{free_port()}",
            "--timeout",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dead.returncode == 1 and "no answer" in dead.stderr
