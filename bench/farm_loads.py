"""Model loads per farm job, before and after ``windows_per_task`` (issue 17).

Runs every window task of one farm job as its own process (as a farm does), on CPU with the
tiny random VOID of the test-suite (same weights layout and loader as the 5B release), once
with one window per task (the old layout) and once with N windows per task, and reports the
engine loads the tasks journalled (``journal/task-*.jsonl``, one ``engine`` event per load),
the seconds those loads took and the wall time of all window tasks::

    python bench/farm_loads.py                     # 6 windows, 3 per task, tiny VOID on CPU
    python bench/farm_loads.py --engine propagate  # engine-agnostic count, no torch needed

Results are in docs/benchmarks.md ("Farm: model loads per job").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMAND = [sys.executable, "-m", "void_client.cli.main"]


def run_job(
    shot: dict, root: Path, engine: str, weights: str, per: int, seam: str, warm: bool = False
) -> dict:
    from void_client.farm import FarmSpec
    from void_client.sequence_job import RemoveRequest
    from void_daemon.farm_tasks import count_engine_loads

    settings = {"window": 5, "overlap": 1, "seam": seam, "engine": engine}
    if engine == "void":
        settings["engine_options"] = {"steps": 2, "min_frames": 0}
        settings["pass2"] = False
    req = RemoveRequest(
        shot["plate"], shot["remove"], str(root / "out" / "c.####.exr"), settings=settings
    )
    spec = FarmSpec.from_request(req, root / "work", command=COMMAND)
    spec.windows_per_task = per
    spec.engine_config = {"device": "cpu", "weights_dir": weights} if weights else {}
    spec.farm.allow_cpu = True  # the tiny model on purpose: no GPU here
    path = spec.save(root / "farm.json")
    t0 = time.perf_counter()
    tasks = 0
    if warm:
        # The real session: openjd run starts 'task serve' in the job environment.
        from void_client.farm import submit_job

        spec.warm_engine = True
        template = submit_job(spec, "openjd", root / "bundle", check=False)
        r = subprocess.run(
            [str(Path(sys.executable).with_name("openjd")), "run", str(template)],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            raise SystemExit(r.stdout[-3000:])
        spec = FarmSpec.load(template.parent / "farm.json")
        tasks = r.stdout.count("void-remove: job ")  # includes assemble
    for task in [] if warm else spec.task_graph(str(path), "{frame}"):
        if task.name == "assemble":
            continue
        first, _, last = task.frames.partition("-")
        for frame in range(int(first), int(last or first) + 1):
            argv = [a.replace("{frame}", str(frame)) for a in task.argv]
            r = subprocess.run(argv, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(r.stdout[-2000:] + r.stderr[-2000:])
            tasks += 1
    wall = time.perf_counter() - t0
    load_s = 0.0
    for j in (spec.job_dir / "journal").glob("task-*.jsonl"):
        load_s += sum(
            json.loads(ln).get("seconds", 0.0)
            for ln in j.read_text().splitlines()
            if '"engine"' in ln
        )
    return {
        "windows": len(spec.windows()),
        "per_task": per,
        "warm": warm,
        "tasks": tasks,
        "loads": count_engine_loads(spec),
        "load_s": round(load_s, 2),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="void", choices=["void", "propagate"])
    ap.add_argument("--per-task", type=int, default=3)
    ap.add_argument("--seam", default="crossfade", choices=["crossfade", "chain"])
    ap.add_argument(
        "--modes",
        default="1,N,warm",
        help="which runs: 1 (a task per window), N (--per-task), warm (openjd run, warm engine)",
    )
    args = ap.parse_args()
    from void_daemon.demo_shot import make_shot, write_shot

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        shot = write_shot(make_shot(frames=24, width=64, height=48, seed=3), str(base / "shot"))
        weights = ""
        if args.engine == "void":
            from tests.support.void_tiny import write_tiny_weights

            weights = str(write_tiny_weights(base / "weights", pass2=False))
        for mode in args.modes.split(","):
            per = args.per_task if mode == "N" else 1
            row = run_job(
                shot, base / mode, args.engine, weights, per, args.seam, warm=mode == "warm"
            )
            print(json.dumps({"engine": args.engine, "seam": args.seam, **row}), flush=True)


if __name__ == "__main__":
    main()
