"""Long shots: peak memory of the daemon and of the client at a short and a long shot.

Issue 19 (item 3): for shots longer than one window, memory must be bounded by the window, not
the shot. For each shot length this script writes a generated shot (a panning textured plate,
half RGBA, zip-compressed EXR, with a moving disc to remove), starts a fresh real ``void-daemon``
subprocess and runs the real ``void-remove run`` CLI against it (``propagate``, the default
window unless ``--window``). It reports, for each process separately, the kernel's high-water
mark of resident memory:

* daemon: ``VmHWM`` from ``/proc/<pid>/status`` after the job, before the daemon is stopped
  (a fresh daemon per run, so its mark is this job's);
* client: ``ru_maxrss`` of the CLI child from ``os.wait4`` (exact, nothing sampled).

and the ratio long/short for each. Also printed: the longest window the plan runs and the
``void_daemon.memory_model`` estimate for it, since a short shot inside one window runs a
shorter window than a long shot does (the default window is 197 frames).

    .venv/bin/python bench/long_shot_memory.py                       # 1920x1080, 120 vs 600
    .venv/bin/python bench/long_shot_memory.py --size 960x540 --frames 60,300   # quick dev run

Disk: the shot is written under ``--tmp`` (default: the system temp folder) and removed after
each run; the daemon's jobs folder holds the plates as .npy meanwhile (about 16 MB a 1080p
frame, plus results). ``docs/benchmarks.md`` ("Long shots: memory bounded by the window")
records the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from tests.support.daemons import DaemonProcess  # noqa: E402
from void_client.client import DaemonClient  # noqa: E402
from void_client.job_spec import JobSpec  # noqa: E402
from void_client.sequence import SequencePattern, write_image  # noqa: E402
from void_client.windows import plan_windows  # noqa: E402
from void_daemon.memory_model import cost, margin, window_frames  # noqa: E402

FIRST = 1001
#: The spec's defaults (window, overlap) for runs that do not set them.
DEFAULT = JobSpec(frames=[1], width=1, height=1)
#: Camera pan in pixels per frame at 1080p (scaled with the width).
PAN_1080 = 3.0


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth-ish random RGB texture (sum of a few blurred noise octaves), float32 0..1."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3), np.float32)
    for scale, amp in ((64, 0.5), (16, 0.3), (4, 0.2)):
        small = rng.random((h // scale + 2, w // scale + 2, 3), dtype=np.float32)
        ys = np.minimum(np.arange(h) // scale, small.shape[0] - 1)
        xs = np.minimum(np.arange(w) // scale, small.shape[1] - 1)
        out += amp * small[ys][:, xs]
    return out


def write_shot(
    folder: Path, width: int, height: int, frames: int, hole: float = 0.11
) -> dict[str, str]:
    """Plate (half RGBA) and remove matte (half, channel A), one frame at a time; a shot
    already in ``folder`` at this size with at least ``frames`` frames is reused."""
    paths = {"plate": str(folder / "plate.####.exr"), "remove": str(folder / "remove.####.exr")}
    plate_pat = SequencePattern.parse(paths["plate"])
    remove_pat = SequencePattern.parse(paths["remove"])
    stamp = folder / "shot.json"
    want = {"width": width, "height": height, "frames": frames, "hole": hole}
    if stamp.exists():
        have = json.loads(stamp.read_text())
        if {**have, "frames": frames} == want and have["frames"] >= frames:
            return paths
    stamp.unlink(missing_ok=True)
    pan = PAN_1080 * width / 1920
    bg = _texture(height, width + int(np.ceil(pan * frames)) + 2, seed=19)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # A disc covering ``hole`` of the frame that drifts slowly across the middle.
    radius = np.sqrt(hole * width * height / np.pi)
    plate = np.empty((height, width, 4), np.float16)
    plate[:, :, 3] = 1.0
    for i in range(frames):
        x0 = int(round(pan * i))
        plate[:, :, :3] = bg[:, x0 : x0 + width]
        cx = width * (0.45 + 0.1 * np.sin(i / 40.0))
        cy = height * 0.5
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < radius**2
        plate[disc, :3] = np.float16(0.8)
        write_image(plate_pat.path(FIRST + i), plate, channels=["R", "G", "B", "A"])
        write_image(remove_pat.path(FIRST + i), disc.astype(np.float16), channels=["A"])
    stamp.write_text(json.dumps(want))
    return paths


def vm_hwm(pid: int) -> int:
    """Peak resident bytes of a live process (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def vm_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def measure(
    shot: dict[str, str], width: int, height: int, frames: int, window: int, overlap: int, tmp: Path
) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix=f"longshot-{frames}-", dir=tmp))
    try:
        d = DaemonProcess(run_dir / "jobs").start()
        try:
            with DaemonClient(d.endpoint, timeout=60) as c:
                c.hello()
            idle = vm_rss(d.pid)
            cmd = [
                sys.executable,
                "-m",
                "void_client.cli.main",
                "run",
                "--plate",
                shot["plate"],
                "--remove",
                shot["remove"],
                "--out",
                str(run_dir / "out" / "clean.####.exr"),
                "--range",
                f"{FIRST}-{FIRST + frames - 1}",
                "--engine",
                "propagate",
                "--endpoint",
                d.endpoint,
                "--no-autostart",
                "--progress",
                "none",
            ]
            if window:
                cmd += ["--window", str(window)]
            if overlap >= 0:
                cmd += ["--overlap", str(overlap)]
            t0 = time.monotonic()
            log = open(run_dir / "client.log", "wb")
            child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            run_s = time.monotonic() - t0
            log.close()
            if child.returncode != 0:
                raise RuntimeError(
                    f"void-remove run failed ({child.returncode}): "
                    + (run_dir / "client.log").read_text()[-2000:]
                )
            daemon_peak = vm_hwm(d.pid)
            with DaemonClient(d.endpoint, timeout=60) as c:
                summary = dict(c.status()[0])
        finally:
            d.stop()
        written = len(list((run_dir / "out").glob("clean.*.exr")))
        if written != frames:
            raise RuntimeError(f"{written} of {frames} frames written")
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    spec_window = window or DEFAULT.window
    if overlap < 0:
        overlap = DEFAULT.overlap
    # With the frames the engine reads beyond each window (Engine.margin): it holds them too.
    longest = window_frames(frames, spec_window, overlap, margin("propagate"))
    return {
        "width": width,
        "height": height,
        "frames": frames,
        "windows": len(plan_windows(frames, spec_window, overlap)),
        "longest_window": longest,
        "model_estimate": cost("propagate").bytes(width, height, longest),
        "daemon_idle_rss": idle,
        "daemon_peak_rss": daemon_peak,
        "client_peak_rss": usage.ru_maxrss * 1024,  # Linux: KiB
        "frames_held_peak": summary.get("frames_held_peak"),
        "run_s": round(run_s, 1),
    }


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1920x1080", help="WxH (default 1920x1080)")
    ap.add_argument("--frames", default="120,600", help="short,long (default 120,600)")
    ap.add_argument("--window", type=int, default=0, help="--window for the run (0: default)")
    ap.add_argument("--overlap", type=int, default=-1, help="--overlap (-1: default)")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="where shots and jobs go")
    ap.add_argument("--hole", type=float, default=0.11, help="hole area / frame (0.11)")
    ap.add_argument(
        "--shot", default="", help="folder for the generated shot, kept and reused (default: temp)"
    )
    ap.add_argument("--out", default="", help="also write the rows as JSON here")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    lengths = [int(v) for v in args.frames.split(",")]
    free = shutil.disk_usage(args.tmp).free
    # Plate EXRs (zip) + the daemon's .npy inputs and results + the output EXRs, roughly.
    need = max(lengths) * width * height * (2 + 8 + 1 + 8 + 12 + 4)
    print(
        f"{args.tmp}: {free / 2**30:.1f} GiB free, the longest run needs about {need / 2**30:.1f}"
    )
    if need > free:
        raise SystemExit("not enough disk for the longest run: pass a smaller --frames or --size")
    shot_dir = Path(args.shot or tempfile.mkdtemp(prefix="longshot-shot-", dir=args.tmp))
    t0 = time.monotonic()
    shot = write_shot(shot_dir, width, height, max(lengths), args.hole)
    print(f"shot {shot_dir}: {time.monotonic() - t0:.0f} s", flush=True)
    rows = []
    try:
        for n in lengths:
            row = measure(shot, width, height, n, args.window, args.overlap, Path(args.tmp))
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        if not args.shot:
            shutil.rmtree(shot_dir, ignore_errors=True)
    short, long_ = rows[0], rows[-1]
    print()
    print(
        f"{width}x{height}, propagate, window {args.window or 'default'}, "
        f"overlap {args.overlap if args.overlap >= 0 else 'default'}"
    )
    print(
        "| frames | windows | longest window | model estimate MiB | daemon idle MiB "
        "| daemon peak MiB | client peak MiB | frames held (peak) | run s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['frames']} | {r['windows']} | {r['longest_window']} "
            f"| {_mib(r['model_estimate'])} | {_mib(r['daemon_idle_rss'])} "
            f"| {_mib(r['daemon_peak_rss'])} | {_mib(r['client_peak_rss'])} "
            f"| {r['frames_held_peak']} | {r['run_s']} |"
        )
    print(
        f"| ratio {long_['frames']}/{short['frames']} | | "
        f"| {long_['model_estimate'] / short['model_estimate']:.2f} | "
        f"| {long_['daemon_peak_rss'] / short['daemon_peak_rss']:.2f} "
        f"| {long_['client_peak_rss'] / short['client_peak_rss']:.2f} | | |"
    )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
