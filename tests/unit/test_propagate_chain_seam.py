"""``chain`` seams of ``propagate`` stay invisible (issue 19, item 2).

The shot runs through the daemon's real job path (job store, ROI, engine, seam blend,
composite) twice: in ``chain`` windows and in one window. The seam ratio (temporal error at
the seam transition over the error around it, warped by the true motion, as in
``bench/quality.py``) of the chained run must stay within a bound of the one-window run's at
the same transition: what the shot itself does there moves both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.bench_modules import bench_module
from tests.support.reporting import say
from void_client.job_spec import JobSpec
from void_client.quadmask import build_quadmask, hole
from void_client.windows import valid_length_at_least
from void_daemon.cache import WindowCache
from void_daemon.demo_shot import make_shot
from void_daemon.engines.propagate import PropagateEngine
from void_daemon.jobs import JobStore
from void_daemon.metrics import flow_pairs, seam_ratio, seam_transitions, warp_errors
from void_daemon.runner import JobRunner

FRAMES, WINDOW, OVERLAP = 30, 17, 6
#: The bench's goal is 1.05 on 64-frame scenes; a 30-frame shot has one seam and fewer
#: transitions around it to average, so the test allows a little more.
BOUND = 1.15


def run_job(
    tmp: Path,
    shot,
    window: int,
    seam: str,
    overlap: int = OVERLAP,
    dilation: int = 3,
    feather: int = 4,
) -> np.ndarray:
    store = JobStore(tmp / "jobs")
    h, w = shot.plate.shape[1:3]
    spec = JobSpec(
        frames=list(shot.frames),
        width=w,
        height=h,
        channels=["R", "G", "B", "A"],
        engine="propagate",
        window=window,
        overlap=overlap,
        seam=seam,
        dilation=dilation,
        feather=feather,
    ).validate()
    job = store.create(spec)
    for p in range(len(shot.frames)):
        job.store_input(
            p,
            np.ascontiguousarray(shot.plate[p]),
            build_quadmask(shot.remove[p], shot.affected[p], spec.dilation),
        )
    runner = JobRunner(job, PropagateEngine(), WindowCache(store.cache_dir))
    for win in runner.windows:
        runner.run_window(win.index, lambda *a: None, lambda: False)
        for p in runner.ready_positions():
            job.store_output(p, runner.finish_frame(p))
    return np.stack([job.load_out(p)[..., :3] for p in range(len(shot.frames))])


def test_chain_seam_is_no_worse_than_the_shot_without_seams(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    shot = make_shot(frames=FRAMES, width=128, height=80, seed=4, pan=3.0)
    region = hole(np.stack([build_quadmask(r, a, 3) for r, a in zip(shot.remove, shot.affected)]))
    flows = flow_pairs(np.asarray(shot.truth, np.float32))
    at_seam = seam_transitions(FRAMES, WINDOW, OVERLAP, "chain")
    assert at_seam.any()
    chained = run_job(tmp_path / "chain", shot, WINDOW, "chain")
    whole = run_job(tmp_path / "whole", shot, valid_length_at_least(FRAMES), "chain")
    r_chain = seam_ratio(warp_errors(chained, flows, region), at_seam)
    r_whole = seam_ratio(warp_errors(whole, flows, region), at_seam)
    assert np.isfinite(r_chain) and np.isfinite(r_whole)
    say(
        request,
        f"chain seam {r_chain:.3f}, one window {r_whole:.3f}: relative {r_chain / r_whole:.3f}"
        f" (bound {BOUND})",
    )
    assert r_chain / r_whole <= BOUND, (r_chain, r_whole)


#: The bench's crossfade goal (``bench/quality.py``, ``SEAM_LIMIT``).
CROSSFADE_BOUND = 1.2


@pytest.mark.slow  # ~50 s on 2 cores: kept out of the default run
def test_crossfade_seam_on_a_zoom_is_no_worse_than_the_shot_without_seams(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The bench's ``zoom`` scene in two crossfaded windows: the later window's first frames
    must find the same background the one-window run does. Engine v3 took candidates only at
    sparse distances (1, 2, 3, 5, 8, ...), missed the near frames that see it there, and the
    blend showed: 1.43 (a strict xfail). v4 takes every distance near a window's start: 0.84."""
    scene = bench_module("scenes").build_scene("zoom")
    shot = scene.shot
    qms = np.stack(
        [build_quadmask(r, a, scene.dilation) for r, a in zip(shot.remove, shot.affected)]
    )
    region = hole(qms)
    flows = flow_pairs(np.asarray(shot.truth, np.float32))
    at_seam = seam_transitions(scene.frames, scene.window, scene.overlap, "crossfade")
    assert at_seam.any()
    kw = {"overlap": scene.overlap, "dilation": scene.dilation, "feather": scene.feather}
    faded = run_job(tmp_path / "crossfade", shot, scene.window, "crossfade", **kw)
    whole = run_job(
        tmp_path / "whole", shot, valid_length_at_least(scene.frames), "crossfade", **kw
    )
    r_fade = seam_ratio(warp_errors(faded, flows, region), at_seam)
    r_whole = seam_ratio(warp_errors(whole, flows, region), at_seam)
    assert np.isfinite(r_fade) and np.isfinite(r_whole)
    say(
        request,
        f"crossfade seam {r_fade:.3f}, one window {r_whole:.3f}: relative "
        f"{r_fade / r_whole:.3f} (bound {CROSSFADE_BOUND})",
    )
    assert r_fade / r_whole <= CROSSFADE_BOUND, (r_fade, r_whole)
