"""Measure a real daemon's peak memory per job size, to fit ``void_daemon.memory_model``.

For each size a fresh ``void-daemon`` subprocess runs one pixel-mode ``propagate`` job whose
remove matte spans most of the frame (so the engine's crop is the whole frame: the worst case
the admission check must cover). Its resident memory is sampled every 10 ms with psutil; the
figure reported is the peak minus the idle daemon's RSS after a ``hello``.

    .venv/bin/python bench/memory_model.py --out bench/results/memory_model.json

The fitted constants live in ``daemon/void_daemon/memory_model.py``; the figures are quoted in
``docs/reliability.md`` ("Admission, memory and connections").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Bench scripts run as `python bench/<name>.py` from the dev venv; the repository root goes on
# sys.path for the helpers they share with the tests (tests.support).
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from tests.support.daemons import DaemonProcess, PeakRSS  # noqa: E402
from void_client.client import DaemonClient  # noqa: E402
from void_client.job_spec import JobSpec  # noqa: E402
from void_client.session import FrameInput, JobSession  # noqa: E402

#: (width, height, frames): frames = the window, so the engine sees all of them at once.
SIZES = [(512, 512, 1), (1024, 1024, 1), (1024, 1024, 4), (2048, 1024, 1), (2048, 2048, 1)]


def frame_input(frame: int, w: int, h: int, seed: int) -> FrameInput:
    rng = np.random.default_rng(seed + frame)
    plate = rng.random((h, w, 4), dtype=np.float32).astype(np.float16)
    yy, xx = np.mgrid[0:h, 0:w]
    # A hole over most of the frame that moves a little: the crop is the whole frame and
    # propagate has something to fetch from neighbouring frames.
    cx, cy = w * (0.5 + 0.02 * frame), h * 0.5
    remove = (((xx - cx) / (0.45 * w)) ** 2 + ((yy - cy) / (0.45 * h)) ** 2 < 1).astype(np.float32)
    return FrameInput(frame=frame, plate=plate, remove=remove, channels=["R", "G", "B", "A"])


def measure(w: int, h: int, t: int, root: Path) -> dict:
    d = DaemonProcess(root / f"jobs-{w}x{h}x{t}").start()
    try:
        assert d.proc is not None
        with DaemonClient(d.endpoint, timeout=60) as c:
            c.hello()
            time.sleep(0.3)
            peak = PeakRSS(d.proc.pid, interval=0.01)
            base = peak.base
            frames = list(range(1, t + 1))
            spec = JobSpec(
                frames=frames, width=w, height=h, window=t, overlap=0, engine="propagate"
            )
            t0 = time.monotonic()
            got: dict[int, np.ndarray] = {}
            JobSession(c, spec, lambda f: frame_input(f, w, h, 7), got.__setitem__).run()
            seconds = time.monotonic() - t0
            top = peak.stop()
        assert len(got) == t
    finally:
        d.stop()
    grew = top - base
    return {
        "width": w,
        "height": h,
        "frames": t,
        "idle_rss": base,
        "peak_rss": top,
        "peak_over_idle": grew,
        "bytes_per_pixel": grew / (w * h * t),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="")
    ap.add_argument("--sizes", default="", help="WxHxT,... (default: the built-in list)")
    args = ap.parse_args()
    sizes = (
        [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
        if args.sizes
        else SIZES
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w, h, t in sizes:
            row = measure(w, h, t, Path(tmp))
            rows.append(row)
            print(
                f"{w}x{h}x{t}: peak +{row['peak_over_idle'] / 2**20:.0f} MiB over idle "
                f"({row['bytes_per_pixel']:.0f} B/px, {row['seconds']} s)",
                flush=True,
            )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
