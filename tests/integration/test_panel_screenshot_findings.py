"""What a colleague found making the panel's screenshots (issue 20), on real parts: Qt's
offscreen platform, a real daemon subprocess, real EXR files, the real CLI in a subprocess.

* A one-frame "Preview frame" read "1/21 frames written", "1/21 results", 21/21 in History and
  "1 frames written" in the Log: the totals counted the window's context frames, not the frames
  the preview writes, so a finished preview looked incomplete. ``void-remove run --preview``'s
  jsonl stream had the same totals.
* Docked in a narrow pane, the coverage label at the right of the viewer's control row was cut
  off ("remove 3.5% ·").
* ``set_request`` kept fields the request does not name (Pass 2 from an earlier preset), so the
  preset then read "custom".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from tests.support.cli import void_remove  # noqa: E402
from tests.support.panels import preview_frame, shown_panel  # noqa: E402
from void_client.job_spec import JobSpec  # noqa: E402
from void_client.output_manifest import read_manifest  # noqa: E402
from void_client.panel import VoidPanel  # noqa: E402
from void_client.panel.history import JobHistory  # noqa: E402
from void_client.panel.qt import Qt, QtWidgets  # noqa: E402
from void_client.sequence import SequencePattern  # noqa: E402
from void_client.sequence_job import RemoveRequest  # noqa: E402

#: The conftest small shot's frames: 40 at 128x80.
FRAMES = list(range(1001, 1041))
#: --window 21 --overlap 6 on 40 frames: frame 1030 sits deepest in a 21-frame window.
SETTINGS = {"window": 21, "overlap": 6}
#: rich cuts table cells to the terminal's width: the CLI runs here get a wide one.
COLUMNS = {"COLUMNS": "200"}


def request(shot_files: dict[str, str], out: Path, endpoint: str) -> RemoveRequest:
    return RemoveRequest(
        plate=shot_files["plate"],
        remove=shot_files["remove"],
        affected=shot_files["affected"],
        out=str(out / "clean.####.exr"),
        settings=dict(SETTINGS),
        endpoint=endpoint,
        autostart=False,
    )


@pytest.fixture
def panel(qtbot, daemon, tmp_path):
    with shown_panel(qtbot, tmp_path, daemon.endpoint, poll_interval_s=0.3, prefer_gl=False) as p:
        yield p


@pytest.fixture
def offline_panel(qtbot, tmp_path):
    """No daemon at its address: the form and the preview before Run need none."""
    with shown_panel(qtbot, tmp_path, size=(1280, 800), prefer_gl=False) as p:
        yield p


# --------------------------------------------------------------------------- 1. preview totals


def history_row(panel: VoidPanel, job: str) -> list[str]:
    view = panel.history_view
    for i in range(view.topLevelItemCount()):
        item = view.topLevelItem(i)
        if item is not None and item.text(0) == job:
            return [item.text(c) for c in range(view.columnCount())]
    raise AssertionError(f"job {job} is not in the History tab")


def test_a_finished_one_frame_preview_counts_the_one_frame_it_writes(
    panel, qtbot, daemon, shot_files, tmp_path
) -> None:
    out = tmp_path / "out"
    panel.set_request(request(shot_files, out, daemon.endpoint))
    frame = 1030
    job, report = preview_frame(panel, qtbot, frame)
    # The job computed a whole window for context (21 frames) and wrote one.
    assert len(report.frames_written) == 21
    assert SequencePattern.parse(str(out / "clean_preview.####.exr")).scan() == [frame]
    # Its output manifest says complete (it claimed the frame it writes, like the CLI), not
    # failed for 20 context frames it never meant to write.
    manifest = read_manifest(str(out / "clean_preview.####.exr"))
    assert manifest is not None
    assert (manifest["state"], manifest["frames_written"]) == ("complete", [frame])

    # Progress box: complete, counted in the frames the preview writes.
    bar = panel.frames_bar
    assert (bar.value(), bar.maximum()) == (1, 1)
    assert bar.text() == "1/1 frames written"
    assert panel.stage_label.text() == "done"
    # Viewer: the previewed frame's result is there, out of the one expected; the context
    # frames stay scrubbable (the plate and overlay) but are not counted as missing results.
    qtbot.waitUntil(lambda: panel.viewer.count_label.text() == "1/1 results", timeout=5_000)
    assert panel.viewer.frames == list(range(1020, 1041))
    # Log: the line says what was written, singular.
    log = panel.log_text()
    preview = out / "clean_preview.####.exr"
    assert f"job {job} done: 1 frame written to {preview}" in log
    assert not re.search(r"\b1 frames", log)
    # History: 1/1, also after the daemon's status (which counts the window's 21 frames) has
    # been polled a few times.
    assert history_row(panel, job)[3] == "1/1"
    polls = panel.daemon_status
    qtbot.waitUntil(lambda: panel.daemon_status is not polls, timeout=5_000)
    qtbot.wait(1000)
    assert history_row(panel, job)[2:4] == ["done", "1/1"]
    entry = JobHistory(panel.history.path).get(job)
    assert entry is not None and (entry.frames_done, entry.frames_total) == (1, 1)
    # Re-attaching the preview writes only its frame again, not its context frames.
    assert entry.request().keep == (frame,)
    # History ▸ View shows it from disk the same way.
    assert panel.select_history(job)
    panel.history_tab.show_button.click()
    assert panel.viewer.count_label.text() == "1/1 results"
    assert f"viewing job {job}: 1/1 results on disk" in panel.log_text()


def test_a_full_run_logs_its_frames_in_the_plural(panel, qtbot, daemon, shot_files, tmp_path):
    req = request(shot_files, tmp_path / "out", daemon.endpoint)
    req.frame_range = (1001, 1021)
    panel.set_request(req)
    with qtbot.waitSignal(panel.job_finished, timeout=60_000) as done:
        panel.run_action.trigger()
    job, _report = done.args
    assert f"job {job} done: 21 frames written to" in panel.log_text()
    assert panel.frames_bar.text() == "21/21 frames written"
    assert history_row(panel, job)[3] == "21/21"
    qtbot.waitUntil(lambda: panel.viewer.count_label.text() == "21/21 results", timeout=5_000)


@pytest.mark.parametrize(
    ("preview", "frames", "jobs"),
    [("1030", [1030], 1), ("1001,1040", [1001, 1040], 2)],
    ids=["one-frame", "two-jobs"],
)
def test_cli_preview_stream_totals_count_the_frames_it_writes(
    daemon, shot_files, tmp_path, preview, frames, jobs
) -> None:
    out = tmp_path / "clean.####.exr"
    args = ["--plate", shot_files["plate"], "--remove", shot_files["remove"], "--out", str(out)]
    args += ["--window", "13", "--overlap", "4", "--preview", preview, "--progress", "jsonl"]
    r = void_remove("run", *args, "--endpoint", daemon.endpoint, "--no-autostart", env=COLUMNS)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    start, final = events[0], events[-1]
    states = [e for e in events if e["event"] == "state"]
    written = [e for e in events if e["event"] == "frame"]
    print(start, final, {s["total"] for s in states})
    assert start["event"] == "start" and start["total"] == len(frames)
    assert len({s["job"] for s in states}) == jobs
    assert {s["total"] for s in states} == {len(frames)}
    assert all(s["written"] <= len(frames) for s in states)
    assert sorted(e["frame"] for e in written) == frames
    assert final["event"] == "done" and final["written"] == len(frames)
    preview_out = SequencePattern.parse(str(tmp_path / "clean_preview.####.exr"))
    assert preview_out.scan() == frames


# --------------------------------------------------------------------------- 2. coverage label


def test_the_coverage_label_elides_in_a_narrow_dock_and_keeps_its_full_text(
    offline_panel, qtbot, shot_files
) -> None:
    p = offline_panel
    f = p.job_form
    f.plate_edit.setText(shot_files["plate"])
    f.remove_edit.setText(shot_files["remove"])
    f.affected_edit.setText(shot_files["affected"])
    assert p.preview_form()
    v = p.viewer
    label = v.coverage_label
    qtbot.waitUntil(lambda: "affected" in label.text(), timeout=15_000)
    full = label.text()
    assert full.startswith("remove ") and " · affected " in full and full.endswith("%")
    # The full text is always reachable: the tooltip carries it.
    assert label.toolTip() == full

    fm = label.fontMetrics()
    # Wide: shown whole.
    qtbot.waitUntil(lambda: label.width() >= fm.horizontalAdvance(full), timeout=5_000)
    assert label.displayed_text() == full

    # Docked in a narrow pane (the screenshots' 600 px): the viewer fits the panel and the
    # label either fits whole or is elided with "…", never cut off mid-text.
    p.resize(600, 980)
    qtbot.waitUntil(lambda: p.splitter.orientation() == Qt.Orientation.Vertical, timeout=5_000)
    QtWidgets.QApplication.processEvents()
    assert v.width() <= p.width()
    assert v.minimumSizeHint().width() <= v.width()
    assert label.geometry().right() < v.width()
    # The control row has no room for it: it wraps to a row of its own, shown whole there.
    assert v.coverage_label_wrapped()
    assert label.sizeHint().width() <= label.width()
    assert label.displayed_text() == full
    assert label.toolTip() == full and label.text() == full
    # Wide again: back at the right of the control row.
    p.resize(1280, 800)
    qtbot.waitUntil(lambda: not v.coverage_label_wrapped(), timeout=5_000)
    qtbot.waitUntil(lambda: label.displayed_text() == full, timeout=5_000)
    p.resize(600, 980)
    qtbot.waitUntil(v.coverage_label_wrapped, timeout=5_000)
    # Narrower still than the text: elided with "…", never cut mid-glyph; tooltip unchanged.
    label.setFixedWidth(fm.horizontalAdvance("remove 3.1%"))
    QtWidgets.QApplication.processEvents()
    shown = label.displayed_text()
    assert shown != full and shown.endswith("…") and full.startswith(shown[:-1])
    assert fm.horizontalAdvance(shown) <= label.contentsRect().width()
    assert label.toolTip() == full


# --------------------------------------------------------------------------- 3. set_request


def test_set_request_shows_exactly_the_requests_settings_others_back_to_defaults(
    offline_panel,
) -> None:
    f = offline_panel.job_form
    d = JobSpec(frames=[1], width=1, height=1)
    f.apply_preset("final")  # pass 2 on, its engine options
    f.prompt_edit.setText("an empty street")
    f.seed_spin.setValue(7)
    assert f.pass2_check.isChecked() and f.preset_combo.currentText() == "final"

    # A fast-preview job's request that does not name pass2, dilation or seam (an older
    # history entry, a host's request): re-attached, it reads as that job, not "custom".
    f.set_request(
        RemoveRequest(
            "/p.####.exr",
            "/r.####.exr",
            "/o.####.exr",
            settings={
                "window": 45,
                "overlap": 8,
                "roi_margin": 32,
                "feather": 4,
                "engine_options": {"steps": 10},
            },
        )
    )
    assert not f.pass2_check.isChecked()
    assert f.preset_combo.currentText() == "fast preview"
    s = f.request("tcp://127.0.0.1:1").settings
    assert s == {
        "engine": d.engine,
        "window": 45,
        "overlap": 8,
        "seam": d.seam,
        "dilation": d.dilation,
        "roi_margin": 32,
        "feather": 4,
        "prompt": "",
        "seed": d.seed,
        "pass2": False,
        "engine_options": {"steps": 10},
    }

    # A request naming no settings at all: the spec's defaults, every field.
    f.apply_preset("4K plate")
    f.set_request(RemoveRequest("/p.####.exr", "/r.####.exr", "/o.####.exr"))
    s = f.request("tcp://127.0.0.1:1").settings
    assert s == {
        "engine": d.engine,
        "window": d.window,
        "overlap": d.overlap,
        "seam": d.seam,
        "dilation": d.dilation,
        "roi_margin": d.roi_margin,
        "feather": d.feather,
        "prompt": d.prompt,
        "seed": d.seed,
        "pass2": d.pass2,
        "engine_options": d.engine_options,
    }
    assert f.preset_combo.currentText() == f.CUSTOM  # the spec's defaults are no preset
