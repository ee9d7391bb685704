"""The panel on real parts: Qt's offscreen platform, a real daemon subprocess, real EXR files.

The viewer draws on the CPU here (offscreen Qt has no OpenGL context); the GL path is checked
against it under Xvfb where ``xvfb-run`` exists and Qt's xcb platform plugin loads. When that
plugin cannot load (e.g. ``libxcb-cursor0`` missing) the GL test skips with Qt's own reason;
``VOID_REQUIRE_GL=1`` (CI) makes that a failure instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from tests.support.panels import shown_panel  # noqa: E402
from void_client import protocol as P  # noqa: E402
from void_client.client import DaemonClient  # noqa: E402
from void_client.output_manifest import read_manifest  # noqa: E402
from void_client.panel import VoidPanel  # noqa: E402
from void_client.panel.history import HistoryEntry, JobHistory  # noqa: E402
from void_client.panel.progress import JobProgress, format_seconds  # noqa: E402
from void_client.panel.qt import Qt, QtCore, qimage_from_rgb8, qimage_to_rgb8  # noqa: E402
from void_client.panel.viewer import (  # noqa: E402
    SequencePreviewSource,
    ViewerWidget,
    ViewMode,
    gl_available,
    wipe_column,
)
from void_client.quadmask import AFFECTED, KEEP, REMOVE, build_quadmask  # noqa: E402
from void_client.sequence import SequencePattern, read_image  # noqa: E402
from void_client.sequence_job import RemoveRequest  # noqa: E402
from void_client.shader_reference import OVERLAY_COLOURS, OVERLAY_OPACITY  # noqa: E402
from void_client.srgb import linear_to_srgb  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_GL = os.environ.get("VOID_REQUIRE_GL") == "1"
FRAMES = list(range(1001, 1041))  # the conftest small shot: 40 frames 128x80


def srgb8(linear: np.ndarray) -> np.ndarray:
    """The expected display codes of linear pixels, written out here rather than imported."""
    return np.floor(linear_to_srgb(np.asarray(linear, np.float32)[..., :3]) * 255.0 + 0.5).astype(
        np.uint8
    )


def exr8(pattern: str, frame: int) -> np.ndarray:
    return srgb8(read_image(SequencePattern.parse(pattern).path(frame)).pixels)


def request(shot_files: dict[str, str], out: Path, endpoint: str, **settings) -> RemoveRequest:
    return RemoveRequest(
        plate=shot_files["plate"],
        remove=shot_files["remove"],
        affected=shot_files["affected"],
        out=str(out / "clean.####.exr"),
        settings={"window": 21, "overlap": 6, **settings},
        endpoint=endpoint,
        autostart=False,
    )


@pytest.fixture
def panel(qtbot, daemon, tmp_path):
    with shown_panel(qtbot, tmp_path, daemon.endpoint) as p:
        yield p


# --------------------------------------------------------------------------- daemon status


def test_panel_shows_the_daemons_engines_gpu_and_queue(panel, daemon) -> None:
    with DaemonClient(daemon.endpoint) as c:
        hello = c.hello()
    st = panel.daemon_status
    assert st.version == hello.daemon_version and st.gpu == hello.gpu
    assert panel.status_label.text() == f"connected · daemon {hello.daemon_version}"
    for e in hello.engines:
        assert f"{e['name']} {'✓' if e['available'] else '✗'}" in panel.engines_label.text()
    assert "propagate ✓" in panel.engines_label.text()
    if hello.gpu:  # a GPU box: its name and free memory
        assert panel.gpu_label.text().startswith(f"GPU: {hello.gpu}")
        assert ("free" in panel.gpu_label.text()) == bool(hello.vram_free)
    else:
        assert panel.gpu_label.text() == "GPU: none"
    assert panel.queue_label.text().startswith("queue: ")
    # The engine list of the Job tab comes from hello; unavailable engines cannot be picked.
    names = [panel.engine_combo.itemText(i) for i in range(panel.engine_combo.count())]
    assert names == [e["name"] for e in hello.engines]
    model = panel.engine_combo.model()
    for i, e in enumerate(hello.engines):
        assert model.item(i).isEnabled() == bool(e["available"])
    assert "connected to daemon" in panel.log_text()


def test_panel_says_when_no_daemon_answers_and_offers_to_start_one(qtbot, tmp_path) -> None:
    from tests.support.daemons import free_port

    p = VoidPanel(
        endpoint=f"tcp://127.0.0.1:{free_port()}",
        history_path=tmp_path / "h.json",
        poll_interval_s=0.5,
    )
    qtbot.addWidget(p)
    p.show()
    try:
        qtbot.waitUntil(lambda: p.daemon_status is not None, timeout=10_000)
        assert not p.daemon_status.connected
        assert p.status_label.text() == "not connected"
        assert p.start_daemon_button.isVisible()
        assert "no daemon at" in p.log_text()
    finally:
        p.shutdown()


# --------------------------------------------------------------------------- a real job


def test_run_shows_progress_per_window_and_results_as_they_arrive(
    panel, qtbot, shot_files, tmp_path
) -> None:
    out = tmp_path / "out"
    panel.set_request(request(shot_files, out, panel.endpoint))
    seen: list[tuple] = []
    panel.frames_written.connect(
        lambda frames: seen.append(
            (
                frames[-1],
                panel.frames_bar.value(),
                panel.progress.windows_done,
                panel.viewer.frame(),
                panel.stage_label.text(),
            )
        )
    )
    # The GUI thread must keep ticking while the job runs: measure the longest gap.
    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    with qtbot.waitSignal(panel.job_finished, timeout=60_000) as done:
        panel.run_action.trigger()
        assert not panel.run_action.isEnabled() and panel.cancel_action.isEnabled()
    timer.stop()
    job, report = done.args
    assert report.frames_written == FRAMES and report.windows == 3

    # Progress: frames counted up as they were written, windows advanced, stage named the window.
    assert [s[1] for s in seen] == sorted(s[1] for s in seen) and seen[-1][1] == 40
    assert [s[2] for s in seen] == sorted(s[2] for s in seen)
    assert any(
        s[4].startswith("running window") and s[4].endswith("/3") or "/3 ·" in s[4] for s in seen
    ), [s[4] for s in seen]
    # The viewer followed the results as they arrived.
    assert any(s[0] == s[3] for s in seen)
    assert panel.frames_bar.value() == panel.frames_bar.maximum() == 40
    assert panel.progress.windows == panel.progress.windows_done == 3
    assert panel.window_bar.state_of(0) in ("done", "cached") and panel.window_bar.state_of(2) in (
        "done",
        "cached",
    )
    assert panel.stage_label.text() == "done" and panel.eta_label.text().startswith("done in")
    assert panel.run_action.isEnabled() and not panel.cancel_action.isEnabled()
    # Blocking work on the GUI thread would stall it for most of the job; allow scheduler noise.
    assert max(np.diff(ticks)) < max(0.5, 0.3 * report.seconds), (
        "the event loop stalled while the job ran"
    )

    # Every frame is on disk, the log says so, and the history has the job as done.
    # Versioned up (the default): the first run into clean.####.exr writes clean_v001.
    assert SequencePattern.parse(str(out / "clean_v001.####.exr")).scan() == FRAMES
    assert not SequencePattern.parse(str(out / "clean.####.exr")).scan()
    log = panel.log_text()
    assert f"writing {out / 'clean_v001.####.exr'} (next free version of" in log
    assert (
        f"job {job} accepted" in log
        and "window 3/3 running" in log
        and f"job {job} done: 40 frames" in log
    )
    assert "wrote frames 1001-" in log
    entry = JobHistory(panel.history.path).get(job)
    assert (
        entry is not None
        and entry.state == "done"
        and entry.frames_total == 40
        and entry.settings["window"] == 21
    )
    assert panel.history_view.topLevelItem(0).text(0) == job
    qtbot.waitUntil(lambda: set(panel.viewer.strip.done) == set(FRAMES), timeout=5_000)
    assert panel.viewer.count_label.text() == "40/40 results"


def test_cancel_stops_the_job_on_the_daemon(panel, qtbot, shot_files, tmp_path) -> None:
    # A dilation no other test uses: no window of this job can come from the daemon's cache.
    panel.set_request(
        request(shot_files, tmp_path / "out", panel.endpoint, dilation=2, window=13, overlap=4)
    )
    panel.job_started.connect(lambda job: panel.cancel_action.trigger())
    with qtbot.waitSignal(panel.job_failed, timeout=30_000) as failed:
        assert panel.run()
    job, code, _ = failed.args
    assert code == "cancelled"
    with DaemonClient(panel.endpoint) as c:
        state = c.status(job)[0]
    assert state["state"] == "cancelled" and state["frames_done"] < 40
    assert len(SequencePattern.parse(str(tmp_path / "out" / "clean_v001.####.exr")).scan()) < 40
    assert panel.stage_label.text() == "cancelled"
    assert f"job {job} cancelled" in panel.log_text()
    qtbot.waitUntil(lambda: panel.run_action.isEnabled(), timeout=5_000)
    assert JobHistory(panel.history.path).get(job).state == "cancelled"


def test_detach_then_reattach_from_history_collects_every_frame(
    panel, qtbot, shot_files, tmp_path
) -> None:
    out = tmp_path / "out"
    panel.set_request(request(shot_files, out, panel.endpoint, dilation=5))
    first: list[int] = []
    panel.frames_written.connect(first.extend)
    panel.frames_written.connect(lambda frames: panel.detach())
    assert panel.run()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=30_000)
    job = panel.job
    assert "stopped following job" in panel.log_text()
    assert 0 < len(first) < 40
    panel.frames_written.disconnect()

    # The history has it; re-attach from there.
    assert panel.select_history(job)
    assert panel.reattach_action.isEnabled()
    second: list[int] = []
    panel.frames_written.connect(second.extend)
    with qtbot.waitSignal(panel.job_finished, timeout=60_000):
        panel.reattach_action.trigger()
    assert set(first) | set(second) == set(FRAMES)
    # Re-attaching writes into the version the job started (from the history), not a new one.
    assert SequencePattern.parse(str(out / "clean_v001.####.exr")).scan() == FRAMES
    assert not (out / ".clean_v002.####.exr.void-remove.json").exists()
    assert f"re-attached to job {job}" in panel.log_text()
    manifest = read_manifest(SequencePattern.parse(str(out / "clean_v001.####.exr")))
    assert (manifest["job"], manifest["state"], manifest["frames_written"]) == (
        job,
        "complete",
        FRAMES,
    )
    assert JobHistory(panel.history.path).get(job).state == "done"


def test_a_second_run_with_other_settings_versions_up_and_overwrite_replaces(
    panel, qtbot, shot_files, tmp_path
) -> None:
    out = tmp_path / "out"
    panel.set_request(request(shot_files, out, panel.endpoint, dilation=3))
    with qtbot.waitSignal(panel.job_finished, timeout=60_000) as one:
        assert panel.run()
    v001 = SequencePattern.parse(str(out / "clean_v001.####.exr"))
    before = {f: Path(v001.path(f)).read_bytes() for f in FRAMES}

    panel.set_request(request(shot_files, out, panel.endpoint, dilation=4))
    with qtbot.waitSignal(panel.job_finished, timeout=60_000) as two:
        assert panel.run()
    v002 = SequencePattern.parse(str(out / "clean_v002.####.exr"))
    assert v002.scan() == FRAMES
    assert {f: Path(v001.path(f)).read_bytes() for f in FRAMES} == before  # untouched
    assert f"writing {v002} (next free version of {out / 'clean.####.exr'})" in panel.log_text()
    assert f"done: 40 frames written to {v002}" in panel.log_text()
    assert read_manifest(v002)["job"] == two.args[0] != one.args[0]
    assert JobHistory(panel.history.path).get(two.args[0]).out == str(v002)

    # The overwrite checkbox: the pattern as typed, the other job's frames replaced, none mixed.
    req = request(shot_files, out, panel.endpoint, dilation=5)
    req.out = str(v001)
    panel.set_request(req)
    panel.job_form.overwrite_check.setChecked(True)
    assert panel.request_from_form().overwrite
    with qtbot.waitSignal(panel.job_finished, timeout=60_000) as three:
        assert panel.run()
    assert not SequencePattern.parse(str(out / "clean_v003.####.exr")).scan()
    assert f"overwriting {v001}" in panel.log_text()
    m = read_manifest(v001)
    assert [(e["job"], e["frames"]) for e in m["jobs"]] == [(three.args[0], FRAMES)]
    assert all(Path(v001.path(f)).read_bytes() != before[f] for f in FRAMES)


def test_run_with_missing_fields_says_which(panel) -> None:
    assert not panel.run()
    assert "fill in the plate sequence" in panel.log_text()
    assert not panel.is_busy()


def test_preview_frame_writes_only_that_frame_and_shows_it(
    panel, qtbot, shot_files, tmp_path
) -> None:
    """Issue 20: "Preview frame" beside Run is the CLI's ``--preview`` for the viewer's frame."""
    out = tmp_path / "out"
    panel.set_request(request(shot_files, out, panel.endpoint))
    assert panel.preview_form()
    frame = 1030
    panel.viewer.set_frame(frame)
    with qtbot.waitSignal(panel.job_finished, timeout=60_000) as done:
        panel.preview_action.trigger()
        assert not panel.preview_action.isEnabled() and not panel.run_action.isEnabled()
    _job, report = done.args
    assert report.windows == 1  # only the window covering the frame, not the shot's three
    preview = SequencePattern.parse(str(out / "clean_preview.####.exr"))
    # Exactly the previewed frame: its context frames were computed but not written.
    assert preview.scan() == [frame]
    assert sorted(p.name for p in out.glob("*.exr")) == [f"clean_preview.{frame}.exr"]
    assert f"preview of frame {frame} (propagate defaults)" in panel.log_text()
    assert f"done: 1 frame written to {preview}" in panel.log_text()
    assert "overwriting" not in panel.log_text()
    assert panel.preview_action.isEnabled() and panel.run_action.isEnabled()
    # The viewer shows the preview: its frame, Result view, the file's display codes.
    v = panel.viewer
    assert v.frame() == frame and v.mode() == ViewMode.RESULT
    qtbot.waitUntil(
        lambda: v.current_preview() is not None and v.current_preview().result is not None,
        timeout=10_000,
    )
    expected = exr8(str(preview), frame)
    assert not np.array_equal(expected, exr8(shot_files["plate"], frame))  # something was filled
    assert np.array_equal(rendered(v), expected)
    assert set(v.strip.done) == {frame}  # no context frame is marked as having a result


# --------------------------------------------------------------------------- viewer


@pytest.fixture
def viewer(qtbot, small_shot, shot_files):
    v = ViewerWidget()
    qtbot.addWidget(v)
    v.resize(640, 420)
    v.show()
    # The ground-truth clean plate stands in for the result: real EXRs, known pixels.
    v.set_source(
        SequencePreviewSource(
            shot_files["plate"],
            shot_files["remove"],
            shot_files["truth"],
            shot_files["affected"],
            dilation=4,
        ),
        FRAMES,
    )
    yield v
    v.shutdown()


def rendered(v: ViewerWidget) -> np.ndarray:
    img = v.rendered()
    assert img is not None
    return qimage_to_rgb8(img)


def show(qtbot, v: ViewerWidget, frame: int) -> None:
    with qtbot.waitSignal(v.frame_shown, timeout=10_000, check_params_cb=lambda f: f == frame):
        v.set_frame(frame)
        if v.current_preview() is not None:
            v.frame_shown.emit(frame)


def test_offscreen_viewer_draws_on_the_cpu(viewer) -> None:
    assert os.environ["QT_QPA_PLATFORM"] == "offscreen"
    assert not gl_available() and viewer.backend == "cpu"


def test_overlay_tints_remove_and_affected_and_leaves_keep_untouched(
    viewer, qtbot, small_shot, shot_files
) -> None:
    i = 20
    show(qtbot, viewer, FRAMES[i])
    viewer.set_mode(ViewMode.OVERLAY)
    got = rendered(viewer).astype(np.int32)
    plate = exr8(shot_files["plate"], FRAMES[i]).astype(np.int32)
    q = build_quadmask(small_shot.remove[i], small_shot.affected[i], 4)
    assert (q == REMOVE).sum() > 50 and (q == AFFECTED).sum() > 50
    keep = q == KEEP
    assert np.array_equal(got[keep], plate[keep])
    for level in (REMOVE, AFFECTED):
        sel = q == level
        colour = np.asarray(OVERLAY_COLOURS[level]) * 255.0
        expected = (1 - OVERLAY_OPACITY) * plate[sel] + OVERLAY_OPACITY * colour
        assert np.abs(got[sel] - expected).max() <= 1.0
    # Vermillion where the ball is: strongly red, no blue.
    ball = got[q == REMOVE].mean(axis=0)
    assert ball[0] > 150 and ball[2] < 60


def test_wipe_splits_before_and_after_at_the_right_column(
    viewer, qtbot, small_shot, shot_files
) -> None:
    i = 20
    show(qtbot, viewer, FRAMES[i])
    plate = exr8(shot_files["plate"], FRAMES[i])
    after = exr8(shot_files["truth"], FRAMES[i])
    # Put the split through the ball so both sides differ there.
    cols = np.nonzero(build_quadmask(small_shot.remove[i], None, 0).min(axis=0) == REMOVE)[0]
    split = (cols.min() + cols.max()) / 2 / plate.shape[1]
    viewer.set_mode(ViewMode.WIPE)
    viewer.set_wipe(split)
    viewer.set_view(outline=False)  # the matte outline: tests/integration/test_panel_qc.py
    got = rendered(viewer)
    col = wipe_column(plate.shape[1], split)
    assert 0 < col < plate.shape[1]
    assert np.array_equal(got[:, :col], plate[:, :col])
    assert np.array_equal(got[:, col:], after[:, col:])
    assert not np.array_equal(plate[:, col - 1 : col + 1], after[:, col - 1 : col + 1])
    # Source and Result are the two sides whole.
    viewer.set_mode(ViewMode.SOURCE)
    assert np.array_equal(rendered(viewer), plate)
    viewer.set_mode(ViewMode.RESULT)
    assert np.array_equal(rendered(viewer), after)


def test_dragging_on_the_canvas_moves_the_wipe(viewer, qtbot) -> None:
    show(qtbot, viewer, FRAMES[5])
    viewer.set_mode(ViewMode.WIPE)
    canvas = viewer.canvas
    rect = canvas.image_rect()
    x = rect.left() + 0.25 * rect.width()
    qtbot.mousePress(canvas, Qt.LeftButton, pos=QtCore.QPoint(round(x), round(rect.center().y())))
    assert abs(viewer.wipe() - 0.25) < 2.0 / rect.width()
    w = rendered(viewer).shape[1]
    assert wipe_column(w, viewer.wipe()) in (
        round(0.25 * w) - 1,
        round(0.25 * w),
        round(0.25 * w) + 1,
    )


def test_scrubbing_loads_other_frames(viewer, qtbot, shot_files) -> None:
    viewer.set_mode(ViewMode.SOURCE)
    for i in (0, 39, 13):
        show(qtbot, viewer, FRAMES[i])
        assert np.array_equal(rendered(viewer), exr8(shot_files["plate"], FRAMES[i]))
        assert viewer.frame_box.value() == FRAMES[i] and viewer.strip.current == FRAMES[i]
    # The strip maps positions to frames across the range.
    assert (
        viewer.strip.frame_at(0) == FRAMES[0]
        and viewer.strip.frame_at(viewer.strip.width() - 1) == FRAMES[-1]
    )
    # Truth EXRs exist for every frame, so each loaded frame is marked as having a result.
    assert {FRAMES[0], FRAMES[13], FRAMES[39]} <= viewer.results


# --------------------------------------------------------------------------- pieces


def test_progress_folds_windows_steps_cache_and_eta() -> None:
    p = JobProgress(started=100.0)
    p.update(
        P.Progress(job="j", stage="receiving", windows=3, frames_total=40, frames_received=10),
        now=101.0,
    )
    assert p.describe() == "sending frames 10/40" and p.eta(101.0) is None
    p.update(
        P.Progress(job="j", stage="running", window=0, windows=3, message="propagate 7/42"),
        now=102.0,
    )
    assert p.running_window == 0 and (p.step_what, p.step, p.steps) == ("propagate", 7, 42)
    assert p.describe() == "running window 1/3 · propagate 7/42"
    p.update(
        P.Progress(job="j", stage="running", window=1, windows=3, cached=True, eta_s=10.0),
        now=103.0,
    )
    assert p.windows_done == 1 and p.cached == {0} and p.steps == 0 and p.running_window == 1
    assert p.eta(107.0) == pytest.approx(6.0)
    p.update(
        P.Progress(job="j", stage="done", window=3, windows=3, frames_done=40, frames_total=40),
        now=110.0,
    )
    assert p.windows_done == 3 and p.eta(111.0) == 0.0 and p.elapsed(200.0) == pytest.approx(10.0)
    q = JobProgress(started=0.0, frames_total=40, frames_written=10, stage="running")
    assert q.eta(5.0) == pytest.approx(15.0)  # no daemon estimate yet: this client's frame rate
    assert JobProgress(stage="queued", queue_position=2).describe() == "queued: 2 jobs ahead"
    assert (
        format_seconds(75) == "1:15"
        and format_seconds(3725) == "1:02:05"
        and format_seconds(None) == "—"
    )


def test_history_round_trips_and_survives_a_broken_file(tmp_path) -> None:
    path = tmp_path / "h" / "history.json"
    h = JobHistory(path)
    req = RemoveRequest(
        "p.####.exr",
        "r.####.exr",
        "o.####.exr",
        "a.####.exr",
        (1001, 1010),
        {"window": 21},
        "tcp://127.0.0.1:1",
    )
    h.record(HistoryEntry.from_request("abc", "shot", req, 10))
    h.record(HistoryEntry.from_request("def", "shot2", req, 10))
    again = JobHistory(path)
    assert [e.job for e in again.entries()] == ["def", "abc"]
    back = again.get("abc").request()
    assert (back.plate, back.affected, back.frame_range, back.settings, back.endpoint) == (
        "p.####.exr",
        "a.####.exr",
        (1001, 1010),
        {"window": 21},
        "tcp://127.0.0.1:1",
    )
    assert again.update_from_status(
        [{"job": "abc", "state": "running", "frames_done": 4, "frames_total": 10, "error": None}],
        "tcp://127.0.0.1:1",
    ) == ["abc"]
    assert JobHistory(path).get("abc").frames_done == 4
    assert again.update_from_status([{"job": "abc", "state": "done"}], "tcp://elsewhere:1") == []
    assert again.forget("def") and [e.job for e in JobHistory(path).entries()] == ["abc"]
    assert json.loads(path.read_text())["version"] == 1
    path.write_text("{not json")
    assert JobHistory(path).entries() == []


def test_default_history_lives_in_the_void_remove_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VOID_REMOVE_HOME", str(tmp_path / "home"))
    assert JobHistory().path == tmp_path / "home" / "panel-history.json"


def test_qimage_round_trip() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (7, 13, 3), dtype=np.uint8)  # odd width: rows are padded in a QImage
    assert np.array_equal(qimage_to_rgb8(qimage_from_rgb8(a)), a)


def test_panel_command_is_registered() -> None:
    from void_client.cli.main import COMMANDS, build_parser

    assert COMMANDS["panel"][0] == "void_client.cli.panel"
    args = build_parser().parse_args(
        ["panel", "--endpoint", "tcp://127.0.0.1:5", "--plate", "p.####.exr", "--window", "21"]
    )
    assert args.endpoint == "tcp://127.0.0.1:5" and args.plate == "p.####.exr" and args.window == 21


# --------------------------------------------------------------------------- other bindings and GL


def _python_with(module: str) -> str | None:
    """An interpreter that can import ``module``: this one, or $VOID_PYSIDE2_PYTHON."""
    for exe in (sys.executable, os.environ.get("VOID_PYSIDE2_PYTHON", "")):
        if (
            exe
            and subprocess.run([exe, "-c", f"import {module}"], capture_output=True).returncode == 0
        ):
            return exe
    return None


PYSIDE2_JOB = r"""
import sys, time
import numpy as np
from void_client.panel.qt import API, application, qimage_from_rgb8, qimage_to_rgb8
assert API == "PySide2", API
app, _ = application()
from void_client.panel import VoidPanel
from void_client.sequence_job import RemoveRequest
endpoint, history, plate, remove, affected, out = sys.argv[1:7]
a = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
assert (qimage_to_rgb8(qimage_from_rgb8(a)) == a).all()
p = VoidPanel(endpoint=endpoint, history_path=history)
p.show()
p.set_request(RemoveRequest(plate, remove, out, affected, settings={"window": 21, "overlap": 6, "dilation": 6}, endpoint=endpoint, autostart=False))
deadline = time.monotonic() + 20
while not (p.daemon_status and p.daemon_status.connected):
    assert time.monotonic() < deadline, "no connection"
    app.processEvents(); time.sleep(0.01)
assert p.run()
deadline = time.monotonic() + 60
while p.is_busy() or not p.progress.finished_at:
    assert time.monotonic() < deadline, p.log_text()
    app.processEvents(); time.sleep(0.01)
assert p.progress.stage == "done" and p.progress.frames_written == 40, p.log_text()
assert p.viewer.backend == "cpu"
p.shutdown()
print("ok")
"""


def test_the_panel_runs_a_job_with_pyside2_through_the_shim(daemon, shot_files, tmp_path) -> None:
    exe = _python_with("PySide2.QtWidgets")
    if exe is None:
        pytest.skip(
            "PySide2 is not installed (Nuke 13-15's binding); set $VOID_PYSIDE2_PYTHON to an interpreter that has it"
        )
    env = {
        **os.environ,
        "VOID_QT_API": "PySide2",
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugin"), os.environ.get("PYTHONPATH", "")]),
    }
    out = tmp_path / "out" / "clean.####.exr"
    argv = [
        daemon.endpoint,
        str(tmp_path / "h.json"),
        shot_files["plate"],
        shot_files["remove"],
        shot_files["affected"],
        str(out),
    ]
    r = subprocess.run(
        [exe, "-c", PYSIDE2_JOB, *argv], capture_output=True, text=True, env=env, timeout=180
    )
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]
    assert SequencePattern.parse(str(out)).scan() == FRAMES


GL_CHECK = r"""
import numpy as np, sys
from void_client.panel.qt import QtCore, QtWidgets, application, qimage_to_rgb8
app, _ = application()
from void_client.panel.viewer import GlCanvas, FramePreview, ViewMode, compose, gl_available
assert gl_available(), "no GL 3.3 context under Xvfb"
rng = np.random.default_rng(1)
h, w = 48, 64
plate = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
result = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
qm = rng.choice(np.array([0, 63, 127, 255], np.uint8), size=(h, w))
p = FramePreview(1, plate, qm, result)
c = GlCanvas()
c.decorate = False  # compare the shader's pixels, not the wipe line and labels
c.setFixedSize(w, h)
c.show()
for _ in range(20):
    app.processEvents()
worst = {}
for mode in ViewMode:
    c.show_preview(p, mode, 0.375)
    app.processEvents()
    got = qimage_to_rgb8(c.grabFramebuffer()).astype(int)
    assert got.shape == (h, w, 3), got.shape
    worst[mode.value] = int(np.abs(got - compose(p, mode, 0.375).astype(int)).max())
print(worst)
assert not c.error, c.error
assert max(worst.values()) <= 1, worst
c.close()
del c
# A shader that does not compile: the viewer falls back to the CPU canvas by itself.
import os, shutil, sys, tempfile
from pathlib import Path
from void_client.panel.viewer import ViewerWidget, shaders_dir
broken = Path(tempfile.mkdtemp())
shutil.copy(shaders_dir() / "fullscreen.vert", broken)
(broken / "quadmask_overlay.frag").write_text("#version 330 core\nvoid main() { this is not glsl; }\n")
os.environ["VOID_REMOVE_SHADERS"] = str(broken)
v = ViewerWidget()
assert v.backend == "gl"
v.show()
for _ in range(50):
    app.processEvents()
    if v.backend == "cpu":
        break
assert v.backend == "cpu", v.backend
v.shutdown()
print("ok")
"""


XVFB = ["xvfb-run", "-a", "-s", "-screen 0 640x480x24"]

#: The least that needs Qt's xcb platform plugin: a QGuiApplication on the X display.
XCB_PROBE = r"""
import importlib, sys
gui = importlib.import_module(sys.argv[1] + ".QtGui")
app = gui.QGuiApplication([])
print("platform", gui.QGuiApplication.platformName())
"""


def xcb_unavailable(exe: str, binding: str, env: dict[str, str]) -> str | None:
    """Why Qt cannot open an xcb display under Xvfb, in Qt's words; None when it can.

    A platform plugin that does not load makes Qt abort the whole process (qFatal), so this is
    tried in a throwaway subprocess before the real check."""
    try:
        r = subprocess.run(
            [*XVFB, exe, "-c", XCB_PROBE, binding],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return "Qt's xcb platform did not start under Xvfb within 60 s"
    if r.returncode == 0 and "platform xcb" in r.stdout:
        return None
    # Qt's own lines (qt.qpa.plugin: ..., "This application failed to start because ...").
    lines = [ln.strip() for ln in r.stderr.splitlines() if ln.strip()]
    said = [ln for ln in lines if ln.startswith("qt.") or "platform plugin" in ln] or lines[-3:]
    return (
        f"Qt's xcb platform plugin cannot load under Xvfb (exit {r.returncode}): "
        + " ".join(said)[:600]
    )


@pytest.mark.parametrize("binding", ["PySide6", "PySide2"])
def test_gl_viewer_draws_what_the_cpu_viewer_draws(binding: str) -> None:
    if shutil.which("xvfb-run") is None:
        pytest.skip(
            "xvfb-run is not installed (apt-get install xvfb): no GL-capable display to test the GL viewer on"
        )
    exe = _python_with(f"{binding}.QtWidgets")
    if exe is None:
        pytest.skip(f"{binding} is not installed")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "xcb",
        "VOID_PANEL_GL": "1",
        "VOID_QT_API": binding,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugin"), os.environ.get("PYTHONPATH", "")]),
    }
    reason = xcb_unavailable(exe, binding, env)
    if reason is not None:
        if REQUIRE_GL:
            pytest.fail(f"VOID_REQUIRE_GL=1 but {reason}")
        pytest.skip(reason)
    r = subprocess.run(
        [*XVFB, exe, "-c", GL_CHECK],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), (
        r.stdout[-2000:],
        r.stderr[-3000:],
    )


def test_the_qt_binding_does_not_leak_references_to_none(qtbot) -> None:
    # PySide6-Essentials 6.12.0 on CPython 3.11 drops a reference to None on every Qt call that
    # returns void (measured: 1000 x QLabel.setText -> None's refcount -1000), so a long panel
    # session aborts with "none_dealloc". pyproject pins the binding below 6.12 for that reason.
    from void_client.panel.qt import QtWidgets

    label = QtWidgets.QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.setText("x")
    assert abs(sys.getrefcount(None) - before) < 50
