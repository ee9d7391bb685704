"""Multi-part EXRs and deep EXRs in void_client.sequence (issue 21): selectors that find channels
in any part, ``part/`` to name one, the plate's layout written back, deep files refused by header.
Files are generated with OpenImageIO; no daemon here (tests/integration/test_exr_layouts.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from void_client.errors import ErrorCode, VoidError
from void_client.sequence import (
    channel_view,
    check_flat,
    plate_part,
    read_image,
    read_matte,
    read_specs,
    split_channel,
    view_place,
    view_selector,
    write_layout,
)

H, W = 48, 64


def part_spec(
    name: str, channels: tuple[str, ...], fmt: str = "half", **attrs: object
) -> oiio.ImageSpec:
    spec = oiio.ImageSpec(W, H, len(channels), fmt)
    spec.channelnames = channels
    spec.attribute("name", name)
    spec.attribute("compression", str(attrs.pop("compression", "zip")))
    for key, value in attrs.items():
        spec.attribute(key, value)  # type: ignore[arg-type]
    return spec


def write_parts(path: Path, parts: list[tuple[oiio.ImageSpec, np.ndarray]]) -> None:
    """A multi-part EXR exactly as given (OpenImageIO, no project code)."""
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), tuple(s for s, _ in parts)), out.geterror()
    for i, (spec, px) in enumerate(parts):
        if i:
            assert out.open(str(path), spec, "AppendSubimage"), out.geterror()
        assert out.write_image(px), out.geterror()
    out.close()


def write_deep(path: Path) -> None:
    spec = oiio.ImageSpec(W, H, 2, "float")
    spec.channelnames = ("A", "Z")
    spec.deep = True
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    deep = oiio.DeepData()
    deep.init(W * H, 2, (oiio.FLOAT, oiio.FLOAT), ("A", "Z"))
    assert out.write_deep_image(deep), out.geterror()
    out.close()


def rng_px(seed: int, c: int, dtype: type) -> np.ndarray:
    return np.random.default_rng(seed).random((H, W, c)).astype(dtype)


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    """rgba (half, piz) + mattes (remove.A, affected.A) + a float depth AOV with its metadata."""
    path = tmp_path / "shot.1001.exr"
    write_parts(
        path,
        [
            (part_spec("rgba", ("R", "G", "B", "A"), compression="piz"), rng_px(1, 4, np.float16)),
            (part_spec("mattes", ("remove.A", "affected.A")), rng_px(2, 2, np.float16)),
            (
                part_spec("depth", ("depth.Z",), "float", owner="depth pass"),
                rng_px(3, 1, np.float32),
            ),
        ],
    )
    return path


def test_split_channel_takes_a_part_after_an_exr_pattern() -> None:
    assert split_channel("/s/shot.####.exr:mattes/remove.A") == (
        "/s/shot.####.exr",
        "mattes/remove.A",
    )
    assert split_channel("/s/shot.####.exr:rgba/") == ("/s/shot.####.exr", "rgba/")
    # Folders with colons, Windows drives and non-EXR files stay paths.
    assert split_channel("/mnt/a:b/shot.####.exr") == ("/mnt/a:b/shot.####.exr", "")
    assert split_channel("C:/shots/shot.####.exr") == ("C:/shots/shot.####.exr", "")
    assert split_channel("/s/x.exr:b/shot.####.exr") == ("/s/x.exr:b/shot.####.exr", "")
    assert split_channel("/s/shot.####.png:a/b") == ("/s/shot.####.png:a/b", "")


def test_matte_channel_is_found_in_a_later_part(shot: Path) -> None:
    """Finding: only the first part was read, so 'remove.A' in part 'mattes' was 'no channel'."""
    src = rng_px(2, 2, np.float16)
    m = read_matte(str(shot), 1001, "remove.A")
    assert m.tobytes() == src[:, :, 0].astype(np.float32).tobytes()
    explicit = read_matte(str(shot), 1001, "mattes/affected.A")
    assert explicit.tobytes() == src[:, :, 1].astype(np.float32).tobytes()
    assert read_image(str(shot), 1001, "depth.Z", matte=True).part == 2


def test_missing_channel_lists_every_part_and_its_channels(shot: Path) -> None:
    with pytest.raises(VoidError) as err:
        read_matte(str(shot), 1001, "holdout.A")
    assert err.value.code == ErrorCode.BAD_SPEC
    msg = err.value.message
    assert "rgba: [R, G, B, A]" in msg and "mattes: [affected.A, remove.A]" in msg
    assert "depth: [depth.Z]" in msg
    with pytest.raises(VoidError) as err:
        read_matte(str(shot), 1001, "beauty/remove.A")
    assert "no part 'beauty'" in err.value.message and "mattes:" in err.value.message


def test_a_channel_in_several_parts_must_name_its_part(tmp_path: Path) -> None:
    path = tmp_path / "twice.exr"
    write_parts(
        path,
        [
            (part_spec("left", ("remove.A",)), rng_px(4, 1, np.float16)),
            (part_spec("right", ("remove.A",)), rng_px(5, 1, np.float16)),
        ],
    )
    with pytest.raises(VoidError) as err:
        read_matte(str(path), 1, "remove.A")
    assert "several parts (left, right)" in err.value.message
    assert "PATTERN:left/remove.A" in err.value.message
    right = read_matte(str(path), 1, "right/remove.A")
    assert right.tobytes() == rng_px(5, 1, np.float16)[:, :, 0].astype(np.float32).tobytes()


def test_plate_part_by_name_or_listed_when_wrong(shot: Path) -> None:
    assert plate_part(str(shot), "") == 0
    assert plate_part(str(shot), "mattes/") == 1
    with pytest.raises(VoidError) as err:
        plate_part(str(shot), "beauty/")
    assert err.value.code == ErrorCode.BAD_SPEC and "rgba: [R, G, B, A]" in err.value.message


def test_write_layout_replaces_one_part_and_copies_the_others_bit_exactly(
    shot: Path, tmp_path: Path
) -> None:
    edited = np.full((H, W, 4), 0.25, np.float16)
    out = tmp_path / "out.1001.exr"
    write_layout(out, edited, str(shot), 0)
    for part in range(3):
        a, b = read_image(str(shot), part=part), read_image(str(out), part=part)
        assert b.nparts == 3 and b.channels == a.channels
        for key in ("compression", "oiio:subimagename", "owner"):
            assert b.spec.get_string_attribute(key) == a.spec.get_string_attribute(key)
        assert (b.spec.tile_width, b.spec.x, b.spec.full_width) == (
            a.spec.tile_width,
            a.spec.x,
            a.spec.full_width,
        )
        if part:
            assert b.pixels.dtype == a.pixels.dtype and b.pixels.tobytes() == a.pixels.tobytes()
    assert read_image(str(out)).pixels.tobytes() == edited.tobytes()


def test_mixed_pixel_types_in_one_part_copy_bit_exactly(tmp_path: Path) -> None:
    spec = part_spec("aov", ("id", "Z"), "float")
    spec.channelformats = (oiio.UINT, oiio.FLOAT)
    px = np.zeros((H, W, 2), np.float64)
    px[..., 0] = np.arange(H * W).reshape(H, W) * 4099 + 2**30  # ids past float32's 2**24
    px[..., 1] = rng_px(6, 1, np.float32)[..., 0]
    src, out = tmp_path / "ids.exr", tmp_path / "ids_out.exr"
    write_parts(
        src, [(part_spec("rgba", ("R", "G", "B", "A")), rng_px(7, 4, np.float16)), (spec, px)]
    )
    write_layout(out, rng_px(8, 4, np.float16), str(src), 0)
    a, b = oiio.ImageInput.open(str(src)), oiio.ImageInput.open(str(out))
    try:
        assert np.array_equal(
            a.read_image(1, 0, 0, 2, "double"), b.read_image(1, 0, 0, 2, "double")
        )
        a.seek_subimage(1, 0)
        b.seek_subimage(1, 0)
        assert list(b.spec().channelformats) == list(a.spec().channelformats)
        assert {str(f) for f in b.spec().channelformats} == {"uint", "float"}
    finally:
        a.close()
        b.close()


def test_all_tiled_parts_stay_tiled(tmp_path: Path) -> None:
    specs = []
    for i in range(2):
        spec = part_spec(f"p{i}", ("R", "G", "B", "A"), compression="zip")
        spec.tile_width = spec.tile_height = 16
        specs.append(spec)
    src, out = tmp_path / "tiled.exr", tmp_path / "tiled_out.exr"
    write_parts(src, [(s, rng_px(i, 4, np.float16)) for i, s in enumerate(specs)])
    write_layout(out, rng_px(9, 4, np.float16), str(src), 0)
    got = [read_image(str(out), part=i) for i in range(2)]
    assert [g.spec.tile_width for g in got] == [16, 16]
    assert got[1].pixels.tobytes() == rng_px(1, 4, np.float16).tobytes()


def test_deep_files_are_refused_by_their_headers(tmp_path: Path) -> None:
    deep = tmp_path / "deep.1001.exr"
    write_deep(deep)
    for call in (
        lambda: read_image(str(deep), 1001),
        lambda: read_matte(str(deep), 1001, "A"),
        lambda: check_flat(str(deep), 1001),
        lambda: plate_part(str(deep), "", 1001) or check_flat(str(deep)),
    ):
        with pytest.raises(VoidError) as err:
            call()
        assert err.value.code == ErrorCode.UNSUPPORTED_MEDIA
        assert "deep image" in err.value.message and "DeepToImage" in err.value.message


def test_out_layer_name_already_in_the_file_is_refused(shot: Path, tmp_path: Path) -> None:
    with pytest.raises(VoidError) as err:
        write_layout(tmp_path / "o.exr", rng_px(1, 4, np.float16), str(shot), 0, out_layer="depth")
    assert err.value.code == ErrorCode.BAD_SPEC and "depth: [depth.Z]" in err.value.message
    assert not (tmp_path / "o.exr").exists()


def test_channel_views_follow_openexr_rules() -> None:
    views = ["left", "right"]
    assert channel_view("R", views) == "left"  # one component: the default view
    assert channel_view("right.R", views) == "right"
    assert channel_view("depth.right.Z", views) == "right"
    assert channel_view("depth.Z", views) == ""  # belongs to no view: passed through


def test_view_place_and_matte_selector_in_one_multi_view_part(tmp_path: Path) -> None:
    names = ("R", "G", "B", "A", "right.R", "right.G", "right.B", "right.A", "remove.left.A")
    spec = part_spec("", names)
    spec.attribute("multiView", oiio.TypeDesc("string[2]"), ("left", "right"))
    path = tmp_path / "mv.exr"
    write_parts(path, [(spec, rng_px(1, len(names), np.float16))])
    specs = read_specs(str(path))
    order = list(specs[0].channelnames)
    assert [order[i] for i in view_place(specs, "right", "x").channels or ()] == [
        "right.R",
        "right.G",
        "right.B",
        "right.A",
    ]
    assert view_selector(specs, "remove.A", "left", "x") == "remove.left.A"
    with pytest.raises(VoidError) as err:
        view_selector(specs, "remove.A", "right", "x")
    assert "for view 'right'" in err.value.message
