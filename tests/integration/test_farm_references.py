"""Reference frames through the farm (issue 20, "Reference frames"): ``void-remove farm openjd
... --reference FRAME=PATH`` on real parts: the generated OpenJD template run by the real
``openjd run``, the window tasks in subprocesses, compared bit for bit with ``void-remove run
--reference`` through a real daemon.

The shot is the paired one of tests/integration/test_reference_frames.py (a locked-off
photograph, a large object drifting slowly in front of it: most of what it hides is never shown
by the shot, only by the clean frame). The reference is the true clean plate at the first frame;
with 13-frame windows the later windows use it from outside (the nearest source within reach),
so a task that does not get it fills those windows differently.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import direct_runs, openjd_args
from tests.support.reference_shot import slow_object_shot
from void_client.errors import ErrorCode, VoidError
from void_client.farm import FarmSpec
from void_client.quadmask import build_quadmask, hole
from void_client.sequence import SequencePattern, read_image
from void_daemon.demo_shot import Shot, write_shot
from void_daemon.farm_tasks import check_job, run_window_task
from void_daemon.metrics import psnr

FRAMES = list(range(1001, 1025))
COMMAND = [sys.executable, "-m", "void_client.cli.main"]
OPENJD = str(Path(sys.executable).with_name("openjd"))
DILATION = 3
#: Frames measured for the reference's effect: the last window's, 18-23 frames from it.
FAR = range(18, 24)
#: The reference raises the hole PSNR of those frames by about 14 dB locally
#: (docs/benchmarks.md, "Reference frames"); asserted well below that.
MIN_GAIN_DB = 6.0


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout)


def shot_args(paths: dict[str, str]) -> list[str]:
    """The shot and settings of every run here: three 13-frame windows, two seams."""
    return [
        "--plate",
        paths["plate"],
        "--remove",
        paths["remove"],
        "--window",
        "13",
        "--overlap",
        "4",
        "--dilation",
        str(DILATION),
        "--feather",
        "4",
    ]


def frames_of(pattern: str) -> np.ndarray:
    pat = SequencePattern.parse(pattern)
    return np.stack([read_image(pat.path(f)).pixels[..., :3] for f in FRAMES]).astype(np.float32)


def hole_psnr(result: np.ndarray, shot: Shot, positions: range) -> float:
    qm = np.stack([build_quadmask(shot.remove[p], None, DILATION) for p in positions])
    idx = list(positions)
    return psnr(result[idx], shot.truth[idx], hole(qm))


@pytest.fixture(scope="module")
def shot() -> Shot:
    return slow_object_shot(frames=len(FRAMES), width=96, height=64)


@pytest.fixture(scope="module")
def paths(shot: Shot, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    p = write_shot(shot, str(tmp_path_factory.mktemp("farm-ref-shot")))
    p["reference"] = SequencePattern.parse(p["truth"]).path(FRAMES[0])
    return p


@pytest.fixture(scope="module")
def direct(paths, daemon, tmp_path_factory: pytest.TempPathFactory):
    """``void-remove run --reference`` through the real daemon, once per seam mode."""
    reference = ["--reference", f"{FRAMES[0]}={paths['reference']}"]
    return direct_runs(
        daemon.endpoint, tmp_path_factory.mktemp, [*shot_args(paths), *reference], "direct-ref"
    )


def openjd_job(paths: dict[str, str], folder: Path, seam: str, *extra: str) -> Path:
    r = cli(*openjd_args(shot_args(paths), folder, seam, *extra))
    assert r.returncode == 0, r.stderr
    return Path(r.stdout.strip())


@pytest.mark.parametrize("seam", ["crossfade", "chain"])
def test_openjd_run_with_a_reference_gives_the_daemons_frames_bit_for_bit(
    shot, paths, direct, tmp_path: Path, seam: str
) -> None:
    template = openjd_job(paths, tmp_path, seam, "--reference", f"{FRAMES[0]}={paths['reference']}")
    farm = FarmSpec.load(template.parent / "farm.json")
    # The job carries the reference: the frame in the job spec, its file (absolute) beside it.
    assert farm.job.references == [FRAMES[0]]
    assert farm.reference_paths() == {FRAMES[0]: os.path.abspath(paths["reference"])}
    run = subprocess.run(
        [OPENJD, "run", str(template)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Session ended successfully" in run.stdout

    farm_px, direct_px = frames_of(farm.out_pattern), frames_of(direct(seam))
    assert farm_px.tobytes() == direct_px.tobytes(), "farm and daemon results differ"

    # Not equal by accident: the same farm job without the reference fills the far frames
    # (the last window, which only sees the reference from outside) much worse.
    plain = openjd_job(paths, tmp_path / "plain", seam)
    run = subprocess.run([OPENJD, "run", str(plain)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    plain_px = frames_of(FarmSpec.load(plain.parent / "farm.json").out_pattern)
    with_ref, without = hole_psnr(farm_px, shot, FAR), hole_psnr(plain_px, shot, FAR)
    print(f"farm {seam}: hole PSNR frames 18-23: {without:.2f} dB -> {with_ref:.2f} dB")
    assert with_ref > without + MIN_GAIN_DB
    # Every window got the reference's pixels from the job's files, and assemble pruned them.
    assert not list((farm.job_dir / "in").glob("*.ref.npy"))


def test_a_window_task_reads_the_reference_itself_and_says_when_it_is_gone(
    paths, tmp_path: Path
) -> None:
    """A task on a worker: the reference is read from shared storage by the task that needs
    it, and one that vanished after submission is named, not silently left out."""
    gone = tmp_path / "clean.1001.exr"
    gone.write_bytes(Path(paths["reference"]).read_bytes())
    template = openjd_job(
        paths, tmp_path, "crossfade", "--reference", f"{FRAMES[0]}={gone}", "--keep-work"
    )
    farm = FarmSpec.load(template.parent / "farm.json")
    assert check_job(farm)["checked"][-1] == f"reference frame {FRAMES[0]} readable"
    assert not run_window_task(farm, 2).skipped  # the last window, far from the reference
    assert sorted(p.name for p in (farm.job_dir / "in").glob("*.ref.npy")) == ["000000.ref.npy"]
    gone.unlink()
    for p in (farm.job_dir / "in").glob("*.ref.npy"):
        p.unlink()
    with pytest.raises(VoidError) as err:
        run_window_task(farm, 1)
    assert err.value.code == ErrorCode.MISSING_FRAMES and str(gone) in err.value.message
    with pytest.raises(VoidError) as err:
        check_job(farm)
    assert str(gone) in err.value.message


def test_references_go_with_the_shot_flags_not_with_an_existing_job(paths, tmp_path) -> None:
    template = openjd_job(paths, tmp_path, "crossfade", "--no-check")
    r = cli(
        "farm",
        "openjd",
        str(template.parent / "farm.json"),
        "--reference",
        f"{FRAMES[0]}={paths['reference']}",
        "--no-check",
    )
    assert r.returncode == 2
    assert "--reference" in r.stderr.strip().splitlines()[-1]
    # A farm.json whose reference frames and files disagree is refused when read.
    spec = FarmSpec.load(template.parent / "farm.json").to_dict()
    spec["references"] = {str(FRAMES[0]): paths["reference"]}
    with pytest.raises(VoidError) as err:
        FarmSpec.from_dict(spec)
    assert err.value.field == "references"
