"""How much of ``suggest-affected``'s dB loss lies on pixels that no frame ever shows.

``bench/suggest_affected.py`` scores ``propagate`` run with the remove matte plus the true
affected matte against a run with the proposal instead. Where the proposal marks background
that, at a shot's end or its incoming frame edge, is covered in every frame that shows it, no
frame can supply it: ``propagate`` guesses it spatially (its round two), and no engine can do
better than a guess there. This bench splits the summed squared error (sRGB, over the union of
both runs' holes) that the proposal's run adds into:

* **unseen**: pixels ``propagate`` found in no frame (its round-one leftovers, filled spatially);
* **extra**: pixels the proposal marks beyond the true hole (the true run keeps the plate there);

and prints the dB lost as it is, with the unseen pixels given the true run's error (what a
perfect engine could at best recover), and, with ``--gate``, with the proposal cleared where
``void_daemon.affected``'s own background estimate was a spatial guess (an experiment for the
proposal's side: a guess read as a shadow). ``--frames A B`` prints frames A..B one by one.

Usage::

    python bench/unseen_loss.py --seed 1 --scenes rolling --frames 50 63 --gate
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

# Run as `python bench/unseen_loss.py`: bench/ is on sys.path as the script's folder.
import suggest_affected as suggest_bench
from scenes import build_scene

import void_daemon.affected as affected
import void_daemon.engines.propagate as propagate
from void_client.srgb import linear_to_srgb
from void_daemon.demo_shot import Shot


@contextmanager
def unseen_recorded() -> Iterator[list[np.ndarray]]:
    """While open, every ``propagate`` fill appends the hole pixels its first round found in
    no frame (``(T, H, W)`` bool, the engine's own leftovers before its spatial fill)."""
    seen: list[np.ndarray] = []
    original = propagate._Filler.__call__

    def call(self, frames, holes, flow, out, steps):
        left = original(self, frames, holes, flow, out, steps)
        if self.direct:  # round one (round two spreads the spatial fill)
            seen.append(np.stack([np.asarray(left[t], bool) for t in range(len(left))]))
        return left

    propagate._Filler.__call__ = call  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        propagate._Filler.__call__ = original  # type: ignore[method-assign]


def fill(shot: Shot, matte: np.ndarray, dilation: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``propagate`` with remove + ``matte`` as ``bench/suggest_affected.py`` runs it: the
    result, its hole, and its unseen pixels."""
    with unseen_recorded() as rec:
        out, region = suggest_bench.fill(shot, matte, dilation)
    unseen = rec[0] if rec else np.zeros(region.shape, bool)
    return out, region, unseen


def propose(shot: Shot) -> tuple[np.ndarray, np.ndarray]:
    """The proposal, and where ``affected``'s own background estimate was a spatial guess."""
    ests: list[np.ndarray] = []
    original = affected.clean_estimate

    def estimate(rgb, inner, ring, margin, cancelled=lambda: False):
        with unseen_recorded() as rec:
            out = original(rgb, inner, ring, margin, cancelled)
        full = np.zeros(inner.shape, bool)
        if rec:
            ys, xs = affected._roi(inner | ring, margin)
            full[:, ys, xs] = rec[0]
        ests.append(full)
        return out

    affected.clean_estimate = estimate
    try:
        proposal = affected.suggest_affected(shot.plate, shot.remove)
    finally:
        affected.clean_estimate = original
    return proposal, ests[0] if ests else np.zeros(proposal.shape, bool)


def sq_error(out: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Summed squared sRGB error per pixel, ``(T, H, W)``."""
    d = linear_to_srgb(out[..., :3]) - linear_to_srgb(truth[..., :3])
    return (d.astype(np.float64) ** 2).sum(-1)


def db(err: np.ndarray, region: np.ndarray) -> float:
    return float(10.0 * np.log10(3.0 * region.sum() / max(err[region].sum(), 1e-20)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenes", nargs="*", default=["rolling"])
    ap.add_argument("--frames", nargs=2, type=int, default=None, metavar=("A", "B"))
    ap.add_argument("--gate", action="store_true", help="also the proposal cleared where guessed")
    args = ap.parse_args(argv)
    for name in args.scenes:
        scene = build_scene(name, seed=args.seed)
        shot, dil = scene.shot, scene.dilation
        proposal, guessed = propose(shot)
        out_t, hole_t, unseen_t = fill(shot, shot.affected, dil)
        out_s, hole_s, unseen_s = fill(shot, proposal, dil)
        region = hole_t | hole_s
        e_t, e_s = sq_error(out_t, shot.truth), sq_error(out_s, shot.truth)
        added = np.where(region, e_s - e_t, 0.0)
        extra = hole_s & ~hole_t
        oracle = np.where(unseen_s, e_t, e_s)
        lost = db(e_t, region) - db(e_s, region)
        print(
            f"{name} seed {args.seed}: lost {lost:.2f} dB (true {db(e_t, region):.2f}, "
            f"proposal {db(e_s, region):.2f}); SSE added {added.sum():.1f}: on unseen px "
            f"{added[unseen_s].sum():.1f} ({100 * added[unseen_s].sum() / added.sum():.0f}%), "
            f"on extra px {added[extra].sum():.1f} ({100 * added[extra].sum() / added.sum():.0f}%)"
            f"; unseen px/frame true {unseen_t.sum() / len(region):.0f}, proposal "
            f"{unseen_s.sum() / len(region):.0f}; lost with the unseen px perfect (true run's "
            f"error): {db(e_t, region) - db(oracle, region):.2f} dB"
        )
        if args.frames:
            a, b = args.frames
            print("| frame | SSE true | SSE proposal | on unseen px | on extra px | unseen px |")
            print("|---|---|---|---|---|---|")
            for t in range(a, min(b, len(region) - 1) + 1):
                r = region[t]
                print(
                    f"| {t} | {e_t[t][r].sum():.1f} | {e_s[t][r].sum():.1f} "
                    f"| {added[t][unseen_s[t]].sum():.1f} | {added[t][extra[t]].sum():.1f} "
                    f"| {int(unseen_s[t].sum())} |"
                )
        if args.gate:
            gated = np.where(guessed, 0.0, proposal).astype(np.float32)
            out_g, hole_g, _ = fill(shot, gated, dil)
            reg = hole_t | hole_g
            e_g = sq_error(out_g, shot.truth)
            print(
                f"{name} seed {args.seed}, proposal cleared where affected's estimate was a "
                f"guess ({((proposal > 0.5) & guessed).sum() / len(reg):.0f} marked px/frame): "
                f"lost {db(e_t, reg) - db(e_g, reg):.2f} dB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
