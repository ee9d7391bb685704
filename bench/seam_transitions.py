"""Per-transition temporal error around a window seam: where a seam ratio comes from.

``bench/quality.py`` judges a seam by one number, the warped temporal error (tWE) at the seam's
transitions over the mean of its neighbours, relative to the one-window run's. When that number
misses, this prints the error of every transition around the seam for each method, with the
bench's own scene, quadmasks and metric functions, so the seam itself and its neighbourhood can
be told apart (docs/benchmarks.md, "Margins": ``hidden``'s chain seam).

Usage: ``python bench/seam_transitions.py [--scene hidden] [--seam chain] [--reach 12]
[--methods propagate-chain propagate-whole]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines  # noqa: E402
import quality  # noqa: E402
from scenes import build_scene, scene_names  # noqa: E402

from void_client.quadmask import hole  # noqa: E402
from void_daemon.metrics import (  # noqa: E402
    flow_pairs,
    region_box,
    seam_ratio,
    seam_transitions,
    warp_errors,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scene", default="hidden", choices=scene_names(True))
    p.add_argument("--seam", default="chain", choices=("chain", "crossfade"))
    p.add_argument("--reach", type=int, default=12, help="transitions shown each side")
    p.add_argument("--methods", nargs="*", default=["propagate-chain", "propagate-whole"])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    scene = build_scene(args.scene, args.seed)
    qms = baselines.quadmasks(scene)
    region = hole(qms)
    ys, xs = region_box(region, quality.TEMPORAL_MARGIN)
    truth = np.asarray(scene.shot.truth[:, ys, xs], np.float32)
    flows = flow_pairs(truth)
    at = seam_transitions(len(scene.shot.plate), scene.window, scene.overlap, args.seam)
    seams = np.flatnonzero(at)
    first, last = max(0, seams[0] - args.reach), min(len(at), seams[-1] + args.reach + 1)
    print(f"{args.scene}: {args.seam} seam transitions {seams.tolist()} (t -> t+1)")
    print("| method | ratio | " + " | ".join(str(t) for t in range(first, last)) + " |")
    print("|---|---:|" + "---:|" * (last - first))
    for key in args.methods:
        out = np.zeros(scene.shot.truth.shape[:3] + (3,), np.float32)
        quality.run_method(key, scene, region, qms, out, "")
        errs = warp_errors(out[:, ys, xs], flows, region[:, ys, xs])
        cells = [
            f"**{e:.2f}**" if at[t] else f"{e:.2f}"
            for t, e in zip(range(first, last), errs[first:last])
        ]
        print(f"| {key} | {seam_ratio(errs, at):.2f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
