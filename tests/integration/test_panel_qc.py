"""Issue 20, the panel half: preview before Run, matte warnings, QC views, every daemon job in
History, presets. Offscreen Qt, real EXRs (OpenImageIO), real daemon subprocesses; the CLI job
is a real ``void-remove run --detach`` against a daemon slowed from outside.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from tests.support.daemons import SlowDaemon, free_port  # noqa: E402
from tests.support.panels import shown_panel  # noqa: E402
from void_client.client import DaemonClient  # noqa: E402
from void_client.errors import VoidError  # noqa: E402
from void_client.panel import VoidPanel  # noqa: E402
from void_client.panel.qt import qimage_to_rgb8  # noqa: E402
from void_client.panel.viewer import ViewerWidget, ViewMode  # noqa: E402
from void_client.preview import SequencePreviewSource, overlay8  # noqa: E402
from void_client.quadmask import KEEP, build_quadmask  # noqa: E402
from void_client.sequence import SequencePattern, read_image, write_image  # noqa: E402
from void_client.srgb import linear_to_srgb  # noqa: E402

W, H = 64, 32
FRAMES = list(range(1001, 1007))


def srgb8(linear: np.ndarray) -> np.ndarray:
    return (
        np.floor(
            linear_to_srgb(np.clip(np.asarray(linear, np.float32)[..., :3], 0, None)) * 255.0 + 0.5
        )
        .clip(0, 255)
        .astype(np.uint8)
    )


def square(x0: int, y0: int, size_x: int, size_y: int) -> np.ndarray:
    m = np.zeros((H, W, 1), np.float32)
    m[y0 : y0 + size_y, x0 : x0 + size_x] = 1.0
    return m


def write_shot(folder: Path, remove_of, result_delta: float = 0.0) -> dict[str, str]:
    """A 6-frame 64x32 shot: a linear ramp plate, ``remove_of(frame)`` as the remove matte, a
    fixed 16x4 affected matte, and a 'result' = plate + ``result_delta`` inside the remove."""
    paths = {k: str(folder / f"{k}.####.exr") for k in ("plate", "remove", "affected", "result")}
    pats = {k: SequencePattern.parse(v) for k, v in paths.items()}
    ramp = np.linspace(0.02, 0.6, W, dtype=np.float32)
    for i, f in enumerate(FRAMES):
        plate = np.ones((H, W, 4), np.float32)
        plate[..., 0] = ramp[None, :]
        plate[..., 1] = ramp[None, ::-1]
        plate[..., 2] = 0.05 * (i + 1)
        remove = remove_of(f)
        write_image(pats["plate"].path(f), plate.astype(np.float16), channels=["R", "G", "B", "A"])
        write_image(pats["remove"].path(f), remove.astype(np.float16), channels=["A"])
        write_image(
            pats["affected"].path(f), square(40, 20, 16, 4).astype(np.float16), channels=["A"]
        )
        res = plate[..., :3] + result_delta * (remove > 0.5)
        write_image(pats["result"].path(f), res.astype(np.float16), channels=["R", "G", "B"])
    return paths


def steady(_f: int) -> np.ndarray:
    return square(8, 8, 8, 8)  # 64 of 2048 pixels: 3.125 %


@pytest.fixture
def offline_panel(qtbot, tmp_path):
    """A panel with no daemon at its address: previewing needs none."""
    with shown_panel(qtbot, tmp_path, prefer_gl=False) as p:
        yield p


def fill(panel: VoidPanel, shot: dict[str, str], affected: bool = True) -> None:
    f = panel.job_form
    f.plate_edit.setText(shot["plate"])
    f.remove_edit.setText(shot["remove"])
    if affected:
        f.affected_edit.setText(shot["affected"])


def wait_scanned(qtbot, v: ViewerWidget, n: int = len(FRAMES)) -> None:
    qtbot.waitUntil(lambda: not v.scanning and len(v.coverage) == n, timeout=15_000)


def rendered(v: ViewerWidget) -> np.ndarray:
    img = v.rendered()
    assert img is not None
    return qimage_to_rgb8(img)


# --------------------------------------------------------------------------- preview before Run


def test_preview_before_run_shows_overlay_and_coverage_without_a_job(
    offline_panel, qtbot, tmp_path
) -> None:
    shot = write_shot(tmp_path / "in", steady)
    v = offline_panel.viewer
    assert "fill in the plate and remove matte" in v._note(None)
    fill(offline_panel, shot)
    qtbot.waitUntil(lambda: v.frames == FRAMES, timeout=5_000)
    assert offline_panel.previewing and offline_panel.job == "" and not offline_panel.is_busy()
    assert v.mode() is ViewMode.OVERLAY
    wait_scanned(qtbot, v)
    for f in FRAMES:
        assert v.coverage[f].remove == 64 / (W * H)
        assert v.coverage[f].affected == 64 / (W * H)
    assert v.warnings == []
    assert not v.warnings_label.isVisible()
    qtbot.waitUntil(lambda: v.current_preview() is not None, timeout=10_000)
    assert v.coverage_label.text() == "remove 3.1% · affected 3.1%"
    # The picture is the plate with the quadmask overlay, built as the daemon builds it.
    plate = read_image(SequencePattern.parse(shot["plate"]).path(1001)).pixels
    remove = read_image(SequencePattern.parse(shot["remove"]).path(1001)).pixels[..., 0]
    affected = read_image(SequencePattern.parse(shot["affected"]).path(1001)).pixels[..., 0]
    qm = build_quadmask(remove.astype(np.float32), affected.astype(np.float32), 4)
    got = rendered(v)
    assert np.array_equal(got, overlay8(srgb8(plate), qm))
    keep = qm == KEEP
    assert np.array_equal(got[keep], srgb8(plate)[keep])  # untouched pixels shown as they are
    assert not np.array_equal(got[~keep], srgb8(plate)[~keep])
    # The dilation field is the job's: changing it re-previews with the new quadmask.
    offline_panel.job_form.dilation_spin.setValue(0)
    qm0 = build_quadmask(remove.astype(np.float32), affected.astype(np.float32), 0)
    qtbot.waitUntil(
        lambda: (
            v.current_preview() is not None and np.array_equal(v.current_preview().quadmask, qm0)
        ),
        timeout=10_000,
    )


def test_scrubbing_the_preview_shows_each_frames_coverage(offline_panel, qtbot, tmp_path) -> None:
    sizes = {f: 4 + 2 * i for i, f in enumerate(FRAMES)}  # grows 2 px a frame: no flicker
    shot = write_shot(tmp_path / "in", lambda f: square(2, 2, sizes[f], sizes[f]))
    fill(offline_panel, shot, affected=False)
    v = offline_panel.viewer
    wait_scanned(qtbot, v)
    assert {f: v.coverage[f].remove for f in FRAMES} == {f: sizes[f] ** 2 / (W * H) for f in FRAMES}
    assert all(v.coverage[f].affected is None for f in FRAMES)
    v.set_frame(1004)
    qtbot.waitUntil(lambda: v.frame() == 1004 and v.current_preview() is not None)
    assert v.coverage_label.text() == f"remove {10 * 10 / (W * H):.1%}"
    assert v.strip.coverage[1004] == 100 / (W * H)


@pytest.mark.parametrize(
    ("kind", "remove_of", "frames", "words"),
    [
        ("empty", lambda f: square(8, 8, 8, 8) * (f not in (1003, 1004)), (1003, 1004), "empty"),
        ("full_frame", lambda f: np.ones((H, W, 1), np.float32), tuple(FRAMES), "plate's alpha"),
        (
            "flicker",
            lambda f: square(8, 8, 4, 4) if f % 2 else square(8, 8, 16, 16),
            tuple(FRAMES[1:]),
            "jumps",
        ),
    ],
)
def test_each_matte_warning_appears_for_a_shot_built_to_trigger_it(
    offline_panel, qtbot, tmp_path, kind, remove_of, frames, words
) -> None:
    shot = write_shot(tmp_path / "in", remove_of)
    fill(offline_panel, shot, affected=False)
    v = offline_panel.viewer
    wait_scanned(qtbot, v)
    assert [w.kind for w in v.warnings] == [kind]
    assert v.warnings[0].frames == frames
    assert words in v.warnings_label.text() and v.warnings_label.isVisible()
    assert v.strip.flagged == set(frames)
    if kind == "full_frame":
        assert all(v.coverage[f].remove == 1.0 for f in FRAMES)
        assert "100%" in v.warnings[0].message


# --------------------------------------------------------------------------- QC views


@pytest.fixture
def qc_viewer(qtbot, tmp_path):
    shot = write_shot(tmp_path / "in", steady, result_delta=0.05)
    v = ViewerWidget(prefer_gl=False)
    qtbot.addWidget(v)
    v.resize(700, 460)
    v.show()
    v.set_source(
        SequencePreviewSource(shot["plate"], shot["remove"], shot["result"], dilation=0), FRAMES
    )
    qtbot.waitUntil(lambda: v.current_preview() is not None, timeout=10_000)
    yield v, shot
    v.shutdown()


def test_zoom_one_to_one_shows_plate_pixels_one_to_one(qc_viewer, qtbot) -> None:
    v, shot = qc_viewer
    v.set_mode(ViewMode.SOURCE)
    v.canvas.decorate = False
    rect = v.canvas.image_rect()
    assert rect.width() > 2 * W  # fitted: enlarged to the canvas
    v.zoom_one_to_one()
    rect = v.canvas.image_rect()
    assert (rect.width(), rect.height()) == (W, H)
    grab = qimage_to_rgb8(v.canvas.grab().toImage())
    x, y = int(rect.left()), int(rect.top())
    plate = read_image(SequencePattern.parse(shot["plate"]).path(1001)).pixels
    assert np.array_equal(grab[y : y + H, x : x + W], srgb8(plate))
    # Panning moves the picture by whole screen pixels, still 1:1.
    v.canvas.pan = (7.0, -3.0)
    v.canvas.update()
    rect2 = v.canvas.image_rect()
    assert (rect2.left() - rect.left(), rect2.top() - rect.top()) == (7.0, -3.0)
    grab = qimage_to_rgb8(v.canvas.grab().toImage())
    x, y = int(rect2.left()), int(rect2.top())
    assert np.array_equal(grab[y : y + H, x : x + W], srgb8(plate))
    v.zoom_fit()
    assert v.canvas.image_rect().width() > 2 * W


def test_exposure_plus_one_stop_doubles_linear_values_before_display(qc_viewer) -> None:
    v, shot = qc_viewer
    v.set_mode(ViewMode.SOURCE)
    plate = read_image(SequencePattern.parse(shot["plate"]).path(1001)).pixels[..., :3]
    assert np.array_equal(rendered(v), srgb8(plate))
    v.exposure_spin.setValue(1.0)  # the control, as an artist sets it
    assert v.view_settings().exposure == 1.0
    assert np.array_equal(rendered(v), srgb8(2.0 * plate.astype(np.float32)))
    v.set_view(exposure=-1.0, gamma=2.0)
    assert np.array_equal(rendered(v), srgb8(np.sqrt(0.5 * plate.astype(np.float32))))
    assert v.gamma_spin.value() == 2.0


def test_difference_view_shows_abs_result_minus_plate_times_gain(qc_viewer) -> None:
    v, shot = qc_viewer
    v.set_mode(ViewMode.DIFFERENCE)
    v.gain_spin.setValue(4.0)
    plate = read_image(SequencePattern.parse(shot["plate"]).path(1001)).pixels[..., :3]
    result = read_image(SequencePattern.parse(shot["result"]).path(1001)).pixels[..., :3]
    diff = np.abs(result.astype(np.float32) - plate.astype(np.float32)) * 4.0
    expected = np.clip(np.floor(diff * 255.0 + 0.5), 0, 255).astype(np.uint8)
    got = rendered(v)
    assert np.array_equal(got, expected)
    inside = square(8, 8, 8, 8)[..., 0] > 0.5
    assert not got[~inside].any()  # untouched pixels: exactly black
    assert abs(int(got[inside].max()) - round(0.05 * 4 * 255)) <= 3  # half-float steps


def test_wipe_draws_the_matte_outline(qc_viewer) -> None:
    v, _ = qc_viewer
    v.set_mode(ViewMode.WIPE)
    got = rendered(v)
    yellow = (got == (240, 228, 66)).all(axis=2)
    ring = np.zeros((H, W), bool)
    ring[8:16, 8:16] = True
    ring[9:15, 9:15] = False
    assert np.array_equal(yellow, ring)
    v.outline_check.setChecked(False)
    assert not (rendered(v) == (240, 228, 66)).all(axis=2).any()


# --------------------------------------------------------------------------- presets


def test_presets_set_the_engineering_fields(offline_panel) -> None:
    f = offline_panel.job_form
    assert f.preset_combo.currentText() == "custom"  # the spec's defaults are no preset
    assert not f.advanced_box.isVisible()
    f.advanced_button.setChecked(True)
    assert f.advanced_box.isVisible()
    f.apply_preset("fast preview")
    s = f.advanced_settings()
    assert (s["window"], s["overlap"], s["dilation"], s["feather"], s["pass2"]) == (
        45,
        8,
        4,
        4,
        False,
    )
    assert s["engine_options"] == {"steps": 10}
    assert f.preset_combo.currentText() == "fast preview"
    f.apply_preset("final")
    assert f.pass2_check.isChecked() and f.window_spin.value() == 197
    assert f.engine_options() == {"steps": 30, "pass2_steps": 50}
    f.apply_preset("4K plate")
    assert (f.dilation_spin.value(), f.feather_spin.value(), f.margin_spin.value()) == (8, 12, 96)
    f.plate_edit.setText("/p.####.exr")
    f.remove_edit.setText("/r.####.exr")
    f.out_edit.setText("/o.####.exr")
    req = offline_panel.request_from_form()
    assert req.settings["window"] == 85 and req.settings["engine_options"]["vae_tiling"] is True
    # Editing a field by hand makes it custom; the fields stay what the artist set.
    f.feather_spin.setValue(13)
    assert f.preset_combo.currentText() == "custom" and f.feather_spin.value() == 13
    # Picking in the combo (what an artist does) applies it.
    f.preset_combo.setCurrentText("long shot")
    f.preset_combo.activated.emit(f.preset_combo.currentIndex())
    assert f.seam_combo.currentText() == "chain" and f.overlap_spin.value() == 32
    f.engine_options_edit.setText("{not json")
    with pytest.raises(VoidError):
        offline_panel.request_from_form()


# --------------------------------------------------------------------------- every daemon job


def test_history_lists_a_cli_job_and_cancels_it(qtbot, tmp_path) -> None:
    (tmp_path / "daemon").mkdir()
    d = SlowDaemon(tmp_path / "daemon" / "jobs", window_sleep=1.0).start()
    try:
        shot = write_shot(tmp_path / "in", steady)
        out = str(tmp_path / "o" / "c.####.exr")
        r = subprocess.run(
            [sys.executable, "-m", "void_client.cli.main", "run", "--plate", shot["plate"],
             "--remove", shot["remove"], "--out", out, "--window", "5", "--overlap", "2",
             "--endpoint", d.endpoint, "--no-autostart", "--detach"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        with DaemonClient(d.endpoint) as c:
            (job,) = [j["job"] for j in c.status()]
        p = VoidPanel(
            endpoint=d.endpoint, history_path=tmp_path / "h.json", poll_interval_s=0.3,
            prefer_gl=False,
        )  # fmt: skip
        qtbot.addWidget(p)
        p.show()
        try:
            qtbot.waitUntil(lambda: job in p.elsewhere, timeout=10_000)
            assert len(p.history) == 0  # not this panel's: it comes from the daemon's status
            assert p.select_history(job)
            item = p.history_view.selectedItems()[0]
            assert item.text(0) == job and item.font(0).italic()
            assert item.text(5) == "started elsewhere (CLI or a host)"
            assert item.text(2) in ("queued", "receiving", "running")
            assert p.history_tab.cancel_button.isEnabled()
            assert not p.history_tab.forget_button.isEnabled()
            assert p.reattach_action.isEnabled()
            p.history_tab.cancel_button.click()
            qtbot.waitUntil(lambda: p.elsewhere[job].state == "cancelled", timeout=15_000)
            with DaemonClient(d.endpoint) as c:
                st = c.status(job)[0]
            assert st["state"] == "cancelled" and st["frames_done"] < len(FRAMES)
            assert f"job {job} cancelled on the daemon" in p.log_text()
            assert p.select_history(job)
            assert p.history_view.selectedItems()[0].text(2) == "cancelled"
            assert not p.history_tab.cancel_button.isEnabled()
        finally:
            p.shutdown()
    finally:
        d.stop()


def test_reattach_to_a_job_started_elsewhere_asks_for_its_files(qtbot, tmp_path) -> None:
    p = VoidPanel(
        endpoint=f"tcp://127.0.0.1:{free_port()}", history_path=tmp_path / "h.json",
        prefer_gl=False,
    )  # fmt: skip
    qtbot.addWidget(p)
    try:
        from void_client.panel.history import HistoryEntry

        p.elsewhere = {"abc": HistoryEntry("abc", "shot", p.endpoint, "", "", "", state="running")}
        p.history_tab.show_entries(list(p.elsewhere.values()), {"abc"})
        assert p.select_history("abc")
        assert not p.reattach_selected()
        assert "fill in its plate, mattes and output in the Job tab" in p.log_text()
    finally:
        p.shutdown()
