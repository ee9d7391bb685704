"""Benchmark the ``void`` engine: seconds per denoising step, fixed costs and peak memory.

By default it builds the tiny random VOID of the test-suite (same layout, same loader, same
pipeline) and runs it on the CPU, which checks the plumbing and the relative costs. With
``--weights-dir`` it runs the real 5B model where it finds it (CUDA first)::

    python bench/void_engine.py                                   # tiny model, CPU
    python bench/void_engine.py --weights-dir /models/void --frames 85 197 --pass2
    python bench/void_engine.py --weights-dir /models/void --memory-mode model_offload --check-alignment

Per-step time is the mean over steps 2..n of each pass (the first step carries warm-up); the
rest of a pass (VAE encode of mask and video, decode) is reported as fixed cost.

A/B mode (``--ab fast|pass2|all``) runs several engine modes on one window, interleaved, and
prints speed, step-cache skips, deviation from the first mode (max |Δ|, PSNR), temporal flicker
in the filled region and peak memory::

    python bench/void_engine.py --model mid --ab fast --frames 13 --size 64x112 --steps 30 --repeats 2
    python bench/void_engine.py --real-size      # GPU: random weights at the real 5B size, 384x672x197
    python bench/void_engine.py --weights-dir /models/void --ab fast --frames 85 197 --steps 30

``--model mid`` is a random transformer with the real head dimension (64) and time embedding but
4 layers of 16 heads (the CPU speed ratio); ``--real-size`` the real transformer and VAE
configuration with random weights (speed and memory per mode on a GPU; quality needs
``--weights-dir``).
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


#: Random models the bench builds (``--model``): the test-suite's tiny one, a mid-size one with
#: the real head dimension (64) and time embedding but few, narrower layers (the CPU fast-mode
#: A/B), and the real CogVideoX-Fun-V1.5-5b-InP transformer and VAE configuration (``--real-size``).
MODELS: dict[str, dict] = {
    "mid": {
        "transformer": {"num_attention_heads": 16, "attention_head_dim": 64, "num_layers": 4},
        "vae": "tiny",
        "text_dim": 32,
    },
    "real": {
        "transformer": {
            "num_attention_heads": 48,
            "attention_head_dim": 64,
            "num_layers": 42,
            "sample_height": 96,
            "sample_width": 170,
            "sample_frames": 81,
        },
        "vae": "real",
        "text_dim": 4096,
    },
}


def write_random_weights(root: Path, model: str, device: str = "cpu") -> Path:
    """The tiny model's folder with the transformer (and VAE, text width) of ``MODELS[model]``.

    Only the VOID checkpoint holds the full transformer: the loader reads no base-transformer
    tensor when the checkpoint is complete, so the base file carries just the 33-channel patch
    embedding its check looks for, and pass 2's checkpoint is a hard link to pass 1's (random
    weights either way). The transformer is initialised on ``device`` (seconds on a GPU, where
    the 5B model takes minutes on a CPU) and saved in bfloat16 for the real size.
    """
    import json

    import torch
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
    from safetensors.torch import save_file
    from transformers import T5Config, T5EncoderModel

    from tests.support import void_tiny

    spec = MODELS[model]
    weights = void_tiny.write_tiny_weights(root, pass2=False)
    base = weights / void_tiny.BASE
    config = {
        "attention_head_dim": 64,
        "time_embed_dim": 512,
        "text_embed_dim": spec["text_dim"],
        "in_channels": 3 * void_tiny.LATENT_CHANNELS,
        "out_channels": void_tiny.LATENT_CHANNELS,
        "sample_width": 12,
        "sample_height": 8,
        "sample_frames": 13,
        "patch_size": 2,
        "patch_size_t": 2,
        "temporal_compression_ratio": 4,
        "max_text_seq_length": 226,
        "use_rotary_positional_embeddings": True,
        **spec["transformer"],
    }
    dtype = torch.bfloat16 if model == "real" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        transformer = CogVideoXTransformer3DModel(**config)
    if dtype != torch.float32:
        transformer = transformer.to(dtype)
    state = {k: v.detach().to("cpu").contiguous() for k, v in transformer.state_dict().items()}
    del transformer
    save_file(state, str(weights / "void_pass1.safetensors"))
    (weights / "void_pass2.safetensors").unlink(missing_ok=True)
    (weights / "void_pass2.safetensors").hardlink_to(weights / "void_pass1.safetensors")
    patch = state["patch_embed.proj.weight"][:, : 2 * void_tiny.LATENT_CHANNELS + 1].clone()
    folder = base / "transformer"
    for old in folder.glob("*.safetensors"):
        old.unlink()
    save_file(
        {"patch_embed.proj.weight": patch}, str(folder / "diffusion_pytorch_model.safetensors")
    )
    base_config = {**config, "in_channels": 2 * void_tiny.LATENT_CHANNELS + 1}
    base_config.update(_class_name="CogVideoXTransformer3DModel", add_noise_in_inpaint_model=True)
    (folder / "config.json").write_text(json.dumps(base_config, indent=2))
    del state
    if spec["vae"] == "real":  # diffusers' defaults are CogVideoX's VAE
        AutoencoderKLCogVideoX().to(dtype).save_pretrained(base / "vae")
    if spec["text_dim"] != void_tiny.TEXT_DIM:
        t5 = T5EncoderModel(
            T5Config(
                vocab_size=64,
                d_model=spec["text_dim"],
                d_kv=8,
                d_ff=37,
                num_layers=1,
                num_heads=4,
                relative_attention_num_buckets=8,
                feed_forward_proj="gated-gelu",
                is_encoder_decoder=False,
                pad_token_id=0,
                eos_token_id=1,
            )
        )
        t5.to(dtype).save_pretrained(base / "text_encoder")
    return weights


@dataclass
class ModeRow:
    mode: str
    stage: str
    seconds: float
    per_step: float
    skipped: str
    peak: str
    transformer: float
    max_delta: float
    psnr: float
    flicker: float


def temporal_flicker(frames: np.ndarray, quad: np.ndarray) -> float:
    """Mean |frame t − frame t−1| inside the filled region (remove or affected): lower is steadier."""
    region = (quad[1:] < 255) | (quad[:-1] < 255)
    if not region.any():
        return 0.0
    return float(np.abs(np.diff(frames, axis=0)).mean(axis=-1)[region].mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


#: The A/Bs: (label, job options) pairs, the first of each the baseline the others are compared to.
AB_MODES: dict[str, list[tuple[str, dict]]] = {
    "fast": [
        ("default", {}),
        ("fast (taylorseer)", {"fast": True}),
        ("first block cache 0.1", {"step_cache": "fbc"}),
    ],
    "pass2": [
        ("pass2_noise=reference (default: RAFT if on disk, else DIS; std 0.66)", {}),
        ("pass2_noise=unit (DIS, std 1.0)", {"pass2_noise": "unit"}),
    ],
}


def run_ab(
    engine: VoidEngine, ab: str, t: int, h: int, w: int, steps: int, pass2: bool, repeats: int
) -> list[ModeRow]:
    """Every mode of ``AB_MODES[ab]`` on one synthetic window; best of ``repeats`` timings.

    Modes run interleaved (default, fast, default, fast, ...) so a machine shared with other work
    slows them alike; the outputs are deterministic, so any repeat's frames stand for all.
    """
    import torch

    device = engine._runtime.device
    frames, quad = synthetic_window(t, h, w)
    modes = AB_MODES[ab]
    if pass2:  # load the pass-2 transformer now, so the first timed run does not load it
        engine._use_pass(engine.load(), 2)
    best: dict[str, float] = {}
    in_transformer: dict[str, float] = {}
    outputs: dict[str, np.ndarray] = {}
    stats: dict[str, str] = {}
    peaks: dict[str, str] = {}
    for _ in range(repeats):
        for label, options in modes:
            window = WindowInput(
                frames=frames,
                quadmask=quad,
                prompt="a textured wall",
                pass2=pass2,
                options={"steps": steps, "pass2_steps": steps, **options},
            )
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            reset_peak_memory(device)
            clock = TransformerClock(engine, device)
            start = time.perf_counter()
            try:
                outputs[label] = engine.fill(window)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
            finally:
                clock.stop()
            elapsed = time.perf_counter() - start
            if elapsed < best.get(label, float("inf")):
                best[label] = elapsed
                in_transformer[label] = clock.seconds
            peaks[label] = peak_memory(device)
            stats[label] = (
                " ".join(
                    f"p{n}:{s.skipped}/{s.calls}"
                    for n, s in sorted(engine.cache_stats.items())
                    if s.calls
                )
                or "-"
            )
    base = outputs[modes[0][0]]
    calls = steps * (2 if pass2 else 1)
    return [
        ModeRow(
            mode=label,
            stage="pass 1+2" if pass2 else "pass 1",
            seconds=best[label],
            per_step=best[label] / calls,
            skipped=stats[label],
            peak=peaks[label],
            transformer=in_transformer[label],
            max_delta=float(np.abs(outputs[label] - base).max()),
            psnr=psnr(outputs[label], base),
            flicker=temporal_flicker(outputs[label], quad),
        )
        for label, _ in modes
    ]


class TransformerClock:
    """Seconds spent inside the transformers' forward calls (both passes' models), so the step
    cache's saving can be read apart from the VAE and from load on a shared machine."""

    def __init__(self, engine: VoidEngine, device) -> None:
        import torch

        self.seconds = 0.0
        self._start = 0.0
        self._sync = (
            (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
        )
        self._handles = []
        rt = engine._runtime
        models = list(rt.transformers.values()) if rt is not None else []
        for model in models:
            self._handles.append(model.register_forward_pre_hook(self._enter))
            self._handles.append(model.register_forward_hook(self._leave))

    def _enter(self, *_args) -> None:
        self._sync()
        self._start = time.perf_counter()

    def _leave(self, *_args) -> None:
        self._sync()
        self.seconds += time.perf_counter() - self._start

    def stop(self) -> None:
        for handle in self._handles:
            handle.remove()


GPU_COMMANDS = """GPU A/B commands (quality needs the real weights; --weights-dir as `void-remove weights check` finds them):
  python bench/void_engine.py --real-size                                   # random 5B weights: speed + memory per mode, 384x672x197
  python bench/void_engine.py --weights-dir /models/void --ab fast --frames 85 197 --steps 30
  python bench/void_engine.py --weights-dir /models/void --ab pass2 --pass2 --frames 85 --steps 50"""


def print_ab(rows: list[ModeRow], t: int, size: str) -> None:
    base = rows[0]
    header = (
        f"{'frames':>6}  {'size':>8}  {'mode':<28} {'stage':<8} {'total s':>8}  {'s/call':>7}  "
        f"{'speed':>6}  {'transf. s':>9}  {'speed':>6}  {'cache skips':<14} {'max|Δ|':>8}  {'PSNR dB':>7}  {'flicker':>7}  peak"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{t:>6}  {size:>8}  {r.mode:<28} {r.stage:<8} {r.seconds:>8.2f}  {r.per_step:>7.3f}  "
            f"{base.seconds / r.seconds:>5.2f}x  {r.transformer:>9.2f}  "
            f"{base.transformer / max(r.transformer, 1e-9):>5.2f}x  {r.skipped:<14} {r.max_delta:>8.4f}  "
            f"{r.psnr:>7.1f}  {r.flicker:>7.4f}  {r.peak}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--weights-dir", help="real VOID weights folder (default: a tiny random model)"
    )
    parser.add_argument(
        "--model",
        choices=("tiny", "mid", "real"),
        default="tiny",
        help="random model to build when no --weights-dir (mid: real head dim, 4 layers)",
    )
    parser.add_argument(
        "--real-size",
        action="store_true",
        help="GPU readiness: random weights at the real 5B size, 384x672x197, fast and pass-2 A/Bs",
    )
    parser.add_argument(
        "--ab",
        choices=("fast", "pass2", "all"),
        help="compare modes on one window (fast: default vs fast mode; pass2: the pass-2 noise modes reference vs unit)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="A/B timings: best of this many")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--memory-mode", default="auto")
    parser.add_argument("--frames", type=int, nargs="+", help="window lengths (8m+5)")
    parser.add_argument("--size", help="HxW (default 384x672 real, 32x48 tiny)")
    parser.add_argument(
        "--steps",
        type=int,
        help="denoising steps per pass (default 4; 10 for --ab, so the step cache has steps to skip)",
    )
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
    if args.real_size:
        args.model = "real"
        args.ab = args.ab or "all"
        args.size = args.size or "384x672"
        args.frames = args.frames or [197]
    if args.steps is None:
        args.steps = 10 if args.ab else 4

    tmp = None
    if args.weights_dir:
        weights = Path(args.weights_dir)
        size = args.size or "384x672"
        frames = args.frames or [85, 197]
    else:
        from tests.support.void_tiny import write_tiny_weights

        tmp = tempfile.TemporaryDirectory()
        if args.model == "tiny":
            weights = write_tiny_weights(Path(tmp.name))
        else:
            import torch

            built = time.perf_counter()
            init_device = "cuda" if torch.cuda.is_available() else "cpu"
            weights = write_random_weights(Path(tmp.name), args.model, init_device)
            print(f"built random {args.model} weights in {time.perf_counter() - built:.1f} s")
        size = args.size or ("384x672" if args.model == "real" else "32x48")
        frames = args.frames or ([197] if args.model == "real" else [13, 85, 197])
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
    model_name = str(weights) if args.weights_dir else f"{args.model} random"
    print(
        f"model: {model_name}  device: {rt.device}  dtype: {str(rt.dtype).removeprefix('torch.')}  memory: {rt.memory_mode}  load: {load_s:.1f} s"
    )
    print(
        f"defaults: {VoidOptions().steps} steps pass 1, {VoidOptions().pass2_steps} pass 2; measured with {args.steps} per pass"
    )
    engine.fill(WindowInput(*synthetic_window(5, h, w), options={"steps": 1}))  # warm-up
    if args.ab:
        for ab in ("fast", "pass2") if args.ab == "all" else (args.ab,):
            pass2 = args.pass2 or ab == "pass2"
            for t in frames:
                print(f"\n{ab} A/B")
                print_ab(run_ab(engine, ab, t, h, w, args.steps, pass2, args.repeats), t, size)
        print()
        print(GPU_COMMANDS)
    else:
        header = f"{'frames':>6}  {'size':>8}  {'stage':<18} {'steps':>5}  {'s/step':>8}  {'fixed s':>8}  {'total s':>8}  peak memory"
        print(header)
        print("-" * len(header))
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
