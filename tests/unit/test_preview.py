"""The viewer's picture maths (``void_client.preview``), without Qt.

What each view mode shows is decided here and nowhere else: the CPU canvas paints it and the
GL canvas must match it to the 8-bit code (tests/integration/test_panel.py checks that under
Xvfb). These tests pin the numbers: rounding, sRGB encoding, nearest sampling that keeps the
quadmask's four codes, the overlay blend, the wipe split and the fit of the picture.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from void_client.job_spec import JobSpec
from void_client.preview import (
    FULL_FRAME_COVERAGE,
    OUTLINE_RGB8,
    FramePreview,
    SequencePreviewSource,
    ViewMode,
    ViewSettings,
    compose,
    difference8,
    display_rgb8,
    fit_box,
    grade_linear,
    matte_coverage,
    matte_outline,
    matte_warnings,
    one_to_one_zoom,
    overlay8,
    proxy_indices,
    shrink,
    to_uint8,
    view_box,
    wipe_column,
    wipe_position,
)
from void_client.quadmask import AFFECTED, KEEP, LEVELS, OVERLAP, REMOVE, build_quadmask
from void_client.sequence import SequencePattern, SequenceRef, read_image, read_matte
from void_client.shader_reference import OVERLAY_COLOURS, OVERLAY_OPACITY


def srgb_encode(linear: float) -> float:
    """IEC 61966-2-1, written out here rather than imported from the code under test."""
    c = min(max(linear, 0.0), 1.0)
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


def test_to_uint8_rounds_half_up_and_clips_like_a_framebuffer_write() -> None:
    x = np.array([-0.5, 0.0, 127.49 / 255, 127.5 / 255, 1.0, 3.0], np.float32)
    assert to_uint8(x).tolist() == [0, 0, 127, 128, 255, 255]
    assert to_uint8(x).dtype == np.uint8


def test_display_rgb8_encodes_srgb_and_makes_any_plate_rgb() -> None:
    linear = np.array([[[0.0, 0.18, 1.0, 0.5]]], np.float32)  # RGBA: alpha is dropped
    got = display_rgb8(linear)
    assert got.shape == (1, 1, 3)
    assert got[0, 0].tolist() == [0, int(srgb_encode(0.18) * 255 + 0.5), 255]
    assert got[0, 0, 1] == 118  # mid grey reads as 118 on screen
    # A single-channel plate is shown grey, a 2-D one too; NaN and infinities cannot poison it.
    grey = display_rgb8(np.array([[[0.18]]], np.float32))
    assert grey[0, 0].tolist() == [118, 118, 118]
    flat = display_rgb8(np.array([[np.nan, np.inf, -np.inf]], np.float32))
    assert flat.shape == (1, 3, 3) and flat[0, :, 0].tolist() == [0, 255, 0]


def test_proxy_indices_sample_nearest_centres_and_never_upscale() -> None:
    rows, cols = proxy_indices(80, 128, 64)
    assert (len(rows), len(cols)) == (40, 64)
    assert rows.tolist() == list(range(1, 80, 2)) and cols.tolist() == list(range(1, 128, 2))
    rows, cols = proxy_indices(80, 128, 4096)
    assert rows.tolist() == list(range(80)) and cols.tolist() == list(range(128))
    rows, cols = proxy_indices(3, 2000, 100)  # a sliver keeps at least one row
    assert len(rows) == 1 and len(cols) == 100 and rows[0] == 1


def test_shrink_keeps_the_four_quadmask_codes_and_pixel_alignment() -> None:
    rng = np.random.default_rng(0)
    qm = rng.choice(np.array(LEVELS, np.uint8), size=(300, 500))
    small = shrink(qm, 100)
    assert small.shape == (60, 100) and small.flags.c_contiguous
    assert set(np.unique(small)) <= set(LEVELS)
    rows, cols = proxy_indices(300, 500, 100)
    assert np.array_equal(small, qm[rows][:, cols])
    rgb = rng.integers(0, 256, (300, 500, 3), dtype=np.uint8)
    assert np.array_equal(shrink(rgb, 100), rgb[rows][:, cols])


def test_overlay8_tints_each_level_by_the_palette_and_leaves_keep_alone() -> None:
    plate = np.full((1, 4, 3), 100, np.uint8)
    qm = np.array([[REMOVE, OVERLAP, AFFECTED, KEEP]], np.uint8)
    got = overlay8(plate, qm).astype(np.float64)
    assert got[0, 3].tolist() == [100, 100, 100]
    for x, level in enumerate((REMOVE, OVERLAP, AFFECTED)):
        colour = np.asarray(OVERLAY_COLOURS[level]) * 255.0
        expected = (1 - OVERLAY_OPACITY) * 100 + OVERLAY_OPACITY * colour
        assert np.abs(got[0, x] - expected).max() <= 0.5 + 1e-6, (level, got[0, x], expected)
    # Vermillion over grey: red up, blue down.
    assert got[0, 0, 0] > 150 and got[0, 0, 2] < 50
    assert overlay8(plate, qm, opacity=0.0).tolist() == plate.tolist()
    assert overlay8(plate, None) is plate


def test_wipe_column_and_position_map_between_pointer_picture_and_columns() -> None:
    assert wipe_column(100, 0.5) == 50 and wipe_column(100, 0.255) == 26
    assert wipe_column(100, -1.0) == 0 and wipe_column(100, 2.0) == 100
    assert wipe_position(35.0, 10.0, 100.0) == pytest.approx(0.25)
    assert wipe_position(0.0, 10.0, 100.0) == 0.0 and wipe_position(500.0, 10.0, 100.0) == 1.0
    assert wipe_position(35.0, 10.0, 0.0) is None  # nothing drawn yet: the wipe stays


def test_fit_box_centres_the_largest_picture_of_the_images_aspect() -> None:
    assert fit_box(200, 100, 10, 20, 100, 100) == (10.0, 45.0, 100.0, 50.0)  # letterbox
    assert fit_box(100, 200, 0, 0, 100, 100) == (25.0, 0.0, 50.0, 100.0)  # pillarbox
    assert fit_box(64, 48, 0, 0, 640, 480) == (0.0, 0.0, 640.0, 480.0)  # scales up to fill
    assert fit_box(0, 48, 0, 0, 640, 480) == (0.0, 0.0, 0.0, 0.0)
    assert fit_box(64, 48, 0, 0, 640, 0) == (0.0, 0.0, 0.0, 0.0)


def test_compose_shows_what_each_mode_promises() -> None:
    rng = np.random.default_rng(1)
    h, w = 6, 10
    plate = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    result = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    qm = rng.choice(np.array(LEVELS, np.uint8), size=(h, w))
    p = FramePreview(7, plate, qm, result)
    assert p.size == (w, h)
    assert np.array_equal(compose(p, ViewMode.SOURCE), plate)
    assert np.array_equal(compose(p, ViewMode.RESULT), result)
    assert np.array_equal(compose(p, ViewMode.OVERLAY), overlay8(plate, qm))
    plain = ViewSettings(outline=False)  # the wipe's matte outline is tested on its own
    wiped = compose(p, ViewMode.WIPE, 0.3, view=plain)
    assert np.array_equal(wiped[:, :3], plate[:, :3]) and np.array_equal(
        wiped[:, 3:], result[:, 3:]
    )
    assert np.array_equal(compose(p, ViewMode.WIPE, 0.0, view=plain), result)
    assert np.array_equal(compose(p, ViewMode.WIPE, 1.0, view=plain), plate)
    # No result yet: Result and Before/After show the plate, and nothing is written in place.
    early = FramePreview(7, plate.copy(), qm)
    assert np.array_equal(compose(early, ViewMode.RESULT), plate)
    assert np.array_equal(compose(early, ViewMode.WIPE, 0.5, view=plain), plate)
    assert np.array_equal(early.plate, plate)
    assert ViewMode("wipe") is ViewMode.WIPE and ViewMode.WIPE.label == "Before / After"
    assert [m.label for m in ViewMode] == [
        "Source",
        "Result",
        "Before / After",
        "Quadmask",
        "Difference",
    ]


def test_sequence_source_reads_a_jobs_exrs_as_the_daemon_sees_them(shot_files, tmp_path) -> None:
    frame = 1021
    src = SequencePreviewSource(
        shot_files["plate"],
        shot_files["remove"],
        shot_files["truth"],  # the ground truth stands in for a result already on disk
        shot_files["affected"],
        dilation=4,
    )
    p = src.load(frame)
    plate = read_image(SequencePattern.parse(shot_files["plate"]).path(frame)).pixels
    assert p.frame == frame and p.size == (128, 80)
    assert np.array_equal(p.plate, display_rgb8(plate))
    rm, af = SequenceRef.parse(shot_files["remove"]), SequenceRef.parse(shot_files["affected"])
    remove = read_matte(rm.path(frame), frame, rm.channel)
    affected = read_matte(af.path(frame), frame, af.channel)
    expected_qm = build_quadmask(remove, affected, 4, frame)
    assert np.array_equal(p.quadmask, expected_qm)
    assert (p.quadmask == REMOVE).sum() > 50 and (p.quadmask == AFFECTED).sum() > 50
    truth = read_image(SequencePattern.parse(shot_files["truth"]).path(frame)).pixels
    assert np.array_equal(p.result, display_rgb8(truth))

    # No output on disk yet, no matte: a plate-only preview; a small proxy is sampled nearest.
    bare = SequencePreviewSource(
        shot_files["plate"], "", str(tmp_path / "none.####.exr"), max_side=64
    ).load(frame)
    assert bare.result is None and bare.quadmask is None and bare.size == (64, 40)
    assert np.array_equal(bare.plate, shrink(display_rgb8(plate), 64))
    # The dilation defaults to the job spec's.
    assert SequencePreviewSource(shot_files["plate"], "", "").dilation == JobSpec.dilation


def _imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_preview_imports_no_qt_directly_or_through_the_client() -> None:
    """Statically, so it holds however many Qt tests ran in this process before."""
    seen: set[str] = set()
    todo = ["void_client.preview"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        for imported in _imports_of(Path(spec.origin)):
            if imported.startswith("void_client"):
                todo.append(imported)
            else:
                seen.add(imported)
    qt = sorted(
        n for n in seen if n.split(".")[0] in ("PySide6", "PySide2", "shiboken6", "shiboken2")
    )
    assert qt == [] and not any(n.startswith("void_client.panel") for n in seen), qt
    assert "void_client.sequence" in seen  # the walk did follow the client's own imports


# --------------------------------------------------------------------------- QC views (issue 20)


def _linear_preview(h: int = 4, w: int = 5, seed: int = 2) -> FramePreview:
    rng = np.random.default_rng(seed)
    plate = rng.uniform(0.0, 0.4, (h, w, 3)).astype(np.float16)
    result = rng.uniform(0.0, 0.4, (h, w, 3)).astype(np.float16)
    return FramePreview(
        1,
        display_rgb8(plate.astype(np.float32)),
        None,
        display_rgb8(result.astype(np.float32)),
        plate,
        result,
    )


def test_exposure_plus_one_stop_doubles_linear_values_before_the_display_encoding() -> None:
    lin = np.array([[[0.05, 0.1, 0.2]]], np.float32)
    assert np.allclose(grade_linear(lin, 1.0), [[[0.1, 0.2, 0.4]]])
    assert np.allclose(grade_linear(lin, -2.0), lin / 4)
    p = _linear_preview()
    shown = compose(p, ViewMode.SOURCE, view=ViewSettings(exposure=1.0))
    expected = np.array(
        [
            [[int(srgb_encode(2.0 * float(c)) * 255 + 0.5) for c in px] for px in row]
            for row in p.plate_linear
        ],
        np.uint8,
    )
    assert np.array_equal(shown, expected)
    # The result side follows the same exposure; neutral settings show the stored proxies.
    assert np.array_equal(
        compose(p, ViewMode.RESULT, view=ViewSettings(exposure=1.0)),
        display_rgb8(2.0 * p.result_linear.astype(np.float32)),
    )
    assert np.array_equal(compose(p, ViewMode.SOURCE, view=ViewSettings()), p.plate)


def test_gamma_applies_to_linear_values_before_the_display_encoding() -> None:
    lin = np.array([[[0.25, 0.04, 1.0]]], np.float32)
    assert np.allclose(grade_linear(lin, 0.0, 2.0), [[[0.5, 0.2, 1.0]]])
    assert np.allclose(grade_linear(lin, 1.0, 2.0), np.sqrt(2 * lin))  # exposure first
    assert grade_linear(np.array([-1.0], np.float32), 0.0, 2.2)[0] == 0.0  # no NaN from a power


def test_difference_view_shows_abs_result_minus_plate_times_gain() -> None:
    p = _linear_preview()
    gain = 10.0
    d = np.abs(p.result_linear.astype(np.float64) - p.plate_linear.astype(np.float64)) * gain
    expected = np.clip(np.floor(d * 255.0 + 0.5), 0, 255).astype(np.uint8)
    shown = compose(p, ViewMode.DIFFERENCE, view=ViewSettings(diff_gain=gain))
    assert np.abs(shown.astype(int) - expected.astype(int)).max() <= 1  # float32 vs float64
    assert np.array_equal(shown, difference8(p.plate_linear, p.result_linear, gain))
    # Untouched pixels are exactly black, whatever the gain.
    same = FramePreview(1, p.plate, None, p.plate, p.plate_linear, p.plate_linear)
    assert not compose(same, ViewMode.DIFFERENCE, view=ViewSettings(diff_gain=1000.0)).any()
    # No result yet: black, not the plate.
    early = FramePreview(1, p.plate, None, None, p.plate_linear)
    assert not compose(early, ViewMode.DIFFERENCE).any()


def test_wipe_draws_the_matte_outline_on_both_sides() -> None:
    qm = np.full((7, 9), KEEP, np.uint8)
    qm[2:5, 3:7] = REMOVE
    edge = matte_outline(qm)
    assert edge.sum() == 3 * 4 - 1 * 2  # the 3x4 block's border; its 1x2 inside is not
    assert not edge[3, 4] and not edge[3, 5] and edge[2, 3] and edge[4, 6]
    plate = np.full((7, 9, 3), 10, np.uint8)
    result = np.full((7, 9, 3), 200, np.uint8)
    wiped = compose(FramePreview(1, plate, qm, result), ViewMode.WIPE, 0.5)
    assert (wiped[edge] == OUTLINE_RGB8).all()
    assert (wiped[~edge][:, 0] != OUTLINE_RGB8[0]).all()
    off = compose(
        FramePreview(1, plate, qm, result), ViewMode.WIPE, 0.5, view=ViewSettings(outline=False)
    )
    assert not (off == OUTLINE_RGB8).all(axis=2).any()


def test_zoomed_view_box_is_pixel_snapped_and_one_to_one_counts_the_proxy() -> None:
    assert view_box(100, 50, (0, 0, 300, 300)) == fit_box(100, 50, 0, 0, 300, 300)
    assert view_box(100, 50, (0, 0, 301, 300), zoom=1.0) == (100.0, 125.0, 100.0, 50.0)
    assert view_box(100, 50, (0, 0, 300, 300), zoom=2.0, pan=(10.4, -3.0)) == (
        60.0,
        97.0,
        200.0,
        100.0,
    )
    small = FramePreview(1, np.zeros((50, 100, 3), np.uint8), full_size=(100, 50))
    assert one_to_one_zoom(small) == 1.0
    big = FramePreview(1, np.zeros((720, 1280, 3), np.uint8), full_size=(3840, 2160))
    assert one_to_one_zoom(big) == 3.0 and one_to_one_zoom(big, 2.0) == 1.5


# --------------------------------------------------------------------------- matte coverage


def test_coverage_counts_pixels_above_the_matte_threshold() -> None:
    remove = np.zeros((10, 20), np.float32)
    remove[:2, :5] = 1.0
    remove[5, 5] = 0.5  # at the threshold: not in the quadmask either
    affected = np.zeros((10, 20), np.float32)
    affected[:, :10] = 0.6
    c = matte_coverage(3, remove, affected)
    assert (c.frame, c.remove, c.affected) == (3, 10 / 200, 0.5)
    assert matte_coverage(3, remove).affected is None


def test_each_matte_warning_appears_for_a_shot_built_to_trigger_it() -> None:
    steady = {f: 0.05 + 0.001 * (f - 1001) for f in range(1001, 1011)}
    assert matte_warnings(steady) == []
    empty = {**steady, 1004: 0.0, 1005: 0.0}
    kinds = {w.kind: w for w in matte_warnings(empty)}
    assert kinds["empty"].frames == (1004, 1005) and "1004-1005" in kinds["empty"].message
    assert set(kinds) == {"empty"}  # dropping out is reported once, not as flicker too
    assert matte_warnings({1: 0.0, 2: 0.0})[0].message.startswith(
        "the remove matte is empty on every frame"
    )
    alpha = {f: 1.0 for f in range(1, 5)}
    (full,) = matte_warnings(alpha)
    assert full.kind == "full_frame" and full.frames == (1, 2, 3, 4) and "100%" in full.message
    assert matte_warnings({1: FULL_FRAME_COVERAGE, 2: FULL_FRAME_COVERAGE})[0].kind == "full_frame"
    assert matte_warnings({1: 0.98, 2: 0.98}) == []
    flicker = {f: (0.02 if f % 2 else 0.08) for f in range(1, 7)}
    (fl,) = matte_warnings(flicker)
    assert fl.kind == "flicker" and fl.frames == (2, 3, 4, 5, 6)
    # A tiny matte jittering by a few pixels is not flicker.
    assert matte_warnings({1: 0.0005, 2: 0.0012, 3: 0.0005}) == []
