"""``void_daemon.affected``: the proposed affected matte on small paired scenes (issue 19, item 4).

The scenes are ``bench/scenes.py``'s, rendered small (the same shots as the benchmark in
docs/benchmarks.md, "suggest-affected: proposed vs true affected matte"), so the true shadow is
known. Each test reproduces one miss of that table:

* ``static``: a few fully shadowed pixels were left out of the proposal where the
  background's own dark edge ran under the object and the detail test doubted them; left
  dark, they cost 4.5 dB against the true matte on a near-perfect fill.
* ``hidden``: the ball rests for three quarters of the shot, so ``propagate`` can only guess
  the background around it; the proposal read the guess's errors as shadow (IoU 0.51).
* ``parallax``: the shadow falls on a far layer behind a near fence moving 3.5x faster; both
  background estimates followed one motion, so under the near layer neither saw the far one
  (IoU 0.415). The second estimate now follows each layer's own motion.

Plus the tests the fixes rest on, on plain arrays: a shadow dims colour without turning it,
a proposal has no holes inside a shadow, and a spatial guess that smears a bright rim over
black ground no frame shows is not a shadow (``rolling``, seed 1: a streak from the ball to
the frame's edge, 7.08 dB lost).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.bench_modules import bench_module
from tests.support.reporting import say
from void_daemon.affected import (
    AffectedSettings,
    _box_margin,
    _close_holes,
    _motion_exclude,
    _roi,
    _shift,
    follow_object,
    layer_motions,
    occluders,
    propose,
    reach_pixels,
    same_colour,
    suggest_affected,
    surroundings,
)


def _iou(alpha: np.ndarray, truth: np.ndarray, remove: np.ndarray) -> float:
    outside = remove <= 0.0
    mine, true = (alpha > 0.5) & outside, (truth > 0.5) & outside
    return float((mine & true).sum()) / float((mine | true).sum())


def _log_ratio(plate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    lum = np.array([0.2126, 0.7152, 0.0722], np.float32)
    return np.log((plate[..., :3] @ lum + 1e-3) / (truth @ lum + 1e-3))


def test_static_camera_every_deeply_shadowed_pixel_is_proposed(
    request: pytest.FixtureRequest,
) -> None:
    # Before the fix 7 of 4729 deeply shadowed pixels were left out on this shot (frames
    # where the cat's eye runs under the ball): the detail test compared the plate's ball
    # edge with the background's eye, and a gap opened inside the shadow.
    shot = (
        bench_module("scenes").build_scene("static", seed=0, frames=24, width=160, height=96).shot
    )
    alpha = suggest_affected(shot.plate, shot.remove)
    deep = (_log_ratio(shot.plate, shot.truth) < -0.5) & (shot.remove <= 0.0)
    missed = int((deep & (alpha < 0.5)).sum())
    say(request, f"static 24x160x96: {missed} of {int(deep.sum())} deeply shadowed px left out")
    assert deep.sum() > 1000
    assert missed == 0
    assert _iou(alpha, shot.affected, shot.remove) >= 0.8


@pytest.mark.parametrize("seed", [0, 1])
def test_object_resting_most_of_the_shot_shadow_found(
    seed: int, request: pytest.FixtureRequest
) -> None:
    # Measured before the fix: IoU 0.631 (seed 0) and 0.511 (seed 1); after: 0.817, 0.871
    # (0.777, 0.791 with the ±7-frame agreement; the 64-frame bench shot rose 0.784 -> 0.827).
    shot = (
        bench_module("scenes")
        .build_scene("hidden", seed=seed, frames=32, width=160, height=96)
        .shot
    )
    alpha = suggest_affected(shot.plate, shot.remove)
    iou = _iou(alpha, shot.affected, shot.remove)
    say(request, f"hidden 32x160x96 seed {seed}: IoU {iou:.3f} (floor 0.72)")
    assert iou >= 0.72
    assert float(alpha[shot.remove > 0.0].max(initial=0.0)) == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_parallax_shadow_behind_a_faster_near_layer_found(
    seed: int, request: pytest.FixtureRequest
) -> None:
    # 24 frames of the benchmark's 320x192 parallax shot. Measured before the fix (one motion,
    # thresholds 0.05/0.15, ±3 frames): IoU 0.471 (seed 0) and 0.519 (seed 1); after: 0.578
    # and 0.574. Then the fence's posts voted in the object-aligned median: 0.578 and 0.574
    # before, 0.721 and 0.730 once only frames the near layer covers alike vote (occluders).
    shot = bench_module("scenes").build_scene("parallax", seed=seed, frames=24).shot
    alpha = suggest_affected(shot.plate, shot.remove)
    iou = _iou(alpha, shot.affected, shot.remove)
    say(request, f"parallax 24x320x192 seed {seed}: IoU {iou:.3f} (floor 0.68)")
    assert iou >= 0.68


def test_layer_motions_follow_near_and_far_layers_apart() -> None:
    # The far backdrop pans 2 px a frame, the near fence 7: one homography per pair fitted to
    # both blends them (the far layer drifted by 34 px over 56 frames of the bench shot).
    shot = bench_module("scenes").build_scene("parallax", seed=0, frames=24).shot
    near = surroundings(shot.remove > 0.5, reach_pixels(shot.remove, AffectedSettings()))
    chains = layer_motions(shot.plate, _motion_exclude(near), 2)
    assert len(chains) == 2
    centre = (160.0, 96.0)
    moved = sorted(float(_shift(chain[-1], centre)[0]) for chain in chains)
    assert moved[0] == pytest.approx(-7.0 * 23, abs=3.0)  # near
    assert moved[1] == pytest.approx(-2.0 * 23, abs=3.0)  # far
    # One layer only (the camera's motion) where there is no parallax.
    pan = bench_module("scenes").build_scene("pan", seed=0, frames=12, width=160, height=96).shot
    near = surroundings(pan.remove > 0.5, reach_pixels(pan.remove, AffectedSettings()))
    assert len(layer_motions(pan.plate, _motion_exclude(near), 2)) == 1


def test_follow_object_lets_only_frames_covered_alike_vote() -> None:
    # A shadow (1) travels with the object at 2 px a frame; a post (0 where it covers it)
    # crosses at 6. Without occluders the median over the aligned frames fills the post's gap
    # with shadow in the frame it crosses and, shifted with the object, erases shadow beside it.
    n, h, w = 9, 8, 60
    inner = np.zeros((n, h, w), bool)
    field = np.zeros((n, h, w), np.float32)
    post = np.zeros((n, h, w), bool)
    for t in range(n):
        x = 10 + 2 * t
        inner[t, :, x : x + 2] = True
        field[t, :, x + 2 : x + 20] = 1.0  # the shadow beside the object
        post[t, :, 6 * t : 6 * t + 4] = True
        field[t][post[t]] = 0.0
    t = 4
    blind = follow_object(field, inner, 4)
    aware = follow_object(field, inner, 4, post)
    shadow = np.zeros((h, w), bool)
    shadow[:, 10 + 2 * t + 2 : 10 + 2 * t + 20] = True
    assert float(blind[t][post[t] & shadow].min()) == 1.0  # the post's gap filled (the miss)
    assert float(aware[t][post[t] & shadow].max()) == 0.0
    assert float(aware[t][shadow & ~post[t]].min()) == 1.0


def test_occluders_mark_the_near_layer_not_the_far_one() -> None:
    # The bench's parallax shot: the near fence (its ground band at the bottom) is found where
    # it covers the work box, the far backdrop above it is not.
    shot = bench_module("scenes").build_scene("parallax", seed=0, frames=12).shot
    s = AffectedSettings()
    near = surroundings(shot.remove > 0.5, reach_pixels(shot.remove, s))
    chains = layer_motions(shot.plate, _motion_exclude(near), 2)
    box = (slice(0, 192), slice(0, 320))
    cover = occluders(shot.plate, chains, box, s)
    assert cover is not None
    assert float(cover[1:-1, 170:, :].mean()) > 0.6  # the ground band (below y ~ 150)
    assert float(cover[1:-1, 20:120, :].mean()) < 0.16  # backdrop, but for posts (0.12)
    one = occluders(shot.plate, chains[:1], box, s)
    assert one is None


def test_same_colour_dimmed_counts_another_colour_does_not() -> None:
    rng = np.random.default_rng(0)
    h, w = 24, 32
    texture = 0.9 + 0.2 * rng.random((1, h, w, 1))
    clean = (np.array([0.6, 0.35, 0.15]) * texture).astype(np.float32)  # orange ground
    plate = clean.copy()
    plate[0, :, :16] *= 0.45  # a shadow: every channel dimmed alike
    plate[0, :, 16:] = np.array([0.15, 0.2, 0.4]) * texture[0, :, 16:]  # blue post, darker
    ring = np.ones((1, h, w), bool)
    delta = np.full((1, h, w), np.log(0.5), np.float32)
    weight = same_colour(plate, clean, ring, delta, 2.0, 0.2, 0.5)
    assert float(weight[0, :, :12].min()) > 0.99
    assert float(weight[0, :, 20:].max()) < 0.2


def test_close_holes_fills_gaps_the_proposal_encloses_only() -> None:
    alpha = np.zeros((1, 20, 30), np.float32)
    alpha[0, 4:16, 4:26] = 0.9
    alpha[0, 8:11, 10:13] = 0.0  # a gap inside the shadow
    alpha[0, 0:6, 20:23] = 0.0  # a notch open to the outside
    touched = np.zeros((1, 20, 30), bool)
    out = _close_holes(alpha, touched)
    assert float(out[0, 8:11, 10:13].min()) == 1.0
    assert float(out[0, 4:6, 20:23].max()) == 0.0
    assert float(out[0, 12, 12]) == pytest.approx(0.9)


def test_guess_far_darker_than_a_shadow_on_unseen_ground_is_not_proposed(
    request: pytest.FixtureRequest,
) -> None:
    # A still ball on grey ground; to its right, black ground that no other frame shows,
    # where propagate's spatial guess smeared the grey (rolling seed 1: -1.6 guessed against
    # -8.6 true log luminance). Below it, a real shadow, also on ground no frame shows.
    n, h, w = 5, 64, 80
    s = AffectedSettings()
    yy, xx = np.mgrid[:h, :w]
    remove = np.repeat(((yy - 30) ** 2 + (xx - 40) ** 2 <= 36)[None], n, 0).astype(np.float32)
    clean = np.full((n, h, w, 3), 0.3, np.float32)
    plate = clean.copy()
    black = (yy >= 26) & (yy <= 30) & (xx >= 47)  # the streak to the frame's edge
    shadow = (yy >= 37) & (yy <= 43) & (xx >= 33) & (xx <= 47)  # the ball's real shadow
    plate[:, black] = 0.0002
    plate[:, shadow] *= 0.5
    ys, xs = _roi(remove > 0.5, reach_pixels(remove, s) + _box_margin(s))
    other = np.array(plate[:, ys, xs], copy=True)
    unseen = black | ((yy >= 35) & (yy <= 45) & (xx >= 31) & (xx <= 49))
    other[:, unseen[ys, xs]] = np.nan
    alpha = propose(plate, remove, clean, s, [other])
    streak = float(alpha[:, black & (xx >= 50) & (xx <= 53)].mean())  # inside the ring
    shadowed = float(alpha[:, shadow & (yy >= 38) & (yy <= 42) & (xx <= 46)].mean())
    say(request, f"guessed streak proposed {streak:.2f}, real shadow {shadowed:.2f}")
    assert streak < 0.05
    assert shadowed > 0.95
