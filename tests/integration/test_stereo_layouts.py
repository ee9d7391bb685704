"""Stereo plates, the gaps left after issue 21 (and issue 20's fill/matte outputs), on a real daemon:
Nuke's one-file-per-view patterns (``%V`` full view name, ``%v`` its first letter), ``attach``
to a stereo run (one job per view), ``--out-layer`` and ``--fill-out``/``--matte-out`` with
stereo plates. Every file is written by OpenImageIO here (the helpers of test_exr_layouts);
frames are 64x48, 6 frames. See docs/user-guide.md, "Plates we accept".
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from tests.integration.test_exr_layouts import (
    FEATHER,
    FRAMES,
    SETTINGS,
    keep,
    layout,
    parts_of,
    plate_px,
    remove_matte,
    spec,
    stereo_multipart,
    write_parts,
)
from tests.support.cli import void_remove
from tests.support.daemons import free_port
from void_client.cli.run import shot_length
from void_client.errors import ErrorCode, VoidError
from void_client.output_manifest import manifest_path, next_version
from void_client.quadmask import build_quadmask, hole
from void_client.sequence import SequencePattern, expand_view, read_image
from void_client.sequence_job import RemoveRequest, remove_sequence
from void_daemon.roi import composite_alpha

DIL = SETTINGS["dilation"]
VIEWS = (("left", 0), ("right", 5))


def seq(pattern: str) -> SequencePattern:
    return SequencePattern.parse(pattern)


def request(plate: str, remove: str, out: str, endpoint: str, **kw) -> RemoveRequest:
    return RemoveRequest(
        plate, remove, out, settings=SETTINGS, endpoint=endpoint, autostart=False, **kw
    )


def view_files(folder: Path, token: str = "%V") -> tuple[str, str]:
    """Nuke's Write with ``%V``/``%v``: one single-part file per view (RGBA + depth.Z, half,
    PIZ, the view in the header as Nuke writes it) and a roto per view ``roto.%V.####.exr``."""
    plate = str(folder / f"shot.{token}.####.exr")
    roto = str(folder / "roto.%V.####.exr")
    for i, f in enumerate(FRAMES):
        for view, seed in VIEWS:
            name = view if token == "%V" else view[0]
            s = spec("", ("R", "G", "B", "A", "depth.Z"), comp="piz", view=view)
            write_parts(
                seq(plate.replace(token, name)).path(f),
                [(s, plate_px(i, c=5, seed=seed).astype(np.float16))],
            )
            write_parts(
                seq(roto.replace("%V", view)).path(f),
                [(spec("", ("A",)), remove_matte(i)[..., None])],
            )
    return plate, roto


def check_view_edited(src: np.ndarray, res: np.ndarray, i: int, chans: list[int]) -> None:
    """Bit-identical outside the feathered hole, the object gone inside it."""
    k = keep(i, affected=False)
    assert res[..., chans][k].tobytes() == src[..., chans][k].tobytes()
    assert res[remove_matte(i) > 0, chans[0]].astype(np.float32).max() < 3.0


# --- 1. %V / %v: one file per view ---------------------------------------------------------


@pytest.mark.parametrize("plate_token,out_token", [("%V", "%V"), ("%v", "%v"), ("%v", "%V")])
def test_view_pattern_plate_mattes_and_output_one_file_per_view(
    daemon, tmp_path: Path, plate_token: str, out_token: str
) -> None:
    """Finding: ``--plate shot.%V.####.exr`` was taken literally ('no frames match'); Nuke's
    Write writes exactly this. Views come from the files on disk; the roto uses %V too; the
    output has one file per view, each with its plate's layout, bit-exact outside the hole."""
    plate, roto = view_files(tmp_path / "in", plate_token)
    out = str(tmp_path / "out" / f"clean.{out_token}.####.exr")
    report = remove_sequence(request(plate, roto, out, daemon.endpoint))
    assert report.frames_written == FRAMES and not report.frames_missing
    for view, _ in VIEWS:
        src_pat = seq(plate.replace(plate_token, view if plate_token == "%V" else view[0]))
        out_pat = seq(out.replace(out_token, view if out_token == "%V" else view[0]))
        assert out_pat.scan() == FRAMES, view
        for i, f in enumerate(FRAMES):
            (ss, src), (rs, res) = parts_of(src_pat.path(f))[0], parts_of(out_pat.path(f))[0]
            assert layout(rs) == layout(ss) and rs.get_string_attribute("view") == view
            check_view_edited(src, res, i, [0, 1, 2, 3])
            assert res[..., 4].tobytes() == src[..., 4].tobytes()  # depth.Z copied


def test_stereo_file_plate_with_a_roto_file_per_view(daemon, tmp_path: Path) -> None:
    """Views in one plate file, mattes as Nuke wrote them per view (``roto.%V.####.exr``)."""
    plate, _ = stereo_multipart(tmp_path / "in")
    _, roto = view_files(tmp_path / "rotos")
    out = str(tmp_path / "out" / "clean.####.exr")
    assert remove_sequence(request(plate, roto, out, daemon.endpoint)).frames_written == FRAMES
    for i, f in enumerate(FRAMES):
        src, res = parts_of(seq(plate).path(f)), parts_of(seq(out).path(f))
        assert [layout(s) for s, _ in res] == [layout(s) for s, _ in src]
        assert res[2][1].tobytes() == src[2][1].tobytes()
        for p in (0, 1):
            check_view_edited(src[p][1], res[p][1], i, [0, 1, 2, 3])


def refused(tmp_path: Path, plate: str, remove: str, out: str, **kw) -> VoidError:
    """No daemon listens: an error other than 'unreachable' came first, nothing was written."""
    with pytest.raises(VoidError) as err:
        remove_sequence(request(plate, remove, out, f"tcp://127.0.0.1:{free_port()}", **kw))
    assert err.value.code != ErrorCode.DAEMON_UNREACHABLE, err.value
    assert not list(tmp_path.glob("out/**/*.exr")), "nothing was written"
    return err.value


def test_view_pattern_errors_list_the_views_that_exist(tmp_path: Path) -> None:
    plate, roto = view_files(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.%V.####.exr")
    err = refused(tmp_path, plate, roto, out, view="centre")
    assert err.code == ErrorCode.BAD_SPEC and "left, right" in err.message, err
    # A plain --out cannot hold two files' views: say to put %V in it.
    err = refused(tmp_path, plate, roto, str(tmp_path / "out" / "clean.####.exr"))
    assert err.code == ErrorCode.BAD_SPEC and "%V" in err.message and "--out" in err.message
    # A roto for one view only: the error names the roto's views and --matte-view.
    for f in FRAMES:
        Path(seq(roto.replace("%V", "right")).path(f)).unlink()
    err = refused(tmp_path, plate, roto, out)
    assert err.code == ErrorCode.BAD_SPEC and "right" in err.message, err
    assert "left" in err.message and "--matte-view left" in err.message
    # A mono roto (no %V) for a %V plate: reuse needs --matte-view.
    mono = str(tmp_path / "in" / "roto.left.####.exr")
    err = refused(tmp_path, plate, mono, out)
    assert err.code == ErrorCode.BAD_SPEC and "--matte-view" in err.message, err
    # %V in --out with a mono plate: nothing to fill it with.
    err = refused(tmp_path, mono.replace("roto", "shot"), mono, out)
    assert err.code == ErrorCode.BAD_SPEC and "%V" in err.message and "no views" in err.message


def test_view_pattern_one_view_with_a_plain_output_and_a_reused_roto(daemon, tmp_path) -> None:
    plate, roto = view_files(tmp_path / "in")
    for f in FRAMES:
        Path(seq(roto.replace("%V", "right")).path(f)).unlink()
    out = str(tmp_path / "out" / "right.####.exr")
    report = remove_sequence(
        request(plate, roto, out, daemon.endpoint, view="right", matte_view="left")
    )
    assert report.frames_written == FRAMES
    for i, f in enumerate(FRAMES):
        src = parts_of(seq(plate.replace("%V", "right")).path(f))[0][1]
        check_view_edited(src, parts_of(seq(out).path(f))[0][1], i, [0, 1, 2, 3])


def test_version_up_sees_every_view_of_a_view_pattern(tmp_path: Path) -> None:
    """Findings: --version-up looked for files literally named ``clean_v001.%V.1001.exr``, so
    v001 was never taken; then it put the version after the view (``clean.%V_v001``), where no
    artist looks for it. The version goes on the name before the view token (the mono rule:
    the name's stem), and a version is taken when any view has frames or a manifest."""
    out = str(tmp_path / "clean.%V.####.exr")
    first = next_version(out)
    assert first == str(tmp_path / "clean_v001.%V.####.exr")
    # Only the right view of v001 has a frame: v001 is taken.
    write_parts(
        seq(expand_view(first, "right")).path(FRAMES[0]),
        [(spec("", ("A",)), remove_matte(0)[..., None])],
    )
    assert next_version(out) == str(tmp_path / "clean_v002.%V.####.exr")
    # v002's left view has only a manifest (a run that wrote nothing yet): taken too.
    manifest_path(expand_view(str(tmp_path / "clean_v002.%V.####.exr"), "left")).write_text("{}")
    assert next_version(out) == str(tmp_path / "clean_v003.%V.####.exr")
    # A versioned name is bumped in place; %v and a view folder follow the same rule.
    assert next_version(str(tmp_path / "clean_v002.%V.####.exr")) == str(
        tmp_path / "clean_v003.%V.####.exr"
    )
    assert next_version(str(tmp_path / "clean_%v.####.exr")) == str(
        tmp_path / "clean_v001_%v.####.exr"
    )
    folder = str(tmp_path / "%V" / "clean.####.exr")
    assert next_version(folder) == str(tmp_path / "%V" / "clean_v001.####.exr")
    write_parts(
        str(tmp_path / "left" / "clean_v001.1001.exr"),
        [(spec("", ("A",)), remove_matte(0)[..., None])],
    )
    assert next_version(folder) == str(tmp_path / "%V" / "clean_v002.####.exr")
    # A version the artist put after the view stays there.
    assert next_version(str(tmp_path / "clean.%V_v004.####.exr")) == str(
        tmp_path / "clean.%V_v004.####.exr"
    )


def test_cli_version_up_with_a_view_pattern(daemon, tmp_path: Path) -> None:
    """Two --version-up runs of a %V plate: v001 then v002, every view's files in each."""
    plate, roto = view_files(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.%V.####.exr")
    args = ["run", "--plate", plate, "--remove", roto, "--out", out, "--window", "5"]
    args += ["--overlap", "0", "--dilation", str(DIL), "--feather", str(FEATHER)]
    args += ["--endpoint", daemon.endpoint, "--no-autostart", "--version-up"]
    for n in (1, 2):
        r = void_remove(*args)
        assert r.returncode == 0, r.stderr
        assert f"clean_v00{n}.%V.####.exr" in r.stderr
        for view, _ in VIEWS:
            assert seq(str(tmp_path / "out" / f"clean_v00{n}.{view}.####.exr")).scan() == FRAMES


# --- 2. attach to a stereo run ---------------------------------------------------------------


def test_cli_detach_and_attach_follow_every_view(daemon, tmp_path: Path) -> None:
    """Finding: ``--detach``/``attach`` were refused for stereo plates. One job per view: the
    run prints ``void-remove attach left=JOB,right=JOB ...`` (with the run's --out-layer) and
    that command collects both views into one output."""
    plate, matte = stereo_multipart(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.####.exr")
    common = ["--window", "5", "--overlap", "0", "--dilation", str(DIL), "--feather", str(FEATHER)]
    r = void_remove(
        "run",
        "--plate",
        plate,
        "--remove",
        f"{matte}:remove.A",
        "--out",
        out,
        *common,
        "--endpoint",
        daemon.endpoint,
        "--no-autostart",
        "--out-layer",
        "clean",
        "--detach",
    )
    assert r.returncode == 0, r.stderr
    cmd = shlex.split(r.stderr.split("void-remove attach", 1)[1].splitlines()[0])
    assert cmd[0].startswith("left=") and ",right=" in cmd[0], cmd
    assert "--out-layer" in cmd and not list(tmp_path.glob("out/*.exr"))
    # One job id alone is not the stereo run: say how to follow every view.
    one = cmd[0].split(",")[0].split("=", 1)[1]
    r1 = void_remove("attach", one, *cmd[1:])
    assert r1.returncode == 2 and "left=" in r1.stderr and "right=" in r1.stderr, r1.stderr
    r2 = void_remove("attach", *cmd)
    assert r2.returncode == 0, r2.stderr
    assert seq(out).scan() == FRAMES
    check_clean_parts(plate, out)


def test_view_pattern_detach_then_attach(daemon, tmp_path: Path) -> None:
    plate, roto = view_files(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.%V.####.exr")
    report = remove_sequence(request(plate, roto, out, daemon.endpoint), detach=True)
    assert report.detached and report.job.startswith("left=") and ",right=" in report.job
    got = remove_sequence(request(plate, roto, out, daemon.endpoint), attach=report.job)
    assert got.frames_written == FRAMES and not got.frames_missing
    for view, _ in VIEWS:
        assert seq(out.replace("%V", view)).scan() == FRAMES


# --- 3. --out-layer ----------------------------------------------------------------------------


def multiview_part(folder: Path) -> str:
    """multiView in one part: R,G,B,A the left (default) view, right.R... the right, depth.Z of
    no view, remove.left.A / remove.right.A the mattes."""
    pat = seq(str(folder / "mv.####.exr"))
    names = ("R", "G", "B", "A", "right.R", "right.G", "right.B", "right.A", "depth.Z")
    names += ("remove.left.A", "remove.right.A")
    for i, f in enumerate(FRAMES):
        s = spec("", names, comp="zip")
        s.attribute("multiView", oiio.TypeDesc("string[2]"), ("left", "right"))
        m = remove_matte(i)[..., None]
        px = np.concatenate(
            [plate_px(i), plate_px(i, seed=5), plate_px(i, seed=9)[..., :1], m, m], -1
        )
        write_parts(pat.path(f), [(s, px.astype(np.float16))])
    return str(pat)


def test_out_layer_with_views_in_one_part(daemon, tmp_path: Path) -> None:
    """Finding: --out-layer was refused for stereo plates. Each view's clean plate is added as
    its own view's channels: clean.R... (the default view) and clean.right.R..."""
    plate = multiview_part(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.####.exr")
    report = remove_sequence(
        request(plate, f"{plate}:remove.A", out, daemon.endpoint, out_layer="clean")
    )
    assert report.frames_written == FRAMES
    for i, f in enumerate(FRAMES):
        (ss, src), (rs, res) = parts_of(seq(plate).path(f))[0], parts_of(seq(out).path(f))[0]
        names, orig = list(rs.channelnames), list(ss.channelnames)
        added = ["clean.R", "clean.G", "clean.B", "clean.A"]
        added += ["clean.right.R", "clean.right.G", "clean.right.B", "clean.right.A"]
        assert sorted(names) == sorted(orig + added)
        assert rs.getattribute("multiView") == ("left", "right")
        assert rs.get_string_attribute("compression") == "zip"
        assert res[..., [names.index(n) for n in orig]].tobytes() == src.tobytes()
        beauty = (["R", "G", "B", "A"], ["right.R", "right.G", "right.B", "right.A"])
        for view_beauty, clean in zip(beauty, (added[:4], added[4:])):
            s_idx, c_idx = [orig.index(n) for n in view_beauty], [names.index(n) for n in clean]
            k = keep(i, affected=False)
            assert res[..., c_idx][k].tobytes() == src[..., s_idx][k].tobytes()
            assert res[remove_matte(i) > 0, c_idx[0]].astype(np.float32).max() < 3.0


def test_out_layer_with_one_part_per_view(daemon, tmp_path: Path) -> None:
    plate, matte = stereo_multipart(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.####.exr")
    report = remove_sequence(
        request(plate, f"{matte}:remove.A", out, daemon.endpoint, out_layer="clean")
    )
    assert report.frames_written == FRAMES
    check_clean_parts(plate, out)


def check_clean_parts(plate: str, out: str) -> None:
    """A part per view: a new part ``clean.<view>`` (that view's header and ``view``) right
    after each view's part; every original part bit-identical."""
    for i, f in enumerate(FRAMES):
        src, res = parts_of(seq(plate).path(f)), parts_of(seq(out).path(f))
        names = [layout(s)["name"] for s, _ in res]
        assert names == ["rgba.left", "clean.left", "rgba.right", "clean.right", "depth"]
        assert [s.get_string_attribute("view") for s, _ in res] == [
            "left",
            "left",
            "right",
            "right",
            "",
        ]
        for a, b in zip(src, [res[0], res[2], res[4]]):
            assert layout(a[0]) == layout(b[0]) and a[1].tobytes() == b[1].tobytes()
        for p, c in ((0, 1), (1, 3)):
            assert layout(res[c][0])["channels"] == ("clean.R", "clean.G", "clean.B", "clean.A")
            assert layout(res[c][0])["compression"] == "piz"
            check_view_edited(src[p][1], res[c][1], i, [0, 1, 2, 3])


# --- 4. --fill-out / --matte-out per view ------------------------------------------------------


def check_recomposes(plate: np.ndarray, out: np.ndarray, fill_path: str, matte_path: str, i: int):
    """plate * (1 - matte) + fill, in float32 rounded to the output's type, IS the output."""
    fill, matte = read_image(fill_path), read_image(matte_path)
    m = matte.pixels[..., 0]
    qm = build_quadmask(remove_matte(i), None, DIL)
    assert m.tobytes() == composite_alpha(hole(qm), FEATHER).tobytes()
    assert fill.channels == ["R", "G", "B", "A"] and fill.pixels[..., 3].tobytes() == m.tobytes()
    rgb = plate[..., :3].astype(np.float32) * (np.float32(1) - m[..., None]) + fill.pixels[..., :3]
    assert rgb.astype(out.dtype).tobytes() == out[..., :3].tobytes()
    assert out[..., 3].tobytes() == plate[..., 3].tobytes()


def test_fill_and_matte_out_per_view_of_a_stereo_file(daemon, tmp_path: Path) -> None:
    """Finding: --fill-out/--matte-out were refused for stereo plates. With %V each view gets
    its own fill and matte sequence, and each recomposes to that view of the output."""
    plate, matte = stereo_multipart(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.####.exr")
    fill, mout = (str(tmp_path / "out" / f"{n}.%V.####.exr") for n in ("fill", "matte"))
    report = remove_sequence(
        request(plate, f"{matte}:remove.A", out, daemon.endpoint, fill_out=fill, matte_out=mout)
    )
    assert report.frames_written == FRAMES
    for i, f in enumerate(FRAMES):
        src, res = parts_of(seq(plate).path(f)), parts_of(seq(out).path(f))
        for p, (view, _) in enumerate(VIEWS):
            check_recomposes(
                src[p][1],
                res[p][1],
                seq(fill.replace("%V", view)).path(f),
                seq(mout.replace("%V", view)).path(f),
                i,
            )


def test_fill_and_matte_out_per_view_file(daemon, tmp_path: Path) -> None:
    plate, roto = view_files(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.%V.####.exr")
    fill, mout = (str(tmp_path / "out" / f"{n}.%v.####.exr") for n in ("fill", "matte"))
    report = remove_sequence(
        request(plate, roto, out, daemon.endpoint, fill_out=fill, matte_out=mout)
    )
    assert report.frames_written == FRAMES
    for i, f in enumerate(FRAMES):
        for view, _ in VIEWS:
            check_recomposes(
                parts_of(seq(plate.replace("%V", view)).path(f))[0][1],
                parts_of(seq(out.replace("%V", view)).path(f))[0][1],
                seq(fill.replace("%v", view[0])).path(f),
                seq(mout.replace("%v", view[0])).path(f),
                i,
            )


def test_fill_out_without_a_view_token_is_refused_for_two_views(tmp_path: Path) -> None:
    plate, matte = stereo_multipart(tmp_path / "in")
    err = refused(
        tmp_path,
        plate,
        f"{matte}:remove.A",
        str(tmp_path / "out" / "clean.####.exr"),
        fill_out=str(tmp_path / "out" / "fill.####.exr"),
    )
    assert err.code == ErrorCode.BAD_SPEC and "--fill-out" in err.message and "%V" in err.message


# --- 5. --preview, the progress total, --out %V with views in one file, a second Ctrl-C --------


def cli_args(plate: str, remove: str, out: str, endpoint: str, *extra: str) -> list[str]:
    common = ["--window", "5", "--overlap", "0", "--dilation", str(DIL), "--feather", str(FEATHER)]
    return ["run", "--plate", plate, "--remove", remove, "--out", out, *common] + [
        "--endpoint",
        endpoint,
        "--no-autostart",
        *extra,
    ]


def test_preview_of_a_view_pattern_plate_per_view(daemon, tmp_path: Path) -> None:
    """Finding: --preview with ``--plate shot.%V.####.exr`` read the pattern literally (no
    frames) and would have named the preview ``clean.%V_preview``. Each view is previewed and
    written beside its output as ``clean_preview.<view>.####.exr``: only the asked frame."""
    plate, roto = view_files(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.%V.####.exr")
    r = void_remove(*cli_args(plate, roto, out, daemon.endpoint, "--preview", "1003"))
    assert r.returncode == 0, r.stderr
    for view, _ in VIEWS:
        prev = seq(str(tmp_path / "out" / f"clean_preview.{view}.####.exr"))
        assert prev.scan() == [1003], (view, r.stderr)
        assert prev.path(1003) in r.stderr
        src = parts_of(seq(plate.replace("%V", view)).path(1003))[0]
        res = parts_of(prev.path(1003))[0]
        assert layout(res[0]) == layout(src[0]) and res[0].get_string_attribute("view") == view
        check_view_edited(src[1], res[1], FRAMES.index(1003), [0, 1, 2, 3])
        assert res[1][..., 4].tobytes() == src[1][..., 4].tobytes()
        assert not seq(out.replace("%V", view)).scan(), "a preview writes only previews"


def test_preview_of_a_stereo_file_plate(daemon, tmp_path: Path) -> None:
    """Views in one plate file: the preview keeps the plate's layout (both views edited, the
    depth part bit-identical) and the per-view fill keeps its view token."""
    plate, matte = stereo_multipart(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.####.exr")
    fill = str(tmp_path / "out" / "fill.%V.####.exr")
    r = void_remove(
        *cli_args(plate, f"{matte}:remove.A", out, daemon.endpoint, "--preview", "1002")
        + ["--fill-out", fill]
    )
    assert r.returncode == 0, r.stderr
    prev = seq(str(tmp_path / "out" / "clean_preview.####.exr"))
    assert prev.scan() == [1002], r.stderr
    src, res = parts_of(seq(plate).path(1002)), parts_of(prev.path(1002))
    assert [layout(s) for s, _ in res] == [layout(s) for s, _ in src]
    assert res[2][1].tobytes() == src[2][1].tobytes()
    for p in (0, 1):
        check_view_edited(src[p][1], res[p][1], FRAMES.index(1002), [0, 1, 2, 3])
    for view, _ in VIEWS:
        assert seq(str(tmp_path / "out" / f"fill_preview.{view}.####.exr")).scan() == [1002]


def test_progress_total_of_a_view_pattern_plate(daemon, tmp_path: Path) -> None:
    """Finding: the total was the frames of a file literally named ``shot.%V.1001.exr``: none,
    so the bar and the jsonl stream showed no total. The total counts output files, as the
    bar and the stream's ``written`` do: frames x views for a %V plate (a file per view and
    frame), frames for a plate holding its views in one file."""
    plate, roto = view_files(tmp_path / "in")
    out = str(tmp_path / "out" / "clean.%V.####.exr")
    req = request(plate, roto, out, daemon.endpoint)
    assert shot_length(req) == 2 * len(FRAMES)
    assert shot_length(dataclasses.replace(req, view="right")) == len(FRAMES)
    assert shot_length(dataclasses.replace(req, frame_range=(1002, 1004))) == 2 * 3
    stereo, matte = stereo_multipart(tmp_path / "st")
    assert shot_length(request(stereo, f"{matte}:remove.A", "", daemon.endpoint)) == len(FRAMES)
    for p, m, o, total in (
        (plate, roto, out, 2 * len(FRAMES)),
        (stereo, f"{matte}:remove.A", str(tmp_path / "o2" / "c.####.exr"), len(FRAMES)),
    ):
        r = void_remove(*cli_args(p, m, o, daemon.endpoint, "--progress", "jsonl"))
        assert r.returncode == 0, r.stderr
        events = [json.loads(line) for line in r.stdout.splitlines()]
        assert events[0]["event"] == "start" and events[0]["total"] == total, events[0]
        states = [e for e in events if e["event"] == "state"]
        assert states and all(e["total"] == total for e in states)
        assert events[-1]["event"] == "done" and events[-1]["written"] == total, events[-1]
        # The bar ends full, never past its total (each view's job sends every frame).
        r = void_remove(*cli_args(p, m, o, daemon.endpoint, "--progress", "bar", "--overwrite"))
        assert r.returncode == 0, r.stderr
        assert f" {total}/{total} " in r.stderr, r.stderr


def test_view_token_out_with_views_in_one_file_says_what_to_do(tmp_path: Path) -> None:
    """Decision: splitting a stereo file into one file per view is refused. Each view's file
    would have to drop or duplicate the parts and channels of no view (depth, AOVs), which the
    plate holds once for both eyes: a guess about the layout. The message names each view's
    part (or channels) and says how to get the files instead."""
    plate, matte = stereo_multipart(tmp_path / "in")
    err = refused(tmp_path, plate, f"{matte}:remove.A", str(tmp_path / "out" / "c.%V.####.exr"))
    assert err.code == ErrorCode.BAD_SPEC and err.field == "out", err
    for text in ("c.####.exr", "rgba.left", "rgba.right", "depth", "--view left", "%V"):
        assert text in err.message, (text, err.message)
    mv = multiview_part(tmp_path / "mv")
    err = refused(tmp_path, mv, f"{mv}:remove.A", str(tmp_path / "out" / "c.%V.####.exr"))
    assert "right.R" in err.message and "depth.Z" in err.message, err.message


@pytest.mark.parametrize("layout_kind", ["view_files", "one_file"])
def test_second_ctrl_c_names_every_views_job(daemon, tmp_path: Path, layout_kind: str) -> None:
    """Finding: a second Ctrl-C during the first view's job printed ``attach left=JOB``: the
    right view had no job, so the printed command could never collect it. The views not yet
    sent are submitted (their inputs uploaded, nothing waited for) before the run stops, so
    the attach id names every view's job and that attach collects the whole stereo run."""
    if layout_kind == "view_files":
        plate, remove = view_files(tmp_path / "in")
        out = str(tmp_path / "out" / "clean.%V.####.exr")
    else:
        plate, matte = stereo_multipart(tmp_path / "in")
        remove, out = f"{matte}:remove.A", str(tmp_path / "out" / "clean.####.exr")
    submitted: list[str] = []
    interrupted = []

    def second_ctrl_c(msg) -> None:  # type: ignore[no-untyped-def]
        # What ctrl_c_cancels' handler does on the second Ctrl-C, in the first view's job.
        if not interrupted and submitted and "right" not in submitted[-1]:
            interrupted.append(submitted[-1])
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        remove_sequence(
            request(plate, remove, out, daemon.endpoint),
            second_ctrl_c,
            on_submit=submitted.append,
        )
    assert interrupted and interrupted[0].startswith("left=") and "," not in interrupted[0]
    job = submitted[-1]
    assert job.startswith("left=") and ",right=" in job, submitted
    got = remove_sequence(request(plate, remove, out, daemon.endpoint), attach=job)
    assert got.frames_written == FRAMES and not got.frames_missing
    for i, f in enumerate(FRAMES):
        if layout_kind == "view_files":
            for view, _ in VIEWS:
                src = parts_of(seq(plate.replace("%V", view)).path(f))[0][1]
                res = parts_of(seq(out.replace("%V", view)).path(f))[0][1]
                check_view_edited(src, res, i, [0, 1, 2, 3])
        else:
            src, res = parts_of(seq(plate).path(f)), parts_of(seq(out).path(f))
            for p in (0, 1):
                check_view_edited(src[p][1], res[p][1], i, [0, 1, 2, 3])
