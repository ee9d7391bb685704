"""``suggest-affected`` against the true affected matte, on paired shots, in one run.

For every scene of ``bench/scenes.py`` plus the demo shot (``void_daemon.demo_shot``), whose
true shadow matte is known, propose the affected matte (:mod:`void_daemon.affected`) and print:

* **IoU** of the proposal (thresholded at 0.5) with the true affected matte, counted outside
  the remove matte (the proposal never marks it; inside it the quadmask is remove anyway);
* **PSNR true / suggested**: ``propagate`` run with the remove matte plus the true affected
  matte, then plus the proposal, each scored against the clean plate (dB, display-encoded) over
  the union of both runs' holes, and the dB lost (true − suggested, each capped at 100 dB,
  where an exact fill's infinity would make any difference infinite; the goal is ≤ 1 dB);
* marked px/frame, for the scene without a shadow (``occlusion``): what is proposed there is
  a false alarm;
* seconds per frame of the proposal (2 cores);
* whether the scene meets the goal (IoU ≥ 0.7 and ≤ 1 dB lost).

With ``--before FILE`` (a copy of an earlier ``void_daemon/affected.py``, e.g.
``git show HEAD:daemon/void_daemon/affected.py > /tmp/affected_before.py``) every scene is
also proposed by that version, in the same run on the same plates, and both are printed.

Usage::

    python bench/suggest_affected.py            # seven scenes + demo, several minutes
    python bench/suggest_affected.py --seed 1   # another rendering of the same scenes
    python bench/suggest_affected.py --before /tmp/affected_before.py
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable
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


Suggest = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: The goals of issue 19, item 4.
IOU_GOAL, DB_GOAL = 0.7, 1.0
#: The dB lost is judged on PSNRs capped here: an exact fill (a locked-off camera's) scores
#: infinity, and 100 dB is an RMS error of 1e-5, far below a half-float plate's precision.
PSNR_CAP = 100.0


def load_before(path: str) -> Suggest:
    """``suggest_affected`` (default settings) of an earlier copy of the module at ``path``."""
    spec = importlib.util.spec_from_file_location("void_affected_before", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return lambda plate, remove: module.suggest_affected(plate, remove)


def propose(
    shot: Shot, dilation: int, suggest: Suggest, out_true: np.ndarray, hole_true: np.ndarray
) -> dict:
    t0 = time.perf_counter()
    proposal = suggest(shot.plate, shot.remove)
    seconds = (time.perf_counter() - t0) / len(shot.plate)
    has_truth = bool((shot.affected > 0.5).any())
    row: dict = {
        "iou": iou(proposal, shot.affected, shot.remove) if has_truth else float("nan"),
        "marked": float((proposal > 0.5).sum()) / len(shot.plate),
        "s_per_frame": seconds,
    }
    if has_truth:
        out_sugg, hole_sugg = fill(shot, proposal, dilation)
        region = hole_true | hole_sugg
        row["psnr_true"] = psnr(out_true, shot.truth, region)
        row["psnr_sugg"] = psnr(out_sugg, shot.truth, region)
        row["lost"] = min(row["psnr_true"], PSNR_CAP) - min(row["psnr_sugg"], PSNR_CAP)
        row["met"] = row["iou"] >= IOU_GOAL and row["lost"] <= DB_GOAL
    return row


def measure(
    name: str,
    shot: Shot,
    dilation: int,
    settings: AffectedSettings,
    before: Suggest | None = None,
) -> dict:
    has_truth = bool((shot.affected > 0.5).any())
    out_true, hole_true = (
        fill(shot, shot.affected, dilation) if has_truth else (shot.truth, shot.remove > 0)
    )
    row: dict = {
        "scene": name,
        "true_px": float((shot.affected > 0.5).sum()) / len(shot.plate),
        "after": propose(
            shot,
            dilation,
            lambda plate, remove: suggest_affected(plate, remove, settings),
            out_true,
            hole_true,
        ),
    }
    if before is not None:
        row["before"] = propose(shot, dilation, before, out_true, hole_true)
    return row


def _verdict(r: dict) -> str:
    if "met" not in r:
        return "(false alarms)"
    if r["met"]:
        return "met"
    misses = [
        what for what, bad in (("IoU", r["iou"] < IOU_GOAL), ("dB", r["lost"] > DB_GOAL)) if bad
    ]
    return "missed " + "+".join(misses)


def _num(x: float, fmt: str) -> str:
    return "—" if x != x else format(x, fmt)


def _stamp() -> str:
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load {load}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenes", nargs="*", default=None)
    ap.add_argument("--low", type=float, default=None)
    ap.add_argument("--high", type=float, default=None)
    ap.add_argument("--reach", type=float, default=None)
    ap.add_argument("--temporal", type=int, default=None)
    ap.add_argument("--smooth", type=float, default=None)
    ap.add_argument(
        "--before", default="", help="an earlier affected.py to propose with too, same run"
    )
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
    before = load_before(args.before) if args.before else None
    names = args.scenes if args.scenes is not None else [*scene_names(), "demo"]
    started = _stamp()
    rows = []
    for name in names:
        if name == "demo":
            shot, dilation = make_shot(frames=48, width=320, height=192, seed=args.seed), 4
        else:
            scene = build_scene(name, seed=args.seed)
            shot, dilation = scene.shot, scene.dilation
        rows.append(measure(name, shot, dilation, s, before))
        r = rows[-1]["after"]
        print(f"{name}: IoU {_num(r['iou'], '.3f')} marked {r['marked']:.0f}", file=sys.stderr)
    print(f"settings: {s}")
    print(f"started {started}; finished {_stamp()}; seed {args.seed}")
    versions = ["before", "after"] if before is not None else ["after"]
    print(
        "| scene | version | IoU | PSNR true | PSNR sugg | lost dB | marked px/f | true px/f "
        "| s/frame | goal (IoU ≥ 0.7, ≤ 1 dB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        for version in versions:
            r = row[version]
            pt, ps = r.get("psnr_true", float("nan")), r.get("psnr_sugg", float("nan"))
            print(
                f"| {row['scene']} | {version} | {_num(r['iou'], '.3f')} | {_num(pt, '.2f')} "
                f"| {_num(ps, '.2f')} | {_num(r.get('lost', float('nan')), '.2f')} | {r['marked']:.0f} "
                f"| {row['true_px']:.0f} | {r['s_per_frame']:.3f} | {_verdict(r)} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
