"""Issue 20's CLI rough edges and ``--preview``, on real parts: EXR files, the CLI, a daemon.

Each test reproduces one finding: a wrong pattern reported as bare "missing frames", progress
``N/?`` without ``--range``, ``--window`` alone, and the quick preview computing only the
windows that hold the requested frames.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from void_client.cli import main as cli_main
from void_client.client import DaemonClient
from void_client.job_spec import JobSpec
from void_client.sequence import SequencePattern, read_image
from void_client.sequence_job import SequenceJob


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "void_client.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_wrong_pattern_names_what_exists_and_the_pattern_that_matches(shot_files, tmp_path) -> None:
    folder = os.path.dirname(shot_files["plate"])
    for wrong in ("plate_####.exr", "plate.#####.exr", "Plate.####.EXR"):
        r = cli(
            "run",
            "--plate",
            os.path.join(folder, wrong),
            "--remove",
            shot_files["remove"],
            "--out",
            str(tmp_path / "o.####.exr"),
            "--no-autostart",
        )
        print(f"{wrong}: {r.stderr.strip()}")
        assert r.returncode == 2
        assert "[missing_frames]" in r.stderr
        assert "plate.1001-1040.exr exists" in r.stderr
        assert f"did you mean {os.path.join(folder, 'plate.####.exr')}?" in r.stderr


def test_wrong_matte_pattern_with_a_range_names_the_matte_sequence(shot_files, tmp_path) -> None:
    folder = os.path.dirname(shot_files["plate"])
    r = cli(
        "run",
        "--plate",
        shot_files["plate"],
        "--remove",
        os.path.join(folder, "remove.%05d.exr"),
        "--out",
        str(tmp_path / "o.####.exr"),
        "--range",
        "1001-1010",
        "--no-autostart",
    )
    assert r.returncode == 2, r.stderr
    assert "remove.1001-1040.exr exists" in r.stderr, r.stderr
    assert f"did you mean {os.path.join(folder, 'remove.####.exr')}?" in r.stderr


def test_progress_has_a_total_and_an_eta_without_range_and_window_alone_runs(
    daemon, shot_files, tmp_path
) -> None:
    # --window 13 alone (no --overlap): a valid overlap is derived; no --range: the total is
    # the 40 plate frames on disk, not "?".
    out = str(tmp_path / "out" / "clean.####.exr")
    r = cli(
        "run",
        "--plate",
        shot_files["plate"],
        "--remove",
        shot_files["remove"],
        "--out",
        out,
        "--window",
        "13",
        "--endpoint",
        daemon.endpoint,
        "--no-autostart",
    )
    print(r.stderr[-600:])
    assert r.returncode == 0, r.stderr
    assert "40/40" in r.stderr and "/?" not in r.stderr
    assert "ETA 0:00" in r.stderr  # the finished bar: the daemon's ETA, counted down to zero
    assert "wrote 40 frames" in r.stderr and "(4 windows" in r.stderr


class Counting:
    """Counts what the client sends and submits (the daemon's side of the wire is real)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[int] = []
        self.submitted: list[list[int]] = []
        send, submit = DaemonClient.send_frames, DaemonClient.submit

        def send_frames(client, job, images=None, **kw):
            self.sent.extend(sorted({d.frame for d, _ in images or []}))
            return send(client, job, images=images, **kw)

        def submit_(client, spec: JobSpec, result_credit: int = 8):
            self.submitted.append(list(spec.frames))
            self.spec = spec
            return submit(client, spec, result_credit)

        monkeypatch.setattr(DaemonClient, "send_frames", send_frames)
        monkeypatch.setattr(DaemonClient, "submit", submit_)
        self.received: list[int] = []
        write = SequenceJob.write_result

        def write_result(job, frame, pixels):
            self.received.append(frame)
            return write(job, frame, pixels)

        monkeypatch.setattr(SequenceJob, "write_result", write_result)


def test_preview_computes_only_the_covering_windows_and_writes_the_frames(
    daemon, shot_files, tmp_path, monkeypatch, capsys
) -> None:
    # 40 frames, --window 13 --overlap 4: windows at positions 0-12, 9-21, 18-30, 27-39.
    # Frame 1020 (position 19) sits deepest in window 1 (frames 1010-1022); frame 1003 in
    # window 0 (1001-1013): the two touch, so one job of frames 1001-1022, 22 of 40 sent.
    count = Counting(monkeypatch)
    out = str(tmp_path / "o" / "clean.####.exr")
    rc = cli_main.main(
        [
            "run",
            "--plate",
            shot_files["plate"],
            "--remove",
            shot_files["remove"],
            "--affected",
            shot_files["affected"],
            "--out",
            out,
            "--window",
            "13",
            "--overlap",
            "4",
            "--preview",
            "1020,1003",
            "--endpoint",
            daemon.endpoint,
            "--no-autostart",
        ]
    )
    err = capsys.readouterr().err
    print(err[-800:])
    assert rc == 0, err
    assert count.submitted == [list(range(1001, 1023))]
    assert sorted(count.sent) == list(range(1001, 1023))
    assert sorted(count.received) == list(range(1001, 1023))
    assert count.spec.pass2 is False and count.spec.engine_options == {}
    preview = SequencePattern.parse(str(tmp_path / "o" / "clean_preview.####.exr"))
    assert preview.scan() == [1003, 1020]  # only the requested frames are written
    assert not SequencePattern.parse(out).scan()  # the real output is untouched
    assert f"preview written: {preview.path(1003)}, {preview.path(1020)}" in err
    assert "computing 2 window(s), frames 1001-1013, 1010-1022" in err
    img = read_image(preview.path(1020))
    plate = read_image(SequencePattern.parse(shot_files["plate"]).path(1020))
    assert img.pixels.shape == plate.pixels.shape and img.channels == plate.channels
    manifest = Path(preview.prefix).parent / ".clean_preview.####.exr.void-remove.json"
    assert manifest.exists() and '"frames_written": [\n  1003,\n  1020\n ]' in manifest.read_text()


def test_preview_far_apart_frames_run_as_separate_jobs_and_rerun_replaces(
    daemon, shot_files, tmp_path, monkeypatch, capsys
) -> None:
    count = Counting(monkeypatch)
    out = str(tmp_path / "clean.####.exr")
    args = [
        "run",
        "--plate",
        shot_files["plate"],
        "--remove",
        shot_files["remove"],
        "--out",
        out,
        "--window",
        "13",
        "--overlap",
        "4",
        "--preview",
        "1001,1040",
        "--endpoint",
        daemon.endpoint,
        "--no-autostart",
    ]
    assert cli_main.main(args) == 0, capsys.readouterr().err
    # Windows 0 (1001-1013) and 3 (1028-1040): two jobs, no window across the gap.
    assert count.submitted == [list(range(1001, 1014)), list(range(1028, 1041))]
    assert len(count.sent) == 26
    # Other settings, same preview frames: replaced, not refused as "another job's frames".
    assert cli_main.main([*args, "--dilation", "5"]) == 0, capsys.readouterr().err
    preview = SequencePattern.parse(str(tmp_path / "clean_preview.####.exr"))
    assert preview.scan() == [1001, 1040]


def test_a_truncated_frame_is_one_line_with_no_raw_openimageio_lines(
    daemon, shot_files, tmp_path
) -> None:
    # Already fixed by issue 15 (sequence.oiio_message): kept here as its regression test.
    src = SequencePattern.parse(shot_files["plate"])
    plate = SequencePattern.parse(str(tmp_path / "plate.####.exr"))
    for f in range(1001, 1011):
        data = Path(src.path(f)).read_bytes()
        Path(plate.path(f)).write_bytes(data[: len(data) // 3] if f in (1001, 1005) else data)
    for first in ("1001", "1002"):  # at the header check, and while uploading
        r = cli(
            "run",
            "--plate",
            str(plate),
            "--remove",
            shot_files["remove"],
            "--out",
            str(tmp_path / f"o{first}" / "c.####.exr"),
            "--range",
            f"{first}-1010",
            "--endpoint",
            daemon.endpoint,
            "--no-autostart",
        )
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        print(r.stderr)
        assert r.returncode == 2
        errors = [ln for ln in lines if ln.startswith("void-remove: error [corrupt_frame]")]
        assert len(errors) == 1 and ("frame 1001" in errors[0] or "frame 1005" in errors[0])
        assert not [ln for ln in lines if "EXR" in ln and not ln.startswith("void-remove:")]
