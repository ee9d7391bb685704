"""The whole path on real parts: EXR files → CLI → ZeroMQ → daemon subprocess → EXR files."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from tests.support.cli import void_remove
from tests.support.daemons import DaemonProcess, free_port
from void_client import protocol as P
from void_client.client import DaemonClient, connect
from void_client.errors import ErrorCode, VoidError
from void_client.quadmask import build_quadmask, hole
from void_client.sequence import SequencePattern, read_image, write_image
from void_client.sequence_job import RemoveRequest, SequenceJob, remove_sequence
from void_client.session import JobSession
from void_daemon.demo_shot import make_shot, write_shot
from void_daemon.metrics import psnr
from void_daemon.roi import composite_alpha

SETTINGS = {"window": 21, "overlap": 6, "dilation": 3, "feather": 6}


cli = void_remove


def read_seq(pattern: str, frames: list[int]) -> list:
    pat = SequencePattern.parse(pattern)
    return [read_image(pat.path(f)) for f in frames]


def test_cli_run_spanning_two_windows_is_exact_outside_and_good_inside(
    daemon, small_shot, shot_files, tmp_path
) -> None:
    out = str(tmp_path / "out" / "clean.####.exr")
    r = cli(
        "run",
        "--plate",
        shot_files["plate"],
        "--remove",
        shot_files["remove"],
        "--affected",
        shot_files["affected"],
        "--out",
        out,
        "--range",
        "1001-1040",
        "--window",
        "21",
        "--overlap",
        "6",
        "--dilation",
        "3",
        "--feather",
        "6",
        "--endpoint",
        daemon.endpoint,
        "--no-autostart",
    )
    assert r.returncode == 0, r.stderr
    assert "wrote 40 frames" in r.stderr and "(3 windows" in r.stderr
    assert SequencePattern.parse(out).scan() == list(range(1001, 1041))
    outs = read_seq(out, small_shot.frames)
    plates = read_seq(shot_files["plate"], small_shot.frames)
    result = np.stack([o.pixels for o in outs])
    assert result.dtype == np.float16 and all(o.channels == ["R", "G", "B", "A"] for o in outs)
    qms = np.stack(
        [build_quadmask(r_, a_, 3) for r_, a_ in zip(small_shot.remove, small_shot.affected)]
    )
    for o, p, q in zip(outs, plates, qms):
        outside = composite_alpha(hole(q), 6) == 0
        assert o.pixels[outside].tobytes() == p.pixels[outside].tobytes()
        assert o.pixels[..., 3].tobytes() == p.pixels[..., 3].tobytes()
    inside = psnr(result[..., :3].astype(np.float32), small_shot.truth, hole(qms))
    before = psnr(small_shot.plate[..., :3], small_shot.truth, hole(qms))
    assert inside > 28.0 and inside > before + 10.0


def test_matte_as_a_channel_of_the_plate_and_chain_seams(daemon, tmp_path) -> None:
    shot = make_shot(frames=16, width=96, height=64, seed=4)
    pat = SequencePattern.parse(str(tmp_path / "plate.####.exr"))
    for i, f in enumerate(shot.frames):
        px = np.concatenate(
            [shot.plate[i], shot.remove[i][..., None], shot.affected[i][..., None]], -1
        ).astype(np.float16)
        write_image(pat.path(f), px, channels=["R", "G", "B", "A", "remove.A", "affected.A"])
    out = str(tmp_path / "o.####.exr")
    req = RemoveRequest(
        str(pat),
        f"{pat}:remove.A",
        out,
        affected=f"{pat}:affected",
        settings={**SETTINGS, "window": 13, "overlap": 4, "seam": "chain"},
        endpoint=daemon.endpoint,
        autostart=False,
    )
    report = remove_sequence(req)
    assert report.frames_written == shot.frames and report.windows == 2
    res = read_seq(out, shot.frames)
    src = read_seq(str(pat), shot.frames)
    assert res[0].channels == src[0].channels and set(res[0].channels) == {
        "R",
        "G",
        "B",
        "A",
        "remove.A",
        "affected.A",
    }
    # Extra channels (the mattes themselves here) come back untouched.
    assert all(r.pixels[..., 3:].tobytes() == s.pixels[..., 3:].tobytes() for r, s in zip(res, src))
    qms = np.stack([build_quadmask(r_, a_, 3) for r_, a_ in zip(shot.remove, shot.affected)])
    got = np.stack([r.pixels[..., :3].astype(np.float32) for r in res])
    assert psnr(got, shot.truth, hole(qms)) > 26.0


def test_rerun_uses_the_window_cache_and_recomputes_only_touched_windows(daemon, tmp_path) -> None:
    shot = make_shot(frames=40, width=96, height=64, seed=6)
    paths = write_shot(shot, str(tmp_path / "in"))
    req = RemoveRequest(
        paths["plate"],
        paths["remove"],
        str(tmp_path / "a.####.exr"),
        paths["affected"],
        settings=SETTINGS,
        endpoint=daemon.endpoint,
        autostart=False,
    )
    first = remove_sequence(req)
    assert first.windows == 3 and first.cached_windows == 0
    again = remove_sequence(req)
    assert again.cached_windows == 3
    # Touch the last frame: only the windows that read it run again, the last (it covers it)
    # and the middle one ([10, 31): it reads 9 frames after it as sources, Engine.margin).
    pat = SequencePattern.parse(paths["plate"])
    img = read_image(pat.path(1040))
    write_image(pat.path(1040), (img.pixels.astype(np.float32) * 0.9).astype(np.float16), img.spec)
    third = remove_sequence(req)
    assert third.cached_windows == 1  # the first window ([0, 21), margin to 30) is untouched


def test_cancel_stops_the_job_and_the_daemon_keeps_serving(daemon, tmp_path) -> None:
    shot = make_shot(frames=60, width=160, height=96, seed=7)
    paths = write_shot(shot, str(tmp_path / "in"))
    seq = SequenceJob(
        RemoveRequest(
            paths["plate"],
            paths["remove"],
            str(tmp_path / "c.####.exr"),
            paths["affected"],
            settings={**SETTINGS, "window": 13, "overlap": 4},
        )
    )
    cancel = threading.Event()
    events: list[P.Message] = []

    def on_event(msg: P.Message) -> None:
        events.append(msg)
        if isinstance(msg, P.Result):
            cancel.set()  # cancel as soon as the first frame is back

    with DaemonClient(daemon.endpoint) as client:
        session = JobSession(
            client, seq.job_spec(), seq.read_frame, seq.write_result, on_event, cancel
        )
        with pytest.raises(VoidError) as err:
            session.run()
        assert err.value.code == ErrorCode.CANCELLED
        state = client.status(session.job)[0]
    assert state["state"] == "cancelled"
    assert state["frames_done"] < 60
    with DaemonClient(daemon.endpoint) as c:
        assert c.hello().daemon_version


def test_reattach_after_the_client_dies_delivers_every_frame_once(daemon, tmp_path) -> None:
    shot = make_shot(frames=24, width=96, height=64, seed=8)
    paths = write_shot(shot, str(tmp_path / "in"))
    seq = SequenceJob(
        RemoveRequest(
            paths["plate"],
            paths["remove"],
            str(tmp_path / "r.####.exr"),
            paths["affected"],
            settings=SETTINGS,
        )
    )
    # First client: submits, sends every frame, takes two results and vanishes without acking.
    with DaemonClient(daemon.endpoint) as c1:
        ack = c1.submit(seq.job_spec(), result_credit=2)
        job, credit = ack.job, ack.credit
        todo = list(shot.frames)
        got_results = 0
        while todo or got_results < 2:
            while credit and todo:
                c1.send_frames(job, images=seq.read_frame(todo.pop(0)).images())
                credit -= 1
            msg = c1.recv(30)
            assert msg is not None and not isinstance(msg, P.Error), msg
            if isinstance(msg, P.Ack):
                credit += msg.credit
            elif isinstance(msg, P.Result):
                got_results += 1
    # Second client: re-attaches and collects everything, each frame exactly once.
    written: list[int] = []
    with DaemonClient(daemon.endpoint) as c2:
        report = JobSession(c2, None, None, lambda f, px: written.append(f), attach=job).run()
        assert c2.status(job)[0]["state"] == "done"
    assert sorted(written) == shot.frames and len(written) == len(set(written))
    assert report.job == job


@pytest.mark.parametrize("case", ["missing", "nan", "resolution", "empty", "range"])
def test_bad_input_gives_one_line_reason_and_nothing_is_lost(daemon, tmp_path, case: str) -> None:
    shot = make_shot(frames=8, width=64, height=48, seed=9)
    paths = write_shot(shot, str(tmp_path / "in"))
    rm = SequencePattern.parse(paths["remove"])
    extra: list[str] = []
    expect = ""
    if case == "missing":
        os.remove(SequencePattern.parse(paths["plate"]).path(1004))
        extra, expect = ["--range", "1001-1008"], "missing frames 1004"
    elif case == "nan":
        m = shot.remove[5].copy()
        m[3, 3] = np.nan
        write_image(rm.path(1006), m.astype(np.float16), channels=["A"])
        expect = "[nan_in_input]"
    elif case == "resolution":
        write_image(rm.path(1003), np.zeros((24, 32, 1), np.float16), channels=["A"])
        expect = "[resolution_mismatch]"
    elif case == "empty":
        for f in shot.frames:
            write_image(rm.path(f), np.zeros((48, 64, 1), np.float16), channels=["A"])
        expect = "[empty_matte]"
    elif case == "range":
        extra, expect = ["--range", "1008-1001"], "ends before it starts"
    out = tmp_path / "out" / "x.####.exr"
    r = cli(
        "run",
        "--plate",
        paths["plate"],
        "--remove",
        paths["remove"],
        "--out",
        str(out),
        "--endpoint",
        daemon.endpoint,
        "--no-autostart",
        *extra,
    )
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("void-remove: error") and expect in last, r.stderr
    if case == "nan":
        assert "1006" in last
    # No partial or temp files were left in the output folder, and the daemon still answers.
    assert not out.parent.exists() or all(not p.name.startswith(".") for p in out.parent.iterdir())
    with DaemonClient(daemon.endpoint) as c:
        assert c.hello().daemon_version


def test_no_daemon_and_no_autostart_says_what_to_do(tmp_path) -> None:
    shot = make_shot(frames=3, width=32, height=24)
    paths = write_shot(shot, str(tmp_path))
    r = cli(
        "run",
        "--plate",
        paths["plate"],
        "--remove",
        paths["remove"],
        "--out",
        str(tmp_path / "o.####.exr"),
        "--endpoint",
        f"tcp://127.0.0.1:{free_port()}",
        "--no-autostart",
        timeout=60,
    )
    assert r.returncode == 2
    assert "[daemon_unreachable]" in r.stderr and "void-daemon serve" in r.stderr


def test_two_clients_autostart_one_daemon(tmp_path) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    errors: list[Exception] = []

    def go() -> None:
        try:
            connect(endpoint, autostart=True, timeout=30).close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    try:
        assert not errors, errors
        pids = subprocess.run(
            ["pgrep", "-f", f"void_daemon serve --endpoint {endpoint}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert len(pids) == 1, pids
    finally:
        subprocess.run(["pkill", "-f", f"void_daemon serve --endpoint {endpoint}"])


def test_client_side_imports_without_torch() -> None:
    code = (
        "import sys, void_client.client, void_client.sequence_job, void_client.session, void_client.cli.main, void_client.protocol;"
        "assert 'torch' not in sys.modules and 'cv2' not in sys.modules, sorted(m for m in sys.modules if m in ('torch','cv2'))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_daemon_restart_resumes_without_recomputing_finished_windows(tmp_path) -> None:
    jobs = tmp_path / "jobs"
    d = DaemonProcess(jobs).start()
    shot = make_shot(frames=40, width=96, height=64, seed=10)
    paths = write_shot(shot, str(tmp_path / "in"))
    seq = SequenceJob(
        RemoveRequest(
            paths["plate"],
            paths["remove"],
            str(tmp_path / "z.####.exr"),
            paths["affected"],
            settings=SETTINGS,
        )
    )
    try:
        with DaemonClient(d.endpoint) as c:
            ack = c.submit(seq.job_spec(), result_credit=1)
            job, credit, todo = ack.job, ack.credit, list(shot.frames)
            while todo:
                while credit and todo:
                    c.send_frames(job, images=seq.read_frame(todo.pop(0)).images())
                    credit -= 1
                msg = c.recv(30)
                if isinstance(msg, P.Ack):
                    credit += msg.credit
            # Wait until the first window is done, then kill the daemon hard.
            while True:
                msg = c.recv(30)
                assert msg is not None and not isinstance(msg, P.Error)
                if isinstance(msg, P.Progress) and msg.window >= 1 and msg.stage == "running":
                    break
        d.kill()
        journal = (jobs / job / "journal.jsonl").read_text()
        windows_before = journal.count('"event": "window"')
        assert windows_before >= 1
        d.start()
        written: list[int] = []
        with DaemonClient(d.endpoint) as c:
            JobSession(c, None, seq.read_frame, lambda f, px: written.append(f), attach=job).run()
        assert sorted(written) == shot.frames
        journal = (jobs / job / "journal.jsonl").read_text()
        # Each window ran exactly once across both daemon lives.
        assert journal.count('"event": "window"') == 3
    finally:
        d.stop()
