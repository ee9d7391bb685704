"""Studio EXR layouts through a real daemon (issue 21): multi-part plates with mattes and AOVs in
other parts, a plate that names its part, deep files refused before anything is sent (client)
and before anything is read (the daemon's path mode), and the layouts that already worked
(DWAA, PIZ, tiled, float32, overscan) kept as regression tests. Every file is written by
OpenImageIO here; frames are 64x48, 6 frames."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from tests.support.daemons import DaemonProcess, free_port
from void_client import protocol as P
from void_client.client import DaemonClient
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.quadmask import build_quadmask, hole
from void_client.sequence import SequencePattern, read_image
from void_client.sequence_job import RemoveRequest, remove_sequence
from void_daemon.roi import composite_alpha

H, W, N = 48, 64, 6
FRAMES = list(range(1001, 1001 + N))
DIL, FEATHER = 2, 4
SETTINGS = {"window": 5, "overlap": 0, "dilation": DIL, "feather": FEATHER}


def disc(cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return (((xx - cx) ** 2 + (yy - cy) ** 2) <= r * r).astype(np.float32)


def plate_px(i: int, c: int = 4, seed: int = 0) -> np.ndarray:
    """A smooth ramp with a bright object where the remove matte is."""
    rng = np.random.default_rng(seed + i)
    yy, xx = np.mgrid[:H, :W] / 64.0
    px = np.stack([xx, yy, 0.5 * xx + 0.2, np.ones_like(xx)] + [xx * yy] * (c - 4), -1)
    px = px[..., :c] + 0.01 * rng.random((H, W, c))
    px[remove_matte(i) > 0, :3] = (4.0, 0.1, 0.2)
    return px.astype(np.float32)


def remove_matte(i: int) -> np.ndarray:
    return disc(20 + 4 * i, 24, 6)


def affected_matte(i: int) -> np.ndarray:
    return disc(20 + 4 * i, 34, 4)


def spec(name: str, channels: tuple[str, ...], fmt: str = "half", comp: str = "zip", **attrs: str):
    s = oiio.ImageSpec(W, H, len(channels), fmt)
    s.channelnames = channels
    if name:
        s.attribute("name", name)
    s.attribute("compression", comp)
    for key, value in attrs.items():
        s.attribute(key, value)
    return s


def write_parts(path: str, parts: list[tuple[oiio.ImageSpec, np.ndarray]]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, tuple(s for s, _ in parts)), out.geterror()
    for i, (s, px) in enumerate(parts):
        if i:
            assert out.open(path, s, "AppendSubimage"), out.geterror()
        assert out.write_image(px), out.geterror()
    out.close()


def write_deep(path: str) -> None:
    s = oiio.ImageSpec(W, H, 5, "float")
    s.channelnames = ("R", "G", "B", "A", "Z")
    s.deep = True
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, s), out.geterror()
    deep = oiio.DeepData()
    deep.init(W * H, 5, (oiio.FLOAT,) * 5, s.channelnames)
    assert out.write_deep_image(deep), out.geterror()
    out.close()


def parts_of(path: str) -> list[tuple[oiio.ImageSpec, np.ndarray]]:
    """Every part's spec and native pixels (bit-exact comparison)."""
    inp = oiio.ImageInput.open(path)
    got = []
    i = 0
    while inp.seek_subimage(i, 0):
        s = oiio.ImageSpec(inp.spec())
        kinds = {str(f) for f in (s.channelformats or [s.format])}
        got.append((s, np.asarray(inp.read_image(i, 0, 0, s.nchannels, kinds.pop()))))
        i += 1
    inp.close()
    return got


def layout(s: oiio.ImageSpec) -> dict:
    """What a compositor would notice changing in a part's header."""
    return {
        "name": s.get_string_attribute("oiio:subimagename"),
        "channels": tuple(s.channelnames),
        "formats": tuple(str(f) for f in (s.channelformats or [s.format] * s.nchannels)),
        "compression": s.get_string_attribute("compression"),
        "tiles": (s.tile_width, s.tile_height),
        "data": (s.x, s.y, s.width, s.height),
        "display": (s.full_x, s.full_y, s.full_width, s.full_height),
        "meta": s.get_string_attribute("studio:note"),
    }


def keep(i: int, affected: bool = True) -> np.ndarray:
    qm = build_quadmask(remove_matte(i), affected_matte(i) if affected else None, DIL)
    return composite_alpha(hole(qm), FEATHER) == 0


def run(daemon, plate: str, remove: str, out: str, affected: str = "") -> None:
    report = remove_sequence(
        RemoveRequest(
            plate,
            remove,
            out,
            affected=affected,
            settings=SETTINGS,
            endpoint=daemon.endpoint,
            autostart=False,
        )
    )
    assert report.frames_written == FRAMES


def multipart_shot(folder: Path, plate_part_first: bool = True) -> str:
    """Nuke/renderer layout: rgba (half, PIZ), mattes, and two AOV parts (one float)."""
    pat = SequencePattern.parse(str(folder / "shot.####.exr"))
    for i, f in enumerate(FRAMES):
        rgba = (
            spec("rgba", ("R", "G", "B", "A"), comp="piz", **{"studio:note": f"beauty {f}"}),
            plate_px(i).astype(np.float16),
        )
        mattes = (
            spec("mattes", ("remove.A", "affected.A")),
            np.stack([remove_matte(i), affected_matte(i)], -1).astype(np.float16),
        )
        diffuse = (
            spec(
                "diffuse",
                ("diffuse.R", "diffuse.G", "diffuse.B"),
                comp="piz",
                **{"studio:note": "aov"},
            ),
            plate_px(i, seed=7)[..., :3].astype(np.float16),
        )
        depth = (spec("depth", ("depth.Z",), "float", comp="zips"), plate_px(i, seed=9)[..., :1])
        parts = (
            [rgba, mattes, diffuse, depth] if plate_part_first else [diffuse, rgba, mattes, depth]
        )
        write_parts(pat.path(f), parts)
    return str(pat)


def check_mirrors(src_pat: str, out_pat: str, edited: int) -> None:
    """Same parts and headers; every part but ``edited`` bit-identical; the edited one bit-identical
    outside the feathered hole and changed inside it."""
    src_seq, out_seq = SequencePattern.parse(src_pat), SequencePattern.parse(out_pat)
    for i, f in enumerate(FRAMES):
        src, out = parts_of(src_seq.path(f)), parts_of(out_seq.path(f))
        assert [layout(s) for s, _ in out] == [layout(s) for s, _ in src]
        for p, ((_, a), (_, b)) in enumerate(zip(src, out)):
            assert a.dtype == b.dtype
            if p != edited:
                assert a.tobytes() == b.tobytes(), f"part {p} of frame {f} changed"
            else:
                k = keep(i)
                assert a[k].tobytes() == b[k].tobytes()
                inside = remove_matte(i) > 0
                assert np.abs(b[inside, 0].astype(np.float32) - 4.0).max() > 1.0


def test_multipart_plate_with_mattes_and_aovs_in_other_parts(daemon, tmp_path: Path) -> None:
    """Finding: only the first part was read ('no channel remove.A') and written."""
    plate = multipart_shot(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.####.exr")
    run(daemon, plate, f"{plate}:remove.A", out, affected=f"{plate}:mattes/affected.A")
    check_mirrors(plate, out, edited=0)


def test_plate_names_its_part(daemon, tmp_path: Path) -> None:
    """Finding: --plate took no part, so a beauty that is not the first part could not be used."""
    plate = multipart_shot(tmp_path / "in", plate_part_first=False)
    out = str(tmp_path / "out" / "clean.####.exr")
    run(daemon, f"{plate}:rgba/", f"{plate}:remove.A", out, affected=f"{plate}:affected.A")
    check_mirrors(plate, out, edited=1)


def refused_before_sending(tmp_path: Path, plate: str, remove: str) -> VoidError:
    """No daemon listens on this endpoint: an error other than 'unreachable' came first."""
    with pytest.raises(VoidError) as err:
        remove_sequence(
            RemoveRequest(
                plate,
                remove,
                str(tmp_path / "out" / "o.####.exr"),
                settings=SETTINGS,
                endpoint=f"tcp://127.0.0.1:{free_port()}",
                autostart=False,
            )
        )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("o.*.exr"))
    return err.value


def test_wrong_part_or_channel_lists_what_exists_before_anything_is_sent(tmp_path: Path) -> None:
    plate = multipart_shot(tmp_path / "in")
    err = refused_before_sending(tmp_path, f"{plate}:beauty/", f"{plate}:remove.A")
    assert err.code == ErrorCode.BAD_SPEC and "no part 'beauty'" in err.message
    assert "rgba: [R, G, B, A]" in err.message and "depth: [depth.Z]" in err.message
    err = refused_before_sending(tmp_path, plate, f"{plate}:holdout.A")
    assert err.code == ErrorCode.BAD_SPEC and "mattes: [affected.A, remove.A]" in err.message


@pytest.mark.parametrize("which", ["plate", "remove"])
def test_deep_exr_is_refused_before_anything_is_sent(tmp_path: Path, which: str) -> None:
    """Finding (code and message): a deep plate was a 'corrupt_frame'; now it is unsupported
    media that says to flatten it with DeepToImage."""
    plate = str(tmp_path / "in" / "p.####.exr")
    remove = str(tmp_path / "in" / "m.####.exr")
    pp, mp = SequencePattern.parse(plate), SequencePattern.parse(remove)
    for i, f in enumerate(FRAMES):
        if which == "plate":
            write_deep(pp.path(f))
        else:
            write_parts(
                pp.path(f), [(spec("", ("R", "G", "B", "A")), plate_px(i).astype(np.float16))]
            )
        if which == "remove":
            write_deep(mp.path(f))
        else:
            write_parts(mp.path(f), [(spec("", ("A",)), remove_matte(i)[..., None])])
    err = refused_before_sending(tmp_path, plate, remove if which == "plate" else f"{remove}:A")
    assert err.code == ErrorCode.UNSUPPORTED_MEDIA, err
    assert "deep image" in err.message and "DeepToImage" in err.message


def test_path_mode_writes_the_layout_and_refuses_deep_files(tmp_path: Path) -> None:
    """The daemon's own reads and writes (farm, Nuke batch): same layout back; a deep plate is
    refused by its header with the flatten message, not as a shape mismatch."""
    root = tmp_path / "show"
    plate = multipart_shot(root / "in")
    deep_dir = root / "deep"
    deep_dir.mkdir()
    for f in FRAMES:
        write_deep(str(deep_dir / f"d.{f}.exr"))
    d = DaemonProcess(tmp_path / "jobs", extra=["--allow-root", str(root)]).start()
    pp = SequencePattern.parse(plate)
    try:
        with DaemonClient(d.endpoint) as c:
            out = str(root / "out" / "clean.####.exr")
            ack = c.submit(
                JobSpec(
                    frames=FRAMES, width=W, height=H, transfer="paths", out_pattern=out, **SETTINGS
                )
            )
            c.send_frames(
                ack.job,
                paths=[
                    {
                        "frame": f,
                        "plate": pp.path(f),
                        "remove": f"{pp.path(f)}:remove.A",
                        "affected": f"{pp.path(f)}:mattes/affected.A",
                    }
                    for f in FRAMES
                ],
            )
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                msg = c.recv(10)
                assert msg is not None and not isinstance(msg, P.Error), msg
                if isinstance(msg, P.Progress) and msg.stage == "done":
                    break
            check_mirrors(plate, out, edited=0)

            ack = c.submit(
                JobSpec(
                    frames=FRAMES,
                    width=W,
                    height=H,
                    transfer="paths",
                    out_pattern=str(root / "out2" / "o.####.exr"),
                    **SETTINGS,
                )
            )
            c.send_frames(
                ack.job,
                paths=[
                    {
                        "frame": f,
                        "plate": str(deep_dir / f"d.{f}.exr"),
                        "remove": f"{pp.path(f)}:remove.A",
                    }
                    for f in FRAMES
                ],
            )
            msg = c.recv(30)
            while msg is not None and not isinstance(msg, P.Error):
                msg = c.recv(30)
            assert isinstance(msg, P.Error)
            assert msg.code == ErrorCode.UNSUPPORTED_MEDIA and "DeepToImage" in msg.message
    finally:
        d.stop()


@pytest.mark.parametrize("kind", ["dwaa", "piz", "tiled", "float32", "overscan"])
def test_single_part_layouts_that_already_worked(daemon, tmp_path: Path, kind: str) -> None:
    """Regression: header (compression, tiles, types, both windows) kept, exact outside."""
    pat = SequencePattern.parse(str(tmp_path / "in" / "p.####.exr"))
    mpat = SequencePattern.parse(str(tmp_path / "in" / "m.####.exr"))
    for i, f in enumerate(FRAMES):
        fmt = "float" if kind in ("float32", "overscan") else "half"
        s = spec(
            "",
            ("R", "G", "B", "A"),
            fmt,
            comp={"dwaa": "dwaa", "piz": "piz"}.get(kind, "zip"),
            **{"studio:note": "plate"},
        )
        if kind == "tiled":
            s.tile_width = s.tile_height = 16
        if kind == "overscan":
            s.x, s.y, s.full_x, s.full_y, s.full_width, s.full_height = -4, -2, 0, 0, 56, 44
        write_parts(
            pat.path(f), [(s, plate_px(i).astype(np.float16 if fmt == "half" else np.float32))]
        )
        m = oiio.ImageSpec(s)
        m.nchannels, m.channelnames = 1, ("A",)
        write_parts(mpat.path(f), [(m, remove_matte(i)[..., None])])
    out = str(tmp_path / "out" / "o.####.exr")
    run(daemon, str(pat), str(mpat), out)
    opat = SequencePattern.parse(out)
    for i, f in enumerate(FRAMES):
        src, res = read_image(pat.path(f)), read_image(opat.path(f))
        assert layout(res.spec) == layout(src.spec)
        k = keep(i, affected=False)
        if kind == "dwaa":  # lossy codec: re-encoding moves the untouched pixels by its error
            assert np.allclose(
                res.pixels[k].astype(np.float32), src.pixels[k].astype(np.float32), atol=0.05
            )
        else:
            assert res.pixels[k].tobytes() == src.pixels[k].tobytes()


def test_stereo_one_part_per_view_one_view_per_run(daemon, tmp_path: Path) -> None:
    """The documented stereo path until --view exists: left, then right from the left's output;
    each run passes the other view through bit-exactly."""
    pat = SequencePattern.parse(str(tmp_path / "in" / "st.####.exr"))
    for i, f in enumerate(FRAMES):
        views = []
        for v, seed in (("left", 0), ("right", 5)):
            s = spec(v, ("R", "G", "B", "A"), comp="piz", view=v)
            views.append((s, plate_px(i, seed=seed).astype(np.float16)))
        mattes = [
            (spec(f"m{v}", ("remove.A",), view=v), remove_matte(i)[..., None])
            for v in ("left", "right")
        ]
        write_parts(pat.path(f), views + mattes)
    left = str(tmp_path / "out" / "left.####.exr")
    run(daemon, f"{pat}:left/", f"{pat}:mleft/remove.A", left)
    both = str(tmp_path / "out" / "both.####.exr")
    run(daemon, f"{left}:right/", f"{pat}:mright/remove.A", both)
    lp, bp = SequencePattern.parse(left), SequencePattern.parse(both)
    for i, f in enumerate(FRAMES):
        src, one, two = parts_of(pat.path(f)), parts_of(lp.path(f)), parts_of(bp.path(f))
        assert [layout(s) for s, _ in two] == [layout(s) for s, _ in src]
        assert [s.get_string_attribute("view") for s, _ in two] == ["left", "right"] * 2
        assert one[1][1].tobytes() == src[1][1].tobytes()  # right untouched by the left run
        assert two[0][1].tobytes() == one[0][1].tobytes()  # left kept by the right run
        k = keep(i, affected=False)
        for p in (0, 1):
            assert two[p][1][k].tobytes() == src[p][1][k].tobytes()
            assert two[p][1][remove_matte(i) > 0, 0].astype(np.float32).max() < 3.0


def run_req(daemon, plate: str, remove: str, out: str, **kw) -> None:
    report = remove_sequence(
        RemoveRequest(
            plate, remove, out, settings=SETTINGS, endpoint=daemon.endpoint, autostart=False, **kw
        )
    )
    assert report.frames_written == FRAMES


def stereo_multipart(folder: Path, mono_matte: bool = False) -> tuple[str, str]:
    """One part per view (rgba left/right with `view`), a shared depth part, and a matte file
    with a part per view (the right eye's object 6 px to the left), or a mono matte."""
    pat = SequencePattern.parse(str(folder / "st.####.exr"))
    mpat = SequencePattern.parse(str(folder / "mt.####.exr"))
    for i, f in enumerate(FRAMES):
        parts = [
            (
                spec(f"rgba.{v}", ("R", "G", "B", "A"), comp="piz", view=v),
                plate_px(i, seed=s).astype(np.float16),
            )
            for v, s in (("left", 0), ("right", 5))
        ]
        parts.append((spec("depth", ("Z",), "float"), plate_px(i, seed=9)[..., :1]))
        write_parts(pat.path(f), parts)
        if mono_matte:
            write_parts(mpat.path(f), [(spec("", ("A",)), remove_matte(i)[..., None])])
        else:
            write_parts(
                mpat.path(f),
                [
                    (spec(f"m.{v}", ("remove.A",), view=v), remove_matte(i)[..., None])
                    for v in ("left", "right")
                ],
            )
    return str(pat), str(mpat)


def test_stereo_one_part_per_view_every_view_in_one_run(daemon, tmp_path: Path) -> None:
    """Finding: only the first part (the left eye) was processed; the right eye and the
    other parts were dropped from the output."""
    plate, matte = stereo_multipart(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.####.exr")
    run_req(daemon, plate, f"{matte}:remove.A", out)
    src_seq, out_seq = SequencePattern.parse(plate), SequencePattern.parse(out)
    for i, f in enumerate(FRAMES):
        src, res = parts_of(src_seq.path(f)), parts_of(out_seq.path(f))
        assert [layout(s) for s, _ in res] == [layout(s) for s, _ in src]
        assert [s.get_string_attribute("view") for s, _ in res] == ["left", "right", ""]
        assert res[2][1].tobytes() == src[2][1].tobytes()
        k, inside = keep(i, affected=False), remove_matte(i) > 0
        for p in (0, 1):  # both eyes edited inside, untouched outside
            assert res[p][1][k].tobytes() == src[p][1][k].tobytes()
            assert res[p][1][inside, 0].astype(np.float32).max() < 3.0


def test_stereo_one_view_leaves_the_other_bit_exact(daemon, tmp_path: Path) -> None:
    plate, matte = stereo_multipart(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.####.exr")
    run_req(daemon, plate, f"{matte}:remove.A", out, view="right")
    src_seq, out_seq = SequencePattern.parse(plate), SequencePattern.parse(out)
    for i, f in enumerate(FRAMES):
        src, res = parts_of(src_seq.path(f)), parts_of(out_seq.path(f))
        assert res[0][1].tobytes() == src[0][1].tobytes()
        assert res[1][1][remove_matte(i) > 0, 0].astype(np.float32).max() < 3.0


def test_stereo_mono_matte_needs_matte_view(daemon, tmp_path: Path) -> None:
    plate, matte = stereo_multipart(tmp_path / "in", mono_matte=True)
    err = refused_before_sending(tmp_path, plate, matte)
    assert err.code == ErrorCode.BAD_SPEC and "--matte-view" in err.message
    out = str(tmp_path / "out2" / "clean.####.exr")
    run_req(daemon, plate, matte, out, matte_view="left")
    res = parts_of(SequencePattern.parse(out).path(FRAMES[0]))
    assert all(res[p][1][remove_matte(0) > 0, 0].astype(np.float32).max() < 3.0 for p in (0, 1))
    err = refused_before_sending(tmp_path, plate, matte + ":A")
    assert err.code == ErrorCode.BAD_SPEC and "--matte-view left" in err.message
    with pytest.raises(VoidError) as e:
        remove_sequence(RemoveRequest(plate, matte, out, view="centre", autostart=False))
    assert "views left, right" in e.value.message


def test_stereo_views_in_one_part(daemon, tmp_path: Path) -> None:
    """multiView in one part: R,G,B,A are the left (default) view, right.R... the right;
    remove.left.A / remove.right.A the mattes; depth.Z belongs to no view and is copied."""
    pat = SequencePattern.parse(str(tmp_path / "in" / "mv.####.exr"))
    names = (
        "R",
        "G",
        "B",
        "A",
        "right.R",
        "right.G",
        "right.B",
        "right.A",
        "depth.Z",
        "remove.left.A",
        "remove.right.A",
    )
    for i, f in enumerate(FRAMES):
        s = spec("", names, comp="zip")
        s.attribute("multiView", oiio.TypeDesc("string[2]"), ("left", "right"))
        px = np.concatenate(
            [
                plate_px(i),
                plate_px(i, seed=5),
                plate_px(i, seed=9)[..., :1],
                remove_matte(i)[..., None],
                remove_matte(i)[..., None],
            ],
            -1,
        )
        write_parts(pat.path(f), [(s, px.astype(np.float16))])
    out = str(tmp_path / "out" / "clean.####.exr")
    run_req(daemon, str(pat), f"{pat}:remove.A", out)
    for i, f in enumerate(FRAMES):
        (ss, src), (rs, res) = (
            parts_of(pat.path(f))[0],
            parts_of(SequencePattern.parse(out).path(f))[0],
        )
        assert layout(rs) == layout(ss) and rs.getattribute("multiView") == ("left", "right")
        order = list(ss.channelnames)
        for view_r in ("R", "right.R"):
            c = order.index(view_r)
            assert res[remove_matte(i) > 0, c].astype(np.float32).max() < 3.0, (view_r, i)
        k = keep(i, affected=False)
        assert res[k].tobytes() == src[k].tobytes()
        shared = [order.index(n) for n in ("depth.Z", "remove.left.A", "remove.right.A")]
        assert res[..., shared].tobytes() == src[..., shared].tobytes()


@pytest.mark.parametrize("layout_kind", ["single", "multipart"])
def test_out_layer_adds_the_clean_plate_beside_the_original(
    daemon, tmp_path: Path, layout_kind: str
) -> None:
    if layout_kind == "multipart":
        plate = multipart_shot(tmp_path / "in")
        remove = f"{plate}:remove.A"
    else:
        pat = SequencePattern.parse(str(tmp_path / "in" / "p.####.exr"))
        for i, f in enumerate(FRAMES):
            write_parts(
                pat.path(f),
                [
                    (
                        spec("", ("R", "G", "B", "A", "depth.Z"), comp="piz"),
                        plate_px(i, c=5).astype(np.float16),
                    )
                ],
            )
        plate, remove = str(pat), str(tmp_path / "in" / "m.####.exr")
        for i, f in enumerate(FRAMES):
            write_parts(
                SequencePattern.parse(remove).path(f),
                [(spec("", ("A",)), remove_matte(i)[..., None])],
            )
    out = str(tmp_path / "out" / "clean.####.exr")
    run_req(daemon, plate, remove, out, out_layer="clean")
    src_seq, out_seq = SequencePattern.parse(plate), SequencePattern.parse(out)
    for i, f in enumerate(FRAMES):
        src, res = parts_of(src_seq.path(f)), parts_of(out_seq.path(f))
        inside = remove_matte(i) > 0
        if layout_kind == "multipart":
            assert [layout(s)["name"] for s, _ in res] == [
                "rgba",
                "clean",
                "mattes",
                "diffuse",
                "depth",
            ]
            assert layout(res[1][0])["channels"] == ("clean.R", "clean.G", "clean.B", "clean.A")
            assert layout(res[1][0])["compression"] == "piz"
            for a, b in zip(src, res[:1] + res[2:]):  # the original parts, all untouched
                assert layout(a[0]) == layout(b[0]) and a[1].tobytes() == b[1].tobytes()
            clean = res[1][1]
        else:
            (ss, sp), (rs, rp) = src[0], res[0]
            names = list(rs.channelnames)
            assert sorted(names) == sorted([*ss.channelnames, *(f"clean.{c}" for c in "RGBAZ")])
            assert rs.get_string_attribute("compression") == "piz"
            orig = [names.index(n) for n in ss.channelnames]
            assert rp[..., orig].tobytes() == sp.tobytes()
            clean = rp[..., [names.index(f"clean.{c}") for c in "RGBAZ"]]
        assert clean[inside, 0].astype(np.float32).max() < 3.0
        k = keep(i, affected=False)
        assert clean[k][:, :4].tobytes() == src[0][1][k][:, :4].tobytes()
