"""Benchmark the ``void`` engine: seconds per denoising step, fixed costs and peak memory.

By default it builds the tiny random VOID of the test-suite (same layout, same loader, same
pipeline) and runs it on the CPU, which checks the plumbing and the relative costs. With
``--weights-dir`` it runs the real 5B model where it finds it (CUDA first)::

    python bench/void_engine.py                                   # tiny model, CPU
    python bench/void_engine.py --weights-dir /models/void --frames 85 197 --pass2
    python bench/void_engine.py --weights-dir /models/void --memory-mode model_offload --check-alignment

Per-step time is the mean over steps 2..n of each pass (the first step carries warm-up); the
rest of a pass (VAE encode of mask and video, decode) is reported as fixed cost.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Bench scripts run as `python bench/<name>.py` from the dev venv (pip install -e '.[dev]'); the
# repository root goes on sys.path for the helpers they share with the tests (tests.support).
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from void_daemon.engines.base import EngineConfig, WindowInput  # noqa: E402
from void_daemon.engines.void import VoidEngine  # noqa: E402
from void_daemon.engines.void.devices import reset_peak_memory  # noqa: E402
from void_daemon.engines.void.options import VoidOptions  # noqa: E402


@dataclass
class Row:
    frames: int
    size: str
    stage: str
    steps: int
    per_step: float
    fixed: float
    total: float
    peak: str


def synthetic_window(t: int, h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A textured plate panning right with a dark disc crossing it (remove) and its shadow (affected)."""
    import cv2

    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.random((h, w + 2 * t, 3)).astype(np.float32), (0, 0), 2.0)
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    frames = np.empty((t, h, w, 3), np.float32)
    quad = np.full((t, h, w), 255, np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(t):
        frames[i] = tex[:, 2 * (t - i) : 2 * (t - i) + w]
        cx, cy, r = w * (0.2 + 0.6 * i / max(t - 1, 1)), h * 0.45, max(3, min(h, w) // 8)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        shadow = ((xx - cx) ** 2 / 1.5 + (yy - cy - 1.6 * r) ** 2 * 4 < r * r) & ~disc
        frames[i][disc] = 0.05
        frames[i][shadow] *= 0.5
        quad[i][shadow] = 127
        quad[i][disc] = 0
    return frames, quad


def peak_memory(device) -> str:
    from void_daemon.engines.void.devices import peak_memory_gib

    gib = peak_memory_gib(device)
    if gib is not None:
        return f"{gib:.2f} GiB"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return f"{rss / 2**20:.2f} GiB rss"


def run(engine: VoidEngine, t: int, h: int, w: int, steps: int, pass2: bool) -> list[Row]:
    import torch

    device = engine._runtime.device
    frames, quad = synthetic_window(t, h, w)
    stamps: list[tuple[str, float]] = []
    window = WindowInput(
        frames=frames,
        quadmask=quad,
        prompt="a textured wall",
        pass2=pass2,
        options={"steps": steps, "pass2_steps": steps},
        progress=lambda step, total, stage: stamps.append((stage, time.perf_counter())),
    )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    reset_peak_memory(device)
    start = time.perf_counter()
    out = engine.fill(window)
    end = time.perf_counter()
    assert out.shape == frames.shape
    peak = peak_memory(device)
    size = f"{h}x{w}"

    def stage_row(stage: str, begin: float, finish: float, extra: float = 0.0) -> Row:
        times = [s for name, s in stamps if name == stage]
        per_step = float(np.mean(np.diff(times))) if len(times) > 1 else times[0] - begin
        total = finish - begin - extra
        return Row(t, size, stage, len(times), per_step, total - per_step * len(times), total, peak)

    switch = next((s for name, s in stamps if name == "void pass 2 noise"), end)
    rows = [stage_row("void pass 1", start, switch)]
    if pass2:
        # time the noise warp on its own (same call the engine makes) to split it out of pass 2
        opts = VoidOptions.merge({"min_frames": 0})
        w_start = time.perf_counter()
        engine.pass2_noise(out, 0, opts)
        warp = time.perf_counter() - w_start
        rows.append(stage_row("void pass 2", switch, end, extra=warp))
        rows.append(Row(t, size, "pass-2 noise warp", 0, 0.0, warp, warp, peak))
    return rows


def check_alignment(engine: VoidEngine, t: int, h: int, w: int) -> str:
    """Encode then decode a moving plate with the real VAE; report which frame offset matches."""
    import torch

    pipe = engine.pipeline
    frames, _ = synthetic_window(t, h, w)
    video = torch.from_numpy(frames.transpose(3, 0, 1, 2))[None] * 2 - 1
    with torch.no_grad():
        z = pipe._vae_encode(video, pipe._execution_device)
        z_bcthw = z.permute(0, 2, 1, 3, 4) / pipe.vae.config.scaling_factor
        raw = pipe.vae.decode(z_bcthw.to(pipe.vae.dtype)).sample.float().cpu()
    raw = (raw[0] / 2 + 0.5).clamp(0, 1).permute(1, 2, 3, 0).numpy()
    errors = {}
    for shift in range(raw.shape[0] - t + 1):
        errors[shift] = float(np.abs(raw[shift : shift + t] - frames).mean())
    best = min(errors, key=errors.get)
    table = ", ".join(f"{k}: {v:.4f}" for k, v in errors.items())
    return f"VAE decoded {raw.shape[0]} frames for {t}; mean abs error by leading offset: {table}; best offset {best} (pipeline trims {raw.shape[0] - t})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--weights-dir", help="real VOID weights folder (default: a tiny random model)"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--memory-mode", default="auto")
    parser.add_argument("--frames", type=int, nargs="+", help="window lengths (8m+5)")
    parser.add_argument("--size", help="HxW (default 384x672 real, 32x48 tiny)")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps per pass")
    parser.add_argument("--pass2", action="store_true", help="run pass 2 as well")
    parser.add_argument(
        "--vae-tiling", choices=("on", "off"), help="override the memory mode's default"
    )
    parser.add_argument("--fp8", action="store_true", help="store transformer weights in float8")
    parser.add_argument(
        "--check-alignment", action="store_true", help="measure the VAE's frame offset"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    tmp = None
    if args.weights_dir:
        weights = Path(args.weights_dir)
        size = args.size or "384x672"
        frames = args.frames or [85, 197]
    else:
        from tests.support.void_tiny import write_tiny_weights

        tmp = tempfile.TemporaryDirectory()
        weights = write_tiny_weights(Path(tmp.name))
        size = args.size or "32x48"
        frames = args.frames or [13, 85, 197]
    h, w = (int(v) for v in size.lower().split("x"))
    options = {"min_frames": 0, "transformer_fp8": args.fp8}
    if args.vae_tiling:
        options["vae_tiling"] = args.vae_tiling == "on"
    config = EngineConfig(
        device=args.device,
        weights_dir=str(weights),
        memory_mode=args.memory_mode,
        dtype=args.dtype,
        options=options,
    )
    ok, why = VoidEngine.availability(config)
    if not ok:
        sys.exit(why)
    engine = VoidEngine(config)
    start = time.perf_counter()
    engine.load()
    rt = engine._runtime
    load_s = time.perf_counter() - start
    print(
        f"model: {'tiny random' if tmp else weights}  device: {rt.device}  dtype: {str(rt.dtype).removeprefix('torch.')}  memory: {rt.memory_mode}  load: {load_s:.1f} s"
    )
    print(
        f"defaults: {VoidOptions().steps} steps pass 1, {VoidOptions().pass2_steps} pass 2; measured with {args.steps} per pass"
    )
    header = f"{'frames':>6}  {'size':>8}  {'stage':<18} {'steps':>5}  {'s/step':>8}  {'fixed s':>8}  {'total s':>8}  peak memory"
    print(header)
    print("-" * len(header))
    engine.fill(WindowInput(*synthetic_window(5, h, w), options={"steps": 1}))  # warm-up
    for t in frames:
        for row in run(engine, t, h, w, args.steps, args.pass2):
            print(
                f"{row.frames:>6}  {row.size:>8}  {row.stage:<18} {row.steps:>5}  {row.per_step:>8.3f}  {row.fixed:>8.3f}  {row.total:>8.3f}  {row.peak}"
            )
    if args.check_alignment:
        if tmp is not None:
            print(
                "alignment check skipped: a random VAE reconstructs nothing; run it with --weights-dir"
            )
        else:
            print(check_alignment(engine, min(frames), h, w))
    engine.close()
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
