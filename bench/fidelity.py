"""Fidelity-path benchmark: colour + ROI + composite per 4K frame, as a share of the engine's time.

The same job runs twice in one process, on the same 4K plate (half RGBA + one AOV, a small
object moving across it), through the daemon's own :class:`JobRunner`:

* **propagate** — the real CPU engine, linear light: ROI crop, engine, composite.
* **display path** — an identity engine declared ``colour = "display"`` at VOID's 384×672, so
  everything VOID's frames go through is timed (crop, area resize, OCIO to the model space,
  mask resample; back: Lanczos to the crop, OCIO back, composite) with no model in the way.

Per frame it reports the *path* (everything the runner does except the engine call: reading
the stored plate, cropping, colour, resizing, seam blend, composite) and the engine time. The
share against ``void`` needs the model's own time per frame, which needs its weights and a GPU:
pass it with ``--void-seconds-per-frame`` (see ``bench/void_engine.py``).

Usage: ``python bench/fidelity.py [--frames 13] [--size 4k] [--radius 60] [--detail] [--repeat 3] [--json]``
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

# Bench scripts run as `python bench/<name>.py` from the dev venv (pip install -e '.[dev]'); the
# repository root goes on sys.path for the helpers they share with the tests (tests.support).
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from void_client.job_spec import JobSpec  # noqa: E402
from void_client.quadmask import build_quadmask  # noqa: E402
from void_daemon.cache import WindowCache  # noqa: E402
from void_daemon.engines import Engine, EngineConfig, WindowInput, load_engine  # noqa: E402
from void_daemon.jobs import Job, JobStore  # noqa: E402
from void_daemon.runner import JobRunner  # noqa: E402

SIZES = {"1080p": (1080, 1920), "2k": (1080, 2048), "4k": (2160, 3840)}


class IdentityDisplay(Engine):
    """Stands in for VOID: same colour space and model size, no model."""

    name = "bench-identity-display"
    colour = "display"
    model_size = (384, 672)

    def fill(self, window: WindowInput) -> np.ndarray:
        return window.frames.copy()


class Timed(Engine):
    """Wraps an engine and adds up the time spent in ``fill``."""

    def __init__(self, inner: Engine) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.name, self.version, self.colour, self.model_size = (
            inner.name,
            inner.version,
            inner.colour,
            inner.model_size,
        )  # type: ignore[misc]
        self.seconds = 0.0

    def fill(self, window: WindowInput) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self.inner.fill(window)
        finally:
            self.seconds += time.perf_counter() - t0


def make_plate(
    h: int, w: int, frames: int, radius: int, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured 4K background (with values above 1) and a bright object crossing it."""
    rng = np.random.default_rng(seed)
    small = rng.random((h // 32, w // 32, 3)).astype(np.float32)
    rgb = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) * 3.0
    block = rng.standard_normal((256, 256, 3)).astype(np.float32) * 0.03  # grain
    rgb += np.tile(block, (h // 256 + 1, w // 256 + 1, 1))[:h, :w]
    base = np.concatenate(
        [rgb, np.ones((h, w, 1), np.float32), rng.random((h, w, 1), np.float32)], -1
    ).astype(np.float16)
    plates, mattes = [], []
    for i in range(frames):
        m = np.zeros((h, w), np.float32)
        cv2.circle(m, (int(w * 0.3 + 12 * i), int(h * 0.55)), radius, 1.0, -1)
        px = base.copy()
        px[m > 0, :3] = (8.0, 0.5, 0.2)
        plates.append(px)
        mattes.append(m)
    return plates, mattes


def measure(
    engine: Engine,
    plates: list[np.ndarray],
    mattes: list[np.ndarray],
    workdir: Path,
    detail: bool,
    repeat: int,
) -> dict:
    """The best of ``repeat`` runs (each with an empty cache): these machines are shared."""
    h, w, _ = plates[0].shape
    store = JobStore(workdir / engine.name)
    spec = JobSpec(
        frames=list(range(len(plates))),
        width=w,
        height=h,
        channels=["R", "G", "B", "A", "id"],
        engine=engine.name,
        window=len(plates),
        overlap=0,
        restore_detail=detail,
    )
    job = store.create(spec.validate())
    for p, (plate, matte) in enumerate(zip(plates, mattes)):
        job.store_input(p, plate, build_quadmask(matte, None, spec.dilation))
    runs = [_run(job, engine, WindowCache(store.cache_dir / f"run{i}")) for i in range(repeat)]
    return min(runs, key=lambda r: r["path_ms"])


def _run(job: Job, engine: Engine, cache: WindowCache) -> dict:
    job.windows_done.clear()
    timed = Timed(engine)
    runner = JobRunner(job, timed, cache)
    t0 = time.perf_counter()
    boxes = [
        runner.run_window(win.index, lambda *a: None, lambda: False).box for win in runner.windows
    ]
    t_windows = time.perf_counter() - t0
    t0 = time.perf_counter()
    for p in range(job.n):
        runner.finish_frame(p)
    t_finish = time.perf_counter() - t0
    n = job.n
    path = (t_windows - timed.seconds + t_finish) / n
    # The floor any composite pays: read the frame's quadmask (window and finish) and make one
    # full copy of its stored plate. What is above it is cropping, colour, resizing and blending.
    t0 = time.perf_counter()
    for p in range(n):
        job.load_quadmask(p), job.load_quadmask(p), np.array(job.load_plate(p))
    floor = (time.perf_counter() - t0) / n
    return {
        "engine": engine.name,
        "frames": n,
        "crop": f"{boxes[0].width}x{boxes[0].height}",
        "window_prep_ms": 1000 * (t_windows - timed.seconds) / n,
        "finish_ms": 1000 * t_finish / n,
        "path_ms": 1000 * path,
        "floor_ms": 1000 * floor,
        "engine_ms": 1000 * timed.seconds / n,
        "share": path / timed.seconds * n if timed.seconds > 0 else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--frames",
        type=int,
        default=13,
        help="frames (one window); a valid length 8m+5 avoids padding",
    )
    ap.add_argument("--size", choices=sorted(SIZES), default="4k")
    ap.add_argument("--radius", type=int, default=60, help="object radius in pixels")
    ap.add_argument("--detail", action="store_true", help="with grain restoration")
    ap.add_argument(
        "--void-seconds-per-frame",
        type=float,
        default=0.0,
        help="VOID's own time per frame, to compute its share",
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs per engine; the fastest is reported"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    h, w = SIZES[args.size]
    plates, mattes = make_plate(h, w, args.frames, args.radius)
    rows = []
    with tempfile.TemporaryDirectory(prefix="void-bench-") as tmp:
        for engine in (load_engine("propagate", EngineConfig(device="cpu")), IdentityDisplay()):
            rows.append(measure(engine, plates, mattes, Path(tmp), args.detail, args.repeat))
    prop = rows[0]
    rows[1]["share"] = rows[1]["path_ms"] / prop["engine_ms"]  # against propagate's engine time
    void_share = (
        rows[1]["path_ms"] / (1000 * args.void_seconds_per_frame)
        if args.void_seconds_per_frame
        else None
    )
    if args.json:
        print(
            json.dumps(
                {"rows": rows, "void_share": void_share, "machine": platform.platform()}, indent=2
            )
        )
        return 0
    print(
        f"{args.size} {w}x{h}, {args.frames} frames, object radius {args.radius} px, detail {'on' if args.detail else 'off'}; {platform.processor() or platform.machine()}"
    )
    print()
    print(
        "| path | crop | window prep | finish | path | of which I/O floor | engine | path / propagate engine | (path − floor) / propagate engine |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    names = {
        "propagate": "propagate (linear)",
        IdentityDisplay.name: "display (VOID's path, no model)",
    }
    eng = prop["engine_ms"]
    for r in rows:
        print(
            f"| {names[r['engine']]} | {r['crop']} | {r['window_prep_ms']:.1f} | {r['finish_ms']:.1f} | {r['path_ms']:.1f} | "
            f"{r['floor_ms']:.1f} | {r['engine_ms']:.1f} | {100 * r['path_ms'] / eng:.1f}% | {100 * (r['path_ms'] - r['floor_ms']) / eng:.1f}% |"
        )
    print("\n(ms per frame)")
    if void_share is not None:
        print(
            f"\ndisplay path against VOID at {args.void_seconds_per_frame:.2f} s/frame: {100 * void_share:.2f}%"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
