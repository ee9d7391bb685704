"""Issue 20, CLI half: ``--help`` defaults, ``--preset``, the full-frame matte warning, the
progress total/ETA without ``--range``, pattern hints and the preview's window choice."""

from __future__ import annotations

import argparse
import io
import logging
import os

import numpy as np
import pytest
from rich.console import Console

from void_client import protocol as P
from void_client.cli import main as cli_main
from void_client.cli.progress import job_progress
from void_client.cli.run import (
    PREVIEW_VOID_STEPS,
    covering_windows,
    fast_settings,
    parse_preview,
    preview_pattern,
    preview_spans,
    settings_from_args,
)
from void_client.errors import VoidError
from void_client.pattern_hint import pattern_hint
from void_client.presets import preset_names
from void_client.sequence import SequencePattern, write_image
from void_client.sequence_job import RemoveRequest, SequenceJob
from void_client.session import JobClock


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli_main.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_help_states_its_defaults() -> None:
    checked = 0
    for name, p in _subparsers().items():
        if name not in cli_main.COMMANDS:
            continue  # plugin commands build their own parser when asked
        text = " ".join(p.format_help().split())
        for a in p._actions:
            d = a.default
            if not a.option_strings or a.dest == "help":
                continue
            if d is None or d is False or (isinstance(d, (str, list)) and not d):
                continue
            checked += 1
            help_text = " ".join(cli_main.HelpFormatter("x")._get_help_string(a).split())
            assert "default" in help_text.lower(), (name, a.option_strings, d)
            assert help_text.replace("%(default)s", str(d)) in text.replace("%%", "%")
    assert checked >= 15
    run_help = " ".join(_subparsers()["run"].format_help().split())
    for shown in (
        "--window WINDOW longest window in frames (rounded down to 8m+5) (default: 197)",
        "(default: propagate)",
        "(default: 42)",
        "(default: crossfade)",
        "daemon address (default: tcp://",
    ):
        assert shown in run_help
    for name in preset_names():  # --help lists the presets
        assert f"'{name}'" in run_help and f" {name}: " in run_help


def _run_args(*extra: str) -> argparse.Namespace:
    argv = ["run", "--plate", "p.####.exr", "--remove", "r.####.exr", "--out", "o.####.exr"]
    argv += list(extra)
    args = cli_main.build_parser().parse_args(argv)
    args._explicit = cli_main.explicit_options(cli_main.build_parser(), argv)
    return args


def test_preset_sets_the_fields_and_explicit_flags_override_it() -> None:
    s = settings_from_args(_run_args("--preset", "fast-preview"))
    assert (s["window"], s["overlap"], s["feather"], s["roi_margin"]) == (45, 8, 4, 32)
    assert s["engine_options"] == {"steps": 10} and s["pass2"] is False
    s = settings_from_args(_run_args("--preset", "final", "--feather", "9", "--window", "85"))
    assert s["feather"] == 9 and s["window"] == 85 and s["pass2"] is True
    assert s["overlap"] == 16 and s["dilation"] == 4  # the preset's, valid for window 85
    s = settings_from_args(_run_args("--preset", "long shot", "--window", "13"))
    assert s["seam"] == "chain" and s["overlap"] == 4  # 32 would not fit a 13-frame window
    s = settings_from_args(_run_args("--preset", "Final", "--overlap", "8"))
    assert s["overlap"] == 8 and s["window"] == 197
    # Without a preset nothing changes: the flags' defaults, overlap derived from the window.
    s = settings_from_args(_run_args("--window", "13"))
    assert (s["window"], s["overlap"], s["feather"]) == (13, 4, 6) and "engine_options" not in s
    with pytest.raises(VoidError) as err:
        settings_from_args(_run_args("--preset", "fastest"))
    assert "'fast preview'" in err.value.message and err.value.field == "preset"


def test_a_plates_alpha_as_remove_matte_warns_before_sending(tmp_path, caplog) -> None:
    plate = SequencePattern.parse(str(tmp_path / "plate.####.exr"))
    roto = SequencePattern.parse(str(tmp_path / "roto.####.exr"))
    for f in (1, 2):
        write_image(plate.path(f), np.ones((32, 48, 4), np.float16), channels=list("RGBA"))
        m = np.zeros((32, 48, 1), np.float16)
        m[8:20, 10:30] = 1
        write_image(roto.path(f), m, channels=["A"])
    with caplog.at_level(logging.WARNING, logger="void_client.sequence_job"):
        SequenceJob(RemoveRequest(str(plate), str(roto), str(tmp_path / "o.####.exr")))
        SequenceJob(
            RemoveRequest(str(plate), str(roto), str(tmp_path / "o.####.exr"))
        ).check_remove_not_empty()
        assert not caplog.records
        SequenceJob(
            RemoveRequest(str(plate), str(plate), str(tmp_path / "o.####.exr"))
        ).check_remove_not_empty()
    assert len(caplog.records) == 1
    assert "covers 100% of frame 1" in caplog.records[0].getMessage()
    assert "plate's alpha" in caplog.records[0].getMessage()


def test_progress_total_comes_from_the_job_and_eta_from_the_first_window() -> None:
    now = [100.0]
    clock = JobClock(clock=lambda: now[0])
    assert clock.eta_text() == "ETA after the first window"
    clock.update(P.Progress(stage="running", frames_total=240, eta_s=-1.0))
    assert clock.total == 240 and clock.remaining() is None
    clock.update(P.Progress(stage="running", frames_total=240, window=1, windows=3, eta_s=130.0))
    now[0] += 10.0  # a long window: no message, the ETA still counts down
    assert clock.remaining() == 120.0 and clock.eta_text() == "ETA 2:00"
    clock.update(P.Progress(stage="running", eta_s=4000.0))
    assert clock.eta_text() == "ETA 1:06:40"
    clock.update(P.Progress(stage="done", frames_total=240))
    assert clock.eta_text() == "ETA 0:00"

    buf = io.StringIO()
    console = Console(file=buf, width=160, force_terminal=False)
    with job_progress(None, console=console) as on_event:
        on_event(P.Progress(stage="running", window=1, windows=2, frames_total=24, eta_s=3.0))
        px = np.zeros((2, 2, 3), np.float16)
        on_event(P.Result(images=[(P.ImageDesc.for_array(f, "result", px), px) for f in range(24)]))
        on_event(P.Progress(stage="done", window=2, windows=2, frames_total=24))
    text = buf.getvalue()
    assert "24/24" in text and "/?" not in text and "ETA 0:00" in text


def test_no_bar_is_drawn_when_the_job_never_starts() -> None:
    buf = io.StringIO()
    with pytest.raises(VoidError), job_progress(None, console=Console(file=buf)):
        raise VoidError("missing_frames", "no frames match x.####.exr")
    assert buf.getvalue() == ""


def test_pattern_hint_spellings(tmp_path) -> None:
    for f in (1, 2, 10, 120):  # unpadded numbers
        (tmp_path / f"shot_v2.{f}.exr").write_bytes(b"")
    for f in (7, 8, 9):
        (tmp_path / f"bg.{f:04d}.tif").write_bytes(b"")
    hint = pattern_hint(str(tmp_path / "shot_v2."), 4, ".exr")  # padding too wide
    assert hint == (
        f"shot_v2.1-120.exr (4 frames) exists; did you mean {tmp_path / 'shot_v2.#.exr'}?"
    )
    hint = pattern_hint(str(tmp_path / "bg_"), 4, ".exr")  # separator and extension
    assert hint == f"bg.0007-0009.tif exists; did you mean {tmp_path / 'bg.####.tif'}?"
    assert pattern_hint(str(tmp_path / "zzzz."), 4, ".exr").startswith(f"{tmp_path} holds ")
    missing = tmp_path / "nope"
    assert pattern_hint(str(missing / "p."), 4, ".exr") == f"the folder {missing} does not exist"


def test_preview_windows_names_and_fast_settings() -> None:
    assert parse_preview("1020, 1003,1010-1011") == [1003, 1010, 1011, 1020]
    with pytest.raises(VoidError):
        parse_preview(" , ")
    assert preview_pattern("/o/clean.####.exr") == "/o/clean_preview.####.exr"
    assert preview_pattern("/o/clean_v002.%04d.exr") == "/o/clean_v002_preview.####.exr"
    assert preview_pattern("/o/####.exr") == os.path.join("/o", "clean_preview####.exr")
    # 40 frames, window 13, overlap 4: starts 0, 9, 18, 27. Position 19 is in windows 1 and 2
    # and deepest in window 1 (10 frames before it, 2 after vs 1 before, 11 after).
    ws = covering_windows(40, [19], 13, 4)
    assert [(w.index, w.start, w.stop) for w in ws] == [(1, 9, 22)]
    ws = covering_windows(40, [0, 2, 39], 13, 4)
    assert [w.index for w in ws] == [0, 3]
    assert preview_spans(ws) == [(0, 13), (27, 40)]
    assert preview_spans(covering_windows(40, [2, 19], 13, 4)) == [(0, 22)]
    v = fast_settings({"engine": "void", "pass2": True, "engine_options": {"vae_tiling": True}})
    assert v["pass2"] is False
    assert v["engine_options"] == {"vae_tiling": True, "steps": PREVIEW_VOID_STEPS}
    p = fast_settings({"engine": "propagate", "window": 13, "engine_options": {"steps": 30}})
    assert "engine_options" not in p and p["window"] == 13
