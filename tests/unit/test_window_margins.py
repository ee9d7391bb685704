"""Margins: an engine reads the shot's frames beyond its window (``Engine.margin``).

Issue 19: on ``hidden`` the background behind the object shows only after the first window
ends, so that window, filled from its own frames, could only guess. With margins the runner
gives the engine up to ``margin`` more frames on each side (clamped to the shot, none before a
``chain`` window, whose context comes first), and keeps only the window's own frames.
``docs/architecture.md``, "Windows and margins".
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.reporting import say
from void_client.job_spec import JobSpec
from void_client.quadmask import KEEP, REMOVE, hole
from void_client.windows import plan_windows, window_margins
from void_daemon import memory_model
from void_daemon.cache import WindowCache
from void_daemon.engines import Engine, WindowInput, engine_class
from void_daemon.engines.propagate import PropagateEngine
from void_daemon.jobs import Job, JobStore
from void_daemon.runner import JobRunner, reference_path

H, W = 48, 64


# ---------------------------------------------------------------- the plan
def test_margins_are_clamped_to_the_shot_and_none_before_a_chain_window() -> None:
    windows = plan_windows(30, 13, 4)  # [0, 13), [8, 21), [17, 30)
    assert [(w.start, w.stop) for w in windows] == [(0, 13), (8, 21), (17, 30)]
    assert [window_margins(windows, k, 5) for k in range(3)] == [(0, 5), (5, 5), (5, 0)]
    # At most half the window on each side: never more than twice the window's frames.
    assert [window_margins(windows, k, 16) for k in range(3)] == [(0, 6), (6, 6), (6, 0)]
    wide = plan_windows(100, 37, 10)  # [0, 37), [21, 58), [42, 79), [63, 100)
    assert [window_margins(wide, k, 16) for k in range(4)] == [(0, 16), (16, 16), (16, 16), (16, 0)]
    assert [window_margins(windows, k, 5, "chain") for k in range(3)] == [(0, 5), (0, 5), (0, 0)]
    assert window_margins(windows, 1, 0) == (0, 0)
    # One (padded) window covers the shot: nothing lies beyond it.
    assert window_margins(plan_windows(10, 13, 4), 0, 16) == (0, 0)


def test_the_memory_estimate_counts_the_margin_frames() -> None:
    assert memory_model.window_frames(30, 13, 4) == 13
    assert memory_model.window_frames(30, 13, 4, margin=5) == 23
    assert memory_model.window_frames(30, 13, 4, margin=5, seam="chain") == 18
    assert memory_model.window_frames(10, 13, 4, margin=16) == 13  # one padded window
    # Admission's table (it may not import engines on the I/O thread) matches the engines.
    for name in ("propagate", "void"):
        assert memory_model.margin(name) == engine_class(name).margin, name
    assert PropagateEngine.margin > 0


# ---------------------------------------------------------------- the runner
class Recorder(Engine):
    """Records what the runner hands it; fills frame ``t`` with its position (a marker)."""

    name = "recorder"
    margin = 3

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[WindowInput] = []

    def fill(self, window: WindowInput) -> np.ndarray:
        self.seen.append(window)
        out = np.empty_like(window.frames)
        for t, p in enumerate(window.positions):
            out[t] = float(p)
        return out


class NoMargin(Recorder):
    margin = 0


def make_job(
    tmp: Path,
    n: int,
    seam: str = "crossfade",
    plate=None,
    qm=None,
    references: list[int] | None = None,
) -> Job:
    spec = JobSpec(
        frames=list(range(1, n + 1)),
        width=W,
        height=H,
        channels=["R", "G", "B", "A"],
        engine="propagate",
        window=13,
        overlap=4,
        seam=seam,
        dilation=0,
        feather=2,
        references=references or [],
    ).validate()
    job = JobStore(tmp / "jobs").create(spec)
    for p in range(n):
        rgba = np.ones((H, W, 4), np.float32)
        if plate is None:
            rgba[..., :3] = 0.01 * p
        else:
            rgba[..., :3] = plate(p)
        if qm is None:
            q = np.full((H, W), KEEP, np.uint8)
            q[20:28, 24:36] = REMOVE
        else:
            q = qm(p)
        job.store_input(p, rgba, q)
    return job


def run_all(runner: JobRunner) -> None:
    for w in runner.windows:
        runner.run_window(w.index, lambda i, n, s: None, lambda: False)
        for pos in runner.ready_positions():
            runner.job.store_output(pos, runner.finish_frame(pos))


def test_the_engine_gets_the_margins_and_the_runner_keeps_exactly_the_window(
    tmp_path: Path,
) -> None:
    job = make_job(tmp_path, 30)
    engine = Recorder()
    runner = JobRunner(job, engine, WindowCache(tmp_path / "cache"))
    run_all(runner)
    got = [(w.positions[0], w.positions[-1], len(w.positions)) for w in engine.seen]
    assert got == [(0, 15, 16), (5, 23, 19), (14, 29, 16)]
    for w in engine.seen:
        assert len(w.frames) == len(w.quadmask) == len(w.context) == len(w.positions)
        assert not w.context.any()  # crossfade: no context, margins are plain source frames
        assert hole(w.quadmask).all(axis=(1, 2)).sum() == 0 and hole(w.quadmask).any((1, 2)).all()
    for win in runner.windows:
        result = runner.cache.get(job.windows_done[win.index]["key"])
        assert result is not None
        # Exactly the window's own frames, in order: the margins' fill is gone.
        assert len(result) == len(win.positions)
        np.testing.assert_array_equal(result[:, 0, 0, 0], np.asarray(win.positions, np.float32))
    assert len(job.final) == 30
    assert job.frames_held == 0 and job.frames_held_peak == 19  # the widest engine input


def test_a_chain_window_starts_with_its_context_and_reads_only_frames_after_it(
    tmp_path: Path,
) -> None:
    job = make_job(tmp_path, 30, seam="chain")
    engine = Recorder()
    runner = JobRunner(job, engine, WindowCache(tmp_path / "cache"))
    run_all(runner)
    spans = [(w.positions[0], w.positions[-1]) for w in engine.seen]
    assert spans == [(0, 15), (8, 23), (17, 29)]
    second = engine.seen[1]
    ctx = runner.context_positions(1)
    assert ctx == list(range(8, 13))
    # The context (the earlier window's finished frames, marked keep) comes first, unchanged.
    np.testing.assert_array_equal(np.flatnonzero(second.context), np.arange(len(ctx)))
    assert (second.quadmask[: len(ctx)] == KEEP).all()
    assert hole(second.quadmask[len(ctx) :]).any(axis=(1, 2)).all()  # margins keep their hole


def test_reference_offsets_count_from_the_first_margin_frame(tmp_path: Path) -> None:
    # A reference painted for frame 20 (position 19): window 1 starts at 8 with 3 margin
    # frames before it, so the engine's first frame is position 5 and the offset 14.
    job = make_job(tmp_path, 30, references=[20])
    np.save(reference_path(job, 19), np.full((H, W, 3), 0.5, np.float32))
    engine = Recorder()
    runner = JobRunner(job, engine, WindowCache(tmp_path / "cache"))
    run_all(runner)
    offsets = [[o for o, _ in w.references] for w in engine.seen]
    assert offsets == [[19], [14], [5]]
    for w, (o,) in zip(engine.seen, offsets):
        assert w.positions[0] + o == 19  # counted from the engine's first frame


def test_the_cache_key_changes_with_a_margin_frame_and_not_with_frames_beyond(
    tmp_path: Path,
) -> None:
    job = make_job(tmp_path, 30)

    def rerun(engine: Engine) -> bool:
        return (
            JobRunner(job, engine, WindowCache(tmp_path / "cache"))
            .run_window(0, lambda i, n, s: None, lambda: False)
            .cached
        )

    def touch(pos: int) -> None:
        plate = np.array(job.load_plate(pos))
        plate[..., 0] += 0.5
        job.store_input(pos, plate, job.load_quadmask(pos))

    assert rerun(Recorder()) is False and rerun(Recorder()) is True
    assert rerun(NoMargin()) is False  # margins are part of the key
    touch(20)  # beyond window 0's margin (it reads positions 0-15)
    assert rerun(Recorder()) is True and rerun(NoMargin()) is True
    touch(14)  # inside its margin only
    assert rerun(NoMargin()) is True  # without margins window 0 never reads it
    assert rerun(Recorder()) is False


# ---------------------------------------------------------------- propagate: what margins buy
def _texture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.random((H, W, 3), dtype=np.float32), (0, 0), 1.5)
    return 0.1 + 0.8 * (tex - tex.min()) / (tex.max() - tex.min())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


@pytest.mark.parametrize("margins", [True, False])
def test_background_uncovered_only_after_the_window_is_found_with_margins(
    tmp_path: Path, margins: bool, request: pytest.FixtureRequest
) -> None:
    """A locked-off shot: a box covers the same background for frames 0-15, then jumps away.
    Window 0 (frames 0-12) never sees what it covers; its margin (frames 13-18) does."""
    n, gone = 22, 16
    bg = _texture(4)
    box = (slice(16, 30), slice(20, 34))
    away = (slice(16, 30), slice(44, 58))

    def where(p: int) -> tuple[slice, slice]:
        return box if p < gone else away

    def plate(p: int) -> np.ndarray:
        rgb = bg.copy()
        rgb[where(p)] = (0.9, 0.1, 0.1)
        return rgb

    def qm(p: int) -> np.ndarray:
        q = np.full((H, W), KEEP, np.uint8)
        ys, xs = where(p)
        q[ys.start - 2 : ys.stop + 2, xs.start - 2 : xs.stop + 2] = REMOVE
        return q

    job = make_job(tmp_path, n, plate=plate, qm=qm)
    assert [(w.start, w.stop) for w in plan_windows(n, 13, 4)] == [(0, 13), (9, 22)]
    engine = PropagateEngine() if margins else type("P0", (PropagateEngine,), {"margin": 0})()
    runner = JobRunner(job, engine, WindowCache(tmp_path / "cache"))
    run_all(runner)
    # Frames 0-8 belong to window 0 alone (the crossfade starts at 9).
    inside = (slice(14, 32), slice(18, 36))
    scores = [
        _psnr(job.load_out(p)[inside][..., :3].astype(np.float32), bg[inside]) for p in range(9)
    ]
    say(
        request,
        f"margins {margins}: hole PSNR of frames 0-8 {min(scores):.1f}-{max(scores):.1f} dB",
    )
    if margins:
        assert min(scores) > 40.0, scores  # the true background, copied from frames 16-18
    else:
        assert max(scores) < 30.0, scores  # a spatial guess: the control that margins matter


def test_propagate_leaves_margin_frames_unfilled_and_fills_the_window_the_same(
    request: pytest.FixtureRequest,
) -> None:
    """``WindowInput.margins``: the engine is told which frames are sources only. ``propagate``
    makes no fill for them (returned as given), and where every hole pixel of the window is
    seen in some frame (round one fills it all) the window's own fill is the one it makes when
    the margin frames are filled too."""
    n, before, after = 16, 3, 4
    bg = _texture(5)
    frames = np.empty((n, H, W, 3), np.float32)
    qm = np.full((n, H, W), KEEP, np.uint8)
    for t in range(n):
        # A panning plate (2 px a frame) and a box drifting the other way: all seen in time.
        frames[t] = np.roll(bg, 2 * t, axis=1)
        x = 40 - 2 * t
        frames[t, 18:30, x : x + 10] = (0.9, 0.1, 0.1)
        qm[t, 16:32, x - 2 : x + 12] = REMOVE
    engine = PropagateEngine()
    plain = engine.fill(WindowInput(frames=frames.copy(), quadmask=qm))
    edged = engine.fill(WindowInput(frames=frames.copy(), quadmask=qm, margins=(before, after)))
    own = slice(before, n - after)
    margin = np.r_[0:before, n - after : n]
    assert np.array_equal(edged[own], plain[own])
    assert np.array_equal(edged[margin], frames[margin])  # no fill made: the plate as given
    holes = hole(qm)
    assert not np.array_equal(plain[margin][holes[margin]], frames[margin][holes[margin]])
    truth = np.stack([np.roll(bg, 2 * t, axis=1) for t in range(n)])
    err = float(np.abs(edged[own] - truth[own])[holes[own]].mean())
    say(request, f"window's own hole mean abs error {err:.4f} (margins left unfilled)")
    assert err < 0.02
