"""Fill and matte for compositors in every mode (issues 20 and 21), on a real daemon.

* path mode (the daemon reads the plate and writes the results itself): ``--fill-out`` and
  ``--matte-out`` sequences, and a plate part selector ``PATTERN:part/`` with mattes in other
  parts, bit for bit what client mode writes;
* ``--grade-layers``: the fill (``fill.R/G/B/A``) and matte (``matte.A``) as layers of the output
  EXRs themselves, or as parts ``fill`` and ``matte`` of a multi-part output;
* ``--preview`` (``*_preview`` beside each sequence) and ``--detach`` then ``attach``.

Each checks the compositor's promise on values: in float32 ``plate * (1 - matte) + fill``,
rounded to the output's type, IS the output bit for bit; fill and matte are exactly +0.0
outside the matte, which is the matte the composite used. Frames are 64x48 (test_exr_layouts).
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from tests.integration.test_exr_layouts import (
    DIL,
    FEATHER,
    FRAMES,
    SETTINGS,
    affected_matte,
    keep,
    layout,
    multipart_shot,
    parts_of,
    plate_px,
    remove_matte,
    spec,
    write_parts,
)
from tests.support import path_jobs
from tests.support.cli import daemon_args, input_args, void_remove
from tests.support.daemons import DaemonProcess
from tests.support.path_jobs import run_path_job
from void_client import protocol as P
from void_client.client import DaemonClient
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.quadmask import build_quadmask, hole
from void_client.sequence import SequencePattern
from void_client.sequence_job import RemoveRequest, remove_sequence
from void_daemon.roi import composite_alpha

#: The shared path-mode fixtures (tests/support/path_jobs.py), used here by name.
root, path_daemon, work = path_jobs.root, path_jobs.path_daemon, path_jobs.work

H, W = 48, 64
GRADE_CHANNELS = ["fill.R", "fill.G", "fill.B", "fill.A", "matte.A"]
#: An output EXR's channels with --grade-layers: the half RGBA, then fill and matte.
GRADED_CHANNELS = ["R", "G", "B", "A", *GRADE_CHANNELS]
CLI_SETTINGS = ["--window", "5", "--overlap", "0", "--dilation", str(DIL)]
CLI_SETTINGS += ["--feather", str(FEATHER)]


def single_part_shot(folder: Path) -> tuple[str, str, str]:
    """A half RGBA plate and two one-channel mattes, single-part files."""
    pp, rp, ap = (SequencePattern.parse(str(folder / f"{n}.####.exr")) for n in ("p", "r", "a"))
    for i, f in enumerate(FRAMES):
        write_parts(pp.path(f), [(spec("", ("R", "G", "B", "A")), plate_px(i).astype(np.float16))])
        write_parts(rp.path(f), [(spec("", ("A",)), remove_matte(i)[..., None])])
        write_parts(ap.path(f), [(spec("", ("A",)), affected_matte(i)[..., None])])
    return str(pp), str(rp), str(ap)


def layer_run(
    daemon: DaemonProcess, work: Path, *flags: str
) -> tuple[subprocess.CompletedProcess, str, dict[str, str]]:
    """``void-remove run FLAGS`` of a new :func:`single_part_shot` in ``work``, writing the
    output, fill and matte sequences ``o``, ``f`` and ``m``; it must succeed. Returns the
    process, the plate pattern and those three patterns."""
    plate, rm, aff = single_part_shot(work / "in")
    outs = {n: str(work / n / f"{n}.####.exr") for n in ("o", "f", "m")}
    layers = ["--out", outs["o"], "--fill-out", outs["f"], "--matte-out", outs["m"]]
    r = void_remove(
        "run", *input_args(plate, rm, aff), *layers, *flags, *daemon_args(daemon.endpoint)
    )
    assert r.returncode == 0, r.stderr
    return r, plate, outs


def used_alpha(i: int) -> np.ndarray:
    """The composite's matte for frame index ``i``, computed here from the mattes."""
    return composite_alpha(hole(build_quadmask(remove_matte(i), affected_matte(i), DIL)), FEATHER)


def check_promise(plate: np.ndarray, out: np.ndarray, fill: np.ndarray, matte: np.ndarray, i: int):
    """``plate``/``out`` the RGBA part (native type), ``fill`` RGBA and ``matte`` float32."""
    assert fill.dtype == np.float32 and matte.dtype == np.float32
    m = matte.reshape(H, W)
    assert m.tobytes() == used_alpha(i).tobytes(), "the matte is the one the composite used"
    assert ((m > 0) & (m < 1)).any(), "the feathered edge is exercised"
    assert fill[..., 3].tobytes() == m.tobytes()
    outside = m == 0
    assert not fill[outside].view(np.uint32).any() and not m[outside].view(np.uint32).any()
    assert out[outside].tobytes() == plate[outside].tobytes()
    recomposed = plate[..., :3].astype(np.float32) * (np.float32(1) - m[..., None]) + fill[..., :3]
    assert recomposed.astype(out.dtype).tobytes() == out[..., :3].tobytes()
    assert out[..., 3].tobytes() == plate[..., 3].tobytes()


def pixels(path: str, part: int = 0) -> np.ndarray:
    return parts_of(path)[part][1]


def path_spec(out: str, **extra) -> JobSpec:
    return JobSpec(
        frames=FRAMES,
        width=W,
        height=H,
        transfer="paths",
        out_pattern=out,
        **SETTINGS,
        **extra,
    )


# --------------------------------------------------------------------------- 1. path mode
def test_path_mode_writes_fill_and_matte_equal_to_client_mode(path_daemon, work: Path) -> None:
    """Finding: a path-mode spec with ``outputs`` was refused ("written by the client")."""
    plate, rm, aff = single_part_shot(work / "in")
    pp, rp, ap = (SequencePattern.parse(x) for x in (plate, rm, aff))
    outs = {n: str(work / "path" / f"{n}.####.exr") for n in ("o", "f", "m")}
    run_path_job(
        path_daemon,
        path_spec(
            outs["o"],
            outputs=["fill", "matte"],
            layer_patterns={"fill": outs["f"], "matte": outs["m"]},
        ),
        [
            {"frame": f, "plate": pp.path(f), "remove": rp.path(f), "affected": ap.path(f)}
            for f in FRAMES
        ],
    )
    for n in outs.values():
        assert SequencePattern.parse(n).scan() == FRAMES
    # The same job in client mode: every file bit for bit the same.
    client = {n: str(work / "client" / f"{n}.####.exr") for n in ("o", "f", "m")}
    report = remove_sequence(
        RemoveRequest(
            plate,
            rm,
            client["o"],
            affected=aff,
            settings=SETTINGS,
            endpoint=path_daemon.endpoint,
            autostart=False,
            fill_out=client["f"],
            matte_out=client["m"],
        )
    )
    assert report.frames_written == FRAMES
    for i, f in enumerate(FRAMES):
        got = {n: parts_of(SequencePattern.parse(p).path(f)) for n, p in outs.items()}
        assert [s.channelnames for s, _ in got["f"]] == [("R", "G", "B", "A")]
        assert [s.channelnames for s, _ in got["m"]] == [("A",)]
        check_promise(pixels(pp.path(f)), got["o"][0][1], got["f"][0][1], got["m"][0][1], i)
        for n in outs:
            theirs = parts_of(SequencePattern.parse(client[n]).path(f))
            assert [layout(s) for s, _ in got[n]] == [layout(s) for s, _ in theirs]
            assert [p.tobytes() for _, p in got[n]] == [p.tobytes() for _, p in theirs], (n, f)


def test_path_mode_refuses_layer_outputs_over_an_input_or_outside_the_roots(
    path_daemon, work: Path, tmp_path: Path
) -> None:
    plate, rm, _ = single_part_shot(work / "in")
    out = str(work / "o.####.exr")
    with DaemonClient(path_daemon.endpoint) as c:
        # Outside the allowed roots: refused at submit, before any work.
        with pytest.raises(VoidError) as err:
            c.submit(
                path_spec(
                    out,
                    outputs=["fill"],
                    layer_patterns={"fill": str(tmp_path / "f.####.exr")},
                )
            )
        assert err.value.code == ErrorCode.PATH_NOT_ALLOWED, err.value
        # Over the plate: the frame is refused before anything is read or written.
        ack = c.submit(path_spec(out, outputs=["matte"], layer_patterns={"matte": plate}))
        pp, rp = SequencePattern.parse(plate), SequencePattern.parse(rm)
        c.send_frames(
            ack.job,
            paths=[{"frame": f, "plate": pp.path(f), "remove": rp.path(f)} for f in FRAMES],
        )
        msg = c.recv(30)
        while msg is not None and not isinstance(msg, P.Error):
            msg = c.recv(30)
        assert isinstance(msg, P.Error) and "would overwrite the input frame" in msg.message, msg
        assert str(work / "in" / "p.") in msg.message  # whichever frame a receiver took first
    assert not SequencePattern.parse(out).scan()
    # A layer asked for with nowhere to go is a bad spec, said at once.
    with pytest.raises(VoidError) as err:
        path_spec(out, outputs=["fill"]).validate()
    assert err.value.field == "layer_patterns" and "nowhere" in err.value.message


# --------------------------------------------------------------------------- 4. part selectors
def test_path_mode_plate_part_selector_equals_client_mode(path_daemon, work: Path) -> None:
    """Finding: path mode refused ``plate.exr:rgba/`` ("the plate is a whole image file") and
    read only the first part. The beauty here is the SECOND part; mattes live in a third."""
    plate = multipart_shot(work / "in", plate_part_first=False)
    pp = SequencePattern.parse(plate)
    path_out = str(work / "path" / "clean.####.exr")
    run_path_job(
        path_daemon,
        path_spec(path_out),
        [
            {
                "frame": f,
                "plate": f"{pp.path(f)}:rgba/",
                "remove": f"{pp.path(f)}:remove.A",
                "affected": f"{pp.path(f)}:mattes/affected.A",
            }
            for f in FRAMES
        ],
    )
    client_out = str(work / "client" / "clean.####.exr")
    remove_sequence(
        RemoveRequest(
            f"{plate}:rgba/",
            f"{plate}:remove.A",
            client_out,
            affected=f"{plate}:mattes/affected.A",
            settings=SETTINGS,
            endpoint=path_daemon.endpoint,
            autostart=False,
        )
    )
    for i, f in enumerate(FRAMES):
        src = parts_of(pp.path(f))
        got = parts_of(SequencePattern.parse(path_out).path(f))
        theirs = parts_of(SequencePattern.parse(client_out).path(f))
        assert [layout(s) for s, _ in got] == [layout(s) for s, _ in src]
        assert [p.tobytes() for _, p in got] == [p.tobytes() for _, p in theirs]
        # Only the beauty part changed, and only inside the feathered hole.
        for p, ((_, a), (_, b)) in enumerate(zip(src, got)):
            if p != 1:
                assert a.tobytes() == b.tobytes()
        k = keep(i)
        assert src[1][1][k].tobytes() == got[1][1][k].tobytes()
        assert src[1][1].tobytes() != got[1][1].tobytes()


def test_path_mode_wrong_part_lists_the_parts(path_daemon, work: Path) -> None:
    plate = multipart_shot(work / "in")
    pp = SequencePattern.parse(plate)
    with DaemonClient(path_daemon.endpoint) as c:
        ack = c.submit(path_spec(str(work / "o.####.exr")))
        c.send_frames(
            ack.job,
            paths=[
                {"frame": f, "plate": f"{pp.path(f)}:beauty/", "remove": f"{pp.path(f)}:remove.A"}
                for f in FRAMES
            ],
        )
        msg = c.recv(30)
        while msg is not None and not isinstance(msg, P.Error):
            msg = c.recv(30)
    assert isinstance(msg, P.Error) and msg.code == ErrorCode.BAD_SPEC
    assert "no part 'beauty'" in msg.message and "rgba: [R, G, B, A]" in msg.message


# --------------------------------------------------------------------------- 3. one file
def test_cli_grade_layers_single_part(path_daemon, work: Path) -> None:
    """Finding: fill and matte came only as separate sequences. ``--grade-layers`` adds
    fill.R/G/B/A and matte.A (float) beside the half RGBA of each output EXR."""
    plate, rm, aff = single_part_shot(work / "in")
    out = str(work / "o" / "clean.####.exr")
    r = void_remove(
        "run",
        *input_args(plate, rm, aff),
        "--out",
        out,
        *CLI_SETTINGS,
        "--grade-layers",
        *daemon_args(path_daemon.endpoint),
    )
    assert r.returncode == 0, r.stderr
    assert SequencePattern.parse(out).scan() == FRAMES
    for i, f in enumerate(FRAMES):
        parts = parts_of(SequencePattern.parse(out).path(f))
        assert len(parts) == 1
        s = parts[0][0]
        assert list(s.channelnames) == ["R", "G", "B", "A", *GRADE_CHANNELS]
        formats = [str(t) for t in s.channelformats]
        assert formats == ["half"] * 4 + ["float"] * 5
        px = read_float(SequencePattern.parse(out).path(f))
        plate_half = pixels(SequencePattern.parse(plate).path(f))
        out_half = px[..., :4].astype(np.float16)
        assert out_half.astype(np.float32).tobytes() == px[..., :4].tobytes()
        check_promise(plate_half, out_half, px[..., 4:8], px[..., 8], i)


def read_float(path: str, part: int = 0) -> np.ndarray:
    """Every channel of a part as float32 (half and float channels exactly)."""
    inp = oiio.ImageInput.open(path)
    try:
        inp.seek_subimage(part, 0)
        return np.asarray(inp.read_image(part, 0, 0, inp.spec().nchannels, "float"))
    finally:
        inp.close()


def test_grade_layers_of_a_multipart_plate_add_parts_in_both_modes(path_daemon, work: Path) -> None:
    """A multi-part plate gets parts ``fill`` and ``matte`` after its own; its parts stay
    bit-exact; path mode (plate in its second part) writes what client mode writes."""
    plate = multipart_shot(work / "in", plate_part_first=False)
    pp = SequencePattern.parse(plate)
    client_out = str(work / "client" / "clean.####.exr")
    report = remove_sequence(
        RemoveRequest(
            f"{plate}:rgba/",
            f"{plate}:remove.A",
            client_out,
            affected=f"{plate}:affected.A",
            settings=SETTINGS,
            endpoint=path_daemon.endpoint,
            autostart=False,
            grade_layers=True,
        )
    )
    assert report.frames_written == FRAMES
    path_out = str(work / "path" / "clean.####.exr")
    run_path_job(
        path_daemon,
        path_spec(path_out, outputs=["fill", "matte"], layers_in_out=True),
        [
            {
                "frame": f,
                "plate": f"{pp.path(f)}:rgba/",
                "remove": f"{pp.path(f)}:remove.A",
                "affected": f"{pp.path(f)}:affected.A",
            }
            for f in FRAMES
        ],
    )
    for i, f in enumerate(FRAMES):
        src = parts_of(pp.path(f))
        got = parts_of(SequencePattern.parse(client_out).path(f))
        names = [layout(s)["name"] for s, _ in got]
        assert names == ["diffuse", "rgba", "mattes", "depth", "fill", "matte"]
        assert [layout(s) for s, _ in got[:4]] == [layout(s) for s, _ in src]
        for p in (0, 2, 3):
            assert got[p][1].tobytes() == src[p][1].tobytes()
        fill_s, fill = got[4]
        matte_s, matte = got[5]
        assert list(fill_s.channelnames) == GRADE_CHANNELS[:4]
        assert list(matte_s.channelnames) == ["matte.A"]
        assert fill_s.get_string_attribute("compression") == "piz"  # the beauty's header
        check_promise(src[1][1], got[1][1], fill, matte, i)
        theirs = parts_of(SequencePattern.parse(path_out).path(f))
        assert [layout(s) for s, _ in theirs] == [layout(s) for s, _ in got]
        assert [p.tobytes() for _, p in theirs] == [p.tobytes() for _, p in got]


def test_fill_out_equal_to_out_points_to_grade_layers(path_daemon, work: Path) -> None:
    plate, rm, _ = single_part_shot(work / "in")
    out = str(work / "o.####.exr")
    args = ["run", "--plate", plate, "--remove", rm, "--out", out, *CLI_SETTINGS]
    r = void_remove(*args, "--fill-out", out, "--endpoint", path_daemon.endpoint, "--no-autostart")
    assert r.returncode == 2 and "--grade-layers" in r.stderr, r.stderr
    assert "--grade-layers" in void_remove("run", "--help").stdout
    png = ["run", "--plate", plate, "--remove", rm, "--out", str(work / "o.####.png")]
    r = void_remove(*png, "--grade-layers", "--endpoint", path_daemon.endpoint, "--no-autostart")
    assert r.returncode == 2 and "--grade-layers" in r.stderr and ".exr" in r.stderr, r.stderr


# --------------------------------------------------------------------------- 2. preview, detach
def test_preview_writes_fill_and_matte_previews_beside_them(path_daemon, work: Path) -> None:
    """Finding: --fill-out/--matte-out were refused with --preview."""
    r, plate, outs = layer_run(path_daemon, work, *CLI_SETTINGS, "--preview", "1003")
    prev = {n: SequencePattern.parse(str(work / n / f"{n}_preview.####.exr")) for n in outs}
    for n, pat in prev.items():
        assert pat.scan() == [1003], n
        assert not SequencePattern.parse(outs[n]).scan(), "only previews were written"
    i = FRAMES.index(1003)
    check_promise(
        pixels(SequencePattern.parse(plate).path(1003)),
        pixels(prev["o"].path(1003)),
        pixels(prev["f"].path(1003)),
        pixels(prev["m"].path(1003)),
        i,
    )
    assert prev["f"].path(1003) in r.stderr and prev["m"].path(1003) in r.stderr


def test_detach_then_attach_writes_fill_matte_and_grade_layers(path_daemon, work: Path) -> None:
    """Finding: --fill-out/--matte-out were refused with --detach. Now the attach command the
    detached run prints carries them, and attach writes them."""
    r, plate, outs = layer_run(path_daemon, work, "--grade-layers", *CLI_SETTINGS, "--detach")
    line = next(x.strip() for x in r.stderr.splitlines() if "void-remove attach" in x)
    cmd = shlex.split(line)
    assert cmd[:2] == ["void-remove", "attach"], line
    for flag in ("--fill-out", "--matte-out", "--grade-layers"):
        assert flag in cmd, line
    assert outs["f"] in cmd and outs["m"] in cmd
    a = void_remove(*cmd[1:])
    assert a.returncode == 0, a.stderr
    assert outs["f"] in a.stderr and outs["m"] in a.stderr
    for i, f in enumerate(FRAMES):
        o = SequencePattern.parse(outs["o"]).path(f)
        px = read_float(o)
        assert list(parts_of(o)[0][0].channelnames) == ["R", "G", "B", "A", *GRADE_CHANNELS]
        fill = pixels(SequencePattern.parse(outs["f"]).path(f))
        matte = pixels(SequencePattern.parse(outs["m"]).path(f))
        assert px[..., 4:8].tobytes() == fill.tobytes()
        assert px[..., 8].tobytes() == matte[..., 0].tobytes()
        plate_half = pixels(SequencePattern.parse(plate).path(f))
        check_promise(plate_half, px[..., :4].astype(np.float16), fill, matte, i)
