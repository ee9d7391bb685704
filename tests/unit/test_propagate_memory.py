"""`propagate`'s memory and speed work changes no pixel: the fill in place (``WindowInput.in_place``)
equals the fill into a new array bit for bit, a dropped pair flow is recomputed the same, and the
in-place fill's working set stays under the input's size
(docs/benchmarks.md, "Speed and memory at 1080p (item 3)")."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from void_client.quadmask import build_quadmask, hole
from void_daemon.demo_shot import make_shot
from void_daemon.engines import propagate
from void_daemon.engines.base import WindowInput
from void_daemon.engines.propagate import PropagateEngine


def _window(frames: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shot = make_shot(frames=frames, width=width, height=height, seed=0)
    q = np.stack([build_quadmask(r, a, 4) for r, a in zip(shot.remove, shot.affected)])
    plate = np.ascontiguousarray(shot.plate[..., :3], np.float32)
    return plate, q, shot.truth[..., :3].astype(np.float32)


@pytest.mark.parametrize("variant", ["plain", "context", "references"])
def test_in_place_fill_is_the_copy_fill_bit_for_bit(variant: str) -> None:
    plate, q, truth = _window(16, 192, 112)
    kw: dict = {}
    if variant == "context":  # chain: the first frames are the previous window's result
        kw["context"] = np.arange(16) < 4
    if variant == "references":  # one clean frame inside the window, one after it
        kw["references"] = [(5, truth[5]), (18, truth[15])]
    frames = plate.copy()
    copy_fill = PropagateEngine().fill(WindowInput(frames, q.copy(), **kw))
    # Without permission the input is left as it was.
    assert np.array_equal(frames, plate)
    frames_ip = plate.copy()
    in_place = PropagateEngine().fill(WindowInput(frames_ip, q.copy(), in_place=True, **kw))
    assert np.array_equal(in_place, copy_fill)
    if variant != "references":  # a reference frame joins the window: a new array then
        assert in_place is frames_ip
    # It did fill something: the hole changed, the rest is the plate.
    region = hole(q)
    if variant == "context":
        region[:4] = False
    assert not np.array_equal(in_place[region], plate[region])
    assert np.array_equal(in_place[~region], plate[~region])


def test_a_forgotten_flow_is_recomputed_the_same() -> None:
    plate, q, _ = _window(4, 720, 400)
    holes = hole(q)
    flow = propagate._Flow((propagate.grey8(f) for f in plate), holes)
    first = flow(1, 0).copy()
    flow.forget(1, 0)
    assert (1, 0) not in flow._memo
    assert np.array_equal(flow(1, 0), first)


def test_packed_masks_give_the_bool_frames() -> None:
    rng = np.random.default_rng(0)
    masks = rng.random((3, 37, 53)) < 0.3
    packed = propagate._Masks(masks)
    assert packed.shape == masks.shape and packed.any()
    for t in (0, 2, 2, 1):
        assert packed[t].dtype == bool and np.array_equal(packed[t], masks[t])
    as8 = packed.view(np.uint8)
    assert as8[1].dtype == np.uint8 and np.array_equal(as8[1], masks[1].view(np.uint8))
    assert [np.array_equal(a, b) for a, b in zip(packed, masks)] == [True] * 3


def test_in_place_fill_working_set_stays_under_the_input_size() -> None:
    # The engine at 94266c4 (before this work) peaks at 2.08x its input here (its output
    # alone is 1.0x: a new array); in place it is 0.73x (tracemalloc: numpy's and OpenCV's
    # arrays, which is where the working set is).
    plate, q, _ = _window(12, 960, 540)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = PropagateEngine().fill(WindowInput(plate, q, in_place=True))
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak <= 1.0 * plate.nbytes, f"peak {peak / plate.nbytes:.2f}x the input"
    assert out is plate
