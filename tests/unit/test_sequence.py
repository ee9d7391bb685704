"""EXR sequences through OpenImageIO: bit-exact round trips, windows, metadata, errors."""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from void_client.errors import ErrorCode, VoidError
from void_client.sequence import (
    SequencePattern,
    SequenceRef,
    format_ranges,
    parse_range,
    read_image,
    read_matte,
    require_frames,
    write_image,
)


@pytest.mark.parametrize(
    "pattern, frame, expected",
    [
        ("shot.####.exr", 7, "shot.0007.exr"),
        ("shot.%04d.exr", 1001, "shot.1001.exr"),
        ("shot.$F4.exr", 12, "shot.0012.exr"),
        ("shot.#.exr", 12, "shot.12.exr"),
        ("/a/b.c/shot_v2.###.exr", -3, "/a/b.c/shot_v2.-003.exr"),
    ],
)
def test_patterns(pattern: str, frame: int, expected: str) -> None:
    assert SequencePattern.parse(pattern).path(frame) == expected


def test_channel_selector_and_windows_drive() -> None:
    assert SequenceRef.parse("/p/plate.####.exr:remove.a").channel == "remove.a"
    assert SequenceRef.parse("C:/p/plate.####.exr").channel == ""
    assert SequenceRef.parse("C:/p/plate.####.exr:A").channel == "A"


def test_pattern_without_frame_number_is_refused() -> None:
    with pytest.raises(VoidError) as err:
        SequencePattern.parse("plate.exr")
    assert err.value.code == ErrorCode.BAD_SPEC and "####" in err.value.message


def make_spec(w: int, h: int, channels: list[str], formats: list[str]) -> oiio.ImageSpec:
    spec = oiio.ImageSpec(w, h, len(channels), formats[0])
    spec.channelnames = tuple(channels)
    if len(set(formats)) > 1:
        spec.channelformats = tuple(oiio.TypeDesc(f) for f in formats)
    spec.attribute("compression", "zip")
    return spec


@pytest.mark.parametrize("kind, dtype", [("half", np.float16), ("float", np.float32)])
def test_round_trip_is_bit_exact(tmp_path, kind: str, dtype) -> None:
    rng = np.random.default_rng(1)
    px = (rng.standard_normal((31, 47, 4)) * 10).astype(dtype)
    px[0, 0, 0] = 65504 if dtype == np.float16 else 1e30  # extremes survive
    spec = make_spec(47, 31, ["R", "G", "B", "A"], [kind] * 4)
    path = tmp_path / "a.0001.exr"
    write_image(path, px, spec)
    back = read_image(path)
    assert back.pixels.dtype == dtype
    assert back.pixels.tobytes() == px.tobytes()


def test_odd_windows_extra_channels_and_metadata_are_kept(tmp_path) -> None:
    rng = np.random.default_rng(2)
    spec = make_spec(
        37, 23, ["R", "G", "B", "A", "depth.Z"], ["half", "half", "half", "half", "float"]
    )
    spec.x, spec.y = -5, 11  # data window outside/offset from the display window
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 30, 30
    spec.attribute("PixelAspectRatio", 2.0)
    spec.attribute("studio:shot", "sq010_sh020")
    src = tmp_path / "src.exr"
    px = rng.random((23, 37, 5)).astype(np.float32)
    write_image(src, px, spec)
    img = read_image(src)
    assert img.pixels.dtype == np.float32  # mixed half/float is read as float
    assert img.data_window == (-5, 11, 37, 23) and img.display_window == (0, 0, 30, 30)
    out = tmp_path / "out.exr"
    write_image(out, img.pixels, img.spec)
    back = read_image(out)
    assert back.pixels.tobytes() == img.pixels.tobytes()
    assert [str(f) for f in back.spec.channelformats] == ["half"] * 4 + ["float"]
    assert back.data_window == img.data_window and back.display_window == img.display_window
    assert back.spec.getattribute("studio:shot") == "sq010_sh020"
    assert back.spec.getattribute("PixelAspectRatio") == 2.0


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path) -> None:
    write_image(tmp_path / "x.0001.exr", np.zeros((4, 4, 3), np.float16))
    assert [p.name for p in tmp_path.iterdir()] == ["x.0001.exr"]


def test_matte_channel_selection(tmp_path) -> None:
    spec = make_spec(8, 6, ["R", "G", "B", "A", "remove.A", "affected.A"], ["half"] * 6)
    px = np.zeros((6, 8, 6), np.float16)
    px[..., 4] = 1.0
    px[..., 5] = 0.25
    write_image(tmp_path / "p.0001.exr", px, spec)
    ref = SequenceRef.parse(str(tmp_path / "p.####.exr:remove.a"))
    assert read_matte(ref.path(1), 1, ref.channel).min() == 1.0
    assert read_matte(ref.path(1), 1, "affected").max() == 0.25
    with pytest.raises(VoidError) as err:
        read_matte(ref.path(1), 1, "shadow")
    assert "has no channel 'shadow'" in err.value.message


def test_missing_and_corrupt_frames_are_reported_by_number(tmp_path) -> None:
    pat = SequencePattern.parse(str(tmp_path / "m.####.exr"))
    for f in (1, 2, 3, 7, 9):
        write_image(pat.path(f), np.zeros((4, 4, 1), np.float16))
    assert pat.scan() == [1, 2, 3, 7, 9]
    with pytest.raises(VoidError) as err:
        require_frames(SequenceRef(pat), list(range(1, 11)), "plate")
    assert err.value.code == ErrorCode.MISSING_FRAMES
    assert "4-6, 8, 10" in err.value.message
    data = open(pat.path(7), "rb").read()
    open(pat.path(7), "wb").write(data[: len(data) // 3])
    with pytest.raises(VoidError) as err:
        read_image(pat.path(7), 7)
    assert err.value.code == ErrorCode.CORRUPT_FRAME and "frame 7" in err.value.message


def test_ranges() -> None:
    assert parse_range("1001-1100") == (1001, 1100)
    assert parse_range("5") == (5, 5)
    assert parse_range("-5--1") == (-5, -1)
    assert format_ranges([3, 1, 2, 9]) == "1-3, 9"
    with pytest.raises(VoidError):
        parse_range("10-1")
