"""Sources are sacred, outputs are never silently mixed (issue 15, findings 1, 2, 9 and 10).

Real daemon subprocess, real EXR files, the real ``void-remove`` CLI. See docs/reliability.md,
"Sources and outputs"."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import FAST, run_args, void_remove
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.sequence import SequencePattern, read_image, write_image
from void_client.sequence_job import RemoveRequest, SequenceJob
from void_daemon.demo_shot import make_shot, write_shot

cli = void_remove


def digest(pattern: str, frames: list[int]) -> list[str]:
    pat = SequencePattern.parse(pattern)
    return [hashlib.sha256(Path(pat.path(f)).read_bytes()).hexdigest() for f in frames]


@pytest.fixture
def shot(tmp_path) -> dict[str, str]:
    s = make_shot(frames=12, width=64, height=48, seed=21)
    return write_shot(s, str(tmp_path / "in"))


FRAMES = list(range(1001, 1013))


def manifest_path(pattern: str) -> Path:
    from void_client.output_manifest import manifest_path as path_of

    return path_of(pattern)


def run(shot: dict[str, str], daemon, out: str, *extra: str, **kw) -> subprocess.CompletedProcess:
    return void_remove(*run_args(shot, daemon.endpoint, out, *extra), **kw)


def n_jobs(daemon) -> int:
    from void_client.client import DaemonClient

    with DaemonClient(daemon.endpoint) as c:
        return len(c.status())


# ---------------------------------------------------------------- finding 1: outputs over inputs
@pytest.mark.parametrize("target", ["plate", "plate%04d", "remove", "affected$F", "symlink"])
def test_out_over_an_input_is_refused_before_anything_is_sent(
    daemon, shot, tmp_path, target: str
) -> None:
    before = {k: digest(shot[k], FRAMES) for k in ("plate", "remove", "affected")}
    jobs = n_jobs(daemon)
    folder = os.path.dirname(shot["plate"])
    out = {
        "plate": shot["plate"],
        "plate%04d": os.path.join(folder, "plate.%04d.exr"),
        "remove": shot["remove"],
        "affected$F": os.path.join(folder, "affected.$F4.exr"),
        "symlink": str(tmp_path / "alias" / "plate.####.exr"),
    }[target]
    if target == "symlink":
        os.symlink(folder, tmp_path / "alias")
    r = run(shot, daemon, out)
    assert r.returncode == 2, r.stderr
    assert "[bad_spec]" in r.stderr and "would overwrite the" in r.stderr
    assert "choose another --out" in r.stderr
    role = {"remove": "remove matte", "affected$F": "affected matte"}.get(target, "plate")
    assert f"the {role}'s frame" in r.stderr
    assert {k: digest(shot[k], FRAMES) for k in ("plate", "remove", "affected")} == before
    assert n_jobs(daemon) == jobs  # nothing was submitted


def test_path_mode_request_building_refuses_out_equal_to_plate(shot, tmp_path) -> None:
    from void_client.farm.farm_spec import FarmSpec

    req = RemoveRequest(shot["plate"], shot["remove"], shot["plate"].replace("####", "%04d"))
    with pytest.raises(VoidError) as err:
        FarmSpec.from_request(req, work_dir=tmp_path / "w")
    assert err.value.code == ErrorCode.BAD_SPEC and "would overwrite the plate's frame" in (
        err.value.message
    )
    with pytest.raises(VoidError, match="would overwrite the remove matte's frame"):
        SequenceJob(RemoveRequest(shot["plate"], shot["remove"], shot["remove"]))


# ---------------------------------------------------------------- finding 2: mixed sequences
def test_rerun_with_new_settings_is_refused_then_overwrite_leaves_nothing_old(
    daemon, shot, tmp_path
) -> None:
    out = str(tmp_path / "out" / "clean.####.exr")
    first = run(shot, daemon, out)
    assert first.returncode == 0, first.stderr
    man1 = json.loads(manifest_path(out).read_text())
    assert man1["state"] == "complete" and man1["frames_written"] == FRAMES
    job1 = man1["job"]
    old = digest(out, FRAMES)
    # The same command again is a re-run of the same job: allowed (the cache makes it cheap).
    again = run(shot, daemon, out)
    assert again.returncode == 0, again.stderr
    # New settings into the same sequence: refused, naming the job that wrote it.
    mixed = run(shot, daemon, out, "--dilation", "5")
    assert mixed.returncode == 2, mixed.stderr
    assert "--overwrite" in mixed.stderr and "--version-up" in mixed.stderr
    assert digest(out, FRAMES) == old
    # --overwrite: every frame is new, the manifest names only the new job.
    ow = run(shot, daemon, out, "--dilation", "5", "--overwrite")
    assert ow.returncode == 0, ow.stderr
    man = json.loads(manifest_path(out).read_text())
    assert man["state"] == "complete" and man["job"] != job1
    assert {j["job"] for j in man["jobs"]} == {man["job"]}
    assert all(a != b for a, b in zip(digest(out, FRAMES), old))


def test_frames_nobody_recorded_are_not_overwritten_without_overwrite(
    daemon, shot, tmp_path
) -> None:
    out = tmp_path / "out" / "clean.####.exr"
    stray = SequencePattern.parse(str(out)).path(1003)
    write_image(stray, np.zeros((48, 64, 4), np.float16))
    r = run(shot, daemon, str(out))
    assert r.returncode == 2 and "1003" in r.stderr and "--overwrite" in r.stderr, r.stderr
    assert read_image(stray).pixels.max() == 0


def test_version_up_writes_the_next_free_version_and_says_so(daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "out" / "clean_v001.####.exr")
    assert run(shot, daemon, out).returncode == 0
    r = run(shot, daemon, out, "--dilation", "5", "--version-up")
    assert r.returncode == 0, r.stderr
    v2 = str(tmp_path / "out" / "clean_v002.####.exr")
    assert v2 in r.stderr
    assert SequencePattern.parse(v2).scan() == FRAMES


def test_two_writers_to_one_sequence_the_second_is_refused_naming_the_first(
    daemon, shot, tmp_path
) -> None:
    out = str(tmp_path / "out" / "clean.####.exr")
    other = make_shot(frames=12, width=64, height=48, seed=22)
    other_paths = write_shot(other, str(tmp_path / "in2"))
    from void_client.output_manifest import claim_output

    # The first writer holds the sequence (as a running `void-remove run` does).
    spec = JobSpec(frames=FRAMES, width=64, height=48)
    with claim_output(SequencePattern.parse(out), FRAMES, spec, [shot["plate"], "", ""]) as claim:
        claim.set_job("first-job-123")
        t0 = time.monotonic()
        r = run(other_paths, daemon, out)
        assert r.returncode == 2, r.stderr
        assert "first-job-123" in r.stderr and "is writing" in r.stderr
        assert time.monotonic() - t0 < 30
    assert SequencePattern.parse(out).scan() == []


# ---------------------------------------------------------------- finding 9: modes and fsync
def test_outputs_follow_the_umask(daemon, shot, tmp_path) -> None:
    out = str(tmp_path / "out" / "clean.####.exr")
    r = run(shot, daemon, out, umask=0o022)
    assert r.returncode == 0, r.stderr
    pat = SequencePattern.parse(out)
    modes = {oct(os.stat(pat.path(f)).st_mode & 0o777) for f in FRAMES}
    assert modes == {"0o644"}
    assert oct(os.stat(manifest_path(out)).st_mode & 0o777) == "0o644"
    r = run(shot, daemon, str(tmp_path / "o2" / "c.####.exr"), umask=0o002)
    assert {
        oct(
            os.stat(SequencePattern.parse(str(tmp_path / "o2" / "c.####.exr")).path(f)).st_mode
            & 0o777
        )
        for f in FRAMES
    } == {"0o664"}


def test_write_image_fsyncs_the_file_before_rename_and_the_folder_after(
    tmp_path, monkeypatch
) -> None:
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        calls.append(("fsync", target))
        real_fsync(fd)

    def replace(a, b) -> None:  # type: ignore[no-untyped-def]
        calls.append(("replace", os.fspath(b)))
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    dest = str(tmp_path / "o" / "x.1001.exr")
    write_image(dest, np.ones((4, 4, 3), np.float16))
    kinds = [
        (k, os.path.basename(p) if k == "replace" or not os.path.isdir(p) else "<dir>")
        for k, p in calls
    ]
    assert kinds[-2][0] == "replace" and kinds[-1] == ("fsync", "<dir>"), calls
    assert kinds[-3][0] == "fsync" and kinds[-3][1].startswith(".x.1001.exr"), calls


# ---------------------------------------------------------------- finding 10: client messages
def test_plate_frame_that_is_a_folder_says_so(tmp_path) -> None:
    os.makedirs(tmp_path / "p.1001.exr")
    with pytest.raises(VoidError) as err:
        read_image(str(tmp_path / "p.1001.exr"))
    assert "is a folder" in err.value.message and "does not exist" not in err.value.message


def test_openimageio_lines_are_folded_into_one_message(daemon, shot, tmp_path) -> None:
    pat = SequencePattern.parse(shot["plate"])
    data = Path(pat.path(1004)).read_bytes()
    Path(pat.path(1004)).write_bytes(data[:20])  # a header cut short
    r = run(shot, daemon, str(tmp_path / "o" / "c.####.exr"))
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "━" not in ln]
    errors = [ln for ln in lines if ln.startswith("void-remove: error")]
    assert len(errors) == 1 and "[corrupt_frame]" in errors[0] and "1004" in errors[0]
    assert not [ln for ln in lines if ln.startswith("EXR Error")], r.stderr


def test_channel_selector_on_the_plate_fails_before_any_work(daemon, shot, tmp_path) -> None:
    jobs = n_jobs(daemon)
    r = cli(
        "run",
        "--plate",
        shot["plate"] + ":R",
        "--remove",
        shot["remove"],
        "--out",
        str(tmp_path / "o" / "c.####.exr"),
        *FAST,
        "--endpoint",
        daemon.endpoint,
        "--no-autostart",
    )
    assert r.returncode == 2 and "[bad_spec]" in r.stderr and "--plate" in r.stderr, r.stderr
    bad = cli(
        "run",
        "--plate",
        shot["plate"],
        "--remove",
        shot["remove"],
        "--affected",
        shot["affected"] + ":nosuch.a",
        "--out",
        str(tmp_path / "o" / "c.####.exr"),
        *FAST,
        "--endpoint",
        daemon.endpoint,
        "--no-autostart",
    )
    assert bad.returncode == 2 and "no channel 'nosuch.a'" in bad.stderr, bad.stderr
    assert n_jobs(daemon) == jobs


def test_window_alone_picks_an_overlap_that_fits(daemon, shot, tmp_path) -> None:
    r = cli(
        "-v",
        "run",
        "--plate",
        shot["plate"],
        "--remove",
        shot["remove"],
        "--out",
        str(tmp_path / "o" / "c.####.exr"),
        "--window",
        "5",
        "--endpoint",
        daemon.endpoint,
        "--no-autostart",
    )
    assert r.returncode == 0, r.stderr
    assert "--overlap 1" in r.stderr  # what was chosen, said with -v
