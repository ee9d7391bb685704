"""`propagate` alone at 1080p: frames/s, peak memory and where the time goes, before and after.

The engine runs on one window's ROI crop (``bench/bridge.py``'s inputs: a 1920×1080 shot, a
ball and its shadow, 10–13% of the frame to fill), each engine in a fresh child process that
only loads its input (so its peak RSS is the engine's working set plus its input). With
``--baseline REV`` the engine as it was at git revision REV runs on the same input in the same
run, alternating with the current one, so the ratio is fair on a shared machine.

The engines fill their input in place (``WindowInput.in_place``, as the daemon's runner asks;
an engine that does not know it returns a new array): peak / input is then the engine's working
set over its input, plus the interpreter and the quadmask. ``--copy`` measures the fill into a
new array instead.

CPU s is the engine's user + system time over all its threads; *main CPU s* is the calling
thread's alone: the engine plans the next frame's candidates in a worker thread
(``PLAN_AHEAD``), so on a machine with a free second core the wall time tends to the larger
of the two threads' shares, while on a loaded one it is the total. ``--variant NAME=VALUE``
adds the current engine with a module constant changed (a Python literal, e.g.
``PLAN_AHEAD=0`` or ``CANDIDATE_STEPS=(1,2,3,5,8,12)``) as one more engine of the same run.

``--floor`` times the current engine's DIS flows alone, recorded from one fill of the crop and
computed again with nothing else running: no engine that needs those flows can pass
frames / that wall time, however fast the rest of it becomes.

*hole dB* is the fill's PSNR against the shot's clean plate over every hole pixel (as
``bench/quality.py`` scores): a faster engine must not buy its speed with quality.

Usage::

    python bench/propagate_speed.py [--frames 24] [--baseline HEAD] [--runs N] [--profile]
        [--copy] [--inputs DIR] [--variant PLAN_AHEAD=0] [--floor] [--json]
"""

from __future__ import annotations

import argparse
import ast
import cProfile
import importlib.util
import io
import json
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))
ENGINE = "daemon/void_daemon/engines/propagate.py"


def child(
    folder: Path, module: str, profile: bool, in_place: bool = True, variant: str = ""
) -> dict:
    """Load the crop and run the engine from ``module`` (a file path, or "" for the current),
    with ``variant`` (``NAME=VALUE``, an integer or float) set on the module first."""
    from void_daemon.engines.base import WindowInput

    if module:
        spec = importlib.util.spec_from_file_location("propagate_baseline", module)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    else:
        from void_daemon.engines import propagate as mod
    if variant:
        name, value = variant.split("=", 1)
        setattr(mod, name, ast.literal_eval(value))
    crop = np.load(folder / "crop.npy")
    q = np.load(folder / "quadmask.npy")
    prof = cProfile.Profile() if profile else None
    cpu0 = time.process_time()
    main0 = time.thread_time()
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    filled = mod.PropagateEngine().fill(WindowInput(crop, q, in_place=in_place))
    if prof:
        prof.disable()
    dt = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    main = time.thread_time() - main0
    top = ""
    if prof:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(12)
        top = buf.getvalue()
    # Before the score below reads the clean plate: the peak is the engine's.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "hole_psnr": hole_psnr(filled, q, folder / "truth.npy"),
        "seconds": dt,
        "fps": len(crop) / dt,
        "cpu_s": cpu,
        "main_cpu_s": main,
        "input_mb": crop.nbytes / 1e6,
        "peak_rss_mb": peak,
        "profile": top,
    }


def hole_psnr(filled: np.ndarray, q: np.ndarray, truth_file: Path) -> float | None:
    """Hole PSNR (dB, sRGB, over every hole pixel of the window, as ``bench/quality.py``) of
    the fill against the clean plate; None where the inputs were made without one."""
    from void_client.quadmask import hole
    from void_daemon.metrics import psnr

    if not truth_file.exists():
        return None
    truth = np.load(truth_file, mmap_mode="r")
    inside = [hole(quad) for quad in q]  # the hole pixels only: a tenth of the frames
    out = np.concatenate([f[m] for f, m in zip(filled, inside)])
    clean = np.concatenate([np.asarray(t[m]) for t, m in zip(truth, inside)])
    return round(psnr(out, clean), 2)


def flows_floor(folder: Path, replays: int = 2) -> dict:
    """The engine's DIS flows alone: every flow one fill of the crop computes (the pair flows
    and the refinements' residual flows, recorded as the engine calls them), computed again
    with nothing else running. Their wall time bounds the fps of any engine that needs the
    same flows, however fast the rest of it becomes."""
    import cv2

    from void_daemon.engines import propagate
    from void_daemon.engines.base import WindowInput

    calls: list[tuple[np.ndarray, np.ndarray]] = []

    class Recorder:
        """Stands in for the engine's DIS object: passes each call on, keeps its images."""

        def __init__(self, dis: cv2.DISOpticalFlow) -> None:
            self.dis = dis

        def calc(self, a: np.ndarray, b: np.ndarray, flow: None) -> np.ndarray:
            calls.append((a.copy(), b.copy()))
            return self.dis.calc(a, b, flow)  # type: ignore[call-overload]

    made = propagate._Flow.__init__

    def recording(self: propagate._Flow, *args: object, **kwargs: object) -> None:
        made(self, *args, **kwargs)  # type: ignore[arg-type]
        self.dis = Recorder(self.dis)  # type: ignore[assignment]

    propagate._Flow.__init__ = recording  # type: ignore[method-assign]
    crop = np.load(folder / "crop.npy")
    propagate.PropagateEngine().fill(WindowInput(crop, np.load(folder / "quadmask.npy")))
    frames, full = len(crop), calls[0][0].shape
    del crop
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # the engine's preset
    best = (float("inf"), 0.0)
    for _ in range(replays):
        cpu0, t0 = time.process_time(), time.perf_counter()
        for a, b in calls:
            dis.calc(a, b, None)  # type: ignore[call-overload]
        best = min(best, (time.perf_counter() - t0, time.process_time() - cpu0))
    pairs = sum(a.shape == full for a, _ in calls)
    return {
        "flows": len(calls),
        "pair_flows": pairs,
        "refinement_flows": len(calls) - pairs,
        "wall_s": best[0],
        "cpu_s": best[1],
        "ceiling_fps": frames / best[0],
    }


def run_child(
    folder: Path, module: str, profile: bool, in_place: bool = True, variant: str = ""
) -> dict:
    args = [sys.executable, __file__, "--child", str(folder), "--module", module]
    args += (["--profile"] if profile else []) + ([] if in_place else ["--copy"])
    args += ["--variant", variant] if variant else []
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--baseline", default="", help="git revision of the engine to compare with")
    ap.add_argument("--runs", type=int, default=1, help="alternating runs of each engine")
    ap.add_argument("--profile", action="store_true", help="print each engine's cProfile top")
    ap.add_argument("--copy", action="store_true", help="fill into a new array, not in place")
    ap.add_argument("--inputs", default="", help="reuse this folder's crop.npy/quadmask.npy")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        help="also run the current engine with NAME=VALUE set on its module (repeatable)",
    )
    ap.add_argument(
        "--floor",
        action="store_true",
        help="also time the current engine's DIS flows alone (the fps no faster rest can pass)",
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--floor-child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--module", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor_child:
        print(json.dumps(flows_floor(Path(args.floor_child))))
        return
    if args.child:
        variant = args.variant[0] if args.variant else ""
        print(
            json.dumps(child(Path(args.child), args.module, args.profile, not args.copy, variant))
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        size = ["--frames", str(args.frames), "--width", str(args.width)]
        size += ["--height", str(args.height)]
        if args.inputs:  # made before by this script's own step below (same frames and size)
            work = Path(args.inputs)
            crop = np.load(work / "crop.npy", mmap_mode="r")
            q = np.load(work / "quadmask.npy", mmap_mode="r")
            facts: dict = {
                "hole_fraction": float((q < 255).mean()),
                "roi": [crop.shape[2], crop.shape[1]],
            }
        else:
            made = subprocess.run(
                [sys.executable, str(ROOT / "bench" / "bridge.py"), "--inputs-child", tmp, *size],
                capture_output=True,
                text=True,
                check=True,
            )
            facts = json.loads(made.stdout.strip().splitlines()[-1])
        engines: dict[str, tuple[str, str]] = {"current": ("", "")}
        if args.baseline:
            old = Path(tmp) / "propagate_baseline.py"
            old.write_text(
                subprocess.run(
                    ["git", "show", f"{args.baseline}:{ENGINE}"],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            engines = {f"baseline ({args.baseline})": (str(old), ""), "current": ("", "")}
        for variant in args.variant:
            engines[f"current, {variant}"] = ("", variant)
        results: dict[str, list[dict]] = {k: [] for k in engines}
        for _ in range(args.runs):
            for name, (module, variant) in engines.items():
                results[name].append(run_child(work, module, args.profile, not args.copy, variant))
        floor: dict | None = None
        if args.floor:
            out = subprocess.run(
                [sys.executable, __file__, "--floor-child", str(work)],
                capture_output=True,
                text=True,
                check=True,
            )
            floor = json.loads(out.stdout.strip().splitlines()[-1])
    rows = {}
    for name, runs in results.items():
        best = max(runs, key=lambda r: r["fps"])
        rows[name] = {
            "fps": round(best["fps"], 3),
            "fps_runs": [round(r["fps"], 3) for r in runs],
            "hole_psnr": best["hole_psnr"],
            # CPU seconds (all threads) vary far less with other processes' load than wall time.
            "cpu_s": round(min(r["cpu_s"] for r in runs), 1),
            "cpu_s_runs": [round(r["cpu_s"], 1) for r in runs],
            "main_cpu_s": round(min(r["main_cpu_s"] for r in runs), 1),
            "peak_rss_mb_runs": [round(r["peak_rss_mb"]) for r in runs],
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs)),
            "input_mb": round(best["input_mb"]),
            "peak_over_input": round(max(r["peak_rss_mb"] for r in runs) / best["input_mb"], 2),
        }
        if args.profile:
            print(f"--- {name}\n{best['profile']}", file=sys.stderr)
    result: dict = {
        "in_place": not args.copy,
        "frames": args.frames,
        "size": f"{args.width}x{args.height}",
        "hole_fraction": round(facts["hole_fraction"], 3),
        "roi": facts["roi"],
        "engines": rows,
        "flows_floor": floor,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        "| engine | frames | size | hole | ROI | fps (runs) | CPU s (runs) | main CPU s (least) "
        "| peak RSS MB (runs; input MB) | peak / input | hole dB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        fps_runs = ", ".join(str(f) for f in r["fps_runs"])
        cpu_runs = ", ".join(str(c) for c in r["cpu_s_runs"])
        rss_runs = ", ".join(str(m) for m in r["peak_rss_mb_runs"])
        print(
            f"| {name} | {args.frames} | {result['size']} | {result['hole_fraction']:.0%} | "
            f"{facts['roi'][0]}x{facts['roi'][1]} | **{r['fps']}** ({fps_runs}) | "
            f"{r['cpu_s']} ({cpu_runs}) | {r['main_cpu_s']} | "
            f"{r['peak_rss_mb']} ({rss_runs}; {r['input_mb']}) | {r['peak_over_input']} | "
            f"{'—' if r['hole_psnr'] is None else r['hole_psnr']} |"
        )
    if floor is not None:
        print(
            "\n| the current engine's DIS flows alone | pair flows | refinement flows | "
            "wall s (best of 2) | CPU s | fps ceiling (frames / wall) |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        print(
            f"| {floor['flows']} flows | {floor['pair_flows']} | {floor['refinement_flows']} | "
            f"{floor['wall_s']:.2f} | {floor['cpu_s']:.2f} | **{floor['ceiling_fps']:.2f}** |"
        )


if __name__ == "__main__":
    main()
