"""The progress stream (issue 16, "Host isolation"): ``void-remove run|attach --progress jsonl``
against a real daemon, read directly and through ``void_hostlink.VoidRemoveProcess`` as a host
would. Schema: docs/protocol.md, "Progress stream (jsonl)".

Checked on real EXR shots: stdout is only the stream (every line one JSON event, no human text);
the events come in order and the ``frame`` events name exactly the files written; errors found
before a job exists end the stream with one ``failed``; SIGTERM (in every ``--progress`` mode)
cancels the job on the daemon, leaves no half-written frame and ends with ``cancelled``; a worker
that dies gets a synthesized ``worker_died``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from tests.support.cli import VOID_REMOVE, run_args, void_remove
from tests.support.daemons import DaemonProcess, SlowDaemon
from void_client.client import DaemonClient
from void_client.sequence import SequencePattern
from void_daemon.demo_shot import make_shot, write_shot
from void_hostlink import VoidRemoveProcess, parse_event, run_void_remove

FRAMES = list(range(1001, 1025))


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = DaemonProcess(tmp_path_factory.mktemp("stream") / "jobs").start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def slow_daemon(tmp_path_factory):
    d = SlowDaemon(tmp_path_factory.mktemp("slow") / "jobs").start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("shot")
    return write_shot(make_shot(frames=24, width=64, height=48, seed=5), str(folder / "in"))


def events_of(stdout: str) -> list[dict]:
    """Every stdout line as its event; fails on any line that is not one."""
    lines = stdout.splitlines()
    assert lines, "no stream on stdout"
    out = []
    for line in lines:
        obj = json.loads(line)  # raises on a non-JSON line: stdout is the stream only
        assert parse_event(line) == obj, line
        out.append(obj)
    return out


def job_states(endpoint: str) -> dict[str, str]:
    with DaemonClient(endpoint) as c:
        return {j["job"]: j["state"] for j in c.status()}


def assert_no_half_written_frames(out: str) -> list[int]:
    """Every frame in the output folder is whole (OpenImageIO reads all its pixels) and no
    writer's temp file is left; returns the frames on disk."""
    pattern = SequencePattern.parse(out)
    folder = Path(out).parent
    hidden = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert [h for h in hidden if not h.endswith(".void-remove.json")] == [], hidden
    frames = pattern.scan()
    for f in frames:
        inp = oiio.ImageInput.open(pattern.path(f))
        assert inp is not None, oiio.geterror()
        pixels = inp.read_image(0, 0, 0, inp.spec().nchannels, oiio.FLOAT)
        inp.close()
        assert pixels is not None and np.isfinite(pixels).all(), f
    return frames


def test_a_run_streams_start_states_frames_done(daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "o" / "clean.####.exr")
    done = void_remove(*run_args(shot, daemon.endpoint, out, "--progress", "jsonl"))
    assert done.returncode == 0, done.stderr
    events = events_of(done.stdout)
    names = [e["event"] for e in events]

    assert events[0] == {
        "event": "start",
        "stream": 1,
        "version": __import__("void_client").__version__,
        "out": out,
        "total": len(FRAMES),
    }
    assert names[-1] == "done" and names.count("done") == 1
    assert not set(names) & {"failed", "cancelled"}
    assert names.index("state") < names.index("frame")
    assert set(names) <= {"start", "state", "frame", "warning", "done"}

    frames = [e for e in events if e["event"] == "frame"]
    on_disk = SequencePattern.parse(out).scan()
    assert on_disk == FRAMES
    assert sorted(e["frame"] for e in frames) == FRAMES  # one event per written frame, once
    assert all(e["path"] == SequencePattern.parse(out).path(e["frame"]) for e in frames)
    final = events[-1]
    assert final["written"] == len(frames) == len(FRAMES)
    assert final["out"] == out and final["seconds"] > 0
    assert final["job"] and final["job"] in job_states(daemon.endpoint)

    states = [e for e in events if e["event"] == "state"]
    assert {s["job"] for s in states} == {final["job"]}
    assert states[-1]["stage"] == "done" and states[-1]["written"] == len(FRAMES)
    assert all(s["total"] == len(FRAMES) and s["windows"] > 0 for s in states)
    written = [s["written"] for s in states]
    assert written == sorted(written)  # the count only grows
    for s in states:
        assert set(s) == {
            "event",
            "job",
            "stage",
            "written",
            "total",
            "window",
            "windows",
            "eta_s",
            "queue_position",
            "message",
        }
        assert s["eta_s"] is None or s["eta_s"] >= 0

    # Human text stays on stderr: the summary line is there, never on stdout.
    assert f"wrote {len(FRAMES)} frames" in done.stderr
    assert "wrote" not in done.stdout


def test_warnings_are_events_and_none_mode_is_silent(daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "o" / "w.####.exr")
    quiet = void_remove(*run_args(shot, daemon.endpoint, out, "--progress", "none"))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == ""
    assert quiet.stderr.strip().startswith("job ")  # only the summary: no bar, no stream
    # Other settings over those frames: --overwrite removes them, with a log warning.
    again = void_remove(
        *run_args(shot, daemon.endpoint, out, "--progress", "jsonl", "--overwrite"),
        "--feather",
        "3",
    )
    assert again.returncode == 0, again.stderr
    events = events_of(again.stdout)
    warnings = [e for e in events if e["event"] == "warning"]
    assert [w["message"] for w in warnings] == [
        f"--overwrite: removed {len(FRAMES)} old frames 1001-1024 of {out}"
    ]
    assert warnings[0]["message"] in again.stderr  # and still in the log
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"


def test_a_bad_pattern_ends_the_stream_with_one_failed(daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "o" / "clean.exr")  # no frame number
    done = void_remove(*run_args(shot, daemon.endpoint, out, "--progress", "jsonl"))
    assert done.returncode == 2, done.stderr
    events = events_of(done.stdout)
    assert [e["event"] for e in events] == ["start", "failed"]
    error = events[-1]["error"]
    assert error["code"] == "bad_spec"
    assert error["field"] == "pattern"
    assert "frame number" in error["message"]
    # The same message for people, on stderr.
    assert f"error [bad_spec]: {error['message']}" in done.stderr


def test_missing_input_frames_fail_before_a_job_exists(daemon, shot, tmp_path) -> None:
    args = run_args(shot, daemon.endpoint, str(tmp_path / "o" / "c.####.exr"), "--progress")
    args += ["jsonl", "--range", "1001-1030"]  # the plate ends at 1024
    before = set(job_states(daemon.endpoint))
    done = void_remove(*args)
    assert done.returncode == 2, done.stderr
    events = events_of(done.stdout)
    assert [e["event"] for e in events] == ["start", "failed"]
    assert events[-1]["error"]["code"] == "missing_frames"
    assert events[-1]["error"]["field"] == "plate"
    assert "1025" in events[-1]["error"]["message"]
    assert set(job_states(daemon.endpoint)) == before  # nothing was submitted


def read_until(proc: subprocess.Popen, event: str, seen: list[dict], timeout: float = 60) -> None:
    """Read the worker's stream line by line (as a host does) until ``event`` arrives."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"stream ended before {event!r}: {seen}")
        seen.append(json.loads(line))
        if seen[-1]["event"] == event:
            return
    raise AssertionError(f"no {event!r} within {timeout} s")


@pytest.mark.parametrize("mode", ["jsonl", "bar"])
def test_sigterm_cancels_the_job_and_leaves_whole_frames(slow_daemon, shot, tmp_path, mode) -> None:
    out = str(tmp_path / "o" / "c.####.exr")
    before = set(job_states(slow_daemon.endpoint))
    proc = subprocess.Popen(
        [*VOID_REMOVE, *run_args(shot, slow_daemon.endpoint, out, "--progress", mode)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[dict] = []
    if mode == "jsonl":
        read_until(proc, "frame", seen)  # mid-job: a frame has landed
    else:
        deadline = time.monotonic() + 60
        while not SequencePattern.parse(out).scan() and time.monotonic() < deadline:
            time.sleep(0.05)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=60)
    took = time.monotonic() - t0
    assert proc.returncode == 130, err
    new = {j: s for j, s in job_states(slow_daemon.endpoint).items() if j not in before}
    assert list(new.values()) == ["cancelled"], new
    on_disk = assert_no_half_written_frames(out)
    assert 0 < len(on_disk) < len(FRAMES)
    assert took < 15
    if mode == "jsonl":
        events = seen + events_of(rest)
        assert events[-1] == {"event": "cancelled", "job": next(iter(new))}
        assert [e["event"] for e in events].count("cancelled") == 1
        # Every frame announced is on disk (frames landing after the signal may be unannounced).
        announced = {e["frame"] for e in events if e["event"] == "frame"}
        assert announced <= set(on_disk)
    else:
        assert rest == ""  # bar mode: nothing on stdout
        assert "cancelled" in err
    print(f"{mode}: SIGTERM to exit {took:.2f} s, {len(on_disk)} whole frames kept")


def test_a_host_drives_a_run_through_void_hostlink(daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "o" / "h.####.exr")
    events: list[dict] = []
    threads: set[str] = set()

    def on_event(event: dict) -> None:
        threads.add(threading.current_thread().name)
        events.append(event)

    args = run_args(shot, daemon.endpoint, out)
    final = run_void_remove(args, on_event, exe=VOID_REMOVE, timeout=240)
    assert final["event"] == "done", final
    assert events[-1] is final and events[0]["event"] == "start"
    frames = sorted(e["frame"] for e in events if e["event"] == "frame")
    assert frames == SequencePattern.parse(out).scan() == FRAMES
    assert final["written"] == len(FRAMES)
    assert threads == {"void-remove-stdout"}  # delivered on the reader thread


def test_a_host_cancels_through_void_hostlink(slow_daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "o" / "h.####.exr")
    before = set(job_states(slow_daemon.endpoint))
    first_frame = threading.Event()
    events: list[dict] = []

    def on_event(event: dict) -> None:
        events.append(event)
        if event["event"] == "frame":
            first_frame.set()

    proc = VoidRemoveProcess(run_args(shot, slow_daemon.endpoint, out), on_event, exe=VOID_REMOVE)
    proc.start()
    assert proc.running and proc.pid
    assert first_frame.wait(60), events
    assert proc.cancel() is True
    final = proc.wait(60)
    assert final["event"] == "cancelled", (final, list(proc.stderr_tail))
    assert proc.returncode == 130 and not proc.running
    assert proc.cancel() is False  # nothing left to cancel
    new = {j: s for j, s in job_states(slow_daemon.endpoint).items() if j not in before}
    assert list(new.values()) == ["cancelled"] and final["job"] in new
    assert_no_half_written_frames(out)
    assert [e["event"] for e in events].count("cancelled") == 1 and events[-1] is final


def test_a_worker_killed_mid_job_ends_with_worker_died(slow_daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "o" / "k.####.exr")
    got_state = threading.Event()
    events: list[dict] = []

    def on_event(event: dict) -> None:
        events.append(event)
        if event["event"] == "state" and event["job"]:
            got_state.set()

    proc = VoidRemoveProcess(run_args(shot, slow_daemon.endpoint, out), on_event, exe=VOID_REMOVE)
    proc.start()
    assert got_state.wait(60), events
    job = events[-1]["job"]
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)  # no chance to say goodbye
    final = proc.wait(30)
    assert final == {
        "event": "failed",
        "error": {
            "code": "worker_died",
            "message": final["error"]["message"],
            "field": "",
        },
    }
    assert final["error"]["message"].startswith("void-remove exited with code -9")
    assert events[-1] is final  # the host's callback hears it too
    subprocess.run(
        [*VOID_REMOVE, "cancel", job, "--endpoint", slow_daemon.endpoint],
        capture_output=True,
        timeout=60,
    )  # the orphaned job would slow the next tests


def test_a_worker_that_exits_without_a_final_event_names_its_last_error(tmp_path) -> None:
    worker = tmp_path / "worker.py"
    worker.write_text(
        "import sys\n"
        'print(\'{"event": "start", "stream": 1}\', flush=True)\n'
        "sys.stderr.write('Traceback...\\nImportError: no module named zmq\\n\\n')\n"
        "sys.exit(4)\n",
        encoding="utf-8",
    )
    events: list[dict] = []
    final = run_void_remove(["run"], events.append, exe=[sys.executable, str(worker)], timeout=60)
    assert [e["event"] for e in events] == ["start", "failed"]
    assert final["error"] == {
        "code": "worker_died",
        "message": "void-remove exited with code 4: ImportError: no module named zmq",
        "field": "",
    }


def test_attach_streams_too(slow_daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "o" / "a.####.exr")
    detached = void_remove(*run_args(shot, slow_daemon.endpoint, out, "--detach"))
    assert detached.returncode == 0, detached.stderr
    words = detached.stderr.replace(":", " ").split()
    job = next(w for w in words if len(w) == 12 and all(c in "0123456789abcdef" for c in w))
    earlier = set(SequencePattern.parse(out).scan())  # written before the detach returned
    args = ["attach", job, "--plate", shot["plate"], "--remove", shot["remove"]]
    args += ["--affected", shot["affected"], "--out", out, "--endpoint", slow_daemon.endpoint]
    done = void_remove(*args, "--progress", "jsonl")
    assert done.returncode == 0, done.stderr
    events = events_of(done.stdout)
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    assert events[-1]["job"] == job
    frames = sorted(e["frame"] for e in events if e["event"] == "frame")
    assert SequencePattern.parse(out).scan() == FRAMES
    assert frames == [f for f in FRAMES if f not in earlier]  # what this command wrote
    assert events[-1]["written"] == len(frames)


def test_the_worker_does_not_inherit_the_hosts_python_settings(tmp_path, monkeypatch) -> None:
    # Nuke and Resolve configure their own Python through these; passed on, PYTHONHOME alone
    # stops the worker's interpreter (another version, another environment) from starting.
    monkeypatch.setenv("PYTHONHOME", str(tmp_path / "nuke" / "python"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "nuke" / "lib"))
    monkeypatch.setenv("VOID_TEST_MARK", "kept")
    worker = tmp_path / "worker.py"
    worker.write_text(
        "import json, os\n"
        "names = ('PYTHONHOME', 'PYTHONPATH', 'VOID_TEST_MARK')\n"
        "print(json.dumps({'event': 'done', 'env': {n: os.environ.get(n) for n in names}}))\n",
        encoding="utf-8",
    )
    final = run_void_remove([], exe=[sys.executable, str(worker)], timeout=60)
    assert final == {
        "event": "done",
        "env": {"PYTHONHOME": None, "PYTHONPATH": None, "VOID_TEST_MARK": "kept"},
    }


def test_a_cancel_while_the_worker_starts_ends_with_cancelled(daemon, shot, tmp_path) -> None:
    # Before its first event the worker has not installed its SIGTERM handler (it is still
    # importing): it ends at once, having submitted and written nothing, which is a cancel.
    out = str(tmp_path / "o" / "s.####.exr")
    before = set(job_states(daemon.endpoint))
    events: list[dict] = []
    proc = VoidRemoveProcess(run_args(shot, daemon.endpoint, out), events.append, exe=VOID_REMOVE)
    proc.start()
    assert proc.cancel() is True
    final = proc.wait(60)
    assert final == {"event": "cancelled", "job": None}, (final, list(proc.stderr_tail))
    assert events[-1] is final and [e["event"] for e in events][:-1] in ([], ["start"])
    assert set(job_states(daemon.endpoint)) == before
    assert not Path(out).parent.exists() or SequencePattern.parse(out).scan() == []


def test_a_host_that_goes_away_does_not_stop_the_job(daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "o" / "g.####.exr")
    proc = subprocess.Popen(
        [*VOID_REMOVE, *run_args(shot, daemon.endpoint, out, "--progress", "jsonl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # as void_hostlink starts it: the host's death sends no signal
    )
    read_until(proc, "frame", [])
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the host crashed: both pipes lose their reader
    proc.stderr.close()
    proc.wait(120)
    assert assert_no_half_written_frames(out) == FRAMES
    manifest = json.loads(next(Path(out).parent.glob(".*.void-remove.json")).read_text())
    assert manifest["state"] == "complete" and manifest["frames_written"] == FRAMES


def test_a_file_per_view_run_announces_every_views_file(daemon, tmp_path) -> None:
    # Nuke's %V: the views run one after another, each writing its own files.
    mono = write_shot(make_shot(frames=6, width=64, height=48, seed=9), str(tmp_path / "in"))
    views = {}
    for key in ("plate", "remove", "affected"):
        src = SequencePattern.parse(mono[key])
        views[key] = mono[key].replace(f"{key}.", f"{key}.%V.")
        for f in src.scan():
            for view in ("left", "right"):
                target = SequencePattern.parse(views[key].replace("%V", view)).path(f)
                Path(target).write_bytes(Path(src.path(f)).read_bytes())
    out = str(tmp_path / "o" / "clean.%V.####.exr")
    done = void_remove(*run_args(views, daemon.endpoint, out, "--progress", "jsonl"))
    assert done.returncode == 0, done.stderr
    events = events_of(done.stdout)
    announced = sorted(e["path"] for e in events if e["event"] == "frame")
    expected = sorted(
        SequencePattern.parse(out.replace("%V", view)).path(f)
        for view in ("left", "right")
        for f in range(1001, 1007)
    )
    assert announced == expected
    assert all(Path(p).is_file() for p in announced)
    assert events[-1]["event"] == "done" and events[-1]["written"] == 12
