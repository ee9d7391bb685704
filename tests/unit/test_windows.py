"""Window planner: every shot length, valid lengths only, full coverage, bounded overlap."""

from __future__ import annotations

import pytest

from void_client.windows import is_valid_length, plan_windows, seam_weights, valid_length_at_most

VALID = [5 + 8 * m for m in range(30)]


def test_valid_lengths_are_8m_plus_5() -> None:
    assert [n for n in range(1, 200) if is_valid_length(n)] == [n for n in VALID if n < 200]
    assert is_valid_length(85) and is_valid_length(197) and not is_valid_length(196)
    assert valid_length_at_most(100) == 93 and valid_length_at_most(3) == 5


@pytest.mark.parametrize(
    "window, overlap",
    [
        (197, 16),
        (85, 8),
        (21, 6),
        (29, 0),
        # one-frame steps: ~2 million windows, 15 s of the quick run; (21, 6) covers short windows
        pytest.param(13, 12, marks=pytest.mark.slow),
    ],
)
def test_every_length_from_1_to_2000(window: int, overlap: int) -> None:
    length = valid_length_at_most(window)
    eff_overlap = min(overlap, length - 1)
    for n in range(1, 2001):
        wins = plan_windows(n, window, overlap)
        covered = set()
        for w in wins:
            assert is_valid_length(len(w.positions)), (n, w)
            assert len(w.positions) <= length
            assert all(0 <= p < n for p in w.positions)
            assert list(w.positions[: w.real]) == list(range(w.start, w.stop))
            covered.update(range(w.start, w.stop))
        assert covered == set(range(n))
        shared = [a.stop - b.start for a, b in zip(wins, wins[1:])]
        assert all(eff_overlap <= s < length for s in shared), (n, shared)
        # Bounded: the fewest windows that can keep the minimum overlap, and the extra overlap
        # spread evenly over the seams (they differ by at most one frame).
        if n > length:
            assert len(wins) == max(2, -(-(n - eff_overlap) // (length - eff_overlap)))
            assert max(shared) - min(shared) <= 1
        else:
            assert len(wins) == 1


def test_short_shots_are_padded_ping_pong() -> None:
    (w,) = plan_windows(1)
    assert w.positions == (0, 0, 0, 0, 0)
    (w,) = plan_windows(3)
    assert w.positions == (0, 1, 2, 1, 0)
    (w,) = plan_windows(14, 197)
    assert len(w.positions) == 21 and w.positions[14:] == (12, 11, 10, 9, 8, 7, 6)


@pytest.mark.parametrize("seam", ["crossfade", "chain"])
def test_seam_weights_sum_to_one(seam: str) -> None:
    for n in (40, 197, 250, 1000):
        wins = plan_windows(n, 85, 12)
        weights = seam_weights(wins, seam)
        total = [0.0] * n
        for w, ws in zip(wins, weights):
            for i, x in enumerate(ws):
                total[w.start + i] += x
        assert all(abs(t - 1.0) < 1e-9 for t in total)


def test_crossfade_ramps_smoothly_and_chain_gives_overlap_to_the_earlier_window() -> None:
    wins = plan_windows(40, 21, 6)
    a, b = seam_weights(wins, "crossfade")[:2]
    overlap = wins[0].stop - wins[1].start
    ramp = b[:overlap]
    assert all(0 < x < 1 for x in ramp) and ramp == sorted(ramp)
    ca, cb = seam_weights(wins, "chain")[:2]
    assert ca == [1.0] * wins[0].real
    assert cb[:overlap] == [0.0] * overlap and cb[overlap:] == [1.0] * (wins[1].real - overlap)
