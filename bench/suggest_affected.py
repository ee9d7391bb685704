"""``suggest-affected`` against the true affected matte, on paired shots, in one run.

For every scene of ``bench/scenes.py`` plus the demo shot (``void_daemon.demo_shot``), whose
true shadow matte is known, propose the affected matte (:mod:`void_daemon.affected`) and print:

* **IoU** of the proposal (thresholded at 0.5) with the true affected matte, counted outside
  the remove matte (the proposal never marks it; inside it the quadmask is remove anyway);
* **PSNR true / suggested**: ``propagate`` run with the remove matte plus the true affected
  matte, then plus the proposal, each scored against the clean plate (dB, display-encoded) over
  the union of both runs' holes, and the dB lost (true − suggested; the goal is ≤ 1 dB);
* marked px/frame, for the scene without a shadow (``occlusion``): what is proposed there is
  a false alarm;
* seconds per frame of the proposal (2 cores).

Usage::

    python bench/suggest_affected.py            # five scenes + demo, about a minute or two
    python bench/suggest_affected.py --seed 1   # another rendering of the same scenes
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
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from scenes import build_scene, scene_names  # noqa: E402

from void_client.quadmask import build_quadmask, hole  # noqa: E402
from void_daemon.affected import AffectedSettings, suggest_affected  # noqa: E402
from void_daemon.demo_shot import Shot, make_shot  # noqa: E402
from void_daemon.engines.base import WindowInput  # noqa: E402
from void_daemon.engines.propagate import PropagateEngine  # noqa: E402
from void_daemon.metrics import psnr  # noqa: E402


def iou(proposal: np.ndarray, truth: np.ndarray, remove: np.ndarray) -> float:
    outside = remove <= 0.0
    p, t = (proposal > 0.5) & outside, (truth > 0.5) & outside
    union = int((p | t).sum())
    return float((p & t).sum()) / union if union else float("nan")


def fill(shot: Shot, affected: np.ndarray, dilation: int) -> tuple[np.ndarray, np.ndarray]:
    q = np.stack([build_quadmask(r, a, dilation) for r, a in zip(shot.remove, affected)])
    frames = np.ascontiguousarray(shot.plate[..., :3], np.float32)
    return PropagateEngine().fill(WindowInput(frames=frames, quadmask=q)), hole(q)


def measure(name: str, shot: Shot, dilation: int, settings: AffectedSettings) -> dict:
    t0 = time.perf_counter()
    proposal = suggest_affected(shot.plate, shot.remove, settings)
    seconds = (time.perf_counter() - t0) / len(shot.plate)
    has_truth = bool((shot.affected > 0.5).any())
    row: dict = {
        "scene": name,
        "iou": iou(proposal, shot.affected, shot.remove) if has_truth else float("nan"),
        "marked": float((proposal > 0.5).sum()) / len(shot.plate),
        "true_px": float((shot.affected > 0.5).sum()) / len(shot.plate),
        "s_per_frame": seconds,
    }
    if has_truth:
        out_true, hole_true = fill(shot, shot.affected, dilation)
        out_sugg, hole_sugg = fill(shot, proposal, dilation)
        region = hole_true | hole_sugg
        row["psnr_true"] = psnr(out_true, shot.truth, region)
        row["psnr_sugg"] = psnr(out_sugg, shot.truth, region)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenes", nargs="*", default=None)
    ap.add_argument("--low", type=float, default=None)
    ap.add_argument("--high", type=float, default=None)
    ap.add_argument("--reach", type=float, default=None)
    ap.add_argument("--temporal", type=int, default=None)
    ap.add_argument("--smooth", type=float, default=None)
    args = ap.parse_args(argv)
    s = AffectedSettings()
    for key, attr in (
        ("low", "low"),
        ("high", "high"),
        ("reach", "reach"),
        ("temporal", "temporal"),
        ("smooth", "smooth_px"),
    ):
        if getattr(args, key) is not None:
            setattr(s, attr, getattr(args, key))
    names = args.scenes if args.scenes is not None else [*scene_names(), "demo"]
    rows = []
    for name in names:
        if name == "demo":
            shot, dilation = make_shot(frames=48, width=320, height=192, seed=args.seed), 4
        else:
            scene = build_scene(name, seed=args.seed)
            shot, dilation = scene.shot, scene.dilation
        rows.append(measure(name, shot, dilation, s))
        r = rows[-1]
        print(
            f"{name}: IoU {r['iou']:.3f} marked {r['marked']:.0f} true {r['true_px']:.0f}",
            file=sys.stderr,
        )
    print(f"settings: {s}")
    head = (
        f"{'scene':<10}{'IoU':>7}{'PSNR true':>11}{'PSNR sugg':>11}{'lost dB':>9}"
        f"{'marked px/f':>13}{'true px/f':>11}{'s/frame':>9}"
    )
    print(head)
    for r in rows:
        pt, ps = r.get("psnr_true", float("nan")), r.get("psnr_sugg", float("nan"))
        iou_text = f"{r['iou']:.3f}" if r["iou"] == r["iou"] else "—"
        print(
            f"{r['scene']:<10}{iou_text:>7}{pt:>11.2f}{ps:>11.2f}{pt - ps:>9.2f}"
            f"{r['marked']:>13.0f}{r['true_px']:>11.0f}{r['s_per_frame']:>9.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
