"""`propagate`'s speed work changes no pixel (docs/benchmarks.md, "Speed and memory at 1080p"):
the candidates' fusion by a sorting network picks what the per-row argsort and partition it
replaced picked, bit for bit (ties, unused slots, NaN and inf included), and the candidates'
plans made ahead in worker threads (``PLAN_AHEAD``) give the fill made in turn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from void_client.quadmask import build_quadmask
from void_daemon.demo_shot import make_shot
from void_daemon.engines import propagate
from void_daemon.engines.base import WindowInput
from void_daemon.engines.propagate import CANDIDATES, PropagateEngine


def _fuse_by_sorting(
    cand: np.ndarray, lum: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The fusion as it was (engine version 5 at 5e15ff3): argsort for the median, a partial
    sort for the median absolute deviation."""
    n_pts = count.size
    slot = np.arange(CANDIDATES)[None, :]
    order = np.argsort(lum, axis=1)
    mid = np.maximum(count - 1, 0) // 2
    cols = np.arange(n_pts)
    pick = order[cols, mid]
    fused = cand[cols, pick]
    valid = slot < count[:, None]
    dev = np.abs(np.where(valid, lum, 0.0) - lum[cols, pick][:, None])
    top = int(mid.max())
    dev = np.partition(np.where(valid, dev, np.inf), list(range(top + 1)), axis=1)
    spread = dev[cols, mid]
    agree = np.where(count >= 3, np.exp(-((spread / propagate.AGREEMENT) ** 2)), 0.0)
    return fused, agree.astype(np.float32)


def _stack(rng: np.random.Generator, n: int, kind: str) -> tuple[np.ndarray, ...]:
    """Candidates as ``_Candidates`` fills them: slots in order, unused ones zero at inf."""
    count = np.full(n, CANDIDATES) if kind == "full" else rng.integers(0, CANDIDATES + 1, n)
    cand = np.zeros((n, CANDIDATES, 3), np.float32)
    lum = np.full((n, CANDIDATES), np.inf, np.float32)
    for k in range(CANDIDATES):
        on = count > k
        col = (rng.random((on.sum(), 3)) * 2).astype(np.float32)
        if kind == "odd":  # NaN, inf, -0 and black: what an HDR plate may hold
            col[rng.random(len(col)) < 0.05, 0] = np.nan
            col[rng.random(len(col)) < 0.05, 1] = np.inf
            col[rng.random(len(col)) < 0.05] = -0.0
            col[rng.random(len(col)) < 0.05] = 0.0
        cand[on, k] = col
        lum[on, k] = propagate._lum(col)
        if kind == "ties":  # few luminances for many colours: which slot is picked shows
            lum[on, k] = rng.integers(0, 4, on.sum()) * 0.25
    return cand, lum, count


def test_the_sorting_network_sorts_every_input() -> None:
    # 0/1 principle: a comparator network sorts every input if it sorts every 0/1 input.
    for n in range(1, 12):
        net = propagate._network(n)
        for bits in itertools.product((0, 1), repeat=n):
            a = list(bits)
            for i, j in net:
                a[i], a[j] = min(a[i], a[j]), max(a[i], a[j])
            assert a == sorted(a), (n, bits)
    assert len(propagate._network(9)) == 25
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, (9, 1000)).astype(np.float32)
    x[0, :10] = np.inf
    assert np.array_equal(np.stack(propagate._ranked(x)), np.sort(x, axis=0))


@pytest.mark.parametrize("kind", ["full", "random", "ties", "odd"])
def test_fusion_by_network_is_the_fusion_by_sorting_bit_for_bit(kind: str) -> None:
    rng = np.random.default_rng(sum(map(ord, kind)))
    for n in (1, 2, 7, 4096):
        cand, lum, count = _stack(rng, n, kind)
        with np.errstate(invalid="ignore"):
            want = _fuse_by_sorting(cand, lum, count)
        lum_before = lum.copy()
        got = propagate._fuse(cand, lum, count)
        # Its input is left alone: a one-pixel block's lum was overwritten by the deviations.
        assert lum.tobytes() == lum_before.tobytes(), (kind, n)
        assert got[0].dtype == want[0].dtype and got[1].dtype == want[1].dtype
        assert got[0].tobytes() == want[0].tobytes(), (kind, n)
        assert got[1].tobytes() == want[1].tobytes(), (kind, n)
        # The slot it reports is the sorts' pick (``_outvote_prior`` reads it).
        some = count > 0
        sorted_pick = np.argsort(lum, axis=1)[np.arange(n), np.maximum(count - 1, 0) // 2]
        assert np.array_equal(got[2][some], sorted_pick[some]), (kind, n)
    if kind == "ties":  # argsort's tie-break is not the slot order: this stack shows it
        stable = np.argsort(lum, axis=1, kind="stable")
        assert not np.array_equal(np.argsort(lum, axis=1), stable)


def _shot(frames: int) -> tuple[np.ndarray, np.ndarray]:
    shot = make_shot(frames=frames, width=192, height=112, seed=0)
    q = np.stack([build_quadmask(r, a, 4) for r, a in zip(shot.remove, shot.affected)])
    return np.ascontiguousarray(shot.plate[..., :3], np.float32), q


@pytest.mark.parametrize("variant", ["plain", "in place", "margins"])
def test_plans_made_ahead_give_the_fill_made_in_turn(
    variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plate, q = _shot(16)
    kw: dict = {"in_place": variant == "in place"}
    if variant == "margins":  # margin frames are not filled: none is planned ahead
        kw["margins"] = (2, 3)
    ahead: list[int] = []
    plan_frame = propagate._Candidates._plan_frame

    def spy(self: propagate._Candidates, t: int) -> object:
        ahead.append(t)
        return plan_frame(self, t)

    monkeypatch.setattr(propagate._Candidates, "_plan_frame", spy)
    monkeypatch.setattr(propagate, "PLAN_AHEAD", 0)
    in_turn = PropagateEngine().fill(WindowInput(plate.copy(), q.copy(), **kw))
    assert ahead == []
    for n in (1, 2):
        monkeypatch.setattr(propagate, "PLAN_AHEAD", n)
        made = PropagateEngine().fill(WindowInput(plate.copy(), q.copy(), **kw))
        assert np.array_equal(made, in_turn), n
    first, last = (2, 16 - 3) if variant == "margins" else (0, 16)
    # Every frame but the first was planned ahead, each once, and no margin frame.
    assert sorted(set(ahead)) == list(range(first + 1, last))
    assert len(ahead) == 2 * (last - first - 1)
