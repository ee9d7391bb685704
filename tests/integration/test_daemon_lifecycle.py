"""The daemon's lifecycle on real processes: one daemon per jobs folder, endpoints it must not
steal, folders it must not trust, SIGTERM that always stops it, jobs that cannot freeze it
twice, and jobs whose client went away (``docs/reliability.md``, "Jobs end").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.daemons import DaemonProcess, free_port, journal_events
from void_client import session as session_mod
from void_client.autostart import wait_for_daemon
from void_client.client import DaemonClient
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.sequence_job import RemoveRequest, SequenceJob
from void_client.session import JobSession
from void_daemon.demo_shot import make_shot, write_shot

LIFECYCLE_DAEMON = Path(__file__).parents[1] / "support" / "lifecycle_daemon.py"
SETTINGS = {"window": 13, "overlap": 4, "dilation": 3, "feather": 6}
N = 24
#: What SIGTERM may take, whatever a job is doing (the daemon's own bound is shorter).
STOP_BOUND_S = 8.0


@pytest.fixture(scope="module")
def shot_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """24 frames, three windows of 13 with these settings."""
    return write_shot(
        make_shot(frames=N, width=64, height=48, seed=21), str(tmp_path_factory.mktemp("shot"))
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


class HangingDaemon(DaemonProcess):
    """A real daemon with an injected freeze (``tests/support/lifecycle_daemon.py``)."""

    def start(  # type: ignore[override]
        self, timeout: float = 60.0, hang: str = "", marker: Path | None = None
    ) -> HangingDaemon:
        cmd = [
            sys.executable,
            str(LIFECYCLE_DAEMON),
            "serve",
            "--endpoint",
            self.endpoint,
            "--jobs-dir",
            str(self.jobs_dir),
            *self.extra,
        ]
        env = {**os.environ, "VOID_TEST_HANG": hang, "VOID_TEST_MARKER": str(marker or "")}
        self.proc = subprocess.Popen(
            cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, env=env
        )
        try:
            wait_for_daemon(self.endpoint, self.proc, timeout)
        except VoidError as exc:
            raise RuntimeError(f"{exc.message}: {self.log.read_text()}") from exc
        return self


def serve_cmd(jobs: Path, endpoint: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "void_daemon",
        "serve",
        "--endpoint",
        endpoint,
        "--jobs-dir",
        str(jobs),
        *extra,
    ]


def refused(cmd: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run a daemon that must refuse to start; a daemon that starts instead is killed."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the daemon started instead of refusing: {exc.stderr!r}")


def wait_for(predicate, timeout: float, what: str, step: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def wait_for_file(path: Path, timeout: float = 60.0) -> None:
    wait_for(path.exists, timeout, str(path))


def terminate_and_time(proc: subprocess.Popen) -> float:
    """SIGTERM; seconds until the process is gone (killed and failed past STOP_BOUND_S * 2)."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_BOUND_S * 2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"SIGTERM did not stop the daemon in {STOP_BOUND_S * 2} s")
    return time.monotonic() - t0


def run_session_in_background(endpoint: str, seq: SequenceJob, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    """A JobSession in a thread; returns (thread, outcome dict with 'report' or 'error')."""
    outcome: dict = {}

    def go() -> None:
        try:
            with DaemonClient(endpoint, timeout=timeout) as c:
                outcome["report"] = JobSession(
                    c, seq.job_spec(), seq.read_frame, lambda f, px: None
                ).run()
        except BaseException as exc:  # reported by the test
            outcome["error"] = exc

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, outcome


def only_job(jobs: Path) -> Path:
    (job,) = [p for p in jobs.iterdir() if (p / "spec.json").exists()]
    return job


# ----------------------------------------------------------------------------- one per folder


def test_a_second_daemon_on_the_same_jobs_folder_is_refused_and_the_first_job_untouched(
    tmp_path: Path,
) -> None:
    jobs = tmp_path / "jobs"
    first = DaemonProcess(jobs).start()
    assert first.proc is not None
    try:
        with DaemonClient(first.endpoint) as c:
            job = c.submit(JobSpec(frames=list(range(1, 9)), width=16, height=16)).job
            c.status(job)
        journal = jobs / job / "journal.jsonl"
        # The first daemon has started the job (it waits for inputs): its journal is settled.
        wait_for(lambda: b'"started"' in journal.read_bytes(), 30, "the job to start")
        before = journal.read_bytes()
        second_ep = f"tcp://127.0.0.1:{free_port()}"
        r = refused(serve_cmd(jobs, second_ep))
        assert r.returncode != 0
        # The message names who holds the folder, so the user can find and stop it.
        assert str(first.proc.pid) in r.stderr and first.endpoint in r.stderr, r.stderr
        assert "resuming" not in r.stderr
        assert journal.read_bytes() == before  # the second daemon resumed nothing
        with DaemonClient(first.endpoint) as c:
            (state,) = c.status(job)
            assert state["state"] == "queued"
    finally:
        first.stop()
    # Once the first daemon is gone the folder is free again.
    again = DaemonProcess(jobs).start()
    again.stop()


def test_an_ipc_endpoint_already_served_is_refused_not_taken_over(tmp_path: Path) -> None:
    sock = tmp_path / "void.sock"
    ipc = f"ipc://{sock}"
    first = DaemonProcess(tmp_path / "jobs-a", extra=["--ipc", ipc]).start()
    assert first.proc is not None
    try:
        r = refused(serve_cmd(tmp_path / "jobs-b", f"tcp://127.0.0.1:{free_port()}", "--ipc", ipc))
        assert r.returncode != 0 and str(sock) in r.stderr, r.stderr
        # The socket still leads to the first daemon: its job list is the one answering.
        with DaemonClient(first.endpoint) as c:
            job = c.submit(JobSpec(frames=[1, 2], width=8, height=8)).job
        with DaemonClient(ipc, timeout=5) as c:
            assert [j["job"] for j in c.status()] == [job]
    finally:
        first.kill()  # SIGKILL leaves the socket file behind: stale, nobody answers
    assert sock.exists()
    # A stale socket file with nobody behind it may be replaced.
    third = DaemonProcess(tmp_path / "jobs-c", extra=["--ipc", ipc]).start()
    try:
        with DaemonClient(ipc, timeout=5) as c:
            assert c.status() == []
    finally:
        third.stop()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_a_jobs_folder_owned_by_another_user_is_refused_with_the_fix(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir(mode=0o700)
    os.chown(jobs, 65534, 65534)  # nobody
    r = refused(serve_cmd(jobs, f"tcp://127.0.0.1:{free_port()}"))
    assert r.returncode != 0
    assert "chown" in r.stderr and str(jobs) in r.stderr, r.stderr
    assert not (jobs / "daemon.lock").exists() and not (jobs / "cache").exists()


def test_a_group_or_world_writable_jobs_folder_is_refused_with_the_fix(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    jobs.chmod(0o777)
    r = refused(serve_cmd(jobs, f"tcp://127.0.0.1:{free_port()}"))
    assert r.returncode != 0
    assert f"chmod 700 {jobs}" in r.stderr, r.stderr
    assert (jobs.stat().st_mode & 0o777) == 0o777  # refused, not silently "fixed"


def test_a_job_folder_that_is_a_link_is_never_followed(tmp_path: Path) -> None:
    """Another user (or a stray script) redirects a job folder through a symlink: the daemon
    neither resumes it nor writes through it, and a new job cannot be created on it."""
    jobs = tmp_path / "jobs"
    seed = DaemonProcess(jobs).start()
    try:
        with DaemonClient(seed.endpoint) as c:
            job = c.submit(JobSpec(frames=[1, 2, 3], width=8, height=8, job_id="real")).job
    finally:
        seed.stop()
    elsewhere = tmp_path / "elsewhere"
    (jobs / job).rename(elsewhere)
    (jobs / job).symlink_to(elsewhere, target_is_directory=True)
    (jobs / "planted").symlink_to(tmp_path / "planted-target", target_is_directory=True)
    (tmp_path / "planted-target").mkdir()
    before = (elsewhere / "journal.jsonl").read_bytes()
    d = DaemonProcess(jobs).start()
    try:
        with DaemonClient(d.endpoint) as c:
            assert [j["job"] for j in c.status()] == []
            with pytest.raises(VoidError) as err:
                c.submit(JobSpec(frames=[1], width=8, height=8, job_id="planted"))
            assert err.value.code == ErrorCode.BAD_SPEC
    finally:
        d.stop()
    assert (elsewhere / "journal.jsonl").read_bytes() == before
    assert list((tmp_path / "planted-target").iterdir()) == []
    assert "is a link" in d.log.read_text()


# ----------------------------------------------------------------------------- SIGTERM


def test_sigterm_during_a_frozen_window_stops_within_seconds_and_the_job_resumes(
    tmp_path: Path, shot_paths: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_mod, "STALL_CHECK_S", 0.5)
    jobs = tmp_path / "jobs"
    marker = tmp_path / "frozen"
    d = HangingDaemon(jobs).start(hang="window:1", marker=marker)
    assert d.proc is not None
    seq = make_seq(shot_paths, tmp_path)
    thread, outcome = run_session_in_background(d.endpoint, seq)
    try:
        wait_for_file(marker)
        took = terminate_and_time(d.proc)
        assert took < STOP_BOUND_S, took
        job_dir = only_job(jobs)
        events = journal_events(job_dir / "journal.jsonl")
        interrupted = [e for e in events if e["event"] == "interrupted"]
        assert interrupted and interrupted[-1]["state"] == "running", events[-5:]
        # Restarted without the freeze: the same client session carries on to the end.
        d.start()
        thread.join(120)
        assert "error" not in outcome, outcome.get("error")
        assert len(outcome["report"].frames_written) == N
        states = [
            e["state"] for e in journal_events(job_dir / "journal.jsonl") if e["event"] == "state"
        ]
        assert states[-1] == "done"
    finally:
        d.stop()
    print(f"\nSIGTERM with a frozen window: daemon gone in {took:.2f} s")


def test_sigterm_with_a_frozen_receiver_stops_within_seconds(
    tmp_path: Path, shot_paths: dict[str, str]
) -> None:
    jobs = tmp_path / "jobs"
    marker = tmp_path / "frozen"
    d = HangingDaemon(jobs).start(hang="receive:3", marker=marker)
    assert d.proc is not None
    thread, _ = run_session_in_background(d.endpoint, make_seq(shot_paths, tmp_path), timeout=5)
    try:
        wait_for_file(marker)
        took = terminate_and_time(d.proc)
        assert took < STOP_BOUND_S, took
        events = journal_events(only_job(jobs) / "journal.jsonl")
        assert any(e["event"] == "interrupted" for e in events), events[-5:]
    finally:
        d.stop()
    print(f"\nSIGTERM with a frozen receiver: daemon gone in {took:.2f} s")


def test_a_job_that_froze_the_daemon_twice_while_starting_is_not_resumed_a_third_time(
    tmp_path: Path, shot_paths: dict[str, str]
) -> None:
    jobs = tmp_path / "jobs"
    d = HangingDaemon(jobs)
    seq = make_seq(shot_paths, tmp_path)
    for attempt in range(2):
        marker = tmp_path / f"frozen-{attempt}"
        d.start(hang="start", marker=marker)
        assert d.proc is not None
        if attempt == 0:
            run_session_in_background(d.endpoint, seq, timeout=3)
        wait_for_file(marker)
        d.kill()  # frozen: the operator (or systemd) kills it
    d.start()  # a third life, nothing frozen any more
    try:
        job = only_job(jobs).name
        with DaemonClient(d.endpoint) as c:
            (state,) = c.status(job)
        assert state["state"] == "failed", state
        assert state["error"]["code"] == ErrorCode.ENGINE_FAILED.value
        assert "twice" in state["error"]["message"], state["error"]
        assert "resuming job" not in d.log.read_text().split("serving on")[-1]
    finally:
        d.stop()


# ----------------------------------------------------------------------------- orphans


def test_a_job_whose_client_vanished_before_sending_its_inputs_expires_after_its_lease(
    tmp_path: Path,
) -> None:
    d = DaemonProcess(tmp_path / "jobs", extra=["--job-lease-s", "2"]).start()
    try:
        with DaemonClient(d.endpoint) as c:
            orphan = c.submit(JobSpec(frames=list(range(1, 13)), width=16, height=16)).job
            alive = c.submit(JobSpec(frames=list(range(1, 13)), width=16, height=16)).job
        t0 = time.monotonic()
        with DaemonClient(d.endpoint) as c:
            # A client that is still there (slow upload) says so with a status every second.
            def orphan_state() -> dict | None:
                c.status(alive)  # the heartbeat that keeps `alive` alive
                jobs = {j["job"]: j for j in c.status()}  # names no job: renews nothing
                return jobs[orphan] if jobs[orphan]["state"] == "failed" else None

            state = wait_for(orphan_state, 20, "the orphan to expire", step=0.5)
            expired_after = time.monotonic() - t0
            assert "inputs stopped arriving" in state["error"]["message"], state
            assert state["queue_position"] == -1
            (kept,) = c.status(alive)
            assert kept["state"] == "queued" and kept["queue_position"] == 0, kept
        assert 1.5 < expired_after < 8, expired_after
    finally:
        d.stop()
    print(f"\norphan with --job-lease-s 2 failed {expired_after:.2f} s after its client left")


def test_orphans_left_by_failed_runs_do_not_fill_the_queue_after_a_restart(
    tmp_path: Path,
) -> None:
    jobs = tmp_path / "jobs"
    d = DaemonProcess(jobs, extra=["--max-jobs", "3"]).start()
    try:
        for _ in range(3):  # three client runs that died after their submit
            with DaemonClient(d.endpoint) as c:
                c.submit(JobSpec(frames=list(range(1, 9)), width=16, height=16))
    finally:
        d.stop()
    d.start()
    try:
        with DaemonClient(d.endpoint) as c:
            ack = c.submit(JobSpec(frames=list(range(1, 9)), width=16, height=16))
            assert ack.queue_position == 0
            assert c.hello().queue_length == 1
    finally:
        d.stop()


def test_an_orphan_reattached_after_a_restart_is_still_served(
    tmp_path: Path, shot_paths: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Orphans stop counting after a restart, but a client that comes back still gets its job."""
    monkeypatch.setattr(session_mod, "STALL_CHECK_S", 0.5)
    jobs = tmp_path / "jobs"
    d = DaemonProcess(jobs).start()
    seq = make_seq(shot_paths, tmp_path)
    try:
        with DaemonClient(d.endpoint) as c:
            job = c.submit(seq.job_spec()).job
    finally:
        d.stop()
    d.start()
    try:
        with DaemonClient(d.endpoint) as c:
            ack = c.attach(job)
            assert len(ack.missing) == N and ack.queue_position == 0
            (state,) = c.status(job)
            assert state["state"] == "queued" and state["queue_position"] == 0
    finally:
        d.stop()
