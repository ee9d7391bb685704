"""``chain`` seams of ``propagate``: how the later window should use the earlier one's fill.

A ``chain`` window starts with context frames: the previous window's final frames. Measured in
one run on the same scenes (``bench/scenes.py``), the seam ratio of a chained job over the
one-window run's at the same transition (as in ``bench/quality.py``) for:

* ``prior+warp`` (what the engine does): the context frames are visible background to the
  window, so the camera-aligned candidates of the frames after them include the earlier fill (a
  soft prior, outvoted where later frames disagree, and since v6 by two or more later frames
  that agree wherever the context's repeated votes hold the median); and every hole pixel eases
  from the context's fill over as many frames as there are context frames: along its chained
  flow where that reaches the context, else carried by the camera's motion from the last
  context frame;
* ``prior``: the ease only where the chained flow reaches the context (the engine before);
* ``no-ease``: no ease at all;
* ``no-prior``: context frames are not used as candidates (only the eased chained fill links
  the windows);
* ``count-votes``: engine v5: every context frame's candidate is a full vote in the median,
  also where the context frames (one earlier fill, repeated) outnumber the frames that see the
  point and those agree (v6 lets them decide there: ``propagate._outvote_prior``).

``--seam crossfade`` measures, per variant of where the camera-aligned candidates come from,
the crossfaded job (each window fills alone and the runner blends the overlap), the chained job
and the one-window run (redone per variant: each changes it too): hole PSNR of each, and the
crossfade and chain seam ratios over the one-window run's at the same transitions. Variants
(module constants of the engine, patched): ``sparse`` (engine v3: distances ``CANDIDATE_STEPS``
1, 2, 3, 5, 8, 12, ... only), ``endErR`` (within ``E`` frames of either end of a window, also
every distance up to ``R``), ``s12e8r24`` (engine v4: 12 frames at the start, 8 at the end, up
to 24), ``dense12`` (every frame up to 12 away everywhere, the rejected v3 experiment).

Usage: ``python bench/chain_priors.py [--scenes parallax occlusion] [--seam crossfade
[--variants sparse end12r24]]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

import baselines  # noqa: E402
from scenes import build_scene  # noqa: E402

from void_client.quadmask import hole  # noqa: E402
from void_client.windows import valid_length_at_least  # noqa: E402
from void_daemon.engines import EngineConfig  # noqa: E402
from void_daemon.engines import propagate as P  # noqa: E402
from void_daemon.metrics import (  # noqa: E402
    QualityTotals,
    flow_pairs,
    region_box,
    seam_ratio,
    seam_transitions,
    warp_errors,
)

VARIANTS = ("prior+warp", "prior", "no-ease", "no-prior", "count-votes")
#: ``--seam crossfade``: engine constants per variant (``DENSE_NEAR_END``, ``DENSE_REACH``,
#: ``CANDIDATE_STEPS``; the still-camera path is the same in all of them).
CROSSFADE_VARIANTS: dict[str, dict[str, object]] = {
    "sparse": {"DENSE_NEAR_START": 0, "DENSE_NEAR_END": 0},
    "end6r12": {"DENSE_NEAR_START": 6, "DENSE_NEAR_END": 6, "DENSE_REACH": 12},
    "end8r24": {"DENSE_NEAR_START": 8, "DENSE_NEAR_END": 8, "DENSE_REACH": 24},
    "end12r12": {"DENSE_NEAR_START": 12, "DENSE_NEAR_END": 12, "DENSE_REACH": 12},
    "end12r18": {"DENSE_NEAR_START": 12, "DENSE_NEAR_END": 12, "DENSE_REACH": 18},
    "end12r24": {"DENSE_NEAR_START": 12, "DENSE_NEAR_END": 12, "DENSE_REACH": 24},
    "end12r32": {"DENSE_NEAR_START": 12, "DENSE_NEAR_END": 12, "DENSE_REACH": 32},
    "s12e8r24": {"DENSE_NEAR_START": 12, "DENSE_NEAR_END": 8, "DENSE_REACH": 24},
    "dense12": {
        "DENSE_NEAR_START": 0,
        "DENSE_NEAR_END": 0,
        "CANDIDATE_STEPS": tuple(range(1, 13)) + (17, 23, 30, 40, 52, 67, 85, 110, 140, 180),
    },
}


def run(scene, qms, window: int | None, seam: str = "chain") -> np.ndarray:
    out = np.zeros(scene.shot.truth.shape[:3] + (3,), np.float32)
    path = baselines.JobPath(scene, "propagate", seam, qms, EngineConfig(), window)
    try:
        path.run()
        path.collect(out)
    finally:
        path.close()
    return out


def variant(name: str):
    """Patch the engine for one variant; returns the undo."""
    cont, cand_init, warp = P._continuation, P._Candidates.__init__, P.CONTEXT_WARP
    outvote = P.CONTEXT_OUTVOTE
    if name == "count-votes":
        P.CONTEXT_OUTVOTE = False
    elif name != "prior+warp":
        P.CONTEXT_WARP = False
    if name == "no-ease":
        P._continuation = lambda t, lead: 0.0  # type: ignore[assignment]
    if name == "no-prior":
        fill = P.PropagateEngine.fill

        def no_prior(self, window):  # context frames are never candidates
            ctx = window.context

            def init(c, frames, holes, flow, lead=-1):
                cand_init(c, frames, holes, flow, lead)
                if ctx is not None and len(ctx) == len(holes):
                    # The holes are packed bits (``_Masks``): rebuild them with every
                    # context pixel marked unseen.
                    unseen = np.stack([np.asarray(m, bool) for m in c.holes8])
                    unseen[np.asarray(ctx, bool)] = True
                    c.holes8 = P._Masks(unseen).view(np.uint8)

            P._Candidates.__init__ = init  # type: ignore[method-assign]
            try:
                return fill(self, window)
            finally:
                P._Candidates.__init__ = cand_init  # type: ignore[method-assign]

        P.PropagateEngine.fill = no_prior  # type: ignore[method-assign]

        def undo() -> None:
            P.PropagateEngine.fill = fill  # type: ignore[method-assign]
            P.CONTEXT_WARP = warp

        return undo

    def restore() -> None:
        P._continuation = cont  # type: ignore[assignment]
        P.CONTEXT_WARP = warp
        P.CONTEXT_OUTVOTE = outvote

    return restore


def psnr_hole(out: np.ndarray, scene, region: np.ndarray) -> float:
    tot = QualityTotals()
    for t in range(scene.frames):
        tot.add(out[t], scene.shot.truth[t], region[t])
    return float(tot.scores()["psnr_hole"])


def crossfade(names: list[str], variants: list[str]) -> None:
    """Per candidate-distance variant: hole PSNR crossfade / chain / one window, and the
    crossfade and chain seam ratios over the one-window run's."""
    print(
        "| scene | variant | PSNR hole dB crossfade | chain | one window | "
        "crossfade seam rel. (≤ 1.2) | chain seam rel. (≤ 1.05) | s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        scene = build_scene(name)
        qms = baselines.quadmasks(scene)
        region = hole(qms)
        ys, xs = region_box(region, 24)
        flows = flow_pairs(np.asarray(scene.shot.truth[:, ys, xs], np.float32))
        for v in variants:
            saved = {k: getattr(P, k) for k in CROSSFADE_VARIANTS[v]}
            for k, x in CROSSFADE_VARIANTS[v].items():
                setattr(P, k, x)
            start = time.perf_counter()
            try:
                faded = run(scene, qms, None, "crossfade")
                chained = run(scene, qms, None, "chain")
                whole = run(scene, qms, valid_length_at_least(scene.frames), "crossfade")
            finally:
                for k, x in saved.items():
                    setattr(P, k, x)
            secs = time.perf_counter() - start
            rel = {}
            for seam, out in (("crossfade", faded), ("chain", chained)):
                at = seam_transitions(scene.frames, scene.window, scene.overlap, seam)
                r = seam_ratio(warp_errors(out[:, ys, xs], flows, region[:, ys, xs]), at)
                rw = seam_ratio(warp_errors(whole[:, ys, xs], flows, region[:, ys, xs]), at)
                rel[seam] = r / rw
            print(
                f"| {name} | {v} | {psnr_hole(faded, scene, region):.2f} | "
                f"{psnr_hole(chained, scene, region):.2f} | {psnr_hole(whole, scene, region):.2f} | "
                f"**{rel['crossfade']:.2f}** | **{rel['chain']:.2f}** | {secs:.0f} |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", nargs="*", default=["parallax", "occlusion"])
    ap.add_argument("--seam", choices=("chain", "crossfade"), default="chain")
    ap.add_argument(
        "--variants",
        nargs="*",
        default=list(CROSSFADE_VARIANTS),
        help=f"--seam crossfade: subset of {list(CROSSFADE_VARIANTS)}",
    )
    args = ap.parse_args()
    if args.seam == "crossfade":
        crossfade(args.scenes, args.variants)
        return
    print("| scene | variant | PSNR hole dB | chain seam | one-window seam | relative (≤ 1.05) |")
    print("|---|---|---:|---:|---:|---:|")
    for name in args.scenes:
        scene = build_scene(name)
        qms = baselines.quadmasks(scene)
        region = hole(qms)
        ys, xs = region_box(region, 24)
        flows = flow_pairs(np.asarray(scene.shot.truth[:, ys, xs], np.float32))
        at = seam_transitions(scene.frames, scene.window, scene.overlap, "chain")
        whole = run(scene, qms, valid_length_at_least(scene.frames))
        r_whole = seam_ratio(warp_errors(whole[:, ys, xs], flows, region[:, ys, xs]), at)
        for v in VARIANTS:
            undo = variant(v)
            try:
                out = run(scene, qms, None)
            finally:
                undo()
            tot = QualityTotals()
            for t in range(scene.frames):
                tot.add(out[t], scene.shot.truth[t], region[t])
            r = seam_ratio(warp_errors(out[:, ys, xs], flows, region[:, ys, xs]), at)
            print(
                f"| {name} | {v} | {tot.scores()['psnr_hole']:.2f} | {r:.2f} | {r_whole:.2f} | "
                f"**{r / r_whole:.2f}** |",
                flush=True,
            )


if __name__ == "__main__":
    main()
