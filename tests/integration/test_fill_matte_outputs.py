"""``--fill-out`` / ``--matte-out`` (issue 20, "outputs a compositor can grade"), on a real daemon.

The promise: in float32, ``plate * (1 - matte) + fill`` is the daemon's composite term for term
(void_daemon.roi.fill_and_matte), so rounded to the output's pixel type it IS the output, bit
for bit; fill and matte are exactly 0 outside the edited region; the matte is the one the
composite used.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from void_client import protocol as P
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.quadmask import build_quadmask, hole
from void_client.sequence import SequencePattern, read_image, write_image
from void_client.sequence_job import RemoveRequest, remove_sequence
from void_daemon.demo_shot import make_shot
from void_daemon.roi import composite_alpha

FRAMES = list(range(1001, 1013))
FEATHER, DILATION = 6, 3


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "void_client.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_args(shot_files: dict[str, str], daemon, out: str, *extra: str) -> list[str]:
    return [
        "run",
        "--plate",
        shot_files["plate"],
        "--remove",
        shot_files["remove"],
        "--affected",
        shot_files["affected"],
        "--out",
        out,
        "--range",
        f"{FRAMES[0]}-{FRAMES[-1]}",
        "--window",
        "9",
        "--overlap",
        "2",
        "--dilation",
        str(DILATION),
        "--feather",
        str(FEATHER),
        "--endpoint",
        daemon.endpoint,
        "--no-autostart",
        *extra,
    ]


def check_recomposition(plate, out, fill, matte, used_alpha: np.ndarray) -> None:
    """The compositor's formula gives the output bit for bit; zeros outside; the matte is ``used_alpha``."""
    p = plate.pixels
    m = matte.pixels[..., 0]
    assert fill.pixels.dtype == np.float32 and matte.pixels.dtype == np.float32
    assert fill.channels == ["R", "G", "B", "A"] and matte.channels == ["A"]
    # The matte is exactly the composite's (computed here independently from the mattes).
    assert m.tobytes() == used_alpha.tobytes()
    assert (m > 0).any() and ((m > 0) & (m < 1)).any(), "the feathered edge is exercised"
    assert fill.pixels[..., 3].tobytes() == m.tobytes()
    # Outside the matte fill and matte are exactly +0.0 (all bits zero) ...
    outside = m == 0
    assert not fill.pixels[outside].view(np.uint32).any()
    assert not matte.pixels[outside].view(np.uint32).any()
    # ... and the output there is the plate, bit for bit: the matte is the one used.
    assert out.pixels[outside].tobytes() == p[outside].tobytes()
    # The recomposition, in float32, rounded to the output's pixel type: bit-exact.
    recomposed = (
        p[..., :3].astype(np.float32) * (np.float32(1) - m[..., None]) + fill.pixels[..., :3]
    )
    assert recomposed.astype(out.pixels.dtype).tobytes() == out.pixels[..., :3].tobytes()
    assert out.pixels[..., 3].tobytes() == p[..., 3].tobytes()  # the plate's alpha is untouched


def test_cli_fill_and_matte_recompose_to_the_half_output_bit_exactly(
    daemon, small_shot, shot_files, tmp_path
) -> None:
    out, fill_out, matte_out = (str(tmp_path / n / f"{n}.####.exr") for n in ("o", "f", "m"))
    r = cli(*run_args(shot_files, daemon, out, "--fill-out", fill_out, "--matte-out", matte_out))
    assert r.returncode == 0, r.stderr
    for pattern in (out, fill_out, matte_out):
        assert SequencePattern.parse(pattern).scan() == FRAMES
    for i, f in enumerate(FRAMES):
        qm = build_quadmask(small_shot.remove[i], small_shot.affected[i], DILATION)
        plate = read_image(SequencePattern.parse(shot_files["plate"]).path(f))
        result = read_image(SequencePattern.parse(out).path(f))
        assert result.pixels.dtype == np.float16
        check_recomposition(
            plate,
            result,
            read_image(SequencePattern.parse(fill_out).path(f)),
            read_image(SequencePattern.parse(matte_out).path(f)),
            composite_alpha(hole(qm), FEATHER),
        )


def test_float_plate_with_restored_grain_recomposes_bit_exactly(daemon, tmp_path) -> None:
    """A float32 plate (the output is float32 too) and the restore-detail fill path."""
    shot = make_shot(frames=8, width=96, height=64, seed=7)
    frames = shot.frames
    pats = {k: SequencePattern.parse(str(tmp_path / f"{k}.####.exr")) for k in ("plate", "rm")}
    for i, f in enumerate(frames):
        write_image(pats["plate"].path(f), shot.plate[i].astype(np.float32), channels=list("RGBA"))
        write_image(pats["rm"].path(f), shot.remove[i].astype(np.float32), channels=["A"])
    out, fill_out, matte_out = (str(tmp_path / f"{n}.####.exr") for n in ("o", "f", "m"))
    events: list[P.Message] = []
    req = RemoveRequest(
        str(pats["plate"]),
        str(pats["rm"]),
        out,
        settings={"window": 9, "overlap": 2, "dilation": DILATION, "feather": FEATHER}
        | {"restore_detail": True},
        endpoint=daemon.endpoint,
        autostart=False,
        fill_out=fill_out,
        matte_out=matte_out,
    )
    report = remove_sequence(req, on_event=events.append)
    assert report.frames_written == frames
    roles = [[d.role for d, _ in m.images] for m in events if isinstance(m, P.Result)]
    assert roles and all(r == ["result", "fill", "matte"] for r in roles)
    for i, f in enumerate(frames):
        qm = build_quadmask(shot.remove[i], None, DILATION)
        result = read_image(SequencePattern.parse(out).path(f))
        assert result.pixels.dtype == np.float32
        check_recomposition(
            read_image(pats["plate"].path(f)),
            result,
            read_image(SequencePattern.parse(fill_out).path(f)),
            read_image(SequencePattern.parse(matte_out).path(f)),
            composite_alpha(hole(qm), FEATHER),
        )


def test_fill_out_over_an_input_or_the_output_is_refused_before_anything_runs(
    daemon, shot_files, tmp_path
) -> None:
    out = str(tmp_path / "o.####.exr")
    r = cli(*run_args(shot_files, daemon, out, "--fill-out", shot_files["plate"]))
    assert r.returncode != 0
    assert "--fill-out" in r.stderr and "plate" in r.stderr and "overwrite" in r.stderr
    r = cli(*run_args(shot_files, daemon, out, "--matte-out", shot_files["remove"]))
    assert r.returncode != 0 and "--matte-out" in r.stderr and "remove matte" in r.stderr
    r = cli(*run_args(shot_files, daemon, out, "--matte-out", out))
    assert r.returncode != 0 and "same sequence as --out" in r.stderr
    assert not list(tmp_path.glob("*.exr")), "nothing was written"


def test_a_job_without_the_option_gets_no_extra_buffers(daemon, shot_files, tmp_path) -> None:
    """Old clients: a spec without ``outputs`` (also absent from its wire form) gets the
    composite alone in each ``result``, as before."""
    events: list[P.Message] = []
    req = RemoveRequest(
        shot_files["plate"],
        shot_files["remove"],
        str(tmp_path / "o.####.exr"),
        frame_range=(FRAMES[0], FRAMES[5]),
        settings={"window": 9, "overlap": 2, "dilation": DILATION, "feather": FEATHER},
        endpoint=daemon.endpoint,
        autostart=False,
    )
    assert remove_sequence(req, on_event=events.append).frames_written == FRAMES[:6]
    results = [m for m in events if isinstance(m, P.Result)]
    assert results and all([d.role for d, _ in m.images] == ["result"] for m in results)
    assert "outputs" not in JobSpec(frames=[1], width=8, height=8).to_dict()


def test_path_mode_and_unknown_layers_are_refused_clearly() -> None:
    spec = JobSpec(
        frames=[1], width=8, height=8, transfer="paths", out_pattern="/x/o.#.exr", outputs=["fill"]
    )
    with pytest.raises(VoidError) as err:
        spec.validate()
    # Path mode writes the layers itself (tests/integration/test_grade_outputs_modes.py): a
    # layer with neither a pattern nor layers_in_out has nowhere to go.
    assert err.value.code == ErrorCode.BAD_SPEC and err.value.field == "layer_patterns"
    assert "nowhere" in err.value.message
    with pytest.raises(VoidError) as err:
        JobSpec.from_dict({"frames": [1], "width": 8, "height": 8, "outputs": ["depth"]})
    assert err.value.field == "outputs"
