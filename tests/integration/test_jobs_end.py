"""Jobs end (issue 15, findings 3 and 4, client side): Ctrl-C cancels, ``--detach`` and a second
Ctrl-C leave the job running and say how to attach, ``void-remove cancel``, a failed upload
cancels its job, and ``run``/``attach`` fail unless they wrote every requested frame.

Real daemon subprocesses (a slowed one where a job must still be running when we act), real EXR
files, the real CLI. See docs/user-guide.md and docs/reliability.md."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import VOID_REMOVE, run_args
from tests.support.daemons import SlowDaemon
from void_client import protocol as P
from void_client.client import DaemonClient
from void_client.sequence import SequencePattern
from void_client.sequence_job import RemoveRequest, SequenceJob
from void_daemon.demo_shot import make_shot, write_shot


@pytest.fixture(scope="module")
def slow_daemon(tmp_path_factory):
    d = SlowDaemon(tmp_path_factory.mktemp("slow") / "jobs").start()
    yield d
    d.stop()


@pytest.fixture
def shot(tmp_path) -> dict[str, str]:
    return write_shot(make_shot(frames=24, width=64, height=48, seed=31), str(tmp_path / "in"))


FRAMES = list(range(1001, 1025))


def argv(shot: dict[str, str], endpoint: str, out: str, *extra: str) -> list[str]:
    return [*VOID_REMOVE, *run_args(shot, endpoint, out, *extra)]


def wait_for(pred, timeout: float = 30.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def job_states(endpoint: str) -> dict[str, str]:
    with DaemonClient(endpoint) as c:
        return {j["job"]: j["state"] for j in c.status()}


def job_of(stderr: str) -> str:
    for word in stderr.replace(":", " ").split():
        if len(word) == 12 and all(ch in "0123456789abcdef" for ch in word):
            return word
    raise AssertionError(f"no job id in {stderr!r}")


def test_ctrl_c_cancels_the_job_on_the_daemon(slow_daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "o" / "c.####.exr")
    before = set(job_states(slow_daemon.endpoint))
    proc = subprocess.Popen(
        argv(shot, slow_daemon.endpoint, out), stderr=subprocess.PIPE, text=True
    )
    # Interrupt once the job is computing (its first result is on disk).
    wait_for(lambda: SequencePattern.parse(out).scan(), what="the first result")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert "cancelled" in err
    new = {j: s for j, s in job_states(slow_daemon.endpoint).items() if j not in before}
    assert list(new.values()) == ["cancelled"], new
    assert took < 10
    print(f"Ctrl-C to exit: {took:.2f} s")


def test_second_ctrl_c_detaches_and_prints_the_attach_command(slow_daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "o" / "c.####.exr")
    before = set(job_states(slow_daemon.endpoint))
    proc = subprocess.Popen(
        argv(shot, slow_daemon.endpoint, out), stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: SequencePattern.parse(out).scan(), what="the first result")
    # Two interrupts back to back: the second arrives before the cancel is confirmed.
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    new = [j for j in job_states(slow_daemon.endpoint) if j not in before]
    assert len(new) == 1
    # Either the cancel got through first, or the job was left running with the attach command.
    if "void-remove attach" in err:
        cmd = shlex.split(err.split("void-remove attach", 1)[1].splitlines()[0])
        assert cmd[0] == new[0] and out in cmd
        assert job_states(slow_daemon.endpoint)[new[0]] != "cancelled"
    else:
        assert job_states(slow_daemon.endpoint)[new[0]] == "cancelled"


def test_detach_leaves_the_job_running_and_attach_collects_it(slow_daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "o" / "c.####.exr")
    r = subprocess.run(
        argv(shot, slow_daemon.endpoint, out, "--detach"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    job = job_of(r.stderr.split("void-remove attach", 1)[1])
    assert job_states(slow_daemon.endpoint)[job] in ("queued", "receiving", "running", "done")
    cmd = shlex.split(r.stderr.split("void-remove attach", 1)[1].splitlines()[0])
    assert cmd[0] == job and ["--out", out] == cmd[cmd.index("--out") : cmd.index("--out") + 2]
    assert cmd[-2:] == ["--endpoint", slow_daemon.endpoint]
    a = subprocess.run(
        [sys.executable, "-m", "void_client.cli.main", "attach", *cmd],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert a.returncode == 0, a.stderr
    assert SequencePattern.parse(out).scan() == FRAMES


def test_void_remove_cancel(slow_daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "o" / "c.####.exr")
    r = subprocess.run(
        argv(shot, slow_daemon.endpoint, out, "--detach"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    job = job_of(r.stderr.split("void-remove attach", 1)[1])
    c = subprocess.run(
        [
            sys.executable,
            "-m",
            "void_client.cli.main",
            "cancel",
            job,
            "--endpoint",
            slow_daemon.endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert c.returncode == 0, c.stderr
    assert f"job {job} cancelled" in c.stderr
    assert job_states(slow_daemon.endpoint)[job] == "cancelled"
    unknown = subprocess.run(
        [
            sys.executable,
            "-m",
            "void_client.cli.main",
            "cancel",
            "nosuchjob",
            "--endpoint",
            slow_daemon.endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert unknown.returncode == 2 and "[unknown_job]" in unknown.stderr


def test_a_corrupt_frame_found_during_upload_cancels_the_job(daemon, shot, tmp_path) -> None:
    pat = SequencePattern.parse(shot["plate"])
    Path(pat.path(1010)).write_bytes(Path(pat.path(1010)).read_bytes()[:400])
    before = set(job_states(daemon.endpoint))
    r = subprocess.run(
        argv(shot, daemon.endpoint, str(tmp_path / "o" / "c.####.exr")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "[corrupt_frame]" in r.stderr and "1010" in r.stderr, r.stderr
    new = {j: s for j, s in job_states(daemon.endpoint).items() if j not in before}
    assert list(new.values()) == ["cancelled"], new  # not an orphan left `queued`/`receiving`


def test_attach_that_gets_only_some_frames_exits_non_zero_naming_the_rest(
    daemon, shot, tmp_path
) -> None:
    seq = SequenceJob(
        RemoveRequest(
            shot["plate"],
            shot["remove"],
            str(tmp_path / "x.####.exr"),
            shot["affected"],
            settings={"window": 5, "overlap": 2, "dilation": 2, "feather": 2},
        )
    )
    # Another client submits, uploads everything and collects (acknowledges) three frames.
    taken: list[int] = []
    with DaemonClient(daemon.endpoint) as c1:
        ack = c1.submit(seq.job_spec(), result_credit=3)
        job, credit, todo = ack.job, ack.credit, list(FRAMES)
        while todo or len(taken) < 3:
            while credit and todo:
                c1.send_frames(job, images=seq.read_frame(todo.pop(0)).images())
                credit -= 1
            msg = c1.recv(30)
            assert msg is not None and not isinstance(msg, P.Error), msg
            if isinstance(msg, P.Ack):
                credit += msg.credit
            elif isinstance(msg, P.Result) and len(taken) < 3:
                got = [d.frame for d, _ in msg.images][: 3 - len(taken)]
                c1.ack(job, got)
                taken += got
        time.sleep(0.3)  # let the daemon take the acknowledgements before we leave
    out = str(tmp_path / "o" / "c.####.exr")
    a = subprocess.run(
        [
            sys.executable,
            "-m",
            "void_client.cli.main",
            "attach",
            job,
            "--plate",
            shot["plate"],
            "--remove",
            shot["remove"],
            "--affected",
            shot["affected"],
            "--out",
            out,
            "--endpoint",
            daemon.endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert a.returncode == 3, a.stderr
    from void_client.sequence import format_ranges

    assert f"missing frames {format_ranges(taken)}" in a.stderr, (taken, a.stderr)
    assert SequencePattern.parse(out).scan() == [f for f in FRAMES if f not in taken]
