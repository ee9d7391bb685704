"""Decode parity with the reference (netflix/void-model) on the tiny random VOID of the tests.

Given a checkout of the reference repository and the python of a venv with its pinned libraries
(diffusers 0.33.1, transformers 4.57.1; torch as available), it writes the tiny random weights
(``tests/support/void_tiny.py``), draws latents from a fixed seed and decodes them three ways:

* **reference**: in a child process on the reference's python, the reference's own VAE class
  (``videox_fun.models.AutoencoderKLCogVideoX.from_pretrained``) run through the reference
  pipeline's own ``CogVideoXFunInpaintPipeline.decode_latents`` — nothing of it is copied here;
* **ours**: ``VoidInpaintPipeline.decode_latents`` (diffusers' VAE in the reference's order);
* **old**: what the engine did before (diffusers' ``vae.decode``, pairs from latent 0, first
  3 frames dropped), to show what the fix changed.

It prints max |Δ| of the decoded frames against the reference, the old decode's PSNR, and decode
times (median of interleaved repeats, one run). Only the VAE decode is compared: the denoising
loop is not run here (see docs/void-engine.md). ``--write-golden`` stores the reference's frames
and the latents as the arrays ``tests/unit/test_void_decode_parity.py`` checks on every run::

    python -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch diffusers==0.33.1 transformers==4.57.1 einops
    python bench/void_parity.py --reference ../void-model --reference-python /tmp/refvenv/bin/python
    python bench/void_parity.py --reference ../void-model --reference-python /tmp/refvenv/bin/python \\
        --write-golden tests/data/void_decode_golden.npz
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

# Bench scripts run as `python bench/<name>.py` from the dev venv; the repository root goes on
# sys.path for the helpers they share with the tests (tests.support).
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from tests.support.void_golden import GOLDEN, vae_checksum  # noqa: E402
from tests.support.void_tiny import BASE, LATENT_CHANNELS, write_tiny_weights  # noqa: E402
from void_daemon.engines.void.pipeline import VoidInpaintPipeline  # noqa: E402

#: The reference commit the golden arrays come from.
REFERENCE_COMMIT = "66e9c0e"


@dataclass(frozen=True)
class Case:
    """One decode: ``frames`` output frames at ``height × width``, optionally VAE-tiled."""

    name: str
    frames: int
    height: int
    width: int
    tile: int = 0  # tile_sample_min_height/width when tiled (0: no tiling)
    overlap: float = 0.0  # tile_overlap_factor_height/width when tiled

    @property
    def latents(self) -> int:
        return (self.frames - 1) // 4 + 1


def default_cases(lengths: list[int], height: int, width: int) -> list[Case]:
    cases = [Case(f"f{f}", f, height, width) for f in lengths]
    # tiling: 2×2-latent tiles every latent pixel at 24×32, blended over 8 px (sizes for which
    # the VAE's tile grid adds up to the image); 2 latents also exercise a last lone latent
    cases.append(Case("tiled_f5", 5, 24, 32, tile=16, overlap=0.5))
    return cases


def make_latents(case: Case, seed: int) -> np.ndarray:
    """Latents ``(1, f, c, h/8, w/8)`` as the transformer leaves them, seeded per case."""
    gen = torch.Generator().manual_seed(seed + case.frames * 1000 + case.height)
    shape = (1, case.latents, LATENT_CHANNELS, case.height // 8, case.width // 8)
    return torch.randn(shape, generator=gen).numpy()


# Run by the reference's python with the checkout as working directory. It imports the
# reference's own modules from the checkout; it reads the inputs and writes the outputs as .npz.
_CHILD = r"""
import json, sys, time, types
import numpy as np, torch
sys.path.insert(0, ".")
from safetensors.torch import load_file
from videox_fun.models import AutoencoderKLCogVideoX
from videox_fun.pipeline.pipeline_cogvideox_fun_inpaint import CogVideoXFunInpaintPipeline
import diffusers, transformers
weights, inputs, output, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
spec = json.loads(open(inputs + ".json").read())
data = np.load(inputs)
vae = AutoencoderKLCogVideoX.from_pretrained(weights, subfolder="vae").eval()
stored = load_file(weights + "/vae/diffusion_pytorch_model.safetensors")
assert set(stored) == set(vae.state_dict()), "reference VAE keys differ from the tiny weights"
pipe = types.SimpleNamespace(vae=vae)  # decode_latents only reads self.vae
out, times = {}, {}
with torch.no_grad():
    for case in spec["cases"]:
        if case["tile"]:
            t, o = case["tile"], case["overlap"]
            vae.enable_tiling(tile_sample_min_height=t, tile_sample_min_width=t,
                              tile_overlap_factor_height=o, tile_overlap_factor_width=o)
        else:
            vae.disable_tiling()
        z = torch.from_numpy(data["latents_" + case["name"]])
        spent = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            frames = CogVideoXFunInpaintPipeline.decode_latents(pipe, z)
            spent.append(time.perf_counter() - t0)
        out["ref_" + case["name"]] = frames
        times[case["name"]] = float(np.median(spent))
np.savez(output, **out)
versions = {"torch": torch.__version__, "diffusers": diffusers.__version__,
            "transformers": transformers.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0]}
open(output + ".json", "w").write(json.dumps({"times": times, "versions": versions}))
"""


def run_reference(
    reference: Path,
    python: str,
    weights: Path,
    latents: dict[str, np.ndarray],
    cases: list[Case],
    repeats: int,
    work: Path,
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, str]]:
    inputs = work / "inputs.npz"
    np.savez(inputs, **{f"latents_{c.name}": latents[c.name] for c in cases})
    spec = {"cases": [{"name": c.name, "tile": c.tile, "overlap": c.overlap} for c in cases]}
    Path(f"{inputs}.json").write_text(json.dumps(spec))
    output = work / "reference.npz"
    cmd = [python, "-c", _CHILD, str(weights / BASE), str(inputs), str(output), str(repeats)]
    subprocess.run(cmd, cwd=reference, check=True)
    meta = json.loads(Path(f"{output}.json").read_text())
    with np.load(output) as data:
        frames = {c.name: data[f"ref_{c.name}"] for c in cases}
    return frames, meta["times"], meta["versions"]


def old_decode(pipe: VoidInpaintPipeline, latents: torch.Tensor) -> torch.Tensor:
    """The engine's decode before the fix: diffusers pairs from latent 0, first frames dropped."""
    z = latents.permute(0, 2, 1, 3, 4) / pipe.vae.config.scaling_factor
    frames = pipe.vae.decode(z).sample
    extra = frames.shape[2] - pipe.decoded_frames(latents.shape[1])
    return (frames[:, :, extra:].float() / 2 + 0.5).clamp(0, 1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def reference_commit(reference: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(reference), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        return out.stdout.strip() or f"{REFERENCE_COMMIT} (not a git checkout; as given)"
    except OSError:
        return f"{REFERENCE_COMMIT} (git not found; as given)"


def golden_frame_indices(frames: int, full_up_to: int) -> np.ndarray:
    """All frames up to ``full_up_to``; past it every 3rd and the last (keeps the file small)."""
    if frames <= full_up_to:
        return np.arange(frames)
    return np.unique(np.r_[np.arange(0, frames, 3), frames - 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True, help="checkout of void-model")
    parser.add_argument(
        "--reference-python", required=True, help="python of a venv with the reference's pins"
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[13, 85, 197])
    parser.add_argument("--height", type=int, default=8)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="latents seed")
    parser.add_argument("--repeats", type=int, default=3, help="timed decodes per case and side")
    parser.add_argument(
        "--write-golden",
        type=Path,
        nargs="?",
        const=GOLDEN,
        help=f"store the reference's frames (default {GOLDEN.relative_to(ROOT)})",
    )
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    cases = default_cases(args.lengths, args.height, args.width)
    latents = {c.name: make_latents(c, args.seed) for c in cases}

    from diffusers import AutoencoderKLCogVideoX

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        weights = write_tiny_weights(work / "weights", seed=0, pass2=False)
        ref_frames, ref_times, ref_versions = run_reference(
            args.reference.resolve(),
            args.reference_python,
            weights,
            latents,
            cases,
            args.repeats,
            work,
        )
        vae = AutoencoderKLCogVideoX.from_pretrained(weights / BASE / "vae").eval()
    checksum = vae_checksum(vae)
    pipe = VoidInpaintPipeline(
        tokenizer=None, text_encoder=None, vae=vae, transformer=None, scheduler=None
    )

    print(f"reference {reference_commit(args.reference)}  {ref_versions}")
    print(
        f"ours: torch {torch.__version__}, diffusers {__import__('diffusers').__version__};"
        f" tiny VAE sha256 {checksum[:16]}…"
    )
    header = (
        "| case | size | latents | frames (ref/ours/old) | max abs diff ours | max abs diff old "
        "| PSNR old | decode s ref / ours / old |"
    )
    print(header)
    print("|---|---|---:|---|---:|---:|---:|---|")
    results = {}
    for case in cases:
        if case.tile:
            vae.enable_tiling(
                tile_sample_min_height=case.tile,
                tile_sample_min_width=case.tile,
                tile_overlap_factor_height=case.overlap,
                tile_overlap_factor_width=case.overlap,
            )
        else:
            vae.disable_tiling()
        z = torch.from_numpy(latents[case.name])
        new_t, old_t = [], []
        for _ in range(args.repeats):  # interleaved, so load on the machine hits both alike
            t0 = time.perf_counter()
            ours = pipe.decode_latents(z).numpy()
            new_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            old = old_decode(pipe, z).numpy()
            old_t.append(time.perf_counter() - t0)
        ref = ref_frames[case.name]
        expected = (1, 3, case.frames, case.height, case.width)
        if ref.shape != expected or ours.shape != expected:
            print(f"{case.name}: shapes ref {ref.shape} ours {ours.shape}, expected {expected}")
        d_new = float(np.abs(ours - ref).max()) if ours.shape == ref.shape else float("nan")
        d_old = float(np.abs(old - ref).max()) if old.shape == ref.shape else float("nan")
        results[case.name] = (d_new, d_old)
        print(
            f"| {case.name} | {case.height}×{case.width} | {case.latents} "
            f"| {ref.shape[2]}/{ours.shape[2]}/{old.shape[2]} | {d_new:.2e} | {d_old:.3f} "
            f"| {psnr(old, ref):.1f} dB | {ref_times[case.name]:.3f} / {np.median(new_t):.3f}"
            f" / {np.median(old_t):.3f} |"
        )

    if args.write_golden:
        arrays: dict[str, np.ndarray] = {}
        record = []
        for case in cases:
            idx = golden_frame_indices(case.frames, full_up_to=85)
            arrays[f"latents_{case.name}"] = latents[case.name].astype(np.float32)
            arrays[f"frames_{case.name}"] = ref_frames[case.name][:, :, idx].astype(np.float32)
            arrays[f"index_{case.name}"] = idx.astype(np.int32)
            record.append(
                {
                    "name": case.name,
                    "frames": case.frames,
                    "height": case.height,
                    "width": case.width,
                    "tile": case.tile,
                    "overlap": case.overlap,
                    "stored_frames": int(idx.size),
                }
            )
        args.write_golden.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.write_golden, **arrays)
        meta = {
            "reference": "netflix/void-model",
            "reference_commit": reference_commit(args.reference),
            "reference_decode": "CogVideoXFunInpaintPipeline.decode_latents with the reference's "
            "AutoencoderKLCogVideoX.from_pretrained on the tiny VAE (float32, CPU)",
            "reference_versions": ref_versions,
            "command": "python bench/void_parity.py " + shlex.join(sys.argv[1:]),
            "weights": "tests/support/void_tiny.py write_tiny_weights(seed=0): the VAE is "
            "torch.manual_seed(0); tiny_vae()",
            "vae_sha256": checksum,
            "latents": f"torch.randn with torch.Generator().manual_seed({args.seed} + "
            "frames * 1000 + height), stored",
            "frames_layout": "(batch, 3, stored frames, height, width) in [0, 1]; index_* "
            "gives the output frame of each stored frame",
            "max_abs_diff_ours_at_write": {k: v[0] for k, v in results.items()},
            "max_abs_diff_old_decode_at_write": {k: v[1] for k, v in results.items()},
            "cases": record,
        }
        Path(args.write_golden).with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"golden arrays written to {args.write_golden} (+ .json)")
    return 0 if all(d < 1e-5 for d, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
