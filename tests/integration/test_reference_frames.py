"""Reference frames (``void-remove run --reference FRAME=PATH``) on real parts: EXR files →
client checks → ZeroMQ → daemon subprocess → propagate → EXR files.

The paired shot (tests/support/reference_shot.py) is a locked-off photograph with a large
object drifting slowly in front of it, so most of what it hides is never shown by the shot;
its true clean plate is the reference. Numbers: docs/benchmarks.md, "Reference frames".
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.daemons import DaemonProcess
from tests.support.reference_shot import slow_object_shot
from void_client import protocol as P
from void_client.client import DaemonClient
from void_client.job_spec import JobSpec
from void_client.quadmask import build_quadmask, hole
from void_client.sequence import SequencePattern, read_image, write_image
from void_client.sequence_job import RemoveRequest, remove_sequence
from void_daemon.demo_shot import Shot, write_shot
from void_daemon.metrics import psnr

SETTINGS = {"dilation": 3, "feather": 4}
#: Frames measured: at least 20 frames from the reference at the first frame.
FAR = 20
#: Measured on this shot (docs/benchmarks.md): hole PSNR of frames >= 20 away goes from about
#: 23 dB to about 37 dB with the reference (43 dB with 13-frame windows); asserted well below that.
MIN_GAIN_DB = 8.0


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "void_client.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def shot() -> Shot:
    return slow_object_shot(frames=24, width=96, height=64)


@pytest.fixture(scope="module")
def files(shot: Shot, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_shot(shot, str(tmp_path_factory.mktemp("refshot")))


def _run(daemon, files: dict[str, str], out: Path, references: dict[int, str], **settings):
    req = RemoveRequest(
        files["plate"],
        files["remove"],
        str(out),
        settings={**SETTINGS, **settings},
        endpoint=daemon.endpoint,
        autostart=False,
        references=references,
    )
    return remove_sequence(req)


def _frames(pattern: Path, frames: list[int]) -> np.ndarray:
    pat = SequencePattern.parse(str(pattern))
    return np.stack([read_image(pat.path(f)).pixels[..., :3] for f in frames]).astype(np.float32)


def _hole_psnr(result: np.ndarray, shot: Shot, positions: range) -> float:
    qm = np.stack([build_quadmask(shot.remove[p], None, SETTINGS["dilation"]) for p in positions])
    idx = list(positions)
    return psnr(result[idx], shot.truth[idx], hole(qm))


@pytest.mark.parametrize("window", [197, 13])
def test_a_clean_reference_raises_the_hole_psnr_far_from_it(
    daemon, shot: Shot, files: dict[str, str], tmp_path: Path, window: int
) -> None:
    """One window (the reference inside it) and 13-frame windows (later windows see the
    reference from outside, as their nearest source)."""
    truth_1001 = SequencePattern.parse(files["truth"]).path(1001)
    settings = {"window": window, "overlap": 4 if window == 13 else 16}
    _run(daemon, files, tmp_path / "plain" / "o.####.exr", {}, **settings)
    report = _run(daemon, files, tmp_path / "ref" / "o.####.exr", {1001: truth_1001}, **settings)
    assert report.frames_written == shot.frames
    plain = _frames(tmp_path / "plain" / "o.####.exr", shot.frames)
    ref = _frames(tmp_path / "ref" / "o.####.exr", shot.frames)
    far = range(FAR, len(shot.frames))
    before, after = _hole_psnr(plain, shot, far), _hole_psnr(ref, shot, far)
    print(f"window {window}: hole PSNR frames >= {FAR} away: {before:.2f} -> {after:.2f} dB")
    assert after > before + MIN_GAIN_DB
    # The reference frame itself shows what the artist painted in its hole.
    assert _hole_psnr(ref, shot, range(0, 1)) > 40.0
    # Outside the composite's edge the plate is untouched, reference or not.
    plate = _frames(Path(files["plate"]), shot.frames)
    qm0 = build_quadmask(shot.remove[FAR], None, SETTINGS["dilation"])
    far_away = ~hole(qm0)
    far_away[:, 8:] = False  # well clear of the object's path and the feather
    assert ref[FAR][far_away].tobytes() == plate[FAR][far_away].tobytes()


def _status_jobs(daemon) -> int:
    with DaemonClient(daemon.endpoint) as c:
        return len(c.status())


@pytest.mark.parametrize("case", ["size", "range", "nan", "output", "missing"])
def test_a_bad_reference_is_refused_before_anything_runs(
    daemon, shot: Shot, files: dict[str, str], tmp_path: Path, case: str
) -> None:
    ref = tmp_path / "clean.1001.exr"
    frame = 1001
    out = tmp_path / "out" / "o.####.exr"
    if case == "size":
        write_image(str(ref), np.zeros((32, 48, 3), np.float16), channels=["R", "G", "B"])
        expect = "is 48x32 but the plate is 96x64; paint the reference at the plate's size"
    elif case == "range":
        write_image(str(ref), shot.truth[0].astype(np.float16), channels=["R", "G", "B"])
        frame, expect = 2000, "frame 2000 is outside the shot's frames 1001-1024"
    elif case == "nan":
        px = shot.truth[0].copy()
        px[5, 5, 1] = np.nan
        write_image(str(ref), px.astype(np.float16), channels=["R", "G", "B"])
        expect = "[nan_in_input]"
    elif case == "output":  # the reference is one of the output's frames: sources are sacred
        ref = tmp_path / "out" / "o.1001.exr"
        ref.parent.mkdir()
        write_image(str(ref), shot.truth[0].astype(np.float16), channels=["R", "G", "B"])
        expect = "would overwrite the input frame"
    else:
        expect = "no such file"
    jobs = _status_jobs(daemon)
    r = _cli(
        "run",
        "--plate",
        files["plate"],
        "--remove",
        files["remove"],
        "--out",
        str(out),
        "--reference",
        f"{frame}={ref}",
        "--endpoint",
        daemon.endpoint,
        "--no-autostart",
    )
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("void-remove: error") and expect in last, r.stderr
    # Refused by the client: no job reached the daemon and no frame was written.
    assert _status_jobs(daemon) == jobs
    written = SequencePattern.parse(str(out)).scan()
    assert written == ([1001] if case == "output" else [])
    if case == "output":  # still the artist's file, untouched
        kept = read_image(str(ref)).pixels
        assert kept.tobytes() == shot.truth[0].astype(np.float16).tobytes()


def test_the_daemon_refuses_a_reference_frame_outside_the_job() -> None:
    """The spec's own check, for clients that skip the CLI (hosts, scripts)."""
    with pytest.raises(Exception) as exc:
        JobSpec(frames=[1, 2, 3], width=8, height=8, references=[7]).validate()
    assert "reference frame 7 is outside the job's frames 1-3" in str(exc.value)


def test_without_references_the_job_is_unchanged(
    daemon, shot: Shot, files: dict[str, str], tmp_path: Path
) -> None:
    """Default behaviour: the spec reads as before (older daemons accept it), the window cache
    key is the one it always was, and references never leak into a job without them."""
    spec = JobSpec(frames=[1, 2], width=8, height=8)
    assert "references" not in spec.to_dict()
    truth_1001 = SequencePattern.parse(files["truth"]).path(1001)
    first = _run(daemon, files, tmp_path / "a" / "o.####.exr", {})
    _run(daemon, files, tmp_path / "b" / "o.####.exr", {1001: truth_1001})
    again = _run(daemon, files, tmp_path / "c" / "o.####.exr", {})
    # The same windows as the first run, from the cache: the key ignores nothing it should see.
    assert again.cached_windows == again.windows == first.windows
    a = _frames(tmp_path / "a" / "o.####.exr", shot.frames)
    b = _frames(tmp_path / "b" / "o.####.exr", shot.frames)
    c = _frames(tmp_path / "c" / "o.####.exr", shot.frames)
    assert a.tobytes() == c.tobytes()
    assert a.tobytes() != b.tobytes()


def _path_job(client: DaemonClient, files: dict[str, str], out: str, ref: str) -> P.Message:
    """A path-mode job (farm, Nuke batch): the daemon reads the reference itself."""
    plate, remove = (SequencePattern.parse(files[k]) for k in ("plate", "remove"))
    frames = list(range(1001, 1025))
    spec = JobSpec(
        frames=frames,
        width=96,
        height=64,
        transfer="paths",
        out_pattern=out,
        references=[1001] if ref else [],
        dilation=SETTINGS["dilation"],
        feather=SETTINGS["feather"],
    )
    ack = client.submit(spec)
    entries: list[P.PathEntry] = []
    for f in frames:
        entry: P.PathEntry = {"frame": f, "plate": plate.path(f), "remove": remove.path(f)}
        if ref and f == 1001:
            entry["reference"] = ref
        entries.append(entry)
    client.send_frames(ack.job, paths=entries)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        msg = client.recv(10)
        if isinstance(msg, P.Error) or (isinstance(msg, P.Progress) and msg.stage == "done"):
            return msg
    raise AssertionError("path-mode job did not finish")


def test_path_mode_reads_the_reference_and_checks_it(shot: Shot, tmp_path: Path) -> None:
    root = tmp_path / "show"
    files = write_shot(shot, str(root / "in"))
    truth_1001 = SequencePattern.parse(files["truth"]).path(1001)
    small = str(root / "in" / "small.exr")
    write_image(small, np.zeros((32, 48, 3), np.float16), channels=["R", "G", "B"])
    d = DaemonProcess(tmp_path / "jobs", extra=["--allow-root", str(root)]).start()
    try:
        with DaemonClient(d.endpoint) as c:
            plain, ref = str(root / "a" / "o.####.exr"), str(root / "b" / "o.####.exr")
            assert isinstance(_path_job(c, files, plain, ""), P.Progress)
            assert isinstance(_path_job(c, files, ref, truth_1001), P.Progress)
            bad = _path_job(c, files, str(root / "c" / "o.####.exr"), small)
    finally:
        d.stop()
    assert isinstance(bad, P.Error) and "small.exr) is 48x32 but the job is 96x64" in bad.message, (
        bad
    )
    far = range(FAR, len(shot.frames))
    before = _hole_psnr(_frames(Path(plain), shot.frames), shot, far)
    after = _hole_psnr(_frames(Path(ref), shot.frames), shot, far)
    assert after > before + MIN_GAIN_DB
