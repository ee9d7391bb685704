"""``propagate`` on a locked-off camera and near a window's ends (issue 19, item 1).

On a still camera the background behind the hole is the same pixel in every frame that sees
it: the engine must do at least as well as the classic clean-plate trick, the per-pixel
temporal median of the frames that see it (the bench's aligned temporal median, without the
alignment a still camera does not need). Engine v3 aligned its candidates by composed and
refined motion estimates even there, at sparse distances, and lost to the median.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.reporting import say
from void_client.quadmask import build_quadmask, hole
from void_daemon.demo_shot import make_shot
from void_daemon.engines import propagate
from void_daemon.engines.base import WindowInput
from void_daemon.engines.propagate import PropagateEngine
from void_daemon.metrics import sequence_scores


def temporal_median(frames: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Per pixel, the median of the frames that see it (NaN-free: unseen pixels keep the plate)."""
    stack = np.where(region[..., None], np.nan, frames)
    med = np.nanmedian(stack, axis=0) if (~region).any(0).all() else None
    assert med is not None, "every hole pixel is seen in some frame of this shot"
    return np.where(region[..., None], med[None], frames)


def test_still_camera_fill_is_at_least_the_temporal_median(
    request: pytest.FixtureRequest,
) -> None:
    shot = make_shot(frames=24, width=128, height=80, seed=3, static=True)
    q = np.stack([build_quadmask(r, a, 3) for r, a in zip(shot.remove, shot.affected)])
    region = hole(q)
    frames = np.ascontiguousarray(shot.plate[..., :3], np.float32)
    out = PropagateEngine().fill(WindowInput(frames.copy(), q))
    ours = sequence_scores(out, shot.truth, region)["psnr"]
    median = sequence_scores(temporal_median(frames, region), shot.truth, region)["psnr"]
    say(request, f"hole PSNR: propagate {ours:.2f} dB, temporal median {median:.2f} dB")
    assert ours >= median, (ours, median)


def test_moving_camera_is_not_taken_for_a_still_one() -> None:
    """A slow pan (0.5 px a frame) is not locked off: copying the same pixel would misalign."""
    shot = make_shot(frames=12, width=96, height=64, seed=2, pan=0.5)
    q = np.stack([build_quadmask(r, a, 3) for r, a in zip(shot.remove, shot.affected)])
    holes = hole(q)
    frames = np.ascontiguousarray(shot.plate[..., :3], np.float32)
    flow = propagate._Flow(np.stack([propagate.grey8(f) for f in frames]), holes)
    assert not propagate._Candidates(frames, holes, flow).still()
    still = make_shot(frames=12, width=96, height=64, seed=2, static=True)
    frames = np.ascontiguousarray(still.plate[..., :3], np.float32)
    q = np.stack([build_quadmask(r, a, 3) for r, a in zip(still.remove, still.affected)])
    holes = hole(q)
    flow = propagate._Flow(np.stack([propagate.grey8(f) for f in frames]), holes)
    assert propagate._Candidates(frames, holes, flow).still()
