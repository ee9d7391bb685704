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
    FramePreview,
    SequencePreviewSource,
    ViewMode,
    compose,
    display_rgb8,
    fit_box,
    overlay8,
    proxy_indices,
    shrink,
    to_uint8,
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
    wiped = compose(p, ViewMode.WIPE, 0.3)
    assert np.array_equal(wiped[:, :3], plate[:, :3]) and np.array_equal(
        wiped[:, 3:], result[:, 3:]
    )
    assert np.array_equal(compose(p, ViewMode.WIPE, 0.0), result)
    assert np.array_equal(compose(p, ViewMode.WIPE, 1.0), plate)
    # No result yet: Result and Before/After show the plate, and nothing is written in place.
    early = FramePreview(7, plate.copy(), qm)
    assert np.array_equal(compose(early, ViewMode.RESULT), plate)
    assert np.array_equal(compose(early, ViewMode.WIPE, 0.5), plate)
    assert np.array_equal(early.plate, plate)
    assert ViewMode("wipe") is ViewMode.WIPE and ViewMode.WIPE.label == "Before / After"
    assert [m.label for m in ViewMode] == ["Source", "Result", "Before / After", "Quadmask"]


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
