"""Bridge overhead and `propagate` engine speed at 1080p.

Measured in one run on the same generated shot (1080p half RGBA, ~10% of the frame to fill):

1. **engine** — `PropagateEngine.fill` alone on each window's ROI (frames/s), peak RSS of a
   child process doing only that;
2. **in-process job** — the daemon's `JobRunner` on inputs already in memory/disk: ROI, engine,
   seam blend, composite (what a job costs with no transport at all);
3. **end to end** — `void-remove run` path: EXR read → ZeroMQ → daemon subprocess → EXR write.

The bridge overhead per frame is (end to end − in-process job) / frames, and its share of the
end-to-end time is what the artist waits for that is not compute.

Usage: ``python bench/bridge.py [--frames 24] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Bench scripts run as `python bench/<name>.py` from the dev venv (pip install -e '.[dev]'); the
# repository root goes on sys.path for the helpers they share with the tests (tests.support).
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from tests.support.daemons import DaemonProcess  # noqa: E402
from void_client.job_spec import JobSpec  # noqa: E402
from void_client.quadmask import build_quadmask, hole  # noqa: E402
from void_client.sequence_job import RemoveRequest, remove_sequence  # noqa: E402
from void_daemon.demo_shot import make_shot, write_shot  # noqa: E402

SETTINGS = {"window": 197, "overlap": 16, "dilation": 4}


def engine_inputs(frames: int, width: int, height: int, folder: Path) -> dict:
    """Write one window's ROI crop and quadmask to .npy, as the daemon hands them to the engine,
    and the clean plate's crop (``truth.npy``: what the fill is scored against)."""
    from void_daemon.roi import compute_roi

    shot = make_shot(frames=frames, width=width, height=height, radius_frac=0.2)
    q = np.stack(
        [build_quadmask(r, a, SETTINGS["dilation"]) for r, a in zip(shot.remove, shot.affected)]
    )
    holes = hole(q)
    box = compute_roi(holes, 48)
    ys, xs = box.slices
    np.save(folder / "crop.npy", np.ascontiguousarray(shot.plate[:, ys, xs, :3]))
    np.save(folder / "quadmask.npy", np.ascontiguousarray(q[:, ys, xs]))
    np.save(folder / "truth.npy", np.ascontiguousarray(shot.truth[:, ys, xs]))
    return {"hole_fraction": float(holes.mean()), "roi": [box.width, box.height]}


def engine_only(folder: Path) -> dict:
    """Child-process body: load the crop and run the engine, nothing else (so its peak RSS is
    the engine's working set plus its input)."""
    from void_daemon.engines.base import WindowInput
    from void_daemon.engines.propagate import PropagateEngine

    crop = np.load(folder / "crop.npy")
    q = np.load(folder / "quadmask.npy")
    t0 = time.perf_counter()
    # In place, as the daemon's runner asks (``WindowInput.in_place``).
    PropagateEngine().fill(WindowInput(crop, q, in_place=True))
    dt = time.perf_counter() - t0
    # Measured here: RUSAGE_CHILDREN in the parent would also count the fork's copy of the parent.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": dt,
        "fps": len(crop) / dt,
        "input_mb": crop.nbytes / 1e6,
        "peak_rss_mb": peak,
    }


def in_process_job(paths: dict, frames: list[int], width: int, height: int, workdir: Path) -> float:
    """The daemon's job logic without transport: store inputs, run windows, finish frames."""
    from void_client.sequence_job import SequenceJob
    from void_daemon.cache import WindowCache
    from void_daemon.engines import EngineConfig, load_engine
    from void_daemon.jobs import JobStore
    from void_daemon.runner import JobRunner

    seq = SequenceJob(
        RemoveRequest(
            paths["plate"], paths["remove"], str(workdir / "x.####.exr"), paths["affected"]
        )
    )
    store = JobStore(workdir / "jobs")
    job = store.create(JobSpec(frames=frames, width=width, height=height, **SETTINGS))
    for pos, f in enumerate(frames):  # inputs as the receivers would store them
        fi = seq.read_frame(f)
        job.store_input(pos, fi.plate, build_quadmask(fi.remove, fi.affected, SETTINGS["dilation"]))
    runner = JobRunner(
        job, load_engine("propagate", EngineConfig()), WindowCache(workdir / "cache")
    )
    t0 = time.perf_counter()
    for w in runner.windows:
        runner.run_window(w.index, lambda *a: None, lambda: False)
    for pos in runner.ready_positions():
        job.store_output(pos, runner.finish_frame(pos))
    return time.perf_counter() - t0


def end_to_end(paths: dict, workdir: Path) -> float:
    daemon = DaemonProcess(workdir / "djobs").start()
    endpoint = daemon.endpoint
    try:
        req = RemoveRequest(
            paths["plate"],
            paths["remove"],
            str(workdir / "out" / "o.####.exr"),
            paths["affected"],
            settings=SETTINGS,
            endpoint=endpoint,
            autostart=False,
        )
        t0 = time.perf_counter()
        remove_sequence(req)
        return time.perf_counter() - t0
    finally:
        daemon.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--engine-child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--inputs-child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.engine_child:
        print(json.dumps(engine_only(Path(args.engine_child))))
        return
    if args.inputs_child:
        print(
            json.dumps(engine_inputs(args.frames, args.width, args.height, Path(args.inputs_child)))
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # Both in children of a still-small parent: Linux keeps ru_maxrss across fork+exec, so a
        # child forked from a parent holding the shot would report the parent's size.
        size = [
            "--frames",
            str(args.frames),
            "--width",
            str(args.width),
            "--height",
            str(args.height),
        ]
        made = subprocess.run(
            [sys.executable, __file__, "--inputs-child", str(work), *size],
            capture_output=True,
            text=True,
            check=True,
        )
        eng = json.loads(made.stdout.strip().splitlines()[-1])
        child = subprocess.run(
            [sys.executable, __file__, "--engine-child", str(work)],
            capture_output=True,
            text=True,
            check=True,
        )
        eng.update(json.loads(child.stdout.strip().splitlines()[-1]))
        peak_rss_mb = eng["peak_rss_mb"]
        shot = make_shot(frames=args.frames, width=args.width, height=args.height, radius_frac=0.2)
        paths = write_shot(shot, str(work / "in"))
        frames = shot.frames
        del shot
        job_s = in_process_job(paths, frames, args.width, args.height, work)
        e2e_s = end_to_end(paths, work)
    n = args.frames
    result = {
        "frames": n,
        "size": f"{args.width}x{args.height}",
        "hole_fraction": round(eng["hole_fraction"], 3),
        "engine_fps": round(eng["fps"], 2),
        "engine_peak_rss_mb": round(peak_rss_mb),
        "engine_input_mb": round(eng["input_mb"]),
        "roi": eng["roi"],
        "job_in_process_s": round(job_s, 2),
        "end_to_end_s": round(e2e_s, 2),
        "bridge_ms_per_frame": round(1000 * (e2e_s - job_s) / n, 1),
        "bridge_share": round(max(0.0, e2e_s - job_s) / e2e_s, 3),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        "| frames | size | hole | ROI | engine fps | engine peak RSS MB (input MB) | job in-process s | end-to-end s | bridge ms/frame | bridge share |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    r = result
    print(
        f"| {n} | {r['size']} | {r['hole_fraction']:.0%} | {r['roi'][0]}x{r['roi'][1]} | {r['engine_fps']} | {r['engine_peak_rss_mb']} ({r['engine_input_mb']}) | {r['job_in_process_s']} | {r['end_to_end_s']} | {r['bridge_ms_per_frame']} | {r['bridge_share']:.0%} |"
    )


if __name__ == "__main__":
    main()
